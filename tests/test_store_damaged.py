"""A truncated or damaged file in out_dir is one error naming it and the way out, and that way
out (moving the file aside) trains only what the file held again."""

import os
import sys

import jax
import numpy as np
import pytest

import rmsjax
from rmsjax import cli
from rmsjax._engine.pool import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _staged_helpers as staged_helpers  # noqa: E402
from _sweep_helpers import quadratic  # noqa: E402

KEY = jax.random.key(0)
SPACE = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1, 0.3], decay=[0.9])


class Interrupted(Exception):
    pass


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def recording(executed):
    """`quadratic`, recording the learning rates it runs."""

    def fn(hparams, key):
        jax.debug.callback(lambda lr: executed.append(float(lr)), hparams["learning_rate"])
        return quadratic(hparams, key)

    return fn


def test_a_truncated_chunk_is_named_and_moving_it_aside_retrains_only_it(tmp_path):
    out, executed = tmp_path / "run", []
    fn = recording(executed)
    whole = rmsjax.sweep(fn, SPACE, key=KEY, chunk_size=1, out_dir=out, progress=False)
    chunk = out / "chunk_00001.npz"
    with np.load(chunk) as data:
        lost = data["config_ids"].tolist()
    truncate(chunk)
    jax.effects_barrier()
    executed.clear()
    with pytest.raises(ValueError, match=f"cannot read the finished chunk '{chunk}' of the sweep "
                       r"\(BadZipFile: .*\): it is truncated or damaged; move it out of the folder "
                       "and the rerun trains only its configurations again"):  # fmt: skip
        rmsjax.sweep(fn, SPACE, key=KEY, chunk_size=1, out_dir=out, progress=False)
    os.replace(chunk, tmp_path / "aside.npz")
    again = rmsjax.sweep(fn, SPACE, key=KEY, chunk_size=1, out_dir=out, progress=False)
    jax.effects_barrier()
    assert sorted(executed) == sorted(float(np.float32(SPACE[i]["learning_rate"])) for i in lost)
    for name, value in whole.metrics.items():
        np.testing.assert_array_equal(again.metrics[name], value)


def count_units(monkeypatch, stop_after=None):
    """Counts the units `Pool.step` trains; with ``stop_after``, interrupts after that many."""
    counts, step = {"steps": 0, "units": 0}, Pool.step

    def counting(self):
        if stop_after is not None and counts["steps"] >= stop_after:
            raise Interrupted
        counts["steps"] += 1
        counts["units"] += int((self.config >= 0).sum())
        return step(self)

    monkeypatch.setattr(Pool, "step", counting)
    return counts


def test_a_damaged_paused_run_is_named_and_moving_it_aside_retrains_only_it(tmp_path, monkeypatch):
    kwargs = dict(key=KEY, budget=4, chunk_size=2, progress=False,
                  halving=rmsjax.halving("loss", mode="min", eta=2))  # fmt: skip
    whole = rmsjax.sweep(staged_helpers.TRAINER, SPACE, **kwargs)
    with monkeypatch.context() as patch:
        count_units(patch, stop_after=2)  # every configuration paused at rung 1
        with pytest.raises(Interrupted):
            rmsjax.sweep(staged_helpers.TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    paused = sorted(tmp_path.glob("paused_*.npz"))
    assert len(paused) > 1
    finished = []
    for file in tmp_path.glob("chunk_*.npz"):
        with np.load(file) as data:
            finished.extend(data["config_ids"].tolist())
    kept = 0
    for file in paused[1:]:
        with np.load(file) as data:
            kept += int(data["units"])
    truncate(paused[0])
    with pytest.raises(ValueError, match=f"cannot read the paused run '{paused[0]}' of the sweep "
                       r"\(\w+: .*\): it is truncated or damaged; move it out of the "
                       "folder and the rerun trains only that configuration again, from its "
                       "start"):  # fmt: skip
        rmsjax.sweep(staged_helpers.TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    os.replace(paused[0], tmp_path.parent / f"{tmp_path.name}-aside.npz")
    counts = count_units(monkeypatch)
    again = rmsjax.sweep(staged_helpers.TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    # The other paused runs continue where they paused; the moved one trains from its start.
    assert counts["units"] == whole.budget.sum() - whole.budget[finished].sum() - kept
    for name, value in whole.metrics.items():
        np.testing.assert_array_equal(again.metrics[name], value, err_msg=name)


def test_a_damaged_pbt_state_is_named_and_moving_it_aside_trains_it_afresh(tmp_path, monkeypatch):
    kwargs = dict(key=KEY, budget=4, chunk_size=None, progress=False,
                  pbt=rmsjax.pbt("loss", mode="min", interval=1, fraction=0.5))  # fmt: skip
    whole = rmsjax.sweep(staged_helpers.TRAINER, SPACE, **kwargs)
    with monkeypatch.context() as patch:
        count_units(patch, stop_after=2)
        with pytest.raises(Interrupted):
            rmsjax.sweep(staged_helpers.TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    state = tmp_path / "pbt_00000.npz"
    truncate(state)
    with pytest.raises(ValueError, match=f"cannot read the saved state '{state}' of the sweep "
                       r"\(BadZipFile: .*\): it is truncated or damaged; move it out of the "
                       "folder and the rerun trains only that pbt population again, from its "
                       "start"):  # fmt: skip
        rmsjax.sweep(staged_helpers.TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    os.replace(state, tmp_path.parent / "aside.npz")
    counts = count_units(monkeypatch)
    again = rmsjax.sweep(staged_helpers.TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    assert counts["units"] == whole.budget.sum()  # the whole population, from its start
    for name, value in whole.metrics.items():
        np.testing.assert_array_equal(again.metrics[name], value, err_msg=name)


def test_the_command_prints_a_damaged_chunk_as_one_line(tmp_path, capsys):
    argv = ["sweep", "quadratic", "--lr", "0.01,0.1", "--decay", "0.9", "--epochs", 5,
            "--chunk-size", 1, "--out", tmp_path, "--no-progress"]  # fmt: skip
    assert cli.main([str(a) for a in argv]) == 0
    chunk = tmp_path / "chunks" / "chunk_00000.npz"
    truncate(chunk)
    capsys.readouterr()
    assert cli.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"rmsjax: error: cannot read the finished chunk '{chunk}'"), err
    assert "move it out of the folder and the rerun trains only its configurations again" in err
    (tmp_path / "chunks" / "manifest.json").write_text('{"space": [')  # truncated
    assert cli.main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the sweep manifest" in err, err

"""Population-based training: `rmsjax.sweep(trainer, space, pbt=rmsjax.pbt(...))` and `replay`."""

import math
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import rmsjax
from rmsjax._engine import pool as pool_module
from rmsjax._engine.pool import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _staged_helpers import TRACES, TRAINER  # noqa: E402

KEY = jax.random.key(11)
LR = rmsjax.loguniform(1e-3, 0.3)
DECAY = rmsjax.uniform(0.5, 0.99)
SPACE = rmsjax.sample(8, seed=3, learning_rate=LR, decay=DECAY)
RULE = rmsjax.pbt("loss", mode="min", interval=2, fraction=0.25)
BUDGET = 8


def run(space=SPACE, rule=RULE, key=KEY, **kwargs):
    kwargs = {"budget": BUDGET, "progress": False, **kwargs}
    return rmsjax.sweep(TRAINER, space, key=key, pbt=rule, **kwargs)


def assert_same(a, b):
    assert a.metrics.keys() == b.metrics.keys()
    for name in a.metrics:
        np.testing.assert_array_equal(a.metrics[name], b.metrics[name], err_msg=name)
    for name in a.hparams:
        np.testing.assert_array_equal(a.hparams[name], b.hparams[name], err_msg=name)
    np.testing.assert_array_equal(a.copied_from, b.copied_from)


def test_the_bottom_copies_the_top_and_explores_from_the_key():
    rule = rmsjax.pbt("loss", mode="min", interval=2, fraction=0.25, resample=0.0)
    result = run(rule=rule, seeds=2)
    n, q = len(SPACE), 2  # floor(0.25 * 8)
    curve = result.metrics["loss_curve"].astype(np.float64).mean(axis=1)  # (members, budget)
    for unit in rule.intervals(BUDGET):
        order = sorted(range(n), key=lambda m: (curve[m, unit - 1], m))  # lower loss first
        copied = np.flatnonzero(result.copied_from[:, unit] >= 0)
        assert sorted(copied) == sorted(order[-q:])  # exactly the bottom q
        for m in copied:
            donor = int(result.copied_from[m, unit])
            assert donor in order[:q]  # from the top q
            for name, dist in (("learning_rate", LR), ("decay", DECAY)):
                before = result.hparams[name][donor, unit - 1]  # the donor's value then
                after = result.hparams[name][m, unit]
                if after in (dist.low, dist.high):  # clipped to the space's bounds
                    continue
                assert math.isclose(after / before, 0.8) or math.isclose(after / before, 1.25)
        kept = np.setdiff1d(np.arange(n), copied)
        for name in result.hparams:  # the others keep their hyperparameters
            np.testing.assert_array_equal(
                result.hparams[name][kept, unit], result.hparams[name][kept, unit - 1]
            )
    assert (result.copied_from[:, : rule.interval] == -1).all()
    assert (result.copied_from >= 0).sum() == q * len(rule.intervals(BUDGET))
    # The final hyperparameters are each member's last values; best() returns one of them.
    for m in range(n):
        assert result.space[m]["learning_rate"] == result.hparams["learning_rate"][m, -1]
    assert result.best("loss") in list(result.space)
    spent, best = result.history()  # every member a unit at a time: one point per unit
    assert spent.tolist() == [n * (u + 1) for u in range(BUDGET)]
    # Each point is the best member after that unit (history() shows the pick, issue 22).
    np.testing.assert_array_equal(best[:-1], np.nanmin(curve, axis=0)[:-1])
    assert (
        best[-1]
        == result.metrics["loss"][list(result.space).index(result.best("loss"))]
        .astype(np.float64)
        .mean()
    )
    assert list(result.initial) == list(SPACE)


def test_the_same_key_gives_the_same_run_and_another_key_another():
    first, second = run(), run()
    assert_same(first, second)
    other = run(key=jax.random.key(12))
    assert not np.array_equal(other.copied_from, first.copied_from) or not np.array_equal(
        other.metrics["loss"], first.metrics["loss"]
    )


def test_a_copy_continues_the_donors_carry_with_the_members_own_keys():
    """Every member's final metrics equal its lineage trained unit by unit by `replay`, which
    moves the carry through the lineage and uses each member's run keys, bit for bit at the
    sweep's width; alone (width 1) they agree to float32 rounding."""
    result = run(seeds=2)
    assert (result.copied_from >= 0).any()
    units = np.arange(BUDGET)
    for m in range(len(SPACE)):
        schedule = result.schedule(m)
        lineage = schedule["member"].to_numpy()
        np.testing.assert_array_equal(lineage, result.lineage(m))
        again = rmsjax.replay(TRAINER, schedule, key=KEY)
        for name in ("loss", "x", "score"):
            np.testing.assert_array_equal(again[name], result.metrics[name][m], err_msg=name)
        np.testing.assert_array_equal(  # the lineage's curve: each unit from its own member
            again["loss_curve"], result.metrics["loss_curve"][lineage, :, units].T
        )
    copied = int(np.flatnonzero((result.copied_from >= 0).any(axis=1))[0])
    alone = rmsjax.replay(TRAINER, result.schedule(copied), key=KEY, alone=True)
    # Unbatched against batched elementwise float32 math: equal up to rounding (1e-5 relative
    # over 8 units of 5 steps), not asserted bit for bit.
    np.testing.assert_allclose(alone["loss"], result.metrics["loss"][copied], rtol=1e-5)


def test_schedule_lists_units_members_copies_and_values():
    result = run()
    member = int(np.flatnonzero((result.copied_from >= 0).any(axis=1))[0])
    frame = result.schedule(member)
    assert list(frame.columns) == ["unit", "member", "copied", "learning_rate", "decay", "loss"]
    assert frame["unit"].tolist() == list(range(BUDGET))
    assert frame["copied"].sum() == (frame["member"].diff().fillna(0) != 0).sum() >= 1
    assert frame["member"].iloc[-1] == member
    frame2 = result.to_pandas()
    assert len(frame2) == len(SPACE) and frame2["config_id"].tolist() == list(range(len(SPACE)))
    assert frame2["learning_rate"].tolist() == result.hparams["learning_rate"][:, -1].tolist()
    assert frame2["copies"].tolist() == (result.copied_from >= 0).sum(axis=1).tolist()
    np.testing.assert_array_equal(
        frame2["loss_curve"][member], result.metrics["loss_curve"][member, 0]
    )
    with pytest.raises(ValueError, match="`member` must be an int in \\[0, 8\\), got 8"):
        result.schedule(8)
    with pytest.raises(TypeError, match="replay: `schedule` must be a DataFrame from"):
        rmsjax.replay(TRAINER, frame.to_dict(), key=KEY)


def test_compiled_once_whatever_the_population_intervals_or_copies(monkeypatch):
    """init, advance and the exploit gather: each traced and compiled once per population."""
    compiled = []
    original = pool_module.compile_copy

    def count_exploit(pool):
        compiled.append(pool)
        return original(pool)

    monkeypatch.setattr(pool_module, "compile_copy", count_exploit)
    backend = []

    def listen(event, *args, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            backend.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        counts = _count_compilations(compiled, backend)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    # 11 intervals and 44 copies compile nothing more than one interval and one copy
    assert counts["few"] == counts["many"] == 3


def _count_compilations(compiled, backend):
    run(budget=4, rule=rmsjax.pbt("loss", mode="min", interval=1))  # warm eager helpers
    counts = {}
    for label, n, interval, budget in (("few", 4, 3, 4), ("many", 16, 1, 12)):
        space = rmsjax.sample(n, seed=5, learning_rate=LR, decay=DECAY)
        TRACES.clear()
        compiled.clear()
        backend.clear()
        result = run(space, rmsjax.pbt("loss", mode="min", interval=interval), budget=budget)
        assert TRACES == {"init": 1, "advance": 1}
        assert len(compiled) == 1
        assert dict(compiled[0].compiled) == {"init": 1, "advance": 1, "exploit": 1}
        counts[label] = len(backend)
        assert (result.copied_from >= 0).sum() == int(n * 0.25) * len(range(interval, budget,
                                                                             interval))  # fmt: skip
    return counts


def test_static_axes_of_a_grid_are_populations_of_their_own():
    space = rmsjax.grid(
        learning_rate=[0.003, 0.01, 0.03, 0.1], decay=[0.9, 0.99], centered=[False, True]
    )
    TRACES.clear()
    result = run(space, rmsjax.pbt("loss", mode="min", interval=3))
    assert TRACES == {"init": 2, "advance": 2}
    for m in range(len(space)):
        donors = result.copied_from[m][result.copied_from[m] >= 0]
        assert all(space[int(d)]["centered"] == space[m]["centered"] for d in donors)
        assert result.space[m]["centered"] == space[m]["centered"]
    # A grid's axes are ordered lists: a copy moves to a neighbouring value or draws a listed one
    for name in ("learning_rate", "decay"):
        assert set(np.unique(result.hparams[name])) <= set(space.axes[name])


def test_a_diverged_member_ranks_last_and_is_replaced():
    space = rmsjax.grid(learning_rate=[0.01, 0.03, 0.1, 1e30], decay=[0.9])
    result = run(space, rmsjax.pbt("loss", mode="min", interval=2, fraction=0.25, resample=0))
    assert not np.isfinite(result.metrics["loss_curve"][3, 0, 1])  # diverged by unit 2
    assert result.copied_from[3, 2] >= 0  # copied first
    assert np.isfinite(result.metrics["loss"][3]).all()


def test_out_dir_saves_the_population_and_a_finished_run_reloads(tmp_path):
    result = run(out_dir=tmp_path / "run")
    files = os.listdir(tmp_path / "run")
    assert not [f for f in files if f.startswith("pbt_")]  # finished: no state left
    again = run(out_dir=tmp_path / "run")
    assert again.loaded.all() and (again.resumed_units == BUDGET).all()
    assert not result.loaded.any() and (result.resumed_units == 0).all()
    assert_same(result, again)
    with pytest.raises(ValueError, match="pbt="):  # another search in the folder
        run(rule=rmsjax.pbt("loss", mode="min", interval=3), out_dir=tmp_path / "run")
    with pytest.raises(ValueError, match="holds a different sweep: its manifest has halving=None"):
        halving = rmsjax.halving("loss", mode="min")
        rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=BUDGET, progress=False, halving=halving,
                     out_dir=tmp_path / "run")  # fmt: skip


def test_a_run_killed_at_an_interval_resumes_bit_for_bit(tmp_path, monkeypatch):
    """A real SIGKILL of a subprocess after it saved an interval; the rerun ends like an
    uninterrupted run, every bit."""
    out = tmp_path / "run"
    script = os.path.join(os.path.dirname(__file__), "_pbt_worker.py")
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, script, str(out), "slow"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    state = out / "pbt_00000.npz"
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if state.exists():
                with np.load(state) as data:
                    if int(data["units"]) >= 4:
                        break
            assert proc.poll() is None, proc.communicate()[0].decode()[-3000:]
            time.sleep(0.05)
        else:
            pytest.fail("the worker saved no population at unit 4 within 120 s")
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()  # reaps it and closes the pipe
    assert not list(out.glob("chunk_*.npz"))  # killed before the end
    sys.path.insert(0, os.path.dirname(script))
    import _pbt_worker

    with np.load(state) as data:
        saved = int(data["units"])
    steps = []
    step = Pool.step

    def counted(pool):
        steps.append(1)
        return step(pool)

    monkeypatch.setattr(Pool, "step", counted)
    resumed = _pbt_worker.run(str(out))
    assert len(steps) == 12 - saved  # it continued from the saved interval
    assert (resumed.resumed_units == saved).all()
    assert not resumed.loaded.any()
    assert_same(resumed, _pbt_worker.run(None))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"fraction": 0}, "pbt: `fraction` must be a number in \\(0, 0.5\\], got 0"),
        ({"fraction": 0.6}, "pbt: `fraction` must be a number in \\(0, 0.5\\], got 0.6"),
        ({"interval": 0}, "pbt: `interval` must be an int >= 1, got 0"),
        ({"interval": 2.5}, "pbt: `interval` must be an int >= 1, got 2.5"),
        ({"perturb": (0.8,)}, "pbt: `perturb` must be two positive factors"),
        ({"perturb": (0.8, -1.2)}, "pbt: `perturb` must be two positive factors"),
        ({"perturb": "ab"}, "pbt: `perturb` must be two positive factors"),
        ({"resample": 1.5}, "pbt: `resample` must be a probability in \\[0, 1\\], got 1.5"),
        ({"mode": None}, "pbt: `mode` is required"),
        ({"mode": "maximize"}, "pbt: `mode` must be 'min' or 'max', got 'maximize'"),
    ],
)
def test_bad_rules_are_refused(kwargs, message):
    args = {"mode": "min", "interval": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        rmsjax.pbt("loss", **args)


def test_bad_sweeps_are_refused():
    with pytest.raises(ValueError, match="`interval` \\(8\\) must be smaller than the budget"):
        run(rule=rmsjax.pbt("loss", mode="min", interval=8))
    with pytest.raises(ValueError, match="a population needs at least 2 members, got 1"):
        run(rmsjax.sample(1, learning_rate=LR, decay=DECAY))
    with pytest.raises(ValueError, match="`fraction` 0.25 of a population of 3 copies no member"):
        run(rmsjax.sample(3, learning_rate=LR, decay=DECAY))
    with pytest.raises(ValueError, match="\\['centered'\\] are static"):
        run(rmsjax.sample(8, learning_rate=LR, decay=DECAY, centered=[False, True]))
    one_value = run(rmsjax.sample(8, learning_rate=LR, decay=DECAY, centered=[True]))
    assert all(config["centered"] for config in one_value.space)
    with pytest.raises(ValueError, match="`chunk_size` 4 is smaller than the population of 8"):
        run(chunk_size=4)
    with pytest.raises(ValueError, match="`halving` and `pbt` are two searches"):
        run(halving=rmsjax.halving("loss", mode="min"))
    with pytest.raises(ValueError, match="pbt metric 'x' is not a scalar metric"):
        run(rule=rmsjax.pbt("x", mode="min", interval=2))
    with pytest.raises(TypeError, match="`pbt` must come from rmsjax.pbt"):
        run(rule={"metric": "loss"})
    with pytest.raises(ValueError, match="`pbt` need training in units"):
        rmsjax.sweep(lambda hp, key: {"loss": hp["learning_rate"]}, SPACE, key=KEY, pbt=RULE)

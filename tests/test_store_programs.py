"""An out_dir never mixes two programs: a program change is refused whatever the key's kind."""

import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsjax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _staged_helpers as staged_helpers  # noqa: E402
from _sweep_helpers import quadratic  # noqa: E402

SPACE = rmsjax.grid(learning_rate=[1e-2, 0.1], decay=[0.9])
KINDS = {"typed": jax.random.key(0), "raw": jax.random.PRNGKey(0)}
ORDERS = [("typed", "raw"), ("raw", "typed")]


def other_quadratic(hparams, key):
    """`quadratic` with another curvature: the same metrics, another program."""
    out = quadratic(hparams, key)
    return {"loss": 2 * out["loss"], "curve": out["curve"]}


def other_advance(carry, hparams, key):
    carry, metrics = staged_helpers.advance(carry, hparams, key)
    return carry, {**metrics, "loss": metrics["loss"] + 1.0}


OTHER_TRAINER = rmsjax.Trainer(staged_helpers.init, other_advance)


def interrupt(out):
    """Makes a finished folder look interrupted: the first chunk kept, the others gone."""
    chunks = sorted(n for n in os.listdir(out) if n.startswith("chunk_"))
    assert len(chunks) > 1
    for name in chunks[1:]:
        os.remove(out / name)


def run_sweep(fn, key, out):
    return rmsjax.sweep(fn, SPACE, key=key, chunk_size=1, out_dir=out, progress=False)


def run_staged(trainer, key, out, chunk_size=1, **kwargs):
    return rmsjax.sweep(trainer, SPACE, key=key, budget=2, chunk_size=chunk_size, out_dir=out,
                        progress=False, **kwargs)  # fmt: skip


def run_halving(trainer, key, out):
    return run_staged(trainer, key, out, halving=rmsjax.halving("loss", mode="min", eta=2))


def run_pbt(trainer, key, out):
    rule = rmsjax.pbt("loss", mode="min", interval=1, fraction=0.5)
    return run_staged(trainer, key, out, chunk_size=None, pbt=rule)


def run_optuna(trainer, key, out):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="s", storage=f"sqlite:///{out.parent / 'study.db'}", load_if_exists=True,
        direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0),
    )  # fmt: skip
    return rmsjax.optuna_search(
        trainer, study, n_trials=2, key=key, budget=2, metric="loss", width=1, out_dir=out,
        progress=False,
        space={"learning_rate": rmsjax.loguniform(1e-3, 0.3), "decay": rmsjax.uniform(0.5, 0.99)},
    )  # fmt: skip


PATHS = {
    "sweep": (run_sweep, quadratic, other_quadratic),
    "staged": (run_staged, staged_helpers.TRAINER, OTHER_TRAINER),
    "halving": (run_halving, staged_helpers.TRAINER, OTHER_TRAINER),
    "pbt": (run_pbt, staged_helpers.TRAINER, OTHER_TRAINER),
    "optuna": (run_optuna, staged_helpers.TRAINER, OTHER_TRAINER),
}


@pytest.mark.parametrize("first,second", ORDERS)
@pytest.mark.parametrize("interrupted", [False, True], ids=["finished", "interrupted"])
def test_another_train_fn_with_the_other_key_kind_is_refused(tmp_path, first, second, interrupted):
    out = tmp_path / "run"
    run_sweep(quadratic, KINDS[first], out)
    if interrupted:
        interrupt(out)
    before = sorted(os.listdir(out))
    with pytest.raises(ValueError, match=f"out_dir '{out}' holds results of another train_fn") as e:
        run_sweep(other_quadratic, KINDS[second], out)
    assert "its jaxpr differs" in str(e.value)  # says what differs
    assert sorted(os.listdir(out)) == before  # nothing written


@pytest.mark.parametrize("path", ["staged", "halving", "pbt", "optuna"])
@pytest.mark.parametrize("first,second", [*ORDERS, ("typed", "typed")])
def test_another_trainer_with_the_other_key_kind_is_refused(tmp_path, path, first, second):
    run, a, b = PATHS[path]
    out = tmp_path / "run"
    run(a, KINDS[first], out)
    with pytest.raises(ValueError, match=f"out_dir '{out}' holds results of another train_fn"):
        run(b, KINDS[second], out)


def test_an_interrupted_halving_with_another_trainer_and_key_kind_is_refused(tmp_path):
    out = tmp_path / "run"
    run_halving(staged_helpers.TRAINER, KINDS["typed"], out)
    interrupt(out)
    with pytest.raises(ValueError, match=f"out_dir '{out}' holds results of another train_fn"):
        run_halving(OTHER_TRAINER, KINDS["raw"], out)


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("first,second", ORDERS)
def test_the_same_program_with_the_other_key_kind_loads(tmp_path, path, first, second):
    run, a, _ = PATHS[path]
    out = tmp_path / "run"
    before = run(a, KINDS[first], out)
    chunks = sorted(n for n in os.listdir(out) if n.startswith("chunk_"))
    again = run(a, KINDS[second], out)
    assert sorted(n for n in os.listdir(out) if n.startswith("chunk_")) == chunks  # none ran
    for name, value in before.metrics.items():
        np.testing.assert_array_equal(again.metrics[name], value)


def test_a_train_fn_that_cannot_take_the_recorded_key_kind_is_refused(tmp_path):
    """A program that fails to trace with the recorded kind of key is not the recorded one."""

    def raw_only(hparams, key):
        return quadratic(hparams, jnp.asarray(key, jnp.uint32))  # a typed key cannot be cast

    out = tmp_path / "run"
    run_sweep(quadratic, KINDS["typed"], out)
    with pytest.raises(ValueError, match=f"out_dir '{out}' holds results traced with a typed key"):
        run_sweep(raw_only, KINDS["raw"], out)

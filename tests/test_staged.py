"""Staged sweeps: `rmsjax.sweep` with a `Trainer`, a budget and `rmsjax.halving`."""

import os
import re
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsjax
from rmsjax._engine import halving as staged_halving
from rmsjax._engine.pool import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _staged_helpers as helpers  # noqa: E402
from _staged_helpers import TRACES, TRAINER  # noqa: E402

KEY = jax.random.key(3)
SPACE = rmsjax.sample(
    12, seed=1, learning_rate=rmsjax.loguniform(1e-3, 0.3), decay=rmsjax.uniform(0.5, 0.99)
)


def run_key(config_id, seed=0):
    return jax.random.fold_in(jax.random.fold_in(KEY, config_id), seed)


def test_full_budget_matches_unit_by_unit_python():
    result = rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=4, seeds=2, progress=False)
    assert result.metrics["loss"].shape == (12, 2)
    assert result.metrics["x"].shape == (12, 2, 3)
    assert result.metrics["loss_curve"].shape == (12, 2, 4)
    assert "x_curve" not in result.metrics  # curves only for scalar metrics
    assert (result.budget == 4).all() and not result.pruned.any()
    for config_id in (0, 7):
        for seed in (0, 1):
            losses, metrics = helpers.reference(SPACE[config_id], run_key(config_id, seed), 4)
            # vmapped elementwise float32 math against the same math unbatched: equal up to
            # float32 rounding (1e-6 relative), not asserted bit for bit.
            np.testing.assert_allclose(result.metrics["loss_curve"][config_id, seed], losses,
                                       rtol=1e-6)  # fmt: skip
            np.testing.assert_allclose(result.metrics["x"][config_id, seed], metrics["x"],
                                       rtol=1e-6)  # fmt: skip


def test_init_and_advance_traced_once_per_static_combination():
    space = rmsjax.sample(
        20, seed=2, learning_rate=rmsjax.loguniform(1e-3, 0.3), decay=[0.9, 0.99],
        centered=[False, True],
    )  # fmt: skip
    TRACES.clear()
    result = rmsjax.sweep(TRAINER, space, key=KEY, budget=9, chunk_size=2, progress=False,
                          halving=rmsjax.halving("loss", mode="min"))  # fmt: skip
    # Many rungs, prunings and slot refills, two static combinations: two traces each.
    assert result.pruned.sum() >= 10
    assert TRACES == {"init": 2, "advance": 2}


def halving_reference(n, scores_at, budget, eta, min_budget):
    """Synchronous successive halving from the full runs' scores: all ``n`` configurations reach
    the first rung; at each rung the top max(1, m // eta) of the m there (by score, ties to the
    smaller id) continue. Returns the units each configuration trains."""
    members, units, rung = list(range(n)), np.zeros(n, int), min_budget
    while rung < budget:
        units[members] = rung
        ranked = sorted(members, key=lambda c: (-scores_at(c, rung), c))
        members = sorted(ranked[: max(1, len(members) // eta)])
        rung *= eta
    units[members] = budget
    return units


@pytest.mark.parametrize("chunk_size", [1, 5])
def test_halving_promotes_the_top_of_each_rung_whatever_the_width(chunk_size):
    # The old rule (each configuration judged on arrival against earlier arrivals) continued
    # configuration 0, the first arrival, though it is not in the top third at rung 3.
    kwargs = dict(key=KEY, budget=9, chunk_size=chunk_size, seeds=2, progress=False)
    full = rmsjax.sweep(TRAINER, SPACE, **kwargs)
    halved = rmsjax.sweep(
        TRAINER, SPACE, halving=rmsjax.halving("score", mode="max", eta=3), **kwargs
    )

    def scores_at(c, rung):
        return float(np.mean(full.metrics["score_curve"][c, :, rung - 1]))

    expected = halving_reference(len(SPACE), scores_at, budget=9, eta=3, min_budget=1)
    np.testing.assert_array_equal(halved.budget, expected)
    np.testing.assert_array_equal(halved.pruned, expected < 9)
    assert list(np.bincount(expected)[[1, 3, 9]]) == [8, 3, 1]  # 12 -> 4 -> 1
    # Curves stop where the configuration stopped and, paused and resumed at each rung, agree
    # bit for bit with the uninterrupted runs (same width, so the same batched program).
    for c in range(len(SPACE)):
        u = halved.budget[c]
        np.testing.assert_array_equal(halved.metrics["score_curve"][c, :, :u],
                                      full.metrics["score_curve"][c, :, :u])  # fmt: skip
        assert np.isnan(halved.metrics["score_curve"][c, :, u:]).all()
    # best() only among configurations trained the full budget.
    finished = np.flatnonzero(~halved.pruned)
    best = finished[np.argmax(full.metrics["score"][finished].mean(axis=1))]
    assert halved.best("score", mode="max") == SPACE[int(best)]
    frame = halved.to_pandas()
    assert list(frame["budget"][::2]) == list(halved.budget) and frame["pruned"].sum() > 0


def test_halving_ranks_every_static_combination_together():
    space = rmsjax.sample(10, seed=5, learning_rate=rmsjax.loguniform(1e-3, 0.3), decay=[0.9],
                          centered=[False, True])  # fmt: skip
    kwargs = dict(key=KEY, budget=4, chunk_size=2, progress=False)
    full = rmsjax.sweep(TRAINER, space, **kwargs)
    halved = rmsjax.sweep(
        TRAINER, space, halving=rmsjax.halving("score", mode="max", eta=2), **kwargs
    )

    def scores_at(c, rung):
        return float(full.metrics["score_curve"][c, 0, rung - 1])

    expected = halving_reference(len(space), scores_at, budget=4, eta=2, min_budget=1)
    np.testing.assert_array_equal(halved.budget, expected)
    assert len({space[c]["centered"] for c in range(10)}) == 2


def test_promote_skips_nan_and_breaks_ties_by_id():
    scores = [0.5, float("nan"), 0.9, 0.5, 0.1, 0.5]
    assert staged_halving.promote([0, 1, 2, 3, 4, 5], scores, eta=2) == [0, 2, 3]
    assert staged_halving.promote([4, 7], [float("nan"), float("nan")], eta=3) == []
    assert staged_halving.promote([4, 7], [0.0, 1.0], eta=3) == [7]  # at least one continues


def test_carries_holding_prng_keys_pause_and_resume_exactly():
    def init(hparams, key):
        return jnp.zeros(3), key

    def advance(carry, hparams, key):
        x, k = carry
        k, sub = jax.random.split(k)
        x = x + hparams["learning_rate"] * jax.random.normal(sub, (3,))
        return (x, k), {"score": -jnp.sum((x - 1.0) ** 2)}

    trainer = rmsjax.Trainer(init, advance)
    kwargs = dict(key=KEY, budget=4, chunk_size=3, progress=False)
    full = rmsjax.sweep(trainer, SPACE, **kwargs)
    halved = rmsjax.sweep(
        trainer, SPACE, halving=rmsjax.halving("score", mode="max", eta=2), **kwargs
    )
    assert halved.pruned.sum() == 9  # 12 -> 6 -> 3
    for c in range(len(SPACE)):
        u = halved.budget[c]
        np.testing.assert_array_equal(halved.metrics["score_curve"][c, :, :u],
                                      full.metrics["score_curve"][c, :, :u])  # fmt: skip


def test_halving_spends_fewer_units_and_keeps_a_good_configuration():
    space = rmsjax.sample(27, seed=0, learning_rate=rmsjax.loguniform(1e-4, 0.3), decay=[0.9])
    full = rmsjax.sweep(TRAINER, space, key=KEY, budget=9, progress=False)
    halved = rmsjax.sweep(TRAINER, space, key=KEY, budget=9, progress=False,
                          halving=rmsjax.halving("loss", mode="min"))  # fmt: skip
    assert halved.budget.sum() < 0.5 * full.budget.sum()
    best_full = full.metrics["loss"][:, 0].min()
    chosen = space.column("learning_rate").index(halved.best("loss")["learning_rate"])
    assert full.metrics["loss"][chosen, 0] <= 10 * best_full + 1e-3


def test_out_dir_resumes_only_what_did_not_finish(tmp_path):
    rule = rmsjax.halving("score", mode="max", eta=2)
    kwargs = dict(key=KEY, budget=8, chunk_size=1, progress=False, halving=rule)
    whole = rmsjax.sweep(TRAINER, SPACE, **kwargs)
    first = rmsjax.sweep(TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    files = sorted(tmp_path.glob("chunk_*.npz"))
    assert len(files) == len(SPACE)  # one file per finished configuration, as it finished
    for file in files[-5:]:  # as if the run had stopped after the seventh configuration
        file.unlink()
    TRACES.clear()
    resumed = rmsjax.sweep(TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    assert TRACES == {"init": 1, "advance": 1}
    for result in (first, resumed):
        np.testing.assert_array_equal(result.budget, whole.budget)
        for name, value in whole.metrics.items():
            np.testing.assert_array_equal(result.metrics[name], value)
    TRACES.clear()
    again = rmsjax.sweep(TRAINER, SPACE, out_dir=tmp_path, **kwargs)  # all finished: nothing run,
    assert TRACES == {"init": 1, "advance": 1}  # but traced, to refuse a changed trainer
    assert (again.budget == whole.budget).all()

    def faster(carry, hparams, key):
        return helpers.advance(carry, {**hparams, "learning_rate": 2 * hparams["learning_rate"]},
                               key)  # fmt: skip

    with pytest.raises(ValueError, match="differs from the recorded one"):
        rmsjax.sweep(rmsjax.Trainer(helpers.init, faster), SPACE, out_dir=tmp_path, **kwargs)
    with pytest.raises(ValueError, match="different sweep"):
        rmsjax.sweep(TRAINER, SPACE, out_dir=tmp_path, **{**kwargs, "budget": 9})


class Interrupted(Exception):
    pass


def count_units(monkeypatch, stop_after=None) -> dict:
    """Counts the steps and the units trained (slots holding a run) of every pool; raises
    `Interrupted` at step ``stop_after + 1``, as a sweep killed there would stop."""
    counts = {"steps": 0, "units": 0}
    step = Pool.step

    def counting(self):
        if stop_after is not None and counts["steps"] >= stop_after:
            raise Interrupted
        counts["steps"] += 1
        counts["units"] += int((self.config >= 0).sum())
        return step(self)

    monkeypatch.setattr(Pool, "step", counting)
    return counts


@pytest.mark.parametrize("stop_after", [2, 4, 9])
def test_resume_from_paused_runs_equals_an_uninterrupted_sweep(tmp_path, monkeypatch, stop_after):
    # 12 configurations, rungs 1, 2, 4, budget 8, 5 slots: steps 1-3 train all to rung 1, 4-5
    # six to 2, 6-7 three to 4, 8-11 one to 8. Stopped after step 2, 4 or 9, runs are paused
    # at rung 1, at rungs 1 and 2, or finished and one mid-way to the budget.
    kwargs = dict(key=KEY, budget=8, seeds=2, chunk_size=5, progress=False,
                  halving=rmsjax.halving("score", mode="max", eta=2))  # fmt: skip
    whole = rmsjax.sweep(TRAINER, SPACE, **kwargs)
    with monkeypatch.context() as patch:
        count_units(patch, stop_after)
        with pytest.raises(Interrupted):
            rmsjax.sweep(TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    paused = {}
    for file in tmp_path.glob("paused_*.npz"):
        with np.load(file) as data:
            paused[file.name] = int(data["units"])
    assert paused and set(paused.values()) == {2: {1}, 4: {1, 2}, 9: {4}}[stop_after]
    finished = []
    for file in tmp_path.glob("chunk_*.npz"):
        with np.load(file) as data:
            finished.extend(data["config_ids"].tolist())
    counts = count_units(monkeypatch)
    resumed = rmsjax.sweep(TRAINER, SPACE, out_dir=tmp_path, **kwargs)
    # Only what was neither finished nor paused is trained again: paused runs continue.
    assert counts["units"] == whole.budget.sum() - whole.budget[finished].sum() - sum(
        paused.values()
    )
    np.testing.assert_array_equal(resumed.budget, whole.budget)
    for name, value in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], value, err_msg=name)
    assert not list(tmp_path.glob("paused_*.npz"))  # every run finished: none left paused


def test_plot_and_repr(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    result = rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=3, progress=False,
                          halving=rmsjax.halving("loss", mode="min"))  # fmt: skip
    fig = result.plot("loss", x="learning_rate", mode="min", path=tmp_path / "points.png")
    result.plot("loss_curve", path=tmp_path / "curves.png")
    assert (tmp_path / "points.png").stat().st_size > 0
    # Configurations stopped early are drawn apart (hollow) from those trained the full budget.
    full, early = fig.axes[0].collections
    assert len(early.get_offsets()) == int(result.pruned.sum()) > 0
    assert len(full.get_offsets()) == int((~result.pruned).sum())
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
        "trained the full budget",
        "stopped early",
    ]
    assert f"pruned: {int(result.pruned.sum())}" in repr(result)


def test_errors():
    with pytest.raises(ValueError, match="`budget` must be an int >= 1"):
        rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=0, progress=False)
    with pytest.raises(ValueError, match="`chunk_size` must be a positive int, None or 'auto'"):
        rmsjax.sweep(TRAINER, SPACE, key=KEY, chunk_size=0, progress=False)
    with pytest.raises(ValueError, match="need training in units"):
        rmsjax.sweep(lambda hp, key: {"a": 0.0}, SPACE, key=KEY, budget=3, progress=False)
    with pytest.raises(ValueError, match="halving metric 'nope'"):
        rmsjax.sweep(TRAINER, SPACE, key=KEY, halving=rmsjax.halving("nope", mode="min"),
                     progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="`eta` must be an int >= 2, got 1"):
        rmsjax.halving("loss", mode="min", eta=1)
    with pytest.raises(ValueError, match="`mode` must be 'min' or 'max', got 'up'"):
        rmsjax.halving("loss", mode="up")
    with pytest.raises(ValueError, match="`min_budget` must be an int >= 1, got 0"):
        rmsjax.halving("loss", mode="min", min_budget=0)

    def retyped(carry, hparams, key):
        (x, state), metrics = helpers.advance(carry, hparams, key)
        return (x.astype(jnp.int32), state), metrics

    with pytest.raises(TypeError, match="carry of the structure, shapes and dtypes init returns"):
        rmsjax.sweep(rmsjax.Trainer(helpers.init, retyped), SPACE, key=KEY, budget=2,
                     progress=False)  # fmt: skip

    def branchy(carry, hparams, key):
        if hparams["learning_rate"] > 0.1:  # a Python `if` on a traced hyperparameter
            return carry, {"loss": 0.0}
        return carry, {"loss": 1.0}

    trainer = rmsjax.Trainer(helpers.init, branchy)
    with pytest.raises(TypeError, match="Trainer.advance .*traced"):
        rmsjax.sweep(trainer, SPACE, key=KEY, budget=2, progress=False)


def test_two_simulated_devices_match_one(tmp_path):
    """Slots sharded over 2 CPU devices give what one device gives (full budget and halving)."""
    out = tmp_path / "two.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")  # fmt: skip
    script = os.path.join(os.path.dirname(__file__), "_staged_multidevice.py")
    subprocess.run([sys.executable, script, str(out)], env=env, check=True, timeout=300)
    two = np.load(out)
    from _staged_multidevice import run

    one = run()
    assert set(one) == set(two.files)
    for label in ("full", "halving"):
        np.testing.assert_array_equal(two[f"{label}/budget"], one[f"{label}/budget"])
    for name, value in one.items():
        # One slot per device instead of two on one device changes the batch shape of XLA's
        # kernels and so the last float32 bits; RMSprop's normalized steps near the optimum
        # amplify them to about 1e-6 absolute in these losses (observed: 1.1e-6).
        np.testing.assert_allclose(two[name], value, rtol=1e-5, atol=1e-5, err_msg=name)


@pytest.fixture
def restore_cpu_compiler_options():
    previous = rmsjax.cpu_compiler_options()
    yield
    rmsjax.set_cpu_compiler_options(**previous)


@pytest.mark.skipif(jax.devices()[0].platform != "cpu", reason="options for CPU compilation")
@pytest.mark.usefixtures("restore_cpu_compiler_options")
def test_cpu_compiler_options_are_applied_and_keep_every_bit():
    rule = rmsjax.halving("score", mode="max", eta=2)
    kwargs = dict(key=KEY, budget=3, progress=False, halving=rule)
    tuned = rmsjax.sweep(TRAINER, SPACE, **kwargs)
    rmsjax.set_cpu_compiler_options(init={}, advance={})  # XLA's defaults for both programs
    defaults = rmsjax.sweep(TRAINER, SPACE, **kwargs)
    np.testing.assert_array_equal(tuned.budget, defaults.budget)
    for name, value in defaults.metrics.items():
        np.testing.assert_array_equal(tuned.metrics[name], value, err_msg=name)
    rmsjax.set_cpu_compiler_options(advance={"no_such_xla_option": 1})
    with pytest.raises(Exception, match="no_such_xla_option"):
        rmsjax.sweep(TRAINER, SPACE, **kwargs)


@pytest.mark.usefixtures("restore_cpu_compiler_options")
def test_cpu_compiler_options_are_set_only_through_the_call_and_checked_first():
    tuned = {
        "init": {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False},
        "advance": {"xla_backend_optimization_level": 1},
    }
    options = rmsjax.cpu_compiler_options()
    assert options == tuned
    options["advance"]["xla_backend_optimization_level"] = 3  # a copy: changes nothing
    assert rmsjax.cpu_compiler_options() == tuned
    assert rmsjax.set_cpu_compiler_options(advance=None) == tuned  # the options as they were
    assert rmsjax.cpu_compiler_options() == {"init": tuned["init"], "advance": {}}
    refusals = [
        ({"init": 1}, "`init` must be a dict of XLA option name -> value, or None or {} for "
                      "XLA's defaults; got 1"),
        ({"advance": {2: 1}}, "`advance` has the option name 2 (int); XLA's option names are str"),
        ({"init": {"xla_backend_optimization_level": [1]}},
         "`init`['xla_backend_optimization_level'] is [1] (list); an XLA option's value is a "
         "str, bool, int or float"),
    ]  # fmt: skip
    for kwargs, message in refusals:
        with pytest.raises(TypeError, match=re.escape(f"set_cpu_compiler_options: {message}")):
            rmsjax.set_cpu_compiler_options(**{"init": {}, **kwargs})
        # nothing changes unless every argument is valid: not even the init={} given beside
        assert rmsjax.cpu_compiler_options() == {"init": tuned["init"], "advance": {}}
    assert not hasattr(rmsjax, "staged_cpu_compiler_options")


def test_direction_is_stated_once_and_the_result_follows_it():
    # Issue 14: halving defaulted to mode="max" and best() to "min", so a loss without a mode
    # kept the worst configurations and best("loss") returned one of them.
    with pytest.raises(ValueError, match="halving: `mode` is required: mode='min' if lower 'loss'"):
        rmsjax.halving("loss")
    result = rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=3, progress=False,
                          halving=rmsjax.halving("loss", mode="min"))  # fmt: skip
    assert result.objective == ("loss", "min")
    full = np.flatnonzero(~result.pruned)
    expected = full[np.argmin(result.metrics["loss"][full, 0])]
    assert result.best("loss") == result.best("loss", mode="min") == SPACE[int(expected)]
    assert result.rank("loss")[0] == int(expected)
    with pytest.raises(ValueError, match="`mode` 'max' contradicts the direction .* mode='min'"):
        result.best("loss", mode="max")
    with pytest.raises(ValueError, match="`mode` 'max' contradicts"):
        result.rank("loss", mode="max")
    with pytest.raises(ValueError, match="`mode` is required to rank metric 'score' .*searched"):
        result.best("score")  # another metric than the searched one has no direction
    assert result.rank("score", mode="max")[0] in full


def test_a_metric_named_like_an_axis_is_refused():
    def advance(carry, hparams, key):
        carry, metrics = helpers.advance(carry, hparams, key)
        return carry, {**metrics, "learning_rate": metrics["loss"]}

    with pytest.raises(ValueError, match="Trainer.advance returns a metric named 'learning_rate', "
                       "the name of the hyperparameter axis 'learning_rate'"):  # fmt: skip
        rmsjax.sweep(rmsjax.Trainer(helpers.init, advance), SPACE, key=KEY, budget=2,
                     progress=False)  # fmt: skip


def test_a_key_typo_in_init_or_advance_lists_the_axes():
    def init(hparams, key):
        return helpers.init({**hparams, "learning_rate": hparams["learnig_rate"]}, key)

    with pytest.raises(KeyError, match=r"'learnig_rate' is not an axis of the space; its axes "
                       r"are \['learning_rate', 'decay'\]"):  # fmt: skip
        rmsjax.sweep(rmsjax.Trainer(init, helpers.advance), SPACE, key=KEY, budget=2,
                     progress=False)  # fmt: skip

    def advance(carry, hparams, key):
        return helpers.advance(carry, {**hparams, "decay": hparams["decy"]}, key)

    with pytest.raises(KeyError, match=r"hparams\['decy'\]: 'decy' is not an axis"):
        rmsjax.sweep(rmsjax.Trainer(helpers.init, advance), SPACE, key=KEY, budget=2,
                     progress=False)  # fmt: skip


def test_shared_keys_and_key_of_in_a_staged_sweep():
    def init(hparams, key):
        return jax.random.uniform(key)

    def advance(carry, hparams, key):
        return carry, {"start": carry, "unit": jax.random.uniform(key) + 0 * hparams["lr"]}

    trainer = rmsjax.Trainer(init, advance)
    space = rmsjax.grid(lr=[0.1, 0.2, 0.3])
    for keys in ("per_config", "shared"):
        result = rmsjax.sweep(trainer, space, key=KEY, budget=2, seeds=2, keys=keys,
                              chunk_size=2, progress=False)  # fmt: skip
        for c in range(3):
            for s in range(2):
                assert result.metrics["start"][c, s] == jax.random.uniform(result.key_of(c, s))
                assert result.metrics["unit_curve"][c, s, 1] == jax.random.uniform(
                    result.key_of(c, s, unit=1))  # fmt: skip
        starts = result.metrics["start"]
        assert (starts == starts[0]).all() if keys == "shared" else len(set(starts[:, 0])) == 3


def test_a_traced_shape_in_init_points_at_static():
    def init(hparams, key):
        return jnp.zeros((hparams["width"],))  # a traced width cannot be a shape

    def advance(carry, hparams, key):
        return carry, {"loss": jnp.sum(carry) * hparams["lr"]}

    trainer = rmsjax.Trainer(init, advance)
    with pytest.raises(TypeError, match=r"Trainer.init used a traced value .* rmsjax.static"):
        rmsjax.sweep(trainer, rmsjax.grid(width=[2, 3], lr=[0.1]), key=KEY, budget=1,
                     progress=False)  # fmt: skip
    result = rmsjax.sweep(trainer, rmsjax.grid(width=rmsjax.static([2, 3]), lr=[0.1]), key=KEY,
                          budget=1, progress=False)  # fmt: skip
    assert result.metrics["loss"].shape == (2, 1)

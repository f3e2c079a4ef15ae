"""`rmsjax.sweep(..., on_finish=...)`: each configuration reported once, as it finishes, after
it is saved."""

import os
import sys

import jax
import numpy as np
import pytest

import rmsjax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _staged_helpers import TRAINER  # noqa: E402
from _sweep_helpers import quadratic  # noqa: E402

KEY = jax.random.key(2)
SPACE = rmsjax.sample(
    9, seed=1, learning_rate=rmsjax.loguniform(1e-3, 0.3), decay=rmsjax.uniform(0.5, 0.99)
)


def test_a_train_fn_sweep_reports_each_configuration_with_its_chunk():
    seen = []
    grid = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1, 0.3, 1.0], decay=[0.9])
    result = rmsjax.sweep(quadratic, grid, key=KEY, seeds=2, chunk_size=2, progress=False,
                          on_finish=seen.append)  # fmt: skip
    assert [f.config_id for f in seen] == [0, 1, 2, 3, 4]
    for f in seen:
        assert f.hparams == grid[f.config_id] and f.units is None and not f.pruned
        for name, value in result.metrics.items():
            np.testing.assert_array_equal(f.metrics[name], value[f.config_id])
    # Chunks of 2: a chunk's configurations share its times; the next chunk starts after.
    assert seen[0].started == seen[1].started and seen[0].finished == seen[1].finished
    assert seen[0].started <= seen[0].finished <= seen[2].started <= seen[4].finished


def test_halving_reports_pruned_runs_at_their_rung_and_a_rerun_reports_nothing(tmp_path):
    seen = []
    kwargs = dict(key=KEY, budget=4, chunk_size=3, progress=False, out_dir=tmp_path,
                  halving=rmsjax.halving("loss", mode="min", eta=2))  # fmt: skip
    result = rmsjax.sweep(TRAINER, SPACE, on_finish=seen.append, **kwargs)
    assert sorted(f.config_id for f in seen) == list(range(9))  # each once
    for f in seen:
        c = f.config_id
        assert (f.units, f.pruned) == (result.budget[c], result.pruned[c])
        assert f.hparams == SPACE[c] and f.started < f.finished
        np.testing.assert_array_equal(f.metrics["loss_curve"], result.metrics["loss_curve"][c])
    assert [f.finished for f in seen] == sorted(f.finished for f in seen)
    first_pruned = min(f.finished for f in seen if f.pruned)
    assert first_pruned < max(f.finished for f in seen)  # reported while the search went on
    again = []
    rmsjax.sweep(TRAINER, SPACE, on_finish=again.append, **kwargs)
    assert again == []  # all loaded from out_dir


def test_pbt_reports_every_member_with_its_final_hyperparameters():
    seen = []
    rule = rmsjax.pbt("loss", mode="min", interval=2, fraction=0.25)
    result = rmsjax.sweep(TRAINER, rmsjax.sample(8, seed=3, **SPACE.distributions), key=KEY,
                          budget=6, progress=False, pbt=rule, on_finish=seen.append)  # fmt: skip
    assert sorted(f.config_id for f in seen) == list(range(8))
    for f in seen:
        assert f.hparams == result.space[f.config_id] and f.units == 6 and not f.pruned


def test_an_error_in_on_finish_stops_the_sweep_and_keeps_what_was_saved(tmp_path):
    calls = []

    def fails_third(finished):
        calls.append(finished.config_id)
        if len(calls) == 3:
            raise RuntimeError("dashboard down")

    kwargs = dict(key=KEY, budget=2, chunk_size=1, progress=False, out_dir=tmp_path)
    with pytest.raises(RuntimeError, match="dashboard down"):
        rmsjax.sweep(TRAINER, SPACE, on_finish=fails_third, **kwargs)
    resumed = rmsjax.sweep(TRAINER, SPACE, **kwargs)
    assert resumed.loaded.sum() == 3 and resumed.loaded[calls].all()


def test_on_finish_must_be_a_function():
    with pytest.raises(TypeError, match="`on_finish` must be a function or None, got 3"):
        rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=2, progress=False, on_finish=3)


def test_each_finished_configuration_is_an_optuna_trial_with_its_times(tmp_path):
    """Finished.to_optuna: what to_optuna writes for the configuration, with the real start and
    end times, added to a real storage while the search runs."""
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", direction="minimize")
    counts = []

    def write(finished):
        study.add_trial(finished.to_optuna("loss", SPACE.distributions))
        counts.append(len(optuna.load_study(study_name=study.study_name,
                                            storage=study._storage).trials))  # fmt: skip

    result = rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=4, chunk_size=2, progress=False,
                          halving=rmsjax.halving("loss", mode="min", eta=2),
                          on_finish=write)  # fmt: skip
    assert counts == list(range(1, 10))  # in the storage one by one, before the sweep returned
    again = optuna.create_study(direction="minimize")
    result.to_optuna(again)
    live = {t.user_attrs["rmsjax_config"]: t for t in study.trials}
    for t in again.trials:  # the same trials as the result's export, times apart
        mine = live[t.user_attrs["rmsjax_config"]]
        assert (mine.state, mine.params, mine.intermediate_values, mine.user_attrs) == (
            t.state,
            t.params,
            t.intermediate_values,
            t.user_attrs,
        )
        # The mean over seeds of the same float32 values, taken in float64 by both: equal up to
        # the order of a two-term sum.
        assert mine.value == pytest.approx(t.value, rel=1e-12)
        assert mine.datetime_start < mine.datetime_complete
    assert len({t.datetime_complete for t in study.trials}) == 9


def test_optuna_search_reports_each_trial_before_telling_it():
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    told = []

    def seen(finished):
        told.append(
            (
                finished,
                len(
                    study.get_trials(
                        states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
                    )
                ),
            )
        )

    result = rmsjax.optuna_search(TRAINER, study, n_trials=5, space=SPACE.distributions, key=KEY,
                                  budget=3, metric="loss", width=2, progress=False,
                                  on_finish=seen)  # fmt: skip
    assert sorted(f.config_id for f, _ in told) == list(range(5))
    for i, (f, finished_before) in enumerate(told):
        assert finished_before == i  # reported before the study was told of it
        assert f.hparams == result.space[f.config_id] and f.units == result.budget[f.config_id]


def test_finished_to_optuna_names_a_wrong_metric_or_axis():
    pytest.importorskip("optuna")
    seen = []
    rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=2, progress=False, on_finish=seen.append)
    with pytest.raises(ValueError, match="`metric` 'nope' is not a metric of this configuration"):
        seen[0].to_optuna("nope", SPACE.distributions)
    with pytest.raises(ValueError, match=r"`space` names axes \['lr'\] that configuration"):
        seen[0].to_optuna("loss", {"lr": [0.1]})

"""SweepResult.to_optuna: any rmsjax search written into an Optuna study, trial by trial."""

import jax
import numpy as np
import pytest

import rmsjax
from tests._staged_helpers import TRAINER

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)
State = optuna.trial.TrialState


@pytest.fixture(scope="module")
def halving_result():
    space = rmsjax.sample(18, seed=0, learning_rate=rmsjax.loguniform(1e-3, 0.3),
                          decay=rmsjax.uniform(0.8, 0.999))  # fmt: skip
    return rmsjax.sweep(TRAINER, space, key=jax.random.key(0), budget=3, progress=False,
                        halving=rmsjax.halving("loss", mode="min"))  # fmt: skip


def test_a_halving_search_becomes_one_trial_per_configuration(halving_result):
    result = halving_result
    study = optuna.create_study(direction="minimize")
    trials = result.to_optuna(study)
    assert len(study.trials) == len(trials) == len(result.space)
    curves = result.metrics["loss_curve"].mean(axis=1)
    for i, trial in enumerate(study.trials):
        assert trial.params == result.space[i]
        assert trial.user_attrs == {"rmsjax_config": i, "rmsjax_units": int(result.budget[i])}
        expected = State.PRUNED if result.pruned[i] else State.COMPLETE
        assert trial.state == expected
        assert trial.value == pytest.approx(result.metrics["loss"][i].mean())
        units = int(result.budget[i])
        assert sorted(trial.intermediate_values) == list(range(1, units + 1))
        np.testing.assert_array_equal([trial.intermediate_values[u] for u in range(1, units + 1)],
                                      curves[i, :units])  # fmt: skip
    assert {t.state for t in study.trials} == {State.PRUNED, State.COMPLETE}
    dist = study.trials[0].distributions["learning_rate"]
    assert dist == optuna.distributions.FloatDistribution(1e-3, 0.3, log=True)
    assert study.best_trial.params == result.best("loss")


# Optuna marks its matplotlib plots experimental (an ExperimentalWarning, an error here).
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_optunas_own_plots_run_on_the_study(halving_result):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as plots

    study = optuna.create_study(direction="minimize")
    halving_result.to_optuna(study)
    ax = plots.plot_intermediate_values(study)
    assert len(ax.lines) == len(halving_result.space)
    assert plots.plot_optimization_history(study) is not None
    assert plots.plot_param_importances(study) is not None
    matplotlib.pyplot.close("all")


def test_a_grid_with_a_diverged_configuration():
    space = rmsjax.grid(lr=[0.1, 0.2, 0.3], nesterov=[False, True])
    result = rmsjax.SweepResult(
        space=space, seeds=2, metrics={"acc": np.arange(12.0).reshape(6, 2)}
    )
    result.metrics["acc"][3, 1] = np.nan
    study = optuna.create_study(direction="maximize")
    result.to_optuna(study, "acc")  # a plain sweep: the study's direction ranks
    states = [t.state for t in study.trials]
    assert states == [State.COMPLETE] * 3 + [State.FAIL] + [State.COMPLETE] * 2
    assert study.trials[3].value is None and study.trials[5].value == 10.5
    assert study.trials[0].distributions["lr"] == optuna.distributions.CategoricalDistribution(
        [0.1, 0.2, 0.3]
    )
    assert not study.trials[0].intermediate_values  # a plain sweep has no units


def test_the_studys_direction_must_be_the_searchs(halving_result):
    with pytest.raises(ValueError, match="the study's direction is MAXIMIZE but 'loss' is ranked"):
        halving_result.to_optuna(optuna.create_study(direction="maximize"))
    with pytest.raises(ValueError, match="contradicts the direction"):
        halving_result.to_optuna(optuna.create_study(direction="maximize"), mode="max")
    two = optuna.create_study(directions=["minimize", "minimize"])
    with pytest.raises(ValueError, match="`study` must have one objective, got 2"):
        halving_result.to_optuna(two)


def test_an_optuna_search_result_copies_into_another_study():
    first = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = {"learning_rate": rmsjax.loguniform(1e-3, 0.3), "decay": rmsjax.uniform(0.8, 0.99)}
    result = rmsjax.optuna_search(TRAINER, first, n_trials=4, space=space, key=jax.random.key(1),
                                  budget=2, metric="loss", progress=False)  # fmt: skip
    copy = optuna.create_study()
    result.to_optuna(copy)
    assert [t.params for t in copy.trials] == [t.params for t in first.trials]
    assert [t.state for t in copy.trials] == [t.state for t in first.trials]
    # One seed: the same float32 values Optuna was told, so equal exactly.
    assert [t.value for t in copy.trials] == [t.value for t in first.trials]
    assert [t.intermediate_values for t in copy.trials] == [
        t.intermediate_values for t in first.trials
    ]


def test_the_studys_distributions_are_the_space_searched_not_the_values_drawn():
    dists = optuna.distributions
    space = {"learning_rate": rmsjax.loguniform(1e-4, 1e-2), "decay": [0.9, 0.99]}
    first = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    result = rmsjax.optuna_search(TRAINER, first, n_trials=3, space=space, key=jax.random.key(1),
                                  budget=1, metric="loss", progress=False)  # fmt: skip
    expected = {"learning_rate": dists.FloatDistribution(1e-4, 1e-2, log=True),
                "decay": dists.CategoricalDistribution([0.9, 0.99])}  # fmt: skip
    copy = optuna.create_study()
    result.to_optuna(copy, space=space)
    assert all(t.distributions == expected for t in copy.trials)
    with pytest.raises(ValueError, match=r"`space` must map the result's axes \['decay', 'l"):
        result.to_optuna(optuna.create_study(), space={"decay": [0.9, 0.99]})

    # pbt: the distributions of the population it started from, for every member.
    pop = rmsjax.sample(4, seed=0, method="random", **space)
    pbt = rmsjax.sweep(TRAINER, pop, key=jax.random.key(0), budget=2, progress=False,
                       pbt=rmsjax.pbt("loss", "min", interval=1))  # fmt: skip
    study = optuna.create_study()
    pbt.to_optuna(study)
    assert all(t.distributions == expected for t in study.trials)

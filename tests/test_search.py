"""`rmsjax.optuna_search`: Optuna's sampler and pruner decide, one vmapped pool trains."""

import json
import os
import sys

import jax
import numpy as np
import pytest

import rmsjax

optuna = pytest.importorskip("optuna")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _staged_helpers import TRACES, TRAINER  # noqa: E402

KEY = jax.random.key(0)
SPACE = {"learning_rate": rmsjax.loguniform(1e-3, 0.3), "decay": rmsjax.uniform(0.5, 0.99)}


@pytest.fixture(autouse=True)
def quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


def new_study(storage=None, name=None):
    return optuna.create_study(
        direction="minimize", storage=storage, study_name=name, load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=4),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
    )  # fmt: skip


def search(study, n_trials=14, **kwargs):
    return rmsjax.optuna_search(
        TRAINER, study, n_trials=n_trials, space=SPACE, key=KEY, budget=9, metric="loss",
        width=3, progress=False, **kwargs,
    )  # fmt: skip


def test_optuna_decides_and_every_trial_is_told():
    study = new_study()
    TRACES.clear()
    result = search(study)
    assert TRACES == {"init": 1, "advance": 1}  # 14 trials, refills, prunings: one trace each
    trials = study.trials
    assert len(trials) == 14 and len(result.space) == 14
    states = [t.state for t in trials]
    pruned = [s == optuna.trial.TrialState.PRUNED for s in states]
    assert all(s in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
               for s in states)  # fmt: skip
    assert sum(pruned) > 0
    for config_id, trial in enumerate(trials):  # one study: configuration ids in ask order
        assert result.space[int(config_id)] == trial.params
        assert result.pruned[config_id] == pruned[config_id]
        assert result.budget[config_id] == max(trial.intermediate_values)
        curve = result.metrics["loss_curve"][config_id, 0]
        for step, value in trial.intermediate_values.items():
            assert curve[step - 1] == pytest.approx(value, rel=1e-7)
        if not pruned[config_id]:
            assert trial.value == pytest.approx(float(result.metrics["loss"][config_id, 0]))
    assert result.best("loss") == study.best_trial.params
    assert result.to_pandas()["pruned"].sum() == sum(pruned)


def test_out_dir_and_storage_resume(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    first = search(new_study(storage, "s"), n_trials=6, out_dir=tmp_path / "run")
    again = search(new_study(storage, "s"), n_trials=6, out_dir=tmp_path / "run")
    assert len(new_study(storage, "s").trials) == 6  # nothing asked again
    for name, value in first.metrics.items():
        np.testing.assert_array_equal(again.metrics[name], value)
    more = search(new_study(storage, "s"), n_trials=9, out_dir=tmp_path / "run")
    assert len(new_study(storage, "s").trials) == 9 and len(more.space) == 9
    assert list(more.space)[:6] == list(first.space)


def test_errors():
    study = new_study()
    with pytest.raises(ValueError, match="static axes \\['centered'\\]"):
        rmsjax.optuna_search(TRAINER, study, n_trials=2, space={**SPACE, "centered": [True, False]},
                             key=KEY, budget=2, metric="loss", progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="`metric` 'acc' is not a scalar metric"):
        rmsjax.optuna_search(TRAINER, study, n_trials=2, space=SPACE, key=KEY, budget=2,
                             metric="acc", progress=False)  # fmt: skip
    with pytest.raises(TypeError, match="`study` must be an optuna.Study"):
        rmsjax.optuna_search(TRAINER, None, n_trials=2, space=SPACE, key=KEY, budget=2,
                             metric="loss", progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="`n_trials` must be an int >= 1, got 0"):
        rmsjax.optuna_search(TRAINER, study, n_trials=0, space=SPACE, key=KEY, budget=2,
                             metric="loss", progress=False)  # fmt: skip


def test_metadata_is_recorded_checked_and_returned(tmp_path):
    out = tmp_path / "run"
    first = search(
        new_study(name="s"), n_trials=3, out_dir=out, metadata={"data": "v1", "epochs": 9}
    )
    assert first.metadata == {"data": "v1", "epochs": 9}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["metadata"] == {"data": "v1", "epochs": 9}
    again = search(
        new_study(name="s"), n_trials=3, out_dir=out, metadata={"epochs": 9, "data": "v1"}
    )
    assert again.metadata == first.metadata  # key order does not matter
    with pytest.raises(ValueError, match=r"other metadata: keys \['data'\] differ"):
        search(new_study(name="s"), n_trials=3, out_dir=out, metadata={"data": "v2", "epochs": 9})
    with pytest.raises(ValueError, match=r"keys \['data', 'epochs'\] differ"):
        search(new_study(name="s"), n_trials=3, out_dir=out)  # none given: {} differs too
    assert search(new_study(), n_trials=2, metadata={"shape": (2, 3)}).metadata == {"shape": [2, 3]}
    assert search(new_study(), n_trials=2).metadata == {}
    with pytest.raises(TypeError, match="`metadata` must be JSON-serialisable"):
        search(new_study(), n_trials=2, metadata={"fn": print})


def test_the_result_ranks_in_the_study_direction():
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))  # fmt: skip
    result = rmsjax.optuna_search(TRAINER, study, n_trials=4, space=SPACE, key=KEY, budget=2,
                                  metric="loss", width=2, progress=False)  # fmt: skip
    assert result.objective == ("loss", "max")
    assert result.best("loss") == study.best_trial.params  # the worst loss: maximized
    with pytest.raises(ValueError, match="`mode` 'min' contradicts the direction"):
        result.best("loss", mode="min")


def test_a_tuple_axis_is_refused_as_ambiguous():
    with pytest.raises(TypeError, match=r"optuna_search axis `learning_rate` is a tuple \(0.0, "
                       r"0.5\), which is ambiguous: use rmsjax.uniform\(0.0, 0.5\)"):  # fmt: skip
        rmsjax.optuna_search(TRAINER, new_study(), n_trials=2, key=KEY, budget=2, metric="loss",
                             space={"learning_rate": (0.0, 0.5)}, progress=False)  # fmt: skip


def test_optuna_distributions_are_accepted():
    # Issue 14: what an Optuna user writes was refused.
    dists = optuna.distributions
    space = {
        "learning_rate": dists.FloatDistribution(1e-3, 0.3, log=True),
        "decay": dists.CategoricalDistribution([0.9, 0.99]),
        "steps": dists.IntDistribution(1, 7, step=2),
        "warmup": dists.FloatDistribution(0.0, 1.0),
    }
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    result = rmsjax.optuna_search(TRAINER, study, n_trials=6, space=space, key=KEY, budget=2,
                                  metric="loss", width=2, progress=False)  # fmt: skip
    for config_id, trial in enumerate(study.trials):
        assert trial.distributions == space  # Optuna saw exactly what the user wrote
        assert result.space[config_id] == trial.params
        assert trial.params["steps"] in (1, 3, 5, 7) and 1e-3 <= trial.params["learning_rate"]
    assert result.to_pandas()["steps"].dtype == np.int64  # an int axis stays an int
    with pytest.raises(ValueError, match=r"optuna_search axis `decay`: FloatDistribution\(step="
                       r"0.1\) is not supported; give the values as a list"):  # fmt: skip
        rmsjax.optuna_search(TRAINER, study, n_trials=2, key=KEY, budget=2, metric="loss",
                             space={**SPACE, "decay": dists.FloatDistribution(0.5, 0.9, step=0.1)},
                             progress=False)  # fmt: skip
    with pytest.raises(ValueError, match="static axes \\['centered'\\]"):
        rmsjax.optuna_search(TRAINER, study, n_trials=2, key=KEY, budget=2, metric="loss",
                             space={**SPACE, "centered": dists.CategoricalDistribution([False])},
                             progress=False)  # fmt: skip


def test_errors_about_a_list_axis_name_it():
    with pytest.raises(ValueError, match=r"optuna_search axis `decay` holds duplicates"):
        rmsjax.optuna_search(TRAINER, new_study(), n_trials=2, key=KEY, budget=2, metric="loss",
                             space={**SPACE, "decay": [0.9, 0.9]}, progress=False)  # fmt: skip


def test_shared_keys():
    trainer = rmsjax.Trainer(
        init=lambda hp, key: jax.random.uniform(key),
        advance=lambda x, hp, key: (x, {"x": x + 0 * hp["lr"]}),
    )  # fmt: skip
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    result = rmsjax.optuna_search(trainer, study, n_trials=4, space={"lr": rmsjax.uniform(0, 1)},
                                  key=KEY, budget=1, metric="x", keys="shared",
                                  progress=False)  # fmt: skip
    x = result.metrics["x"][:, 0]
    assert (x == x[0]).all() and x[0] == jax.random.uniform(result.key_of(3))

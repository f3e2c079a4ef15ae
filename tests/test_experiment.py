"""rmsjax.experiment: configs resolved once, run_* returning reports, presets as data."""

import dataclasses
import inspect
from pathlib import Path

import jax
import numpy as np
import pytest

import rmsjax
from rmsjax import experiment, tasks
from rmsjax.experiment import PRESETS, CompareConfig, SweepConfig, TrainConfig


def test_presets_match_their_functions():
    # Every preset argument is an argument of its function, and rmsjax's preset takes every
    # user-set argument of rmsjax.rmsprop: the table cannot drift from the signatures.
    rmsprop_args = set(inspect.signature(rmsjax.rmsprop).parameters) - {"maximize"}
    assert set(PRESETS["rmsjax"].arguments) == rmsprop_args == set(experiment.HPARAMS)
    for preset in PRESETS.values():
        own = set(inspect.signature(preset.function).parameters)
        assert set(preset.arguments.values()) <= own, preset.name
        assert set(preset.arguments) <= rmsprop_args, preset.name
    with pytest.raises(TypeError, match="torch_rmsprop has no \\['rho'\\]"):
        experiment.Preset("bad", rmsjax.torch_rmsprop, {"decay": "rho"}, "")


def test_preset_builds_what_the_function_builds():
    import jax.numpy as jnp

    hp = {"learning_rate": 0.1, "decay": 0.8, "eps": 1e-3, "momentum": 0.5, "centered": True}
    params = jnp.array([1.0, -2.0])
    grads = jnp.array([0.3, -0.7])
    for preset, direct in [
        ("torch", rmsjax.torch_rmsprop(lr=0.1, alpha=0.8, eps=1e-3, momentum=0.5, centered=True)),
        ("keras", rmsjax.keras_rmsprop(0.1, rho=0.8, epsilon=1e-3, momentum=0.5, centered=True)),
        ("tf1", rmsjax.tf1_rmsprop(0.1, decay=0.8, epsilon=1e-3, momentum=0.5, centered=True)),
    ]:
        built = PRESETS[preset].build(hp)
        a, _ = built.update(grads, built.init(params), params)
        b, _ = direct.update(grads, direct.init(params), params)
        np.testing.assert_array_equal(a, b)
    assert PRESETS["keras"].describe(hp) == (
        "rmsjax.keras_rmsprop(learning_rate=0.1, rho=0.8, epsilon=0.001, momentum=0.5, "
        "centered=True)"
    )


def test_resolve_fills_defaults_once_and_is_idempotent():
    task = tasks.get("reviews")
    config = experiment.resolve(TrainConfig("reviews", preset="tf1", hparams={"momentum": 0.9}))
    assert config.hparams == {**task.defaults, "momentum": 0.9}
    assert (config.epochs, config.batch_size) == (task.epochs, task.batch_size)
    assert experiment.resolve(config) == config
    sweep = experiment.resolve(SweepConfig("rosenbrock", space={"decay": [0.5]}, epochs=7))
    assert sweep.space == {"learning_rate": [1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "decay": [0.5]}
    assert (sweep.metric, sweep.mode, sweep.epochs, sweep.batch_size) == (
        "loss",
        "min",
        7,
        None,
    )
    assert experiment.resolve(sweep) == sweep
    compare = experiment.resolve(CompareConfig("xor"))
    assert compare.sgd_learning_rate == task_sgd("xor")
    assert compare.adam_learning_rate == tasks.get("xor").defaults["learning_rate"]


def task_sgd(name):
    return tasks.get(name).sgd_learning_rate


@pytest.mark.parametrize(
    "config, argument, match",
    [
        (TrainConfig("quadratic", preset="torch", hparams={"decay": 1.5}), "decay", "`alpha`"),
        (TrainConfig("quadratic", preset="keras", hparams={"eps": -1.0}), "eps", "`epsilon`"),
        (SweepConfig("quadratic", space={"learning_rate": [0.1, -1.0]}), "learning_rate", ">= 0"),
        (CompareConfig("quadratic", sgd_learning_rate=-1.0), "sgd_learning_rate", ">= 0"),
    ],
)
def test_bad_values_name_the_configs_argument(config, argument, match):
    with pytest.raises(rmsjax.HyperparameterError, match=match) as info:
        experiment.resolve(config)
    assert info.value.argument == argument


@pytest.mark.parametrize(
    "config, match",
    [
        (TrainConfig("quadratic", preset="tf1", hparams={"nesterov": True}), "'tf1' preset"),
        (SweepConfig("quadratic", preset="torch", space={"nu_dtype": ["bfloat16"]}), "nu_dtype"),
        (SweepConfig("xor", metric="distance_to_minimum"), "not a metric of task 'xor'"),
        (SweepConfig("xor", search="bayes"), "`search` must be one of"),
        (TrainConfig("cifar"), "unknown task 'cifar'"),
        (TrainConfig("xor", preset="jax"), "unknown preset 'jax'"),
    ],
)
def test_bad_configs_are_clear_errors(config, match):
    with pytest.raises(ValueError, match=match):
        experiment.resolve(config)


def test_run_train_report_matches_task_train():
    config = TrainConfig("xor", preset="torch", hparams={"momentum": 0.9}, epochs=5)
    report = experiment.run_train(config)
    direct = tasks.get("xor").train(
        epochs=5, optimizer=rmsjax.torch_rmsprop(0.01, alpha=0.9, momentum=0.9)
    )
    np.testing.assert_allclose(report.curves["train loss"], direct.history.train_loss, rtol=1e-6)
    assert report.optimizer == "rmsjax.torch_rmsprop(lr=0.01, alpha=0.9, momentum=0.9)"
    assert report.json["config"]["preset"] == "torch"
    assert report.table == [] and report.sweep is None


def test_task_train_takes_what_the_command_line_takes():
    # Static options and presets through Task.train, as `rmsjax train --centered` has them.
    task = tasks.get("quadratic")
    centered = task.train({"centered": True, "momentum": None}, epochs=30)
    direct = task.train(epochs=30, optimizer=rmsjax.rmsprop(0.1, decay=0.9, centered=True))
    np.testing.assert_array_equal(centered.trajectory, direct.trajectory)
    assert centered.config["optimizer"] == (
        "rmsjax.rmsprop(learning_rate=0.1, decay=0.9, centered=True, momentum=None)"
    )
    torch = task.train({"momentum": 0.5}, preset="torch", epochs=30)
    direct = task.train(epochs=30, optimizer=rmsjax.torch_rmsprop(0.1, alpha=0.9, momentum=0.5))
    np.testing.assert_array_equal(torch.trajectory, direct.trajectory)


def test_run_sweep_ranks_and_counts_steps_not_examples():
    config = SweepConfig(
        "quadratic", space={"learning_rate": [0.01, 0.1, 1.0], "decay": [0.9]}, epochs=20
    )
    report = experiment.run_sweep(config)
    finals = [row["loss"] for row in report.table]
    assert finals == sorted(finals) and len(finals) == 3
    assert report.json["best"] == {"learning_rate": report.table[0]["learning_rate"], "decay": 0.9}
    assert "steps_per_second" in report.metrics and "examples_per_second" not in report.metrics
    assert report.metrics["loaded_configurations"] == 0
    assert f"  {report.optimizer}" in report.notes


def test_run_sweep_momentum_none_against_momentum():
    space = {"learning_rate": [0.1], "decay": [0.9], "momentum": [None, 0.5]}
    report = experiment.run_sweep(SweepConfig("quadratic", space=space, epochs=25))
    task = tasks.get("quadratic")
    for value, optimizer in [
        (None, rmsjax.rmsprop(0.1, decay=0.9)),
        (0.5, rmsjax.rmsprop(0.1, decay=0.9, momentum=0.5)),
    ]:
        (row,) = [r for r in report.table if r["momentum"] == value]
        direct = task.train(epochs=25, optimizer=optimizer)
        assert row["loss"] == pytest.approx(direct.metrics["loss"], rel=1e-5)


def test_run_compare_has_every_optimizer_and_no_examples_on_2d():
    report = experiment.run_compare(CompareConfig("rosenbrock", epochs=30))
    assert [r["optimizer"] for r in report.table] == [
        "sgd",
        "rmsjax",
        "torch",
        "keras",
        "tf1",
        "adam",
    ]
    assert all("examples_per_second" not in r for r in report.table)
    assert set(report.trajectories) == {r["optimizer"] for r in report.table}
    xor = experiment.run_compare(
        CompareConfig("xor", epochs=2, hparams={"nesterov": True, "momentum": 0.9})
    )
    assert all(r["examples_per_second"] > 0 for r in xor.table)
    assert "note: torch ignores nesterov (not an argument of its preset)" in xor.notes


def test_configs_are_plain_dataclasses():
    for cls in (TrainConfig, SweepConfig, CompareConfig):
        assert dataclasses.is_dataclass(cls)
    fields = {f.name for f in dataclasses.fields(SweepConfig)}
    assert {"search", "trials", "halving", "seeds", "space", "resume_dir"} <= fields


def test_resolve_a_sampled_search():
    config = experiment.resolve(SweepConfig("digits", search="sobol", trials=8))
    assert config.space["learning_rate"] == rmsjax.loguniform(1e-4, 1e-2)  # the grid's range
    assert config.space["decay"] == [0.9, 0.99]
    assert experiment.resolve(config) == config
    # A range is checked at both of its ends, before anything is trained.
    bad = SweepConfig(
        "digits", search="random", trials=4, space={"decay": rmsjax.uniform(0.5, 1.5)}
    )
    with pytest.raises(rmsjax.HyperparameterError, match="`decay` must be in") as info:
        experiment.resolve(bad)
    assert info.value.argument == "decay"
    for config, match in [
        (SweepConfig("digits", search="random"), "needs `trials`"),
        (SweepConfig("digits", trials=3), "`trials` is for the sampled searches"),
        (SweepConfig("digits", halving=1), "int >= 2"),
        (SweepConfig("digits", search="optuna", trials=3, halving=3), "optuna prunes by itself"),
    ]:
        with pytest.raises(ValueError, match=match):
            experiment.resolve(config)


def test_the_application_uses_the_engine_through_public_names_only():
    # The application layer (tasks, experiment, report, cli, presets, training) imports neither
    # rmsjax._engine nor rmsjax._src, and never imports rmsjax inside a function.
    import ast

    root = Path(rmsjax.__file__).parent
    files = [*(root / "tasks").glob("*.py"), *(root / "experiment").glob("*.py")]
    files += [root / f"{n}.py" for n in ("report", "cli", "presets", "training")]
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith(("rmsjax._engine", "rmsjax._src")), (path, name)
                top_level = node.col_offset == 0
                assert top_level or not name.startswith("rmsjax"), (path, node.lineno, name)


def test_a_sweep_chooses_on_validation_and_reports_on_test():
    task = tasks.get("digits")
    full = task.load()
    data = task.sweep_data(full)
    # The validation split is carved from the training examples: together they are the
    # training set, and the test split is untouched.
    together = np.concatenate([data.x_train, data.x_val])
    assert len(together) == full.num_train and len(data.x_val) == round(0.2 * full.num_train)
    key = np.lexsort(together.T)
    np.testing.assert_array_equal(together[key], full.x_train[np.lexsort(full.x_train.T)])
    np.testing.assert_array_equal(data.x_test, full.x_test)
    assert task.sweep_data(data) is data  # split once
    config = SweepConfig("digits", space={"learning_rate": [1e-3, 1e-2]}, epochs=2)
    report = experiment.run_sweep(config)
    assert report.json["metric"] == "val_accuracy"
    vals = [row["val_accuracy"] for row in report.table]
    assert vals == sorted(vals, reverse=True)  # ranked on validation...
    best = report.table[0]
    assert report.metrics["test_accuracy"] == best["test_accuracy"]  # ...reported on test
    assert "chosen by val_accuracy on the validation split" in "\n".join(report.notes)
    # The rows are what the train_fn on the split data measures: validation and test apart.
    out = task.make_train_fn(data, epochs=2)(
        {"learning_rate": 1e-3, "decay": task.defaults["decay"]},
        jax.random.fold_in(jax.random.fold_in(jax.random.key(0), 0), 0),
    )
    assert {"val_accuracy", "val_loss", "test_accuracy", "test_loss"} <= set(out)

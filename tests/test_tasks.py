"""Tests of rmsjax.tasks: the registry, train(), make_train_fn() and small real-data runs."""

import dataclasses
import json
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rmsjax
from rmsjax import tasks


def test_registry():
    assert tasks.names() == ["quadratic", "rosenbrock", "xor", "digits", "mnist", "reviews"]
    with pytest.raises(ValueError, match="unknown task 'cifar'; known tasks: quadratic, .*reviews"):
        tasks.get("cifar")
    for name in tasks.names():
        t = tasks.get(name)
        assert {"learning_rate", "decay"} <= set(t.defaults)
        assert t.epochs > 0 and len(t.sweep_space["learning_rate"]) > 1


@pytest.mark.parametrize("name", ["quadratic", "rosenbrock"])
def test_objective_train_and_train_fn_agree(name):
    task = tasks.get(name)
    result = task.train(epochs=200)
    traj = result.trajectory
    assert traj.shape == (201, 2)
    np.testing.assert_allclose(traj[0], task.load().start)
    assert result.history.train_loss[-1] < 0.5 * result.history.train_loss[0]
    json.dumps(result.metrics), json.dumps(result.config)
    # The sweep form, vmapped over two learning rates, reproduces train() for the default one.
    train_fn = task.make_train_fn(epochs=200)
    lr = task.defaults["learning_rate"]
    hp = {"learning_rate": jnp.array([lr, lr / 10]), "decay": jnp.array([0.9, 0.9])}
    out = jax.jit(jax.vmap(train_fn, in_axes=(0, None)))(hp, jax.random.key(0))
    np.testing.assert_allclose(out["trajectory"][0], traj, rtol=1e-5, atol=1e-6)
    assert out["loss_curve"].shape == (2, 201)


def test_rosenbrock_rmsprop_beats_sgd_with_the_seed_settings():
    # The seed's comparison: gradient descent at 1e-3 against RMSprop at 1e-2, 1000 steps.
    task = tasks.get("rosenbrock")
    rms = task.train()
    sgd = task.train(optimizer=optax.sgd(1e-3))
    assert rms.metrics["loss"] < sgd.metrics["loss"]
    assert sgd.config["optimizer"] == "user-supplied optax transformation"


def test_xor_defaults_get_all_four_points_for_several_seeds():
    task = tasks.get("xor")
    train_fn = jax.jit(jax.vmap(task.make_train_fn(), in_axes=(None, 0)))
    hp = {k: jnp.asarray(v) for k, v in task.defaults.items()}
    out = train_fn(hp, jax.random.split(jax.random.key(0), 4))
    np.testing.assert_array_equal(out["test_accuracy"], 1.0)


def test_digits_defaults_reach_the_target():
    # Target of the issue: >= 0.97 held-out accuracy. The defaults reach ~0.98 on this split
    # (359 held-out digits: one digit is 0.0028), so 0.97 leaves about three digits of margin.
    task = tasks.get("digits")
    data = task.load()
    out = jax.jit(task.make_train_fn(data))(dict(task.defaults), jax.random.key(0))
    assert float(out["test_accuracy"]) >= 0.97
    assert out["loss_curve"].shape == (task.epochs,)


def test_train_matches_train_fn_and_reports_json():
    task = tasks.get("digits")
    data = task.load()
    result = task.train({"learning_rate": 3e-3}, data=data, epochs=2, seed=3)
    hp = {"learning_rate": 3e-3, "decay": task.defaults["decay"]}
    out = jax.jit(task.make_train_fn(data, epochs=2))(hp, jax.random.key(3))
    np.testing.assert_allclose(out["loss_curve"], result.history.train_loss, rtol=1e-5)
    np.testing.assert_allclose(out["test_accuracy"], result.metrics["test_accuracy"], atol=1e-6)
    text = json.dumps({"metrics": result.metrics, "config": result.config})
    assert '"learning_rate": 0.003' in text
    assert set(result.metrics) >= {
        "loss",
        "test_accuracy",
        "examples_per_second",
        "wall_seconds",
    }
    assert result.source.startswith("scikit-learn load_digits")


def test_wrong_data_is_a_clear_error():
    with pytest.raises(TypeError, match="task 'digits' needs data of type Dataset"):
        tasks.get("digits").make_train_fn(data=tasks.get("rosenbrock").load())
    with pytest.raises(ValueError, match=r"\['lr'\] are not arguments of the 'rmsjax' preset"):
        tasks.get("quadratic").train({"lr": 0.1})
    with pytest.raises(ValueError, match=r"\['nesterov'\] are not arguments of the 'torch'"):
        tasks.get("quadratic").train({"nesterov": True}, preset="torch")


def test_runs_under_rmsjax_sweep():
    task = tasks.get("quadratic")
    result = rmsjax.sweep(
        task.make_train_fn(epochs=50),
        rmsjax.grid(learning_rate=[0.01, 0.1], decay=[0.9]),
        key=jax.random.key(0),
        progress=False,
    )
    assert result.metrics["trajectory"].shape == (2, 1, 51, 2)
    assert result.metrics["loss"][1, 0] < result.metrics["loss"][0, 0]


# ------------------------------------------------------------------------- real data, small


def test_mnist_few_epochs_on_the_offline_split(shared_data):
    task = tasks.get("mnist")
    try:
        data = task.load(shared_data)
    except FileNotFoundError as err:
        pytest.skip(str(err))
    # 3 of the default 20 epochs. Measured: ~0.94 test accuracy after 3 epochs (0.96 after 20) on
    # the last 2,000 images; 0.90 is a modest bound that a broken model, loss, optimizer or split
    # (chance is 0.10) cannot pass, with room for seed and platform differences.
    result = task.train(data=data, epochs=3, eval_every=3)
    assert result.metrics["test_accuracy"] >= 0.90, result.metrics
    assert "first 8,000 train / last 2,000 eval" in result.source


def test_reviews_small_under_vmap(shared_data):
    task = tasks.get("reviews")
    try:
        data = task.load(shared_data, max_len=48, vocab_size=3000)
    except FileNotFoundError as err:
        pytest.skip(str(err))
    assert (data.num_train, data.num_test) == (1600, 400)
    train_fn = jax.jit(jax.vmap(task.make_train_fn(data, epochs=2), in_axes=(0, None)))
    hp = {"learning_rate": jnp.array([3e-3, 0.0]), "decay": jnp.array([0.9, 0.9])}
    out = train_fn(hp, jax.random.key(0))
    curve = np.asarray(out["loss_curve"])
    # lr 0 cannot learn; lr 3e-3 fits the training set a little within 2 epochs.
    assert curve[1, 1] == pytest.approx(curve[1, 0], abs=0.02)
    assert curve[0, 1] < curve[0, 0] and curve[0, 1] < curve[1, 1]
    assert np.isfinite(np.asarray(out["test_accuracy"])).all()


def test_reviews_word_dropout_and_pooling_options(tmp_path):
    for label in ("pos", "neg"):
        (tmp_path / label).mkdir()
        for i in range(10):
            word = "great" if label == "pos" else "awful"
            (tmp_path / label / f"cv{i:03d}.txt").write_text(f"a {word} film {label}{i} indeed")
    base = tasks.get("reviews")
    task = dataclasses.replace(
        base,
        model={**base.model, "word_dropout": 0.5, "pooling": "mean_max", "bidirectional": True},
        data_options={**base.data_options, "max_len": 8, "min_count": 2},
    )
    data = task.load(tmp_path, num_train=16)
    assert "pos0" not in data.info["vocab"]  # seen once: pruned by min_count
    init_fn, apply_fn = task.model_fns(data)
    params = init_fn(jax.random.key(0))
    assert "cell_bwd" in params
    loss_fn, metrics_fn = task.loss_and_metrics(apply_fn)
    x, y = jnp.asarray(data.x_train), jnp.asarray(data.y_train)
    # Evaluation is deterministic (no word dropout); training losses depend on the key.
    np.testing.assert_array_equal(apply_fn(params, x), apply_fn(params, x))
    l1, l2 = loss_fn(params, (x, y), jax.random.key(1)), loss_fn(params, (x, y), jax.random.key(2))
    assert np.isfinite(l1) and float(l1) != float(l2)
    result = task.train(data=data, epochs=1, batch_size=8)
    assert np.isfinite(result.metrics["test_accuracy"])


def test_what_the_command_line_used_to_hold_lives_on_the_task():
    digits, rosen = tasks.get("digits"), tasks.get("rosenbrock")
    assert (digits.budget_unit, rosen.budget_unit) == ("epoch", "step")
    assert digits.default_metric == "val_accuracy" and rosen.default_metric == "loss"
    assert tasks.get("xor").default_metric == "test_accuracy"  # no validation split
    assert "distance_to_minimum" in rosen.scalar_metrics
    assert rosen.sgd_learning_rate == 1e-3  # the seed's gradient-descent step on Rosenbrock
    data = digits.load()
    # Every epoch drops the last num_train % batch_size examples of its permutation.
    assert digits.examples_per_run(data, epochs=2) == 2 * (data.num_train // 32) * 32
    assert rosen.examples_per_run(rosen.load()) is None  # a 2-D function has no examples
    result = rosen.train(epochs=10)
    assert "steps_per_second" in result.metrics and "examples_per_second" not in result.metrics


def _contributing_task_example() -> str:
    text = (Path(__file__).parents[1] / "CONTRIBUTING.md").read_text()
    section = text.split("## Adding a task")[1].split("\n## ")[0]
    return section.split("```python\n")[1].split("```")[0]


def test_contributing_example_task_is_found_and_trains(tmp_path, monkeypatch):
    # The "Adding a task" example of CONTRIBUTING.md, as a file beside the built-in tasks: the
    # registry finds it after them, and it trains with the shared machinery.
    pytest.importorskip("sklearn")
    (tmp_path / "cancer.py").write_text(_contributing_task_example())
    monkeypatch.setattr(tasks, "__path__", [*tasks.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "rmsjax.tasks.cancer", raising=False)
    try:
        found = tasks._discover()
    finally:
        sys.modules.pop("rmsjax.tasks.cancer", None)
    assert list(found) == [*tasks.names(), "cancer"]
    task = found["cancer"]
    assert (task.kind, task.budget_unit, task.default_metric) == ("classification", "epoch",
                                                                  "val_accuracy")  # fmt: skip
    result = task.train(epochs=5)
    assert result.metrics["test_accuracy"] > 0.9  # a linearly separable-ish problem: ~0.97


def test_a_declaration_that_mixes_kinds_is_refused():
    digits = tasks.get("digits")
    with pytest.raises(ValueError, match="a classifier declares `model`, `loss` and `batch_size`"):
        dataclasses.replace(digits, loss=None)
    with pytest.raises(ValueError, match="`budget_unit` must be 'step' for a 2-D objective"):
        dataclasses.replace(digits, budget_unit="step")
    with pytest.raises(ValueError, match="`loss` must be one of"):
        dataclasses.replace(digits, loss="hinge")

"""Tests of rmsjax.training: the epoch scan, fit, evaluate, make_train_fn and minimize."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import rmsjax
from rmsjax import training
from rmsjax.models import correct, mlp, softmax_cross_entropy


def blobs(n=96, seed=0):
    """Three well-separated Gaussian blobs in 2-D: an easy 3-class problem."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n).astype(np.int32)
    centres = np.array([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.0]], np.float32)
    return centres[y] + 0.5 * rng.normal(size=(n, 2)).astype(np.float32), y


def loss_fn(params, batch):
    x, y = batch
    return jnp.mean(softmax_cross_entropy(mlp.apply(params, x), y))


def metrics_fn(params, batch):
    x, y = batch
    return {"accuracy": correct(mlp.apply(params, x), y)}


def init_fn(key):
    return mlp.init(key, (2, 16, 3))


def test_shuffled_batches_are_a_permutation():
    x = jnp.arange(10)
    b = training.shuffled_batches((x, x * 10), jax.random.key(0), 3)
    assert b[0].shape == (3, 3)
    assert len(set(np.asarray(b[0]).ravel().tolist())) == 9  # distinct examples, 1 dropped
    np.testing.assert_array_equal(b[1], b[0] * 10)  # x and y stay aligned
    with pytest.raises(ValueError, match="`batch_size`=11 exceeds the 10 training examples"):
        training.shuffled_batches(x, jax.random.key(0), 11)
    with pytest.raises(ValueError, match="share the leading axis"):
        training.shuffled_batches((x, x[:5]), jax.random.key(0), 2)


@pytest.mark.parametrize(
    "optimizer",
    [rmsjax.rmsprop(1e-2), optax.adam(1e-2), optax.sgd(0.1)],
    ids=["rmsjax", "adam", "sgd"],
)
def test_fit_decreases_loss(optimizer):
    x, y = blobs()
    result = training.fit(
        init_fn(jax.random.key(0)),
        optimizer,
        loss_fn,
        (x, y),
        epochs=8,
        batch_size=16,
        key=jax.random.key(1),
        eval_data=(x, y),
        metrics_fn=metrics_fn,
        eval_every=4,
    )
    h = result.history
    assert len(h.train_loss) == 8 and h.eval_epochs == [4, 8]
    assert h.train_loss[-1] < 0.5 * h.train_loss[0]
    assert h.eval["accuracy"][-1] > 0.9  # separable blobs; chance is 1/3
    assert h.examples_per_second > 0 and h.compile_seconds > 0
    assert set(h.as_dict()) >= {"train_loss", "eval", "wall_seconds", "examples_per_second"}


def test_epoch_compiles_once():
    traces = []

    def counting_loss(params, batch):
        traces.append(1)  # runs only while tracing
        return loss_fn(params, batch)

    x, y = blobs()
    training.fit(
        init_fn(jax.random.key(0)),
        rmsjax.rmsprop(1e-2),
        counting_loss,
        (x, y),
        epochs=5,
        batch_size=32,
        key=jax.random.key(0),
    )
    assert len(traces) == 1


def test_fit_progress_bar(capsys):
    x, y = blobs(32)
    training.fit(
        init_fn(jax.random.key(0)),
        optax.sgd(0.1),
        loss_fn,
        (x, y),
        epochs=2,
        batch_size=8,
        key=jax.random.key(0),
        progress=True,
    )
    assert "2/2" in capsys.readouterr().err


def test_fit_errors():
    x, y = blobs(16)
    p = init_fn(jax.random.key(0))
    with pytest.raises(ValueError, match="`epochs` must be a non-negative integer, got -1"):
        training.fit(
            p, optax.sgd(0.1), loss_fn, (x, y), epochs=-1, batch_size=4, key=jax.random.key(0)
        )
    with pytest.raises(ValueError, match="given together"):
        training.fit(
            p,
            optax.sgd(0.1),
            loss_fn,
            (x, y),
            epochs=1,
            batch_size=4,
            key=jax.random.key(0),
            eval_data=(x, y),
        )


def test_evaluate_does_not_depend_on_batch_size():
    x, y = blobs(50)
    p = init_fn(jax.random.key(3))

    def per_example(params, batch):
        logits = mlp.apply(params, batch[0])
        y = batch[1]
        return {"loss": softmax_cross_entropy(logits, y), "accuracy": correct(logits, y)}

    full = training.evaluate(p, (x, y), per_example)
    for bs in (7, 16, 50):
        chunked = jax.jit(lambda p, d, bs=bs: training.evaluate(p, d, per_example, batch_size=bs))(
            p, (x, y)
        )
        for k in full:
            np.testing.assert_allclose(chunked[k], full[k], rtol=1e-6)


def blob_args():
    """The arguments make_train_fn and make_trainer share, on the blobs."""
    x, y = blobs()
    return dict(
        init_fn=init_fn,
        loss_fn=loss_fn,
        train_data=(x, y),
        optimizer_factory=training.rmsprop_factory(),
        batch_size=16,
        eval_data=(x, y),
        metrics_fn=metrics_fn,
    )


def make_blob_train_fn(epochs=4):
    return training.make_train_fn(epochs=epochs, **blob_args())


def test_train_fn_vmaps_over_hparams_like_a_loop():
    train_fn = make_blob_train_fn()
    hp = {"learning_rate": jnp.array([1e-3, 1e-2, 3e-2]), "decay": jnp.array([0.9, 0.99, 0.9])}
    key = jax.random.key(5)
    batched = jax.jit(jax.vmap(train_fn, in_axes=(0, None)))(hp, key)
    assert batched["loss_curve"].shape == (3, 4) and batched["test_accuracy"].shape == (3,)
    single = jax.jit(train_fn)
    for i in range(3):
        one = single({k: v[i] for k, v in hp.items()}, key)
        # vmap batches the same float32 arithmetic; XLA may fuse it differently: 1e-5 relative.
        for k in one:
            np.testing.assert_allclose(batched[k][i], one[k], rtol=1e-5, atol=1e-6)
    # A larger learning rate trains faster on this easy problem.
    assert batched["loss"][1] < batched["loss"][0]


def make_blob_trainer():
    return training.make_trainer(**blob_args())


@pytest.mark.parametrize("typed_key", [True, False])
def test_trainer_units_take_their_data_order_from_the_advance_key(typed_key):
    # Issue 22: the shuffle key lived in the carry and the key advance receives was ignored, so
    # a PBT copy took its donor's data order too. Now each unit's order comes from its key.
    trainer = make_blob_trainer()
    key = jax.random.key(2) if typed_key else jax.random.PRNGKey(2)
    hp = {"learning_rate": jnp.float32(1e-2), "decay": jnp.float32(0.9)}
    init, advance = jax.jit(trainer.init), jax.jit(trainer.advance)
    carry = init(hp, key)
    first, _ = advance(carry, hp, jax.random.fold_in(key, 0))
    again, _ = advance(carry, hp, jax.random.fold_in(key, 0))
    other, _ = advance(carry, hp, jax.random.fold_in(key, 1))
    leaves = jax.tree_util.tree_leaves
    for a, b in zip(leaves(first.state), leaves(again.state), strict=True):
        np.testing.assert_array_equal(a, b)  # the same key: the same unit, bit for bit
    pairs = zip(leaves(first.state), leaves(other.state), strict=True)
    assert any(not np.array_equal(a, b) for a, b in pairs)  # another key: another data order
    # A sweep passes unit u the key fold_in(run key, u): the loop with those keys is its run.
    space = rmsjax.grid(learning_rate=[1e-3, 1e-2, 3e-2], decay=[0.9])
    staged = rmsjax.sweep(trainer, space, key=key, budget=3, chunk_size=3, progress=False)
    carry, curve = init(hp, staged.key_of(1)), []
    for u in range(3):
        carry, metrics = advance(carry, hp, staged.key_of(1, unit=u))
        curve.append(metrics["loss"])
    # Alone against batched (width 3) float32 math: equal up to rounding, not bit for bit.
    np.testing.assert_allclose(staged.metrics["loss_curve"][1, 0], curve, rtol=1e-5)
    assert staged.metrics["loss_curve"].dtype == np.float64  # float32 values, exactly widened


def test_pbt_members_copying_one_donor_keep_their_own_data_order():
    # Issue 22: with perturb=(1, 1) and no resampling, a member that copied a donor's carry
    # became its exact clone (the donor's shuffle key came along in the carry).
    trainer = make_blob_trainer()
    space = rmsjax.grid(learning_rate=[1e-3, 3e-3, 1e-2, 3e-2], decay=[0.9])
    rule = rmsjax.pbt("loss", mode="min", interval=1, fraction=0.5, perturb=(1.0, 1.0),
                      resample=0.0)  # fmt: skip
    key = jax.random.key(5)
    result = rmsjax.sweep(trainer, space, key=key, budget=3, progress=False, pbt=rule)
    curve = result.metrics["loss_curve"][:, 0]  # (members, units)
    pairs = 0
    for unit in range(1, 3):
        for m in np.flatnonzero(result.copied_from[:, unit] >= 0):
            donor = int(result.copied_from[m, unit])
            if result.copied_from[donor, unit] < 0:  # the donor kept its own carry
                pairs += 1
                assert curve[m, unit] != curve[donor, unit], (m, donor, unit)
    assert pairs > 0
    for m in range(len(space)):  # replay still trains each member again, bit for bit
        again = rmsjax.replay(trainer, result.schedule(m), key=key)
        np.testing.assert_array_equal(again["loss"], result.metrics["loss"][m])


def test_make_trainer_errors():
    x, y = blobs()
    with pytest.raises(ValueError, match="must be given together"):
        training.make_trainer(init_fn=init_fn, loss_fn=loss_fn, train_data=(x, y),
                              optimizer_factory=training.rmsprop_factory(), batch_size=16,
                              eval_data=(x, y))  # fmt: skip
    with pytest.raises(ValueError, match="`batch_size`=200 exceeds"):
        training.make_trainer(
            init_fn=init_fn,
            loss_fn=loss_fn,
            train_data=(x, y),
            optimizer_factory=training.rmsprop_factory(),
            batch_size=200,
        )


def test_train_fn_matches_fit():
    # Same key, same hyperparameters: the pure train_fn and fit train the same model.
    epochs = 4
    train_fn = make_blob_train_fn(epochs)
    key = jax.random.key(7)
    out = jax.jit(train_fn)({"learning_rate": 1e-2, "decay": 0.9}, key)
    init_key, shuffle_key = jax.random.split(key)
    x, y = blobs()
    res = training.fit(
        init_fn(init_key),
        rmsjax.rmsprop(1e-2, 0.9),
        loss_fn,
        (x, y),
        epochs=epochs,
        batch_size=16,
        key=shuffle_key,
        eval_data=(x, y),
        metrics_fn=metrics_fn,
    )
    np.testing.assert_allclose(out["loss_curve"], res.history.train_loss, rtol=1e-5)
    np.testing.assert_allclose(out["test_accuracy"], res.history.eval["accuracy"][-1])


def test_rmsprop_factory_rejects_unknown_hparams():
    with pytest.raises(ValueError, match=r"hyperparameters \['lr'\] are not numeric arguments"):
        training.rmsprop_factory()({"lr": 0.1})


def test_minimize_matches_a_python_loop():
    def fn(p):
        return (1 - p[0]) ** 2 + 100 * (p[1] - p[0] ** 2) ** 2

    opt = rmsjax.rmsprop(0.01)
    traj, values = jax.jit(lambda s: training.minimize(fn, s, opt, 20))(jnp.array([-1.5, 2.5]))
    p = jnp.array([-1.5, 2.5])
    state = opt.init(p)
    expected = [p]
    for _ in range(20):
        u, state = opt.update(jax.grad(fn)(p), state, p)
        p = optax.apply_updates(p, u)
        expected.append(p)
    np.testing.assert_allclose(traj, np.stack(expected), rtol=1e-5)
    np.testing.assert_allclose(values, [fn(q) for q in expected], rtol=1e-4)
    assert traj.shape == (21, 2)


def test_validation_data_is_evaluated_beside_the_test_data():
    args = blob_args()
    x, y = args["train_data"]
    args["validation_data"] = (x[:20], y[:20])
    hp = {"learning_rate": 1e-2, "decay": 0.9}
    key = jax.random.key(1)
    out = jax.jit(training.make_train_fn(epochs=2, **args))(hp, key)
    plain = jax.jit(make_blob_train_fn(epochs=2))(hp, key)
    for k in plain:  # the validation split changes nothing else
        np.testing.assert_array_equal(out[k], plain[k])
    tests = {k[len("test_") :] for k in plain if k.startswith("test_")}
    assert {k for k in out if k.startswith("val_")} == {f"val_{k}" for k in tests} != set()
    # What the trainer returns after the same epochs, on the same validation examples.
    trainer = training.make_trainer(**args)
    carry = trainer.init(hp, key)
    for _ in range(2):
        carry, unit = trainer.advance(carry, hp, key)
    np.testing.assert_allclose(unit["val_accuracy"], out["val_accuracy"], rtol=1e-6)
    args.pop("eval_data"), args.pop("metrics_fn")
    with pytest.raises(ValueError, match="`validation_data` needs `eval_data` and `metrics_fn`"):
        training.make_train_fn(epochs=2, **args)

"""Training loops for any optax transformation: an epoch is one jitted ``lax.scan`` over batches.

Two entry points share the same epoch function:

- :func:`fit` trains one configuration from Python, one compiled call per epoch, with a history
  of losses and metrics and an optional progress bar.
- :func:`make_train_fn` builds ``train_fn(hparams, key) -> dict[str, jax.Array]``, a pure function
  with a fixed number of epochs that builds its optimizer from (possibly traced) hyperparameters,
  so ``rmsjax.sweep`` can ``vmap`` it over a grid and compile it once.

Conventions: ``data`` is a pytree (e.g. a tuple ``(x, y)``) of arrays sharing a leading example
axis; ``loss_fn(params, batch) -> scalar``; ``metrics_fn(params, batch) -> {name: per-example
values}`` (averaged by :func:`evaluate`). Each epoch draws a fresh permutation from
``fold_in(key, epoch)`` and drops the last ``n % batch_size`` examples of it (different ones every
epoch), so every step has the same shape.

>>> import jax, jax.numpy as jnp, optax
>>> from rmsjax import training
>>> x = jnp.linspace(-1, 1, 64)[:, None]
>>> data = (x, 3 * x)
>>> def loss_fn(w, batch):
...     xb, yb = batch
...     return jnp.mean((xb * w - yb) ** 2)
>>> result = training.fit(jnp.zeros(()), optax.sgd(0.5), loss_fn, data, epochs=5,
...                       batch_size=16, key=jax.random.key(0))
>>> round(float(result.params), 2)
3.0
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsjax
from rmsjax._checks import positive_int

__all__ = [
    "FitResult",
    "History",
    "TrainState",
    "evaluate",
    "fit",
    "make_epoch_fn",
    "make_train_fn",
    "make_trainer",
    "minimize",
    "rmsprop_factory",
    "shuffled_batches",
    "train_epoch",
    "train_step",
]

PyTree = Any
LossFn = Callable[[PyTree, PyTree], jax.Array]
MetricsFn = Callable[[PyTree, PyTree], Mapping[str, jax.Array]]
OptimizerFactory = Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]


class TrainState(NamedTuple):
    """Parameters and optimizer state, the carry of the training scan."""

    params: PyTree
    opt_state: PyTree


def _num_examples(data: PyTree) -> int:
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("`data` has no arrays")
    sizes = {int(np.shape(leaf)[0]) for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(f"all arrays in `data` must share the leading axis, got sizes {sizes}")
    return sizes.pop()


def _check_batch_size(batch_size: int, n: int) -> None:
    positive_int("batch_size", batch_size)
    if batch_size > n:
        raise ValueError(f"`batch_size`={batch_size} exceeds the {n} training examples")


def shuffled_batches(data: PyTree, key: jax.Array, batch_size: int) -> PyTree:
    """``data`` permuted by ``key`` and cut into ``n // batch_size`` batches (leading axis).

    Every leaf becomes ``[n // batch_size, batch_size, ...]``; the remainder is dropped.

    >>> import jax, jax.numpy as jnp
    >>> from rmsjax.training import shuffled_batches
    >>> shuffled_batches(jnp.arange(10), jax.random.key(0), 4).shape
    (2, 4)
    """
    n = _num_examples(data)
    _check_batch_size(batch_size, n)
    num_batches = n // batch_size
    idx = jax.random.permutation(key, n)[: num_batches * batch_size]
    idx = idx.reshape(num_batches, batch_size)
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a)[idx], data)


def train_step(
    state: TrainState,
    batch: PyTree,
    *,
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    key: jax.Array | None = None,
) -> tuple[TrainState, jax.Array]:
    """One gradient step on ``batch``; returns the new state and the batch's loss.

    With ``key``, the loss is called as ``loss_fn(params, batch, key)`` (e.g. for dropout).
    """
    args = (batch,) if key is None else (batch, key)
    loss, grads = jax.value_and_grad(loss_fn)(state.params, *args)
    updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    return TrainState(params, opt_state), loss


def train_epoch(
    state: TrainState,
    data: PyTree,
    key: jax.Array,
    *,
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    batch_size: int,
    loss_takes_key: bool = False,
) -> tuple[TrainState, jax.Array]:
    """One epoch, pure and traceable: shuffle with ``key``, then ``lax.scan`` :func:`train_step`.

    With ``loss_takes_key``, step ``i`` calls ``loss_fn(params, batch, step_key)`` with keys split
    from ``fold_in(key, 1)`` (for dropout). Returns the new state and the loss of every batch,
    ``[n // batch_size]``.
    """
    n = _num_examples(data)
    _check_batch_size(batch_size, n)
    num_batches = n // batch_size
    # Scan over index batches and gather each batch inside the step: the permuted data set is
    # never materialised (under vmap that would be one copy per configuration).
    idx = jax.random.permutation(key, n)[: num_batches * batch_size]
    idx = idx.reshape(num_batches, batch_size)
    data = jax.tree_util.tree_map(jnp.asarray, data)

    def gather(i):
        return jax.tree_util.tree_map(lambda a: a[i], data)

    if loss_takes_key:
        step_keys = jax.random.split(jax.random.fold_in(key, 1), num_batches)

        def step(carry, inputs):
            i, step_key = inputs
            return train_step(carry, gather(i), loss_fn=loss_fn, optimizer=optimizer, key=step_key)

        return jax.lax.scan(step, state, (idx, step_keys))

    def plain_step(carry, i):
        return train_step(carry, gather(i), loss_fn=loss_fn, optimizer=optimizer)

    return jax.lax.scan(plain_step, state, idx)


def make_epoch_fn(
    loss_fn: LossFn,
    optimizer: optax.GradientTransformation,
    batch_size: int,
    loss_takes_key: bool = False,
) -> Callable[[TrainState, PyTree, jax.Array], tuple[TrainState, jax.Array]]:
    """``jax.jit`` of :func:`train_epoch` with the loss, optimizer and batch size fixed:
    ``epoch_fn(state, data, key) -> (state, batch_losses)``."""

    def epoch_fn(state, data, key):
        return train_epoch(
            state,
            data,
            key,
            loss_fn=loss_fn,
            optimizer=optimizer,
            batch_size=batch_size,
            loss_takes_key=loss_takes_key,
        )

    return jax.jit(epoch_fn)


def evaluate(
    params: PyTree, data: PyTree, metrics_fn: MetricsFn, *, batch_size: int | None = None
) -> dict[str, jax.Array]:
    """Mean over all examples of each per-example metric of ``metrics_fn``; pure and traceable.

    With ``batch_size``, the data are processed in chunks (the last one padded with zeros and
    left out of the means) to bound memory; the result does not depend on it.

    >>> import jax.numpy as jnp
    >>> from rmsjax.training import evaluate
    >>> def metrics_fn(w, batch):
    ...     x, y = batch
    ...     return {"error": jnp.abs(w * x - y)}
    >>> evaluate(2.0, (jnp.arange(5.0), jnp.zeros(5)), metrics_fn, batch_size=2)
    {'error': Array(4., dtype=float32)}
    """
    n = _num_examples(data)
    if batch_size is None or batch_size >= n:
        return {k: jnp.mean(v) for k, v in metrics_fn(params, data).items()}
    _check_batch_size(batch_size, n)
    chunks = math.ceil(n / batch_size)
    pad = chunks * batch_size - n

    def reshape(a):
        a = jnp.asarray(a)
        a = jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)]) if pad else a
        return a.reshape(chunks, batch_size, *a.shape[1:])

    chunked = jax.tree_util.tree_map(reshape, data)
    weights = (jnp.arange(chunks * batch_size) < n).reshape(chunks, batch_size)

    def one(args):
        batch, w = args
        return {k: jnp.sum(jnp.where(w, v, 0.0)) for k, v in metrics_fn(params, batch).items()}

    sums = jax.lax.map(one, (chunked, weights))
    return {k: jnp.sum(v) / n for k, v in sums.items()}


@dataclasses.dataclass
class History:
    """What :func:`fit` measured.

    Attributes:
      train_loss: mean training loss of each epoch (over its batches, as they were trained).
      eval: metric name -> values at each epoch in ``eval_epochs`` (on ``eval_data``).
      eval_epochs: the 1-based epochs after which ``eval_data`` was evaluated.
      wall_seconds: the whole call, compilation included.
      compile_seconds: compiling the epoch function.
      train_seconds: running the epochs (evaluation excluded).
      epoch_seconds: the time of each epoch (the first may include one-time start-up costs).
      examples_per_second: examples trained per second, over the epochs after the first when
        there are several (the first carries one-time start-up costs).
    """

    train_loss: list[float] = dataclasses.field(default_factory=list)
    eval: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    eval_epochs: list[int] = dataclasses.field(default_factory=list)
    wall_seconds: float = 0.0
    compile_seconds: float = 0.0
    train_seconds: float = 0.0
    epoch_seconds: list[float] = dataclasses.field(default_factory=list)
    examples_per_second: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of everything above."""
        return dataclasses.asdict(self)


class FitResult(NamedTuple):
    """The output of :func:`fit`."""

    params: PyTree
    opt_state: PyTree
    history: History


def fit(
    params: PyTree,
    optimizer: optax.GradientTransformation,
    loss_fn: LossFn,
    train_data: PyTree,
    *,
    epochs: int,
    batch_size: int,
    key: jax.Array,
    eval_data: PyTree | None = None,
    metrics_fn: MetricsFn | None = None,
    eval_every: int = 1,
    eval_batch_size: int | None = None,
    progress: bool = False,
    loss_takes_key: bool = False,
) -> FitResult:
    """Train ``params`` for ``epochs`` epochs; one compiled ``lax.scan`` per epoch.

    Args:
      params: the initial parameter pytree.
      optimizer: any ``optax.GradientTransformation`` (``rmsjax.rmsprop(...)``, ``optax.adam``...).
      loss_fn: ``loss_fn(params, batch) -> scalar``.
      train_data: pytree of arrays with a shared leading example axis, e.g. ``(x, y)``.
      epochs: number of passes over the shuffled training data.
      batch_size: examples per step (the remainder of each shuffled epoch is dropped).
      key: PRNG key; epoch ``e`` (0-based) shuffles with ``jax.random.fold_in(key, e)``.
      eval_data: optional pytree like ``train_data``, evaluated with ``metrics_fn``.
      metrics_fn: ``metrics_fn(params, batch) -> {name: per-example values}``.
      eval_every: evaluate after every this many epochs (and always after the last).
      eval_batch_size: chunk size for evaluation (see :func:`evaluate`).
      progress: show a tqdm progress bar over epochs.
      loss_takes_key: call ``loss_fn(params, batch, key)`` with a fresh key every step (for
        dropout); ``metrics_fn`` never gets one (evaluation is deterministic).

    Returns:
      :class:`FitResult` ``(params, opt_state, history)``.
    """
    wall_start = time.perf_counter()
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"`epochs` must be a non-negative integer, got {epochs!r}")
    positive_int("eval_every", eval_every)
    if (eval_data is None) != (metrics_fn is None):
        raise ValueError("`eval_data` and `metrics_fn` must be given together")
    n = _num_examples(train_data)
    _check_batch_size(batch_size, n)
    steps_examples = (n // batch_size) * batch_size

    train_data = jax.tree_util.tree_map(jnp.asarray, train_data)
    state = TrainState(params, optimizer.init(params))

    @jax.jit
    def epoch_fn(state, data, key, epoch):
        # fold_in inside the compiled call: no eager op (and its compilation) between epochs.
        return train_epoch(
            state,
            data,
            jax.random.fold_in(key, epoch),
            loss_fn=loss_fn,
            optimizer=optimizer,
            batch_size=batch_size,
            loss_takes_key=loss_takes_key,
        )

    compile_start = time.perf_counter()
    compiled = epoch_fn.lower(state, train_data, key, np.int32(0)).compile()
    history = History(compile_seconds=time.perf_counter() - compile_start)
    if eval_data is not None:
        eval_data = jax.tree_util.tree_map(jnp.asarray, eval_data)
        eval_fn = jax.jit(lambda p, d: evaluate(p, d, metrics_fn, batch_size=eval_batch_size))

    bar = None
    if progress:
        from tqdm.auto import tqdm  # a dependency of rmsjax; imported only when asked for

        bar = tqdm(total=epochs, desc="epochs", unit="epoch")
    try:
        for epoch in range(epochs):
            t0 = time.perf_counter()
            state, losses = compiled(state, train_data, key, np.int32(epoch))
            loss = float(np.mean(np.asarray(losses)))  # blocks until the epoch is done
            history.epoch_seconds.append(time.perf_counter() - t0)
            history.train_seconds += history.epoch_seconds[-1]
            history.train_loss.append(loss)
            postfix = {"loss": f"{loss:.4g}"}
            if eval_data is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
                metrics = eval_fn(state.params, eval_data)
                history.eval_epochs.append(epoch + 1)
                for name, value in metrics.items():
                    history.eval.setdefault(name, []).append(float(value))
                    postfix[f"eval_{name}"] = f"{float(value):.4g}"
            if bar is not None:
                bar.set_postfix(postfix)
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    # Throughput leaves out the first epoch when there are others: it carries one-time costs
    # (buffer allocation, thread-pool start-up) that would understate a short run's speed.
    timed = history.epoch_seconds[1:] if len(history.epoch_seconds) > 1 else history.epoch_seconds
    if sum(timed) > 0:
        history.examples_per_second = len(timed) * steps_examples / sum(timed)
    history.wall_seconds = time.perf_counter() - wall_start
    return FitResult(state.params, state.opt_state, history)


def _device_data(train_data, eval_data, metrics_fn, batch_size):
    """Checks the arguments shared by make_train_fn and make_trainer; the data as JAX arrays."""
    if (eval_data is None) != (metrics_fn is None):
        raise ValueError("`eval_data` and `metrics_fn` must be given together")
    _check_batch_size(batch_size, _num_examples(train_data))
    train_data = jax.tree_util.tree_map(jnp.asarray, train_data)
    if eval_data is not None:
        eval_data = jax.tree_util.tree_map(jnp.asarray, eval_data)
    return train_data, eval_data


def _eval_sets(eval_data, validation_data) -> dict[str, PyTree]:
    """prefix -> data evaluated after training: ``val`` (when given), then ``test``."""
    if validation_data is not None and eval_data is None:
        raise ValueError("`validation_data` needs `eval_data` and `metrics_fn`")
    sets = (
        {}
        if validation_data is None
        else {"val": jax.tree_util.tree_map(jnp.asarray, validation_data)}
    )
    return sets if eval_data is None else {**sets, "test": eval_data}


def _evaluate_sets(params, evals, metrics_fn, eval_batch_size) -> dict[str, jax.Array]:
    out = {}
    for prefix, data in evals.items():
        values = evaluate(params, data, metrics_fn, batch_size=eval_batch_size)
        out.update({f"{prefix}_{k}": v for k, v in values.items()})
    return out


def make_train_fn(
    *,
    init_fn: Callable[[jax.Array], PyTree],
    loss_fn: LossFn,
    train_data: PyTree,
    optimizer_factory: OptimizerFactory,
    epochs: int,
    batch_size: int,
    eval_data: PyTree | None = None,
    metrics_fn: MetricsFn | None = None,
    eval_batch_size: int | None = None,
    loss_takes_key: bool = False,
    validation_data: PyTree | None = None,
) -> Callable[[Mapping[str, jax.Array], jax.Array], dict[str, jax.Array]]:
    """A pure ``train_fn(hparams, key) -> dict[str, jax.Array]`` for ``rmsjax.sweep``.

    ``train_fn`` splits ``key`` into an initialisation key and a shuffling key (as
    ``Task.train`` does), builds the optimizer with ``optimizer_factory(hparams)`` (hparams may
    be traced scalars), trains ``epochs`` epochs inside one ``lax.scan`` (the same epoch function
    as :func:`fit`, with epoch ``e`` shuffled by ``fold_in(shuffle_key, e)``) and returns:

    - ``"loss"``: the mean training loss of the last epoch (scalar),
    - ``"loss_curve"``: the mean training loss of each epoch, ``[epochs]``,
    - ``"test_<name>"``: each metric of ``metrics_fn`` on ``eval_data`` after training (scalars),
    - ``"val_<name>"``: the same on ``validation_data``, when given (a split to choose
      configurations by, so ``eval_data`` stays a test split that is only reported).

    It has no Python side effects, so it works under ``jax.jit`` and ``jax.vmap``.
    ``loss_takes_key`` is as in :func:`fit`.

    >>> import jax, jax.numpy as jnp, optax
    >>> from rmsjax.training import make_train_fn
    >>> x = jnp.linspace(-1, 1, 32)
    >>> train_fn = make_train_fn(
    ...     init_fn=lambda key: jnp.zeros(()),
    ...     loss_fn=lambda w, b: jnp.mean((w * b[0] - b[1]) ** 2),
    ...     train_data=(x, 2 * x),
    ...     optimizer_factory=lambda h: optax.sgd(h["learning_rate"]),
    ...     epochs=3, batch_size=8)
    >>> out = jax.jit(jax.vmap(train_fn, in_axes=(0, None)))(
    ...     {"learning_rate": jnp.array([0.0, 0.5])}, jax.random.key(0))
    >>> out["loss_curve"].shape
    (2, 3)
    """
    positive_int("epochs", epochs)
    train_data, eval_data = _device_data(train_data, eval_data, metrics_fn, batch_size)
    evals = _eval_sets(eval_data, validation_data)

    def train_fn(hparams, key):
        init_key, shuffle_key = jax.random.split(key)
        params = init_fn(init_key)
        optimizer = optimizer_factory(hparams)
        state = TrainState(params, optimizer.init(params))

        def one_epoch(carry, epoch):
            carry, losses = train_epoch(
                carry,
                train_data,
                jax.random.fold_in(shuffle_key, epoch),
                loss_fn=loss_fn,
                optimizer=optimizer,
                batch_size=batch_size,
                loss_takes_key=loss_takes_key,
            )
            return carry, jnp.mean(losses)

        state, curve = jax.lax.scan(one_epoch, state, jnp.arange(epochs))
        out = {"loss": curve[-1], "loss_curve": curve}
        out.update(_evaluate_sets(state.params, evals, metrics_fn, eval_batch_size))
        return out

    return train_fn


class TrainerCarry(NamedTuple):
    """The carry of :func:`make_trainer`: training state and units done (no key: each unit's
    data order comes from the key ``advance`` receives, so a copied carry takes none along)."""

    state: TrainState
    unit: jax.Array  # int32 scalar: epochs trained so far


# Folded into the key `advance` receives to give the unit's data key: the sweep's unit key
# ``fold_in(run_key, u)`` equals ``split(run_key)[u]``, whose first one also initialises the
# parameters, so the unit key is not used as it is.
_DATA_KEY_TAG = 0x64617461  # "data"


def make_trainer(
    *,
    init_fn: Callable[[jax.Array], PyTree],
    loss_fn: LossFn,
    train_data: PyTree,
    optimizer_factory: OptimizerFactory,
    batch_size: int,
    eval_data: PyTree | None = None,
    metrics_fn: MetricsFn | None = None,
    eval_batch_size: int | None = None,
    loss_takes_key: bool = False,
    validation_data: PyTree | None = None,
):
    """:func:`make_train_fn` cut into epochs: an ``rmsjax.Trainer`` for staged sweeps.

    Takes :func:`make_train_fn`'s arguments without ``epochs``. ``init(hparams, key)``
    initialises the parameters as ``train_fn`` does (from ``split(key)[0]``); each unit's data
    order (and the loss keys of ``loss_takes_key``) comes from the key ``advance`` receives
    (``fold_in(run_key, u)`` in a sweep), folded with a constant, and the carry holds no key.
    So a population-based search's member that copies another's carry keeps its own data order
    (its own run keys), and rerunning a unit with its key repeats it; a unit is an epoch of
    ``train_fn`` in all but the data order (``train_fn`` shuffles epoch ``e`` by
    ``fold_in(split(key)[1], e)``). Each unit returns ``"loss"`` (the
    mean training loss of the epoch) and ``"test_<name>"`` for each metric of ``metrics_fn`` on
    ``eval_data`` after the epoch (and ``"val_<name>"`` on ``validation_data``, when given).

    >>> import jax, jax.numpy as jnp, optax
    >>> from rmsjax.training import make_trainer
    >>> x = jnp.linspace(-1, 1, 32)
    >>> trainer = make_trainer(
    ...     init_fn=lambda key: jnp.zeros(()),
    ...     loss_fn=lambda w, b: jnp.mean((w * b[0] - b[1]) ** 2),
    ...     train_data=(x, 2 * x),
    ...     optimizer_factory=lambda h: optax.sgd(h["learning_rate"]),
    ...     batch_size=8)
    >>> hp, key = {"learning_rate": 0.5}, jax.random.key(0)
    >>> carry = trainer.init(hp, key)
    >>> carry, metrics = trainer.advance(carry, hp, key)
    >>> sorted(metrics), int(carry.unit)
    (['loss'], 1)
    """

    train_data, eval_data = _device_data(train_data, eval_data, metrics_fn, batch_size)
    evals = _eval_sets(eval_data, validation_data)

    def init(hparams, key):
        init_key = jax.random.split(key)[0]  # as make_train_fn's
        params = init_fn(init_key)
        state = TrainState(params, optimizer_factory(hparams).init(params))
        return TrainerCarry(state, jnp.zeros((), jnp.int32))

    def advance(carry, hparams, key):
        state, losses = train_epoch(
            carry.state,
            train_data,
            jax.random.fold_in(key, _DATA_KEY_TAG),  # the unit's own key: see _DATA_KEY_TAG
            loss_fn=loss_fn,
            optimizer=optimizer_factory(hparams),
            batch_size=batch_size,
            loss_takes_key=loss_takes_key,
        )
        metrics = {"loss": jnp.mean(losses)}
        metrics.update(_evaluate_sets(state.params, evals, metrics_fn, eval_batch_size))
        return TrainerCarry(state, carry.unit + 1), metrics

    return rmsjax.Trainer(init, advance)


def minimize(
    fn: Callable[[jax.Array], jax.Array],
    start: jax.Array,
    optimizer: optax.GradientTransformation,
    steps: int,
) -> tuple[jax.Array, jax.Array]:
    """Run ``optimizer`` on ``fn`` from ``start`` for ``steps`` steps inside one ``lax.scan``.

    Pure and traceable (``steps`` is static). Returns ``(trajectory, values)``: the points
    ``[steps + 1, *start.shape]`` (``start`` first) and ``fn`` at each of them ``[steps + 1]``.

    >>> import jax.numpy as jnp, optax
    >>> from rmsjax.training import minimize
    >>> traj, values = minimize(lambda p: jnp.sum(p ** 2), jnp.array([5.0]), optax.sgd(0.1), 3)
    >>> traj[:, 0]
    Array([5.  , 4.  , 3.2 , 2.56], dtype=float32)
    """
    if not isinstance(steps, int) or steps < 0:
        raise ValueError(f"`steps` must be a non-negative integer, got {steps!r}")
    start = jnp.asarray(start)
    value_and_grad = jax.value_and_grad(fn)

    def step(carry, _):
        p, opt_state = carry
        value, grad = value_and_grad(p)
        updates, opt_state = optimizer.update(grad, opt_state, p)
        new_p = optax.apply_updates(p, updates)
        return (new_p, opt_state), (p, value)

    (last, _), (points, values) = jax.lax.scan(
        step, (start, optimizer.init(start)), None, length=steps
    )
    trajectory = jnp.concatenate([points, last[None]])
    values = jnp.concatenate([values, fn(last)[None]])
    return trajectory, values


_RMSPROP_HPARAMS = ("learning_rate", "decay", "eps", "initial_scale", "momentum", "weight_decay")


def rmsprop_factory(**static_options: Any) -> OptimizerFactory:
    """An ``optimizer_factory`` building ``rmsjax.rmsprop(**hparams, **static_options)``.

    ``hparams`` keys must be numeric arguments of ``rmsjax.rmsprop`` (``learning_rate``,
    ``decay``, ``eps``, ``initial_scale``, ``momentum``, ``weight_decay``); they may be traced.
    Static options (``centered``, ``eps_in_sqrt``, ``nesterov``, ``bias_correction``...) are fixed
    here, so a sweep over them is one sweep per value.

    >>> from rmsjax.training import rmsprop_factory
    >>> opt = rmsprop_factory(centered=True)({"learning_rate": 0.01, "decay": 0.9})
    >>> type(opt).__name__
    'GradientTransformationExtraArgs'
    """

    def factory(hparams: Mapping[str, jax.Array]) -> optax.GradientTransformation:
        unknown = sorted(set(hparams) - set(_RMSPROP_HPARAMS))
        if unknown:
            raise ValueError(
                f"hyperparameters {unknown} are not numeric arguments of rmsjax.rmsprop; "
                f"allowed: {list(_RMSPROP_HPARAMS)}"
            )
        return rmsjax.rmsprop(**hparams, **static_options)

    return factory

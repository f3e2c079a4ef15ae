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
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsjax._checks import positive_int

# The epoch function and the sweep's training functions live in rmsjax/_training/, one idea each;
# they are this module's API (__all__). Their type aliases (LossFn, MetricsFn, PyTree,
# OptimizerFactory) and make_trainer's TrainerCarry are reachable here too, as before.
from rmsjax._training.epoch import (  # noqa: F401
    LossFn,
    MetricsFn,
    PyTree,
    TrainState,
    check_batch_size,
    evaluate,
    make_epoch_fn,
    num_examples,
    shuffled_batches,
    train_epoch,
    train_step,
)
from rmsjax._training.trainers import (  # noqa: F401
    OptimizerFactory,
    TrainerCarry,
    make_train_fn,
    make_trainer,
    rmsprop_factory,
)

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
    n = num_examples(train_data)
    check_batch_size(batch_size, n)
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

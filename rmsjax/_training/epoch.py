"""The epoch function every training loop of :mod:`rmsjax.training` shares: batching, one step,
one epoch as a ``lax.scan`` over batches, and the mean of per-example metrics.

``num_examples`` and ``check_batch_size`` are the argument checks the loops share.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from rmsjax._checks import positive_int

PyTree = Any
LossFn = Callable[[PyTree, PyTree], jax.Array]
MetricsFn = Callable[[PyTree, PyTree], Mapping[str, jax.Array]]


class TrainState(NamedTuple):
    """Parameters and optimizer state, the carry of the training scan."""

    params: PyTree
    opt_state: PyTree


def num_examples(data: PyTree) -> int:
    leaves = jax.tree_util.tree_leaves(data)
    if not leaves:
        raise ValueError("`data` has no arrays")
    sizes = {int(np.shape(leaf)[0]) for leaf in leaves}
    if len(sizes) != 1:
        raise ValueError(f"all arrays in `data` must share the leading axis, got sizes {sizes}")
    return sizes.pop()


def check_batch_size(batch_size: int, n: int) -> None:
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
    n = num_examples(data)
    check_batch_size(batch_size, n)
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
    n = num_examples(data)
    check_batch_size(batch_size, n)
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
    n = num_examples(data)
    if batch_size is None or batch_size >= n:
        return {k: jnp.mean(v) for k, v in metrics_fn(params, data).items()}
    check_batch_size(batch_size, n)
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

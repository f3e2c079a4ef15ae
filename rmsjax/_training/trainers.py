"""Pure training functions for ``rmsjax.sweep``: :func:`make_train_fn` (a fixed number of
epochs, vmappable), :func:`make_trainer` (the same cut into epochs, for staged sweeps) and
:func:`rmsprop_factory` (an ``optimizer_factory`` for either)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

import rmsjax
from rmsjax._checks import positive_int
from rmsjax._training.epoch import (
    LossFn,
    MetricsFn,
    PyTree,
    TrainState,
    check_batch_size,
    evaluate,
    num_examples,
    train_epoch,
)

OptimizerFactory = Callable[[Mapping[str, jax.Array]], optax.GradientTransformation]


def _device_data(train_data, eval_data, metrics_fn, batch_size):
    """Checks the arguments shared by make_train_fn and make_trainer; the data as JAX arrays."""
    if (eval_data is None) != (metrics_fn is None):
        raise ValueError("`eval_data` and `metrics_fn` must be given together")
    check_batch_size(batch_size, num_examples(train_data))
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

"""`Trainer`: training split into budget units, which early stopping needs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax

Carry = Any  # any pytree of arrays: parameters, optimizer state, counters, keys
Metrics = Mapping[str, jax.Array]


@dataclasses.dataclass(frozen=True)
class Trainer:
    """Training as ``init`` once, then ``advance`` one budget unit (an epoch) at a time.

    - ``init(hparams, key) -> carry``: ``carry`` is any pytree of arrays (parameters, optimizer
      state, counters). ``key`` is the run's key, the one ``train_fn(hparams, key)`` would get.
    - ``advance(carry, hparams, key) -> (carry, metrics)``: one unit of training, pure, with
      ``metrics`` a dict of arrays measured after that unit. For unit ``u`` (0-based) the sweep
      passes ``jax.random.fold_in(run_key, u)``; a trainer that keeps its own key in ``carry`` may
      ignore it.

    Both functions are traced (``hparams`` values are traced scalars), so they must not branch
    in Python on a hyperparameter, exactly as a ``train_fn`` for :func:`rmsjax.sweep`.

    >>> import jax, jax.numpy as jnp
    >>> from rmsjax import Trainer
    >>> trainer = Trainer(
    ...     init=lambda hp, key: jnp.float32(1.0),
    ...     advance=lambda w, hp, key: (w * (1 - hp["lr"]), {"w": w * (1 - hp["lr"])}))
    >>> carry = trainer.init({"lr": 0.5}, jax.random.key(0))
    >>> carry, metrics = trainer.advance(carry, {"lr": 0.5}, jax.random.key(0))
    >>> float(metrics["w"])
    0.5
    """

    init: Callable[[Mapping[str, jax.Array], jax.Array], Carry]
    advance: Callable[[Carry, Mapping[str, jax.Array], jax.Array], tuple[Carry, Metrics]]

    def __post_init__(self):
        for name in ("init", "advance"):
            value = getattr(self, name)
            if not callable(value):
                raise TypeError(f"Trainer: `{name}` must be callable, got {value!r}")

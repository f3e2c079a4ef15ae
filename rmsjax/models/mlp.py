"""A multilayer perceptron as two pure functions over a parameter pytree.

Parameters are a list with one ``{"w": [fan_in, fan_out], "b": [fan_out]}`` dict per layer.
Hidden layers apply the activation; the last layer is linear (it returns logits).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["ACTIVATIONS", "apply", "init"]

ACTIVATIONS = {
    "relu": jax.nn.relu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
}

# Standard deviation of the initial weights is gain / sqrt(fan_in): He et al. (2015) for ReLU,
# LeCun for tanh; sigmoid's slope at zero is 1/4, so it gets a larger gain.
_GAINS = {"relu": 2.0**0.5, "tanh": 1.0, "sigmoid": 4.0 / 3.0**0.5}

Params = list[dict[str, jax.Array]]


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {sorted(ACTIVATIONS)}, got {activation!r}")


def init(
    key: jax.Array, sizes: Sequence[int], activation: str = "relu", dtype: Any = jnp.float32
) -> Params:
    """Random parameters for an MLP with layer widths ``sizes`` (input first, output last).

    Weights are normal with standard deviation ``gain / sqrt(fan_in)`` (gain sqrt(2) for ReLU,
    1 for tanh, 4/sqrt(3) for sigmoid); biases start at zero.

    Args:
      key: a PRNG key.
      sizes: at least two positive integers, e.g. ``(784, 128, 10)``.
      activation: the hidden activation the weights are scaled for.
      dtype: the parameters' dtype.

    Returns:
      A list of ``{"w", "b"}`` dicts, one per layer.

    >>> import jax
    >>> from rmsjax.models import mlp
    >>> params = mlp.init(jax.random.key(0), (784, 128, 10))
    >>> [p["w"].shape for p in params]
    [(784, 128), (128, 10)]
    """
    sizes = tuple(sizes)
    if len(sizes) < 2 or any(not isinstance(s, int) or s < 1 for s in sizes):
        raise ValueError(f"`sizes` must be at least two positive integers, got {sizes!r}")
    _check_activation(activation)
    gain = _GAINS[activation]
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
        w = jax.random.normal(k, (fan_in, fan_out), dtype) * (gain / fan_in**0.5)
        params.append({"w": w.astype(dtype), "b": jnp.zeros((fan_out,), dtype)})
    return params


def apply(params: Params, x: jax.Array, activation: str = "relu") -> jax.Array:
    """The MLP's output (logits) for inputs ``x`` of shape ``[..., sizes[0]]``.

    Args:
      params: from :func:`init`.
      x: inputs; integer inputs (e.g. uint8 pixels) are cast to the parameters' dtype.
      activation: ``"relu"``, ``"sigmoid"`` or ``"tanh"``, applied after every hidden layer.

    Returns:
      ``[..., sizes[-1]]`` logits (no activation on the last layer).

    >>> import jax, jax.numpy as jnp
    >>> from rmsjax.models import mlp
    >>> params = mlp.init(jax.random.key(0), (3, 4, 2), activation="tanh")
    >>> mlp.apply(params, jnp.ones((5, 3)), activation="tanh").shape
    (5, 2)
    """
    _check_activation(activation)
    act = ACTIVATIONS[activation]
    h = jnp.asarray(x)
    if not jnp.issubdtype(h.dtype, jnp.floating):
        h = h.astype(params[0]["w"].dtype)
    for i, layer in enumerate(params):
        h = h @ layer["w"] + layer["b"]
        if i < len(params) - 1:
            h = act(h)
    return h

"""Losses and metrics for classifiers.

Losses return one value per example (the optax convention), so a caller can weight, mask or
average them; metrics named ``accuracy`` return the mean over the batch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = [
    "binary_accuracy",
    "binary_correct",
    "accuracy",
    "correct",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
]


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Cross-entropy of softmax(``logits``) against integer ``labels``, one value per example.

    ``loss = logsumexp(logits) - logits[label]``, computed stably.

    Args:
      logits: ``[..., num_classes]`` unnormalised scores.
      labels: integer class indices, shape ``[...]``.

    Returns:
      The loss per example, shape ``[...]``.

    >>> import jax.numpy as jnp
    >>> from rmsjax.models import softmax_cross_entropy
    >>> softmax_cross_entropy(jnp.zeros((2, 4)), jnp.array([0, 3]))
    Array([1.3862944, 1.3862944], dtype=float32)
    """
    logits = jnp.asarray(logits)
    labels = jnp.asarray(labels)
    log_z = jax.nn.logsumexp(logits, axis=-1)
    picked = jnp.take_along_axis(logits, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
    return log_z - picked


def correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """1.0 where ``argmax(logits)`` equals the integer label, else 0.0 (one value per example).

    >>> import jax.numpy as jnp
    >>> from rmsjax.models import correct
    >>> correct(jnp.array([[2.0, 1.0], [0.0, 3.0]]), jnp.array([0, 0]))
    Array([1., 0.], dtype=float32)
    """
    return (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)


def accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of examples whose ``argmax(logits)`` is the integer label (a scalar).

    >>> import jax.numpy as jnp
    >>> from rmsjax.models import accuracy
    >>> accuracy(jnp.array([[2.0, 1.0], [0.0, 3.0]]), jnp.array([0, 0]))
    Array(0.5, dtype=float32)
    """
    return jnp.mean(correct(logits, labels))


def _squeeze_binary(logits: jax.Array) -> jax.Array:
    logits = jnp.asarray(logits)
    if logits.ndim >= 1 and logits.shape[-1] == 1:
        logits = logits[..., 0]
    return logits


def sigmoid_binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Binary cross-entropy of sigmoid(``logits``) against 0/1 ``labels``, one value per example.

    ``loss = softplus(logit) - label * logit``, stable for large logits. A trailing axis of size 1
    on ``logits`` (a one-unit output layer) is squeezed away.

    >>> import jax.numpy as jnp
    >>> from rmsjax.models import sigmoid_binary_cross_entropy
    >>> sigmoid_binary_cross_entropy(jnp.array([[0.0], [100.0]]), jnp.array([1, 1]))
    Array([0.6931472, 0.       ], dtype=float32)
    """
    logits = _squeeze_binary(logits)
    labels = jnp.asarray(labels).astype(logits.dtype)
    return jax.nn.softplus(logits) - labels * logits


def binary_correct(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """1.0 where ``logit > 0`` agrees with the 0/1 label, else 0.0 (one value per example).

    >>> import jax.numpy as jnp
    >>> from rmsjax.models import binary_correct
    >>> binary_correct(jnp.array([[-1.0], [2.0]]), jnp.array([0, 0]))
    Array([1., 0.], dtype=float32)
    """
    logits = _squeeze_binary(logits)
    return ((logits > 0) == (jnp.asarray(labels) > 0)).astype(jnp.float32)


def binary_accuracy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Fraction of examples where ``logit > 0`` agrees with the 0/1 label (a scalar).

    >>> import jax.numpy as jnp
    >>> from rmsjax.models import binary_accuracy
    >>> binary_accuracy(jnp.array([-1.0, 2.0, 3.0, -4.0]), jnp.array([0, 1, 1, 1]))
    Array(0.75, dtype=float32)
    """
    return jnp.mean(binary_correct(logits, labels))

"""Small models as pure functions over parameter pytrees (no framework).

- :mod:`rmsjax.models.mlp`: ``init(key, sizes)``, ``apply(params, x, activation="relu")``.
- :mod:`rmsjax.models.rnn`: an embedding, an Elman or GRU cell unrolled with ``jax.lax.scan``
  (padding masked) and a classifier head: ``init(key, vocab_size=..., ...)``,
  ``apply(params, tokens, cell="gru", pooling="mean")``.
- Losses and metrics: :func:`softmax_cross_entropy`, :func:`accuracy`,
  :func:`sigmoid_binary_cross_entropy`, :func:`binary_accuracy` (and per-example ``correct``).

Gradients come from ``jax.grad``:

>>> import jax, jax.numpy as jnp
>>> from rmsjax.models import mlp, softmax_cross_entropy
>>> params = mlp.init(jax.random.key(0), (4, 8, 3))
>>> def loss(p, x, y):
...     return softmax_cross_entropy(mlp.apply(p, x), y).mean()
>>> grads = jax.grad(loss)(params, jnp.ones((2, 4)), jnp.array([0, 2]))
>>> grads[0]["w"].shape
(4, 8)
"""

from rmsjax.models import mlp, rnn
from rmsjax.models.losses import (
    accuracy,
    binary_accuracy,
    binary_correct,
    correct,
    sigmoid_binary_cross_entropy,
    softmax_cross_entropy,
)

__all__ = [
    "accuracy",
    "binary_accuracy",
    "binary_correct",
    "correct",
    "mlp",
    "rnn",
    "sigmoid_binary_cross_entropy",
    "softmax_cross_entropy",
]

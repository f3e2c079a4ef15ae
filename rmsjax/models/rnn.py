"""A recurrent text classifier unrolled with ``jax.lax.scan``: embedding, Elman or GRU, head.

Parameters are a dict::

    {"embed": [vocab_size, embed_dim],
     "cell":  Elman: {"w_in": [E, H], "w_rec": [H, H], "b_in": [H], "b_rec": [H]}
              GRU:   {"w_in": [E, 3H], "w_rec": [H, 3H], "b_in": [3H], "b_rec": [3H]},
     "head":  {"w": [H, num_classes], "b": [num_classes]}}

The cells follow ``torch.nn.RNN`` (tanh) and ``torch.nn.GRU`` (gates in the order reset, update,
new; the reset gate multiplies the recurrent projection including its bias), so the two can be
compared size for size. Token id :data:`PAD_ID` (0) is padding: a padded step leaves the state
unchanged and is left out of the mean, wherever it sits in the sequence.

The input projection ``embed(tokens) @ w_in`` is one matrix product over all time steps; only
the recurrent part runs inside the scan.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["CELLS", "PAD_ID", "POOLINGS", "apply", "elman_cell", "encode", "gru_cell", "init"]

PAD_ID = 0
CELLS = ("elman", "gru")
POOLINGS = ("mean", "last")

Params = dict[str, Any]


def _check(cell: str, pooling: str = "mean") -> None:
    if cell not in CELLS:
        raise ValueError(f"`cell` must be one of {list(CELLS)}, got {cell!r}")
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be one of {list(POOLINGS)}, got {pooling!r}")


def init(
    key: jax.Array,
    *,
    vocab_size: int,
    embed_dim: int,
    hidden_size: int,
    num_classes: int,
    cell: str = "gru",
    dtype: Any = jnp.float32,
) -> Params:
    """Random parameters for :func:`apply`.

    Embeddings are normal with standard deviation 1; cell weights and biases are uniform in
    ``[-1/sqrt(H), 1/sqrt(H)]`` (PyTorch's default); the head is normal with standard deviation
    ``1/sqrt(H)`` and a zero bias.

    >>> import jax
    >>> from rmsjax.models import rnn
    >>> p = rnn.init(jax.random.key(0), vocab_size=100, embed_dim=8, hidden_size=16,
    ...              num_classes=2, cell="gru")
    >>> p["embed"].shape, p["cell"]["w_rec"].shape, p["head"]["w"].shape
    ((100, 8), (16, 48), (16, 2))
    """
    _check(cell)
    for name, value in [
        ("vocab_size", vocab_size),
        ("embed_dim", embed_dim),
        ("hidden_size", hidden_size),
        ("num_classes", num_classes),
    ]:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer, got {value!r}")
    gates = 3 if cell == "gru" else 1
    k_emb, k_in, k_rec, k_bi, k_br, k_head = jax.random.split(key, 6)
    bound = 1.0 / hidden_size**0.5

    def uniform(k, shape):
        return jax.random.uniform(k, shape, dtype, -bound, bound)

    return {
        "embed": jax.random.normal(k_emb, (vocab_size, embed_dim), dtype),
        "cell": {
            "w_in": uniform(k_in, (embed_dim, gates * hidden_size)),
            "w_rec": uniform(k_rec, (hidden_size, gates * hidden_size)),
            "b_in": uniform(k_bi, (gates * hidden_size,)),
            "b_rec": uniform(k_br, (gates * hidden_size,)),
        },
        "head": {
            "w": jax.random.normal(k_head, (hidden_size, num_classes), dtype) * bound,
            "b": jnp.zeros((num_classes,), dtype),
        },
    }


def elman_cell(cell_params: dict, h: jax.Array, x_proj: jax.Array) -> jax.Array:
    """One Elman step: ``h' = tanh(x_proj + h @ w_rec + b_rec)``.

    ``x_proj`` is the input already projected, ``x @ w_in + b_in``. Works on any leading
    (batch) axes.

    >>> import jax.numpy as jnp
    >>> from rmsjax.models import rnn
    >>> c = {"w_rec": jnp.eye(2), "b_rec": jnp.zeros(2)}
    >>> rnn.elman_cell(c, jnp.zeros(2), jnp.array([0.0, 100.0]))
    Array([0., 1.], dtype=float32)
    """
    return jnp.tanh(x_proj + h @ cell_params["w_rec"] + cell_params["b_rec"])


def gru_cell(cell_params: dict, h: jax.Array, x_proj: jax.Array) -> jax.Array:
    """One GRU step in PyTorch's form, with ``x_proj = x @ w_in + b_in`` split as (r, z, n)::

        r = sigmoid(x_r + h_r),  z = sigmoid(x_z + h_z),  n = tanh(x_n + r * h_n),
        h' = (1 - z) * n + z * h,   where [h_r, h_z, h_n] = h @ w_rec + b_rec.

    >>> import jax.numpy as jnp
    >>> from rmsjax.models import rnn
    >>> c = {"w_rec": jnp.zeros((2, 6)), "b_rec": jnp.zeros(6)}
    >>> x = jnp.array([0.0, 0.0, -100.0, -100.0, 100.0, -100.0])  # z = 0: take n
    >>> rnn.gru_cell(c, jnp.zeros(2), x)
    Array([ 1., -1.], dtype=float32)
    """
    hidden = h.shape[-1]
    h_proj = h @ cell_params["w_rec"] + cell_params["b_rec"]
    x_r, x_z, x_n = (x_proj[..., i * hidden : (i + 1) * hidden] for i in range(3))
    h_r, h_z, h_n = (h_proj[..., i * hidden : (i + 1) * hidden] for i in range(3))
    r = jax.nn.sigmoid(x_r + h_r)
    z = jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return (1.0 - z) * n + z * h


_CELL_FNS = {"elman": elman_cell, "gru": gru_cell}


def encode(
    params: Params,
    tokens: jax.Array,
    mask: jax.Array | None = None,
    *,
    cell: str = "gru",
    unroll: int = 1,
    dropout: float = 0.0,
    key: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Run the cell over ``tokens`` ``[batch, time]``; return ``(final_state, mean_state)``.

    Masked steps (``mask`` false; by default the steps whose token is :data:`PAD_ID`) keep the
    previous state and are left out of the mean, so padding anywhere in a sequence changes
    neither result. A sequence with no unmasked step has zero states.

    Args:
      params: from :func:`init`.
      tokens: integer token ids, ``[batch, time]``.
      mask: optional boolean ``[batch, time]``; default ``tokens != PAD_ID``.
      cell: ``"elman"`` or ``"gru"``, matching the parameters.
      unroll: passed to ``jax.lax.scan`` (loop unrolling; a speed knob, same result).
      dropout: rate of (inverted) dropout on the embedded inputs, for training; needs ``key``.
        A Python float (static under ``jax.jit``).
      key: PRNG key for ``dropout``.

    Returns:
      Two ``[batch, hidden]`` arrays: the state after the last unmasked step, and the mean of the
      states after each unmasked step.

    >>> import jax, jax.numpy as jnp
    >>> from rmsjax.models import rnn
    >>> p = rnn.init(jax.random.key(0), vocab_size=10, embed_dim=4, hidden_size=3,
    ...              num_classes=2, cell="elman")
    >>> last, mean = rnn.encode(p, jnp.array([[3, 4, 0, 0]]), cell="elman")
    >>> last2, mean2 = rnn.encode(p, jnp.array([[3, 4]]), cell="elman")
    >>> bool(jnp.allclose(last, last2) and jnp.allclose(mean, mean2))
    True
    """
    _check(cell)
    tokens = jnp.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"`tokens` must be [batch, time], got shape {tokens.shape}")
    if mask is None:
        mask = tokens != PAD_ID
    mask = jnp.asarray(mask, bool)
    cp = params["cell"]
    step_fn = _CELL_FNS[cell]
    hidden = cp["w_rec"].shape[0]
    if cp["w_rec"].shape[1] != hidden * (3 if cell == "gru" else 1):
        raise ValueError(
            f"`cell`={cell!r} does not match parameters with w_rec of shape {cp['w_rec'].shape}"
        )

    emb = params["embed"][tokens]  # [B, T, E]
    if dropout:
        if key is None:
            raise ValueError(f"`dropout`={dropout} needs a PRNG `key`")
        keep = jax.random.bernoulli(key, 1.0 - dropout, emb.shape)
        emb = jnp.where(keep, emb / (1.0 - dropout), 0.0)
    x_proj = emb @ cp["w_in"] + cp["b_in"]  # [B, T, G*H]: one product for all steps
    x_proj = jnp.swapaxes(x_proj, 0, 1)  # time-major [T, B, G*H]
    m = jnp.swapaxes(mask, 0, 1)[..., None].astype(x_proj.dtype)  # [T, B, 1]

    def step(carry, inputs):
        h, total = carry
        xp, mt = inputs
        h_new = step_fn(cp, h, xp)
        h = h + mt * (h_new - h)  # masked steps keep h (mt is exactly 0 or 1)
        return (h, total + mt * h), None

    batch = tokens.shape[0]
    h0 = jnp.zeros((batch, hidden), x_proj.dtype)
    (h, total), _ = jax.lax.scan(step, (h0, h0), (x_proj, m), unroll=unroll)
    count = jnp.maximum(jnp.sum(mask, axis=1, keepdims=True), 1).astype(total.dtype)
    return h, total / count


def apply(
    params: Params,
    tokens: jax.Array,
    mask: jax.Array | None = None,
    *,
    cell: str = "gru",
    pooling: str = "mean",
    unroll: int = 1,
    dropout: float = 0.0,
    key: jax.Array | None = None,
) -> jax.Array:
    """Class logits ``[batch, num_classes]`` for token ids ``[batch, time]``.

    ``pooling="mean"`` feeds the head the masked mean of the states, ``"last"`` the final state
    (after the last unmasked step). See :func:`encode` for ``mask``, ``unroll``, and
    ``dropout`` with its ``key`` (embedding dropout for training; leave it 0 to evaluate).

    >>> import jax, jax.numpy as jnp
    >>> from rmsjax.models import rnn
    >>> p = rnn.init(jax.random.key(0), vocab_size=50, embed_dim=8, hidden_size=16,
    ...              num_classes=2)
    >>> rnn.apply(p, jnp.ones((4, 7), jnp.int32)).shape
    (4, 2)
    """
    _check(cell, pooling)
    last, mean = encode(
        params, tokens, mask, cell=cell, unroll=unroll, dropout=dropout, key=key
    )
    pooled = mean if pooling == "mean" else last
    return pooled @ params["head"]["w"] + params["head"]["b"]

"""A recurrent text classifier unrolled with ``jax.lax.scan``: embedding, Elman or GRU, head.

Parameters are a dict::

    {"embed": [vocab_size, embed_dim],
     "cell":  Elman: {"w_in": [E, H], "w_rec": [H, H], "b_in": [H], "b_rec": [H]}
              GRU:   {"w_in": [E, 3H], "w_rec": [H, 3H], "b_in": [3H], "b_rec": [3H]},
     "head":  {"w": [F, num_classes], "b": [num_classes]},
     "cell_bwd": like "cell", only with ``init(..., bidirectional=True)``}

``F`` is ``H`` times 2 for ``pooling="mean_max"`` and times 2 again when bidirectional.

The cells follow ``torch.nn.RNN`` (tanh) and ``torch.nn.GRU`` (gates in the order reset, update,
new; the reset gate multiplies the recurrent projection including its bias), so the two can be
compared size for size. Token id :data:`PAD_ID` (0) is padding: a padded step leaves the state
unchanged and is left out of the mean, wherever it sits in the sequence.

The input projection ``embed(tokens) @ w_in`` is one matrix product over all time steps; only
the recurrent part runs inside the scan.

On the polarity corpus (default split, 1,600 train / 400 held out) the ``reviews`` task's GRU
(embedding 128, hidden 32, masked mean pooling of the states and of the embeddings
(``pool_inputs=True``), last 800 tokens, ``word_dropout=0.5``, ``rmsjax.rmsprop(2e-2
cosine-decayed, decay 0.9, eps 1e-4)``, batch 32, 10 epochs; sizes, pooling and learning rate
chosen on a validation split by ``bench/reviews_search.py``); the accuracy it reaches on the
held-out split is in the accuracy table of the command's guide (``bench/accuracy.py``).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rmsjax._checks import positive_int

__all__ = ["CELLS", "PAD_ID", "POOLINGS", "apply", "elman_cell", "encode", "gru_cell", "init"]

PAD_ID = 0
CELLS = ("elman", "gru")
POOLINGS = ("mean", "last", "max", "mean_max")

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
    pooling: str = "mean",
    bidirectional: bool = False,
    pool_inputs: bool = False,
) -> Params:
    """Random parameters for :func:`apply`.

    Embeddings are normal with standard deviation 1; cell weights and biases are uniform in
    ``[-1/sqrt(H), 1/sqrt(H)]`` (PyTorch's default); the head is normal with standard deviation
    ``1/sqrt(H)`` and a zero bias. ``pooling``, ``bidirectional`` and ``pool_inputs`` (the head
    also reads the mean embedding: ``embed_dim`` more features) size the head; see
    :func:`apply`.

    >>> import jax
    >>> from rmsjax.models import rnn
    >>> p = rnn.init(jax.random.key(0), vocab_size=100, embed_dim=8, hidden_size=16,
    ...              num_classes=2, cell="gru")
    >>> p["embed"].shape, p["cell"]["w_rec"].shape, p["head"]["w"].shape
    ((100, 8), (16, 48), (16, 2))
    """
    _check(cell, pooling)
    for name, value in [
        ("vocab_size", vocab_size),
        ("embed_dim", embed_dim),
        ("hidden_size", hidden_size),
        ("num_classes", num_classes),
    ]:
        positive_int(name, value)
    gates = 3 if cell == "gru" else 1
    k_emb, k_in, k_rec, k_bi, k_br, k_head = jax.random.split(key, 6)
    bound = 1.0 / hidden_size**0.5

    def uniform(k, shape):
        return jax.random.uniform(k, shape, dtype, -bound, bound)

    def cell_params(k_in, k_rec, k_bi, k_br):
        return {
            "w_in": uniform(k_in, (embed_dim, gates * hidden_size)),
            "w_rec": uniform(k_rec, (hidden_size, gates * hidden_size)),
            "b_in": uniform(k_bi, (gates * hidden_size,)),
            "b_rec": uniform(k_br, (gates * hidden_size,)),
        }

    features = hidden_size * (2 if pooling == "mean_max" else 1) * (2 if bidirectional else 1)
    features += embed_dim if pool_inputs else 0
    params = {
        "embed": jax.random.normal(k_emb, (vocab_size, embed_dim), dtype),
        "cell": cell_params(k_in, k_rec, k_bi, k_br),
        "head": {
            "w": jax.random.normal(k_head, (features, num_classes), dtype) * bound,
            "b": jnp.zeros((num_classes,), dtype),
        },
    }
    if bidirectional:  # new keys from a fold-in: the forward parameters stay as without it
        params["cell_bwd"] = cell_params(*jax.random.split(jax.random.fold_in(key, 1), 4))
    return params


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


def _check_cell(cp: dict, cell: str) -> int:
    hidden = cp["w_rec"].shape[0]
    if cp["w_rec"].shape[1] != hidden * (3 if cell == "gru" else 1):
        raise ValueError(
            f"`cell`={cell!r} does not match parameters with w_rec of shape {cp['w_rec'].shape}"
        )
    return hidden


def _run(cp: dict, cell: str, emb, m, unroll: int, reverse: bool = False):
    """Scan one direction; return (state after the last unmasked step, sum, max, count) over
    the unmasked steps. ``m`` is time-major ``[T, B, 1]`` of 0/1."""
    step_fn = _CELL_FNS[cell]
    hidden = _check_cell(cp, cell)
    x_proj = emb @ cp["w_in"] + cp["b_in"]  # [B, T, G*H]: one product for all steps
    x_proj = jnp.swapaxes(x_proj, 0, 1)  # time-major [T, B, G*H]

    def step(carry, inputs):
        h, total, top = carry
        xp, mt = inputs
        h_new = step_fn(cp, h, xp)
        h = h + mt * (h_new - h)  # masked steps keep h (mt is exactly 0 or 1)
        top = jnp.where(mt > 0, jnp.maximum(top, h), top)
        return (h, total + mt * h, top), None

    batch = emb.shape[0]
    h0 = jnp.zeros((batch, hidden), x_proj.dtype)
    top0 = jnp.full((batch, hidden), -jnp.inf, x_proj.dtype)
    (h, total, top), _ = jax.lax.scan(
        step, (h0, h0, top0), (x_proj, m), unroll=unroll, reverse=reverse
    )
    count = jnp.sum(m, axis=0)  # [B, 1]
    top = jnp.where(count > 0, top, 0.0)  # no unmasked step: zeros, like the other poolings
    return h, total / jnp.maximum(count, 1.0), top


def _inputs(params, tokens, mask, dropout, word_dropout, key):
    tokens = jnp.asarray(tokens)
    if tokens.ndim != 2:
        raise ValueError(f"`tokens` must be [batch, time], got shape {tokens.shape}")
    if mask is None:
        mask = tokens != PAD_ID
    mask = jnp.asarray(mask, bool)
    for name, rate in (("dropout", dropout), ("word_dropout", word_dropout)):
        if rate and key is None:
            raise ValueError(f"`{name}`={rate} needs a PRNG `key`")
    if word_dropout:
        key, k_word = jax.random.split(key)
        mask = mask & jax.random.bernoulli(k_word, 1.0 - word_dropout, mask.shape)
    emb = params["embed"][tokens]  # [B, T, E]
    if dropout:
        keep = jax.random.bernoulli(key, 1.0 - dropout, emb.shape)
        emb = jnp.where(keep, emb / (1.0 - dropout), 0.0)
    m = jnp.swapaxes(mask, 0, 1)[..., None].astype(emb.dtype)  # [T, B, 1]
    return emb, m


def encode(
    params: Params,
    tokens: jax.Array,
    mask: jax.Array | None = None,
    *,
    cell: str = "gru",
    unroll: int = 1,
    dropout: float = 0.0,
    key: jax.Array | None = None,
    word_dropout: float = 0.0,
) -> tuple[jax.Array, jax.Array]:
    """Run the cell over ``tokens`` ``[batch, time]``; return ``(final_state, mean_state)``.

    Masked steps (``mask`` false; by default the steps whose token is :data:`PAD_ID`) keep the
    previous state and are left out of the mean, so padding anywhere in a sequence changes
    neither result. A sequence with no unmasked step has zero states. (Forward direction only;
    :func:`apply` also runs the backward cell of bidirectional parameters.)

    Args:
      params: from :func:`init`.
      tokens: integer token ids, ``[batch, time]``.
      mask: optional boolean ``[batch, time]``; default ``tokens != PAD_ID``.
      cell: ``"elman"`` or ``"gru"``, matching the parameters.
      unroll: passed to ``jax.lax.scan`` (loop unrolling; a speed knob, same result).
      dropout: rate of (inverted) dropout on the embedded inputs, for training; needs ``key``.
        A Python float (static under ``jax.jit``).
      key: PRNG key for ``dropout`` and ``word_dropout``.
      word_dropout: rate of word dropout, for training; needs ``key``: each token is masked
        out (skipped, as padding is) with this probability. A Python float.

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
    emb, m = _inputs(params, tokens, mask, dropout, word_dropout, key)
    last, mean, _ = _run(params["cell"], cell, emb, m, unroll)
    return last, mean


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
    word_dropout: float = 0.0,
    pool_inputs: bool = False,
) -> jax.Array:
    """Class logits ``[batch, num_classes]`` for token ids ``[batch, time]``.

    ``pooling="mean"`` feeds the head the masked mean of the states, ``"last"`` the final state
    (after the last unmasked step), ``"max"`` the masked element-wise maximum of the states and
    ``"mean_max"`` the mean and the maximum concatenated (``init`` with the same ``pooling``).
    ``pool_inputs=True`` (``init`` with the same) also gives the head the masked mean of the
    embedded tokens, a bag-of-embeddings path beside the recurrent one (after word dropout, so
    the same words are skipped in both).
    Parameters from ``init(..., bidirectional=True)`` (a ``"cell_bwd"`` entry) also run a
    backward cell over the sequence (a reversed scan; padding is skipped in either direction)
    and pool both directions (the backward "last" state is the one after the first token).
    See :func:`encode` for ``mask``, ``unroll``, and ``dropout`` / ``word_dropout`` with their
    ``key`` (for training; leave them 0 to evaluate).

    >>> import jax, jax.numpy as jnp
    >>> from rmsjax.models import rnn
    >>> p = rnn.init(jax.random.key(0), vocab_size=50, embed_dim=8, hidden_size=16,
    ...              num_classes=2)
    >>> rnn.apply(p, jnp.ones((4, 7), jnp.int32)).shape
    (4, 2)
    """
    _check(cell, pooling)
    emb, m = _inputs(params, tokens, mask, dropout, word_dropout, key)
    directions = [params["cell"]] + ([params["cell_bwd"]] if "cell_bwd" in params else [])
    feats = []
    for reverse, cp in enumerate(directions):
        last, mean, top = _run(cp, cell, emb, m, unroll, reverse=bool(reverse))
        feats += {"mean": [mean], "last": [last], "max": [top], "mean_max": [mean, top]}[pooling]
    if pool_inputs:
        count = jnp.maximum(jnp.sum(m, axis=0), 1.0)  # [B, 1]
        feats.append(jnp.einsum("tb,bte->be", m[..., 0], emb) / count)
    pooled = feats[0] if len(feats) == 1 else jnp.concatenate(feats, axis=-1)
    if pooled.shape[-1] != params["head"]["w"].shape[0]:
        raise ValueError(
            f"`pooling`={pooling!r} with `pool_inputs`={pool_inputs} gives "
            f"{pooled.shape[-1]} features, but the head takes {params['head']['w'].shape[0]}: "
            "pass `init` the same `pooling` and `pool_inputs`"
        )
    return pooled @ params["head"]["w"] + params["head"]["b"]

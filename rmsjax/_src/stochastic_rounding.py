"""Stochastic rounding of a float32 second moment to bfloat16, and the random bits it draws.

:func:`rmsjax.scale_by_rms` with ``nu_dtype=jnp.bfloat16`` rounds the stored second moment up or
down at random so that it stays unbiased and keeps decaying (see its docstring for why).
:func:`stochastic_round_bfloat16` does the rounding; :func:`rounding_bits` gives, per leaf of the
moment, the bits it uses: a pure function of the step count and the state, so no key is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def rounds_stochastically(nu_dtype: Any) -> bool:
    """Whether a second moment stored in ``nu_dtype`` is rounded stochastically: bfloat16 only."""
    return nu_dtype is not None and np.dtype(nu_dtype) == jnp.bfloat16


def fmix32(h: Any) -> Any:
    """The 32-bit finalizer of MurmurHash3 (Appleby): a bijection whose every output bit depends
    on every input bit. Works on uint32 arrays and, masked, on Python ints."""
    mask = 0xFFFFFFFF
    if isinstance(h, int):
        h ^= h >> 16
        h = (h * 0x85EBCA6B) & mask
        h ^= h >> 13
        h = (h * 0xC2B2AE35) & mask
        return h ^ (h >> 16)
    h = h ^ (h >> 16)
    h = h * jnp.uint32(0x85EBCA6B)
    h = h ^ (h >> 13)
    h = h * jnp.uint32(0xC2B2AE35)
    return h ^ (h >> 16)


# Leaves of at most this many elements take their random bits from one buffer shared by the
# step; larger ones hash them in their own loop (see stochastic_round_bfloat16, "Speed").
SHARED_BITS_MAX = 1 << 16


def rounding_bits(count: jax.Array, nu: Any) -> list[Callable[[jax.Array], jax.Array]]:
    """Per leaf of ``nu``: the function from its exact float32 moment to 16 random bits per element
    (uint32 in [0, 2**16)), for :func:`stochastic_round_bfloat16`.

    Leaves up to ``SHARED_BITS_MAX`` elements read a slice of one array of hashed element
    indices, made once per step: leaf ``k`` (counting those leaves) reads it from position ``k``.
    Larger leaves hash their value with a seed of their own (:func:`rounding_seed`).
    """
    sizes = [int(np.size(x)) for x in jax.tree.leaves(nu)]
    small = [n for n in sizes if n <= SHARED_BITS_MAX]
    shared = shared_bits(count, max(small) + len(small) - 1) if small else None
    functions, offset = [], 0
    for index, n in enumerate(sizes):
        if n <= SHARED_BITS_MAX:
            part = shared[offset : offset + n]
            functions.append(lambda exact, part=part: part.reshape(exact.shape))
            offset += 1
        else:
            seed = rounding_seed(count, index)
            functions.append(lambda exact, seed=seed: value_bits(exact, seed))
    return functions


def shared_bits(count: jax.Array, n: int) -> jax.Array:
    """``n`` times 16 random bits (uint32): the MurmurHash3 finalizer of the element's index and
    the step count."""
    seed = fmix32(count.astype(jnp.uint32)) ^ jnp.uint32(0x632BE5AB)
    bits = fmix32(jax.lax.iota(jnp.uint32, n) * jnp.uint32(0x9E3779B9) + seed) >> 16
    # As a plain elementwise loop, XLA would fuse the hash into every leaf's loop instead of
    # computing it once; it never copies a reduction into the loops that read it. (A maximum
    # over two equal rows: the same bits.)
    pair = jax.lax.broadcast_in_dim(bits, (2, n), (1,))
    return jax.lax.reduce(pair, jnp.uint32(0), jax.lax.max, (0,))


def rounding_seed(count: jax.Array, index: int) -> jax.Array:
    """A uint32 scalar from the step count and the leaf's position: one stream per leaf and step."""
    leaf = fmix32((index * 0x9E3779B9 + 0x632BE5AB) & 0xFFFFFFFF)
    return fmix32(count.astype(jnp.uint32)) ^ jnp.uint32(leaf)


def value_bits(x: jax.Array, seed: jax.Array) -> jax.Array:
    """16 random bits per element (uint32) from a hash of ``x``'s float32 bits and a uint32 seed:
    the top half of ``(bits(x) ^ seed) * 0x9E3779B1``."""
    bits = jax.lax.bitcast_convert_type(jnp.asarray(x, jnp.float32), jnp.uint32)
    return ((bits ^ seed) * jnp.uint32(0x9E3779B1)) >> 16


def stochastic_round_bfloat16(x: jax.Array, bits: jax.Array) -> jax.Array:
    """``x`` rounded to bfloat16 up or down at random, unbiased: ``E[result] == x``.

    ``x`` (cast to float32) lies between two neighbouring bfloat16 numbers; it is rounded away
    from zero with probability equal to its distance from the lower one in units of their gap, by
    adding ``bits`` (16 uniformly random bits per element: integers in [0, 2**16)) to the
    float32's low 16 bits and truncating. Quiet NaNs (all that arithmetic makes) and infinities
    are kept.

    Where :func:`scale_by_rms` takes the bits from: a leaf of at most 65,536 elements reads them
    from one array made once per step, the MurmurHash3 finalizer of the element's index and the
    step count (leaf ``k`` of those reads it from position ``k`` on, so leaves see shifted copies
    of one stream). A larger leaf hashes its own values: the top half of
    ``(bits(x) ^ seed) * 0x9E3779B1``, with a seed from the step count and the leaf's position,
    uniform whatever ``x`` is. Either way the bits are a pure function of the state, the same
    under ``jit`` and ``vmap`` and after a resume. But in a large leaf a last-bit difference in
    ``x`` draws other bits, so two programs whose float32 moments differ in the last bit (XLA
    may fuse a multiply-add in one and not in the other, e.g. op by op against jitted) round
    many of its elements differently, where rounding to nearest almost never would. (Hashing
    only the value's bfloat16 part made elements of equal bfloat16 value round alike, and the
    mean error over a layer noisy.)

    Speed on a CPU (XLA:CPU, jax 0.10): XLA splits a loop across threads, handing part of it to
    another thread on every call, from about 200,000 cycles of work if its cost model counts
    more operations than bytes per element, else only from 512 KB. Hashing the value inside the
    loop that updates a small leaf's moment would tip that loop over the first threshold;
    reading the bits from the shared array does not (``tests/test_rmsprop.py`` checks that at
    most the shared array's loop is split, and ``bench/update.py --bf16-baseline`` prints the
    count). The array is made once per step (4 bytes per element of the largest small leaf, so
    it stays in cache) by a reduction: XLA copies an elementwise producer into every loop that
    reads it, which would hash in every leaf's loop again, but never a reduction. (Stored as
    uint16, the array halves its bytes, which tips each leaf's loop over the threshold.) Larger
    leaves hash in their own loop, three integer operations per element: a shared array as
    large as such a leaf would be hashed anew each step with the whole finalizer.

    The rounded moment ends in XLA's float32-to-bfloat16 conversion, which XLA:CPU counts as
    costly and so never copies into another loop: the moment's loop writes the bfloat16 moment
    and the update's loop reads it. Ending in integer shifts instead (four vector instructions
    fewer per eight elements) makes every operation cheap in XLA's eyes: it copies the whole
    rounding into the update's loop, which then reads the old moment, so XLA first copies that
    buffer too. The moment's loop still takes about three times the instructions of a float32
    moment's (the bfloat16 load and conversion, the bits, the NaN guard), which tells where the
    data sits in cache and the step is bound by instructions rather than by memory; the step's
    measured time against optax's is in ``bench/results/update.json`` and on the benchmarks
    page.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from rmsjax._src.stochastic_rounding import stochastic_round_bfloat16
      >>> x = jnp.full(10_000, 1 + 2.0**-9)  # a quarter of the way from 1 to 1 + 2^-7
      >>> bits = jax.random.bits(jax.random.PRNGKey(0), (10_000,), jnp.uint16)
      >>> y = stochastic_round_bfloat16(x, bits).astype(jnp.float32)
      >>> sorted(set(y.tolist())) == [1.0, 1 + 2.0**-7]
      True
      >>> round(float((y == 1 + 2.0**-7).mean()), 2)
      0.25
    """
    x = jnp.asarray(x, jnp.float32)
    noise = jnp.asarray(bits, jnp.uint32)
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32)
    # No noise for a NaN: one whose payload fills the top mantissa bits (0x7FFFFFFF, a GPU's
    # NaN) would carry into the sign bit and come out as zero. (Selecting the noise, not the
    # result, keeps the float32-to-bfloat16 conversion XLA's fast one.)
    noise = jnp.where(jnp.isnan(x), jnp.uint32(0), noise)
    truncated = jax.lax.bitcast_convert_type((bits + noise) & jnp.uint32(0xFFFF0000), jnp.float32)
    return truncated.astype(jnp.bfloat16)

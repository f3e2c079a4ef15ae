r"""Two-float ("double-float") arithmetic in float32, for the bias correction :math:`1 - \rho^t`.

A number is carried as an unevaluated sum ``hi + lo`` of two float32s (about 44 significant
bits, against float32's 24). :func:`one_minus_power` uses it to compute the bias correction of
:func:`rmsjax.scale_by_rms` to within one float32 ulp; :func:`split`, :func:`two_sum` and
:func:`mul2` are the exact operations it rests on.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def split(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """float32 ``x`` as ``hi + lo`` exactly, each with at most 12 significant bits."""
    bits = jax.lax.bitcast_convert_type(x, jnp.uint32) & jnp.uint32(0xFFFFF000)
    hi = jax.lax.bitcast_convert_type(bits, jnp.float32)
    return hi, x - hi


def two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``s + e == a + b`` exactly, ``s`` the rounded sum (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def mul2(x: tuple, y: tuple) -> tuple[jax.Array, jax.Array]:
    """The product of two unevaluated sums ``hi + lo``, as such a sum (about 44 bits).

    The split halves multiply exactly, so the result does not depend on whether the compiler
    fuses a multiply and an add.
    """
    p = x[0] * y[0]
    (ah, al), (bh, bl) = split(x[0]), split(y[0])
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    e = e + (x[0] * y[1] + x[1] * y[0])
    s = p + e
    return s, e - (s - p)


def one_minus_power(rho: jax.Array, count: jax.Array) -> jax.Array:
    r""":math:`1 - \rho^t` for a float ``rho`` and an int32 ``count`` :math:`t \ge 0`, to 1 ulp.

    ``1 - rho ** t`` in float32 subtracts nearly equal numbers when :math:`\rho^t` is near 1 (it
    is off by 80 ulps for :math:`\rho = 0.999`, 1000 for 0.9999), and ``-expm1(t * log1p(rho -
    1))`` inherits the 5-ulp error of XLA's float32 ``expm1``. Here :math:`\rho^t` is computed by
    binary powering in two-float arithmetic (about 44 bits), and then subtracted from one: a
    scalar computation done once per step, not per parameter.
    """
    if rho.dtype != jnp.float32:  # float64 (with jax_enable_x64): its expm1 is ample
        return -jnp.expm1(count.astype(rho.dtype) * jnp.log1p(rho - 1))
    zero = jnp.zeros([], jnp.float32)
    result, base = (jnp.ones([], jnp.float32), zero), (rho, zero)
    for bit in range(31):  # count < 2**31
        product = mul2(result, base)
        take = ((count >> bit) & 1) == 1
        result = tuple(jnp.where(take, p, r) for p, r in zip(product, result, strict=True))
        if bit < 30:
            base = mul2(base, base)
    s, e = two_sum(jnp.ones([], jnp.float32), -result[0])
    return s + (e - result[1])

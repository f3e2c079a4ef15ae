"""The per-leaf rules every transform of :mod:`rmsjax._src.transform` follows: the dtype a leaf is
computed in, a hyperparameter cast to it, maps over a tree that return several trees, and the check
that a tree holds only trainable (floating or complex) leaves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np


def compute_dtype(dtype: Any) -> np.dtype:
    """The dtype moments are computed in: ``dtype`` promoted to at least float32."""
    return jnp.promote_types(dtype, jnp.float32)


def as_dtype(value: chex.Numeric, dtype: Any) -> jax.Array:
    """A hyperparameter (Python number or JAX scalar, traced or not) as an array of ``dtype``."""
    return jnp.asarray(value, dtype=dtype)


def map_unzip(n: int, fn: Callable[..., tuple], tree: Any, *rest: Any) -> tuple:
    """``jax.tree.map(fn, tree, *rest)`` for an ``fn`` returning ``n``-tuples: ``n`` trees."""
    treedef = jax.tree.structure(tree)
    leaves = treedef.flatten_up_to(jax.tree.map(fn, tree, *rest))
    return tuple(treedef.unflatten([leaf[i] for leaf in leaves]) for i in range(n))


def map_unzip_indexed(n: int, fn: Callable[..., tuple], tree: Any, *rest: Any) -> tuple:
    """:func:`map_unzip`, with the leaf's position in ``tree`` as ``fn``'s first argument."""
    treedef = jax.tree.structure(tree)
    columns = [treedef.flatten_up_to(t) for t in (tree, *rest)]
    leaves = [fn(i, *args) for i, args in enumerate(zip(*columns, strict=True))]
    return tuple(treedef.unflatten([leaf[i] for leaf in leaves]) for i in range(n))


def abs_sq(x: jax.Array) -> jax.Array:
    """:math:`|x|^2` elementwise, real for complex ``x`` (no complex multiply)."""
    if jnp.iscomplexobj(x):
        return jnp.real(x) ** 2 + jnp.imag(x) ** 2
    return x * x


def real_dtype(dtype: Any) -> np.dtype:
    """The real dtype of an inexact ``dtype`` (``float32`` for ``complex64``)."""
    return jnp.finfo(dtype).dtype


def check_trainable(tree: chex.ArrayTree, what: str = "parameter") -> None:
    """Raise a ``TypeError`` naming the first leaf of ``tree`` that is not floating or complex.

    An integer (or boolean) leaf has no gradient an optimizer could follow; optax would silently
    return zero updates for it, which hides the mistake.
    """
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.inexact):
            raise TypeError(
                f"{what} {jax.tree_util.keystr(path) or '(the root)'} has dtype {dtype}, and "
                "RMSprop only trains floating (or complex) leaves. Leave it out of the optimizer "
                "with `optax.masked(tx, mask)`, or freeze it with `optax.set_to_zero()` (e.g. "
                "`optax.multi_transform({'train': tx, 'freeze': optax.set_to_zero()}, labels)`)"
            )

"""Embedded data that needs no download: XOR, scikit-learn's digits, and 2-D test functions."""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from rmsjax.data.base import Dataset

__all__ = [
    "PROBLEMS",
    "Problem",
    "get_problem",
    "load_digits",
    "load_xor",
    "quadratic",
    "rosenbrock",
]


def load_xor() -> Dataset:
    """The four XOR points; the test set is the same four points.

    >>> from rmsjax.data import load_xor
    >>> d = load_xor()
    >>> d.x_train.tolist(), d.y_train.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], np.float32)
    y = np.array([0, 1, 1, 0], np.int32)
    return Dataset(
        "xor",
        x,
        y,
        x.copy(),
        y.copy(),
        num_classes=2,
        source="embedded XOR truth table (4 points; the test set is the training set)",
    )


def load_digits(*, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """scikit-learn's 1,797 8x8 handwritten digits (bundled with scikit-learn, no download).

    Pixels (0..16) are scaled to [0, 1] and flattened to 64 features. A seeded permutation puts
    ``round(test_fraction * 1797)`` (359) digits in the held-out set and the rest (1,438) in train.
    Needs scikit-learn installed: its file of the digits is read as ``load_digits`` reads it,
    without importing scikit-learn (which takes a second or more, longer than the rest of
    loading); where that file is not found, scikit-learn's ``load_digits`` is called.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"`test_fraction` must be in (0, 1), got {test_fraction!r}")
    pixels, target = _digits_arrays()
    x = (pixels / 16.0).astype(np.float32)
    y = target.astype(np.int32)
    perm = np.random.default_rng(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = perm[:n_test], perm[n_test:]
    return Dataset(
        "digits",
        x[train],
        y[train],
        x[test],
        y[test],
        num_classes=10,
        source=(
            f"scikit-learn load_digits (embedded, 8x8): seeded split (seed {seed}) "
            f"{len(train):,} train / {len(test):,} held out"
        ),
    )


def _digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 x 64 pixels (float64, 0..16) and labels of scikit-learn's digits."""
    spec = importlib.util.find_spec("sklearn")  # finds the package without running it
    if spec is None:
        raise ImportError("the digits data set comes with scikit-learn: pip install scikit-learn")
    for folder in spec.submodule_search_locations or []:
        file = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if file.is_file():
            with gzip.open(file, "rt", encoding="utf-8") as f:
                data = np.loadtxt(f, delimiter=",")
            return data[:, :-1], data[:, -1].astype(int)
    from sklearn.datasets import load_digits as sk_load_digits  # another layout: its loader

    bunch = sk_load_digits()
    return bunch.data, bunch.target


def quadratic(p: jax.Array) -> jax.Array:
    """The seed's x^2, on a vector: ``sum(p**2)``. Minimum 0 at the origin.

    >>> import jax.numpy as jnp
    >>> from rmsjax.data import quadratic
    >>> quadratic(jnp.array([3.0, 4.0]))
    Array(25., dtype=float32)
    """
    return jnp.sum(jnp.square(p))


def rosenbrock(p: jax.Array) -> jax.Array:
    """Rosenbrock's banana ``(1 - x)^2 + 100 (y - x^2)^2`` of ``p = (x, y)``; minimum 0 at (1, 1).

    >>> import jax.numpy as jnp
    >>> from rmsjax.data import rosenbrock
    >>> rosenbrock(jnp.array([1.0, 1.0])), rosenbrock(jnp.array([0.0, 0.0]))
    (Array(0., dtype=float32), Array(1., dtype=float32))
    """
    x, y = p[..., 0], p[..., 1]
    return jnp.square(1.0 - x) + 100.0 * jnp.square(y - jnp.square(x))


@dataclasses.dataclass(frozen=True)
class Problem:
    """A 2-D objective with its starting point, its minimiser and a box to draw contours in.

    Attributes:
      name: ``"quadratic"`` or ``"rosenbrock"``.
      fn: ``fn(p) -> scalar`` for ``p`` of shape ``[2]`` (differentiable with ``jax.grad``).
      start: the starting point (the seed's).
      minimum: where ``fn`` is smallest.
      bounds: ``((x_min, x_max), (y_min, y_max))`` for contour plots.
    """

    name: str
    fn: Callable[[jax.Array], jax.Array]
    start: tuple[float, float]
    minimum: tuple[float, float]
    bounds: tuple[tuple[float, float], tuple[float, float]]

    def grid(self, n: int = 100) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(X, Y, Z)`` meshes of ``fn`` over ``bounds``, ready for ``plt.contour``.

        >>> from rmsjax.data import get_problem
        >>> X, Y, Z = get_problem("rosenbrock").grid(5)
        >>> Z.shape
        (5, 5)
        """
        (x0, x1), (y0, y1) = self.bounds
        X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
        pts = jnp.stack([jnp.asarray(X), jnp.asarray(Y)], axis=-1).astype(jnp.float32)
        Z = jax.vmap(jax.vmap(self.fn))(pts)
        return X, Y, np.asarray(Z)


PROBLEMS = {
    # The seed's x^2 starts at x = 5; the second coordinate makes it drawable as a contour.
    "quadratic": Problem(
        "quadratic", quadratic, (5.0, 2.5), (0.0, 0.0), ((-6.0, 6.0), (-6.0, 6.0))
    ),
    # The seed's Rosenbrock start (-1.5, 2.5) and plotting box.
    "rosenbrock": Problem(
        "rosenbrock", rosenbrock, (-1.5, 2.5), (1.0, 1.0), ((-2.0, 2.0), (-1.0, 3.0))
    ),
}


def get_problem(name: str) -> Problem:
    """The 2-D problem called ``name`` (``"quadratic"`` or ``"rosenbrock"``).

    >>> from rmsjax.data import get_problem
    >>> get_problem("rosenbrock").start
    (-1.5, 2.5)
    """
    if name not in PROBLEMS:
        raise ValueError(f"unknown 2-D problem {name!r}; known: {sorted(PROBLEMS)}")
    return PROBLEMS[name]

"""Search spaces for `sweep`: `grid`, the cartesian product of hyperparameter values, and
`sample`, configurations drawn from distributions (`uniform`, `loguniform`, `choice`: in
distributions.py).

A space is an ordered list of configurations (dicts of hyperparameter values) with stable ids.
Numeric axes are *dynamic* (batched with `jax.vmap`); axes holding a bool, str or None are
*static* (one compiled program per combination of their values).
"""

from __future__ import annotations

import itertools
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from rmsjax._engine import columns
from rmsjax._engine.distributions import (
    STATIC_TYPES,
    Distribution,
    Static,
    distribution,
    python_value,
)

# Imported from here by the search (search.py), as they were before distributions.py held them.
from rmsjax._engine.distributions import Choice as Choice
from rmsjax._engine.distributions import IntUniform as IntUniform


class Grid:
    """The cartesian product of hyperparameter axes, built by `grid`.

    Configuration ``i`` is the ``i``-th element of ``itertools.product`` over the axes in the order
    they were given (the last axis varies fastest); ``i`` is its stable id.

    Attributes:
      axes: dict mapping each axis name to the tuple of its values.
      static_axes: names of axes swept by compiling once per value (an axis holding any bool, str
        or None, or given as `rmsjax.static`).
      dynamic_axes: names of numeric axes, batched with `jax.vmap`.
    """

    def __init__(self, axes: Mapping[str, Sequence[Any]]):
        if not isinstance(axes, Mapping):
            raise TypeError(
                f"Grid(axes): `axes` must be a dict of axis name -> values, got "
                f"{type(axes).__name__}: {axes!r}; e.g. rmsjax.grid(learning_rate=[0.01, 0.1])"
            )
        self.axes = {name: tuple(values) for name, values in _check_axes(axes).items()}
        self._forced = {n for n, v in axes.items() if isinstance(v, Static)}  # rmsjax.static
        self.static_axes = tuple(
            n
            for n, v in self.axes.items()
            if n in self._forced or any(isinstance(x, STATIC_TYPES) for x in v)
        )
        self.dynamic_axes = tuple(n for n in self.axes if n not in self.static_axes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.axes.values())

    def __len__(self) -> int:
        return math.prod(self.shape)

    def __getitem__(self, config_id: int) -> dict[str, Any]:
        n = len(self)
        if not isinstance(config_id, numbers.Integral) or not -n <= config_id < n:
            raise IndexError(f"configuration id must be an int in [0, {n}), got {config_id!r}")
        index = np.unravel_index(int(config_id) % n, self.shape) if self.shape else ()
        return {name: self.axes[name][int(i)] for name, i in zip(self.axes, index, strict=True)}

    def __iter__(self):
        for values in itertools.product(*self.axes.values()):
            yield dict(zip(self.axes, values, strict=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{n}=static({list(v)!r})" if n in self._forced else f"{n}={list(v)!r}"
            for n, v in self.axes.items()
        )
        return f"grid({inner})"

    def to_json(self) -> dict[str, Any]:
        """The axes as a JSON-compatible dict (used in the sweep manifest); an axis given as
        `rmsjax.static` is ``{"static": values}``."""
        return {
            name: {"static": list(values)} if name in self._forced else list(values)
            for name, values in self.axes.items()
        }

    def column(self, name: str) -> list[Any]:
        """The value of axis ``name`` for every configuration, in id order."""
        return [config[name] for config in self]


def grid(**axes: Sequence[Any]) -> Grid:
    """The cartesian product of hyperparameter values, for `sweep`.

    Configurations come in ``itertools.product`` order of the keyword arguments (the last axis
    varies fastest); configuration ``i`` has the stable id ``i``.

    An axis of real numbers (Python or NumPy ints and floats) is *dynamic*: `sweep` passes its
    values to ``train_fn`` as traced scalar arrays (float32, or int32 for an all-int axis; 64-bit
    with ``jax_enable_x64``) and batches them with `jax.vmap`, so they share one compilation.
    An axis holding any bool, str or None is *static*: its values reach ``train_fn`` as Python
    values, and `sweep` traces and compiles one program per distinct combination of static values
    (use it for options such as ``centered`` or ``nesterov``, ``momentum=[None, 0.9]``, or a
    string naming a model or optimizer). A number that must stay static (a layer width or batch
    size that sets a shape, a step count for a Python loop) is given as
    ``rmsjax.static([64, 128])``: its values reach ``train_fn`` as Python ints (or floats), one
    compiled program per value.

    A grid has no ranges, so an axis given as a tuple is a list of values, as a list is (unlike
    `sample` and `optuna_search`, which refuse tuples as ambiguous).

    Args:
      **axes: axis name -> non-empty sequence of values.

    Returns:
      A `Grid`; ``len(grid)`` is the number of configurations, ``grid[i]`` the ``i``-th as a dict.

    Raises:
      ValueError: an axis is empty or holds a value twice.
      TypeError: an axis is not a sequence, or holds a value that is neither a real number nor a
        bool, str or None.

    Example:
      >>> import rmsjax
      >>> space = rmsjax.grid(learning_rate=[0.01, 0.1], centered=[False, True])
      >>> len(space), space[1]
      (4, {'learning_rate': 0.01, 'centered': True})
    """
    return Grid(axes)


def _check_axes(axes: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Each axis as a list of plain Python values; raises for a bad or duplicated value."""
    normalized = {}
    for name, values in axes.items():
        if not isinstance(name, str):
            raise TypeError(f"grid axis names must be str, got {name!r}")
        columns.check_axis(name, "grid")
        if isinstance(values, Static):
            values = list(values.values)
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(
            values, (Sequence, np.ndarray, jax.Array)
        ):
            raise TypeError(
                f"grid axis `{name}` must be a sequence of values, got {type(values).__name__}: "
                f"{values!r}"
            )
        values = list(np.asarray(values)) if isinstance(values, (np.ndarray, jax.Array)) else values
        if len(values) == 0:
            raise ValueError(f"grid axis `{name}` is empty; give it at least one value")
        normalized[name] = [python_value(f"grid axis `{name}`", v) for v in values]
        _reject_duplicates(name, normalized[name])
    return normalized


def _reject_duplicates(name: str, values: list[Any]) -> None:
    seen = set()
    for value in values:
        identity = (isinstance(value, bool), value)  # True and 1 differ; 1 and 1.0 do not
        if identity in seen:
            raise ValueError(
                f"grid axis `{name}` holds {value!r} more than once; give each value once"
            )
        seen.add(identity)


# Sampled spaces.

_METHODS = ("random", "sobol")


def _unit_cube(n: int, dims: int, seed: int, method: str) -> np.ndarray:
    """``(n, dims)`` points in [0, 1); row ``i`` depends only on (seed, method, dims, i)."""
    if method == "random":
        return np.random.default_rng(seed).random((n, dims))
    from scipy.stats import qmc

    with (
        warnings.catch_warnings()
    ):  # scipy asks for powers of 2; any prefix is still low-discrepancy
        warnings.filterwarnings("ignore", "The balance properties", UserWarning)
        return qmc.Sobol(dims, scramble=True, seed=seed).random(n)


class Configs:
    """An explicit list of configurations with a `Grid`'s interface (ids are list positions).

    `sample` builds its subclass `Sample`; `optuna_search` returns its trials as one.

    Attributes:
      axes: axis name -> the tuple of its values, one per configuration.
      static_axes: names of axes with a bool, str or None value (one compilation per value).
      dynamic_axes: the numeric axes, batched with `jax.vmap`.
    """

    def __init__(self, axes: Mapping[str, Sequence[Any]], static_axes: Sequence[str] = ()):
        for name in axes:
            columns.check_axis(name, "Configs")
        self.axes = {name: tuple(values) for name, values in axes.items()}
        sizes = {len(v) for v in self.axes.values()}
        if len(sizes) > 1:
            raise ValueError(f"every axis needs one value per configuration, got sizes {sizes}")
        self.n = sizes.pop() if sizes else 0
        static = set(static_axes) | {
            n for n, v in self.axes.items() if any(isinstance(x, STATIC_TYPES) for x in v)
        }
        self.static_axes = tuple(n for n in self.axes if n in static)
        self.dynamic_axes = tuple(n for n in self.axes if n not in static)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n,)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, config_id: int) -> dict[str, Any]:
        n = self.n
        if not isinstance(config_id, numbers.Integral) or not -n <= config_id < n:
            raise IndexError(f"configuration id must be an int in [0, {n}), got {config_id!r}")
        return {name: values[int(config_id)] for name, values in self.axes.items()}

    def __iter__(self):
        return (self[i] for i in range(self.n))

    def column(self, name: str) -> list[Any]:
        """The value of axis ``name`` for every configuration, in id order."""
        return list(self.axes[name])

    def to_json(self) -> dict[str, Any]:
        return {"configs": {name: list(values) for name, values in self.axes.items()}}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Configs) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Configs({self.n} configurations of {list(self.axes)})"


class Sample(Configs):
    """``n`` configurations drawn from distributions, built by `sample`; a `Grid`'s interface.

    Configuration ``i`` is the ``i``-th draw and ``i`` its stable id (the first ``k`` draws do
    not depend on ``n``). ``distributions`` maps each axis name to its distribution.
    """

    def __init__(self, n: int, seed: int, method: str, distributions: Mapping[str, Distribution]):
        self.seed, self.method = seed, method
        self.distributions = dict(distributions)
        cube = _unit_cube(n, len(self.distributions), seed, method)
        columns = {
            name: dist.from_unit(cube[:, j])
            for j, (name, dist) in enumerate(self.distributions.items())
        }
        super().__init__(columns, [n for n, d in self.distributions.items() if d.static])

    def to_json(self) -> dict[str, Any]:
        dists = {name: d.to_json() for name, d in self.distributions.items()}
        return {"sample": {"n": self.n, "seed": self.seed, "method": self.method, "axes": dists}}

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={d!r}" for n, d in self.distributions.items())
        return f"sample({self.n}, seed={self.seed}, method={self.method!r}, {inner})"


def sample(n: int, *, seed: int = 0, method: str = "random", **axes: Any) -> Sample:
    """``n`` configurations drawn at random (or quasi-random) from distributions, for `sweep`.

    Each axis is `uniform`, `loguniform`, `choice`, a list of values (a `choice`) or one of
    Optuna's ``FloatDistribution``, ``IntDistribution``, ``CategoricalDistribution``; a tuple
    is refused as ambiguous (a range or two values?). As in
    `grid`, an axis with a bool, str or None value is static (one compilation per value), the
    others are batched with `jax.vmap`. ``method="random"`` draws independent uniform numbers
    (NumPy's ``default_rng(seed)``); ``"sobol"`` a scrambled Sobol sequence
    (``scipy.stats.qmc.Sobol``), which covers the space more evenly than random points (best at
    powers of 2). The draws are deterministic in ``seed``, and configuration ``i`` does not
    depend on ``n``, so an interrupted sweep of a sample resumes like one of a grid.

    Args:
      n: number of configurations, at least 1.
      seed: seeds the draws.
      method: ``"random"`` or ``"sobol"``.
      **axes: axis name -> distribution or list of values.

    Returns:
      A `Sample`, usable wherever a `Grid` is.

    Raises:
      ValueError: ``n`` < 1, an unknown method, no axes, or a bad distribution.

    Example:
      >>> import rmsjax
      >>> space = rmsjax.sample(4, seed=0, learning_rate=rmsjax.loguniform(1e-4, 1e-1),
      ...                       decay=[0.9, 0.99])
      >>> len(space), sorted(space[0])
      (4, ['decay', 'learning_rate'])
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"sample: `n` must be an int >= 1, got {n!r}")
    if method not in _METHODS:
        raise ValueError(f"sample: `method` must be one of {_METHODS}, got {method!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"sample: `seed` must be an int >= 0, got {seed!r}")
    if not axes:
        raise ValueError(
            "sample: give at least one axis, e.g. learning_rate=rmsjax.loguniform(...)"
        )
    dists = {name: distribution(name, value) for name, value in axes.items()}
    return Sample(int(n), int(seed), method, dists)

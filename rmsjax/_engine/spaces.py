"""Search spaces for `sweep`: `grid`, the cartesian product of hyperparameter values, and
`sample`, configurations drawn from distributions (`uniform`, `loguniform`, `choice`).

A space is an ordered list of configurations (dicts of hyperparameter values) with stable ids.
Numeric axes are *dynamic* (batched with `jax.vmap`); axes holding a bool, str or None are
*static* (one compiled program per combination of their values).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

from rmsjax._engine import columns

# Static (non-vmappable) values an axis may hold; anything else must be a real number.
STATIC_TYPES = (bool, str, type(None))


def python_value(where: str, value: Any) -> Any:
    """Normalizes one axis value to a plain Python bool, int, float, str or None; ``where`` names
    the axis in errors (e.g. ``"grid axis `lr`"``)."""
    if isinstance(value, STATIC_TYPES):
        return value
    if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0:
        value = np.asarray(value).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(
        f"{where} holds {value!r} of type {type(value).__name__}; values must be "
        "real numbers (swept with vmap) or bool, str or None (static, one compilation each)"
    )


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


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite real number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Uniform:
    """Real values spread evenly over ``[low, high)``; built by `uniform`."""

    low: float
    high: float

    def __post_init__(self):
        low, high = _real("low", self.low), _real("high", self.high)
        if low >= high:
            raise ValueError(f"uniform: `low` must be < `high`, got low={low!r}, high={high!r}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)

    static = False

    def from_unit(self, u: np.ndarray) -> list:
        return [float(v) for v in self.low + u * (self.high - self.low)]

    def to_json(self) -> dict:
        return {"uniform": [self.low, self.high]}

    def to_optuna(self):
        import optuna

        return optuna.distributions.FloatDistribution(self.low, self.high)


@dataclasses.dataclass(frozen=True)
class LogUniform(Uniform):
    """Positive values whose logarithm is uniform over ``[log low, log high)``; see `loguniform`."""

    def __post_init__(self):
        super().__post_init__()
        if self.low <= 0:
            raise ValueError(f"loguniform: `low` must be > 0, got {self.low!r}")

    def from_unit(self, u: np.ndarray) -> list:
        lo, hi = math.log(self.low), math.log(self.high)
        return [float(min(max(v, self.low), self.high)) for v in np.exp(lo + u * (hi - lo))]

    def to_json(self) -> dict:
        return {"loguniform": [self.low, self.high]}

    def to_optuna(self):
        import optuna

        return optuna.distributions.FloatDistribution(self.low, self.high, log=True)


@dataclasses.dataclass(frozen=True)
class Choice:
    """One of ``values``, each equally likely; built by `choice` (or a list given to `sample`)."""

    values: tuple

    def __post_init__(self):
        where = f"{type(self).__name__.lower()}: `values`"
        object.__setattr__(self, "values", choice_values(self.values, where))

    @property
    def static(self) -> bool:
        return any(isinstance(v, STATIC_TYPES) for v in self.values)

    def from_unit(self, u: np.ndarray) -> list:
        k = len(self.values)
        return [self.values[min(int(v * k), k - 1)] for v in u]

    def to_json(self) -> dict:
        return {"choice": list(self.values)}

    def to_optuna(self):
        import optuna

        return optuna.distributions.CategoricalDistribution(self.values)


@dataclasses.dataclass(frozen=True)
class IntUniform:
    """Integers ``low, low + step, ..., <= high``, each equally likely (with ``log``: uniform in
    the logarithm, as Optuna draws them); what Optuna's ``IntDistribution`` maps to."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def __post_init__(self):
        for name in ("low", "high", "step"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"IntDistribution: `{name}` must be an int, got {value!r}")
            object.__setattr__(self, name, int(value))
        if self.low > self.high or self.step < 1:
            raise ValueError(
                f"IntDistribution: need low <= high and step >= 1, got low={self.low}, "
                f"high={self.high}, step={self.step}"
            )
        if self.log and (self.step != 1 or self.low < 1):
            raise ValueError(
                f"IntDistribution(log=True) needs step=1 and low >= 1, got low={self.low}, "
                f"step={self.step}"
            )
        object.__setattr__(self, "log", bool(self.log))

    static = False

    def from_unit(self, u: np.ndarray) -> list:
        if self.log:  # as Optuna: log-uniform over [low - 0.5, high + 0.5], then rounded
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            values = np.round(np.exp(lo + u * (hi - lo)))
            return [int(min(max(v, self.low), self.high)) for v in values]
        k = (self.high - self.low) // self.step + 1
        return [self.low + self.step * min(int(v * k), k - 1) for v in u]

    def to_json(self) -> dict:
        return {"int": {"low": self.low, "high": self.high, "step": self.step, "log": self.log}}

    def to_optuna(self):
        import optuna

        return optuna.distributions.IntDistribution(self.low, self.high, self.log, self.step)


def choice_values(values: Any, where: str) -> tuple:
    """The values of a choice as plain Python values; errors name ``where`` (the axis)."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{where} must be a sequence of values, got {values!r}")
    if len(values) == 0:
        raise ValueError(f"{where} is empty; give at least one value")
    values = tuple(python_value(where, v) for v in values)
    if len({(isinstance(v, bool), v) for v in values}) != len(values):  # True is not 1
        raise ValueError(f"{where} holds duplicates: {list(values)!r}; give each value once")
    return values


@dataclasses.dataclass(frozen=True, repr=False)
class Static(Choice):
    """An axis whose values reach ``train_fn`` as Python values, one compiled program per value;
    built by `static`. In `sample` it is a choice among them."""

    @property
    def static(self) -> bool:
        return True

    def to_json(self) -> dict:
        return {"static": list(self.values)}

    def __repr__(self) -> str:
        return f"static({list(self.values)!r})"


def static(values: Sequence[Any]) -> Static:
    """An axis of `grid` or `sample` whose values are passed as Python values, not traced.

    Numbers are normally *dynamic*: traced scalars batched with `jax.vmap`, one compilation for
    every value. A number that sets a shape (a layer width, a batch size, a sequence length) or
    drives a Python loop cannot be traced: wrap its values in ``static``, and `sweep` compiles
    one program per value, passing each as a plain Python int (or float). Bool, str and None
    values are static without it.

    Args:
      values: a non-empty sequence of distinct values.

    Returns:
      A `Static`: in `grid` the axis takes each value; in `sample` it is drawn like `choice`.

    Example:
      >>> import rmsjax
      >>> space = rmsjax.grid(width=rmsjax.static([64, 128]), learning_rate=[0.01, 0.1])
      >>> space.static_axes, space[0]
      (('width',), {'width': 64, 'learning_rate': 0.01})
    """
    if isinstance(values, Static):
        return values
    return Static(values)


Distribution = Uniform | LogUniform | Choice | IntUniform


def uniform(low: float, high: float) -> Uniform:
    """A hyperparameter drawn uniformly from ``[low, high)``, for `sample` and `optuna_search`.

    >>> import rmsjax
    >>> rmsjax.uniform(0.5, 0.999)
    Uniform(low=0.5, high=0.999)
    """
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    """A positive hyperparameter whose logarithm is uniform (learning rates, ``eps``).

    >>> import rmsjax
    >>> rmsjax.loguniform(1e-5, 1e-1)
    LogUniform(low=1e-05, high=0.1)
    """
    return LogUniform(low, high)


def choice(values: Sequence[Any]) -> Choice:
    """A hyperparameter drawn from ``values``; bool, str or None values make it static.

    >>> import rmsjax
    >>> rmsjax.choice([False, True]).static
    True
    """
    return Choice(values)


def distribution(name: str, value: Any, who: str = "sample") -> Distribution:
    """The distribution of axis ``name`` of ``who``'s space (``sample`` or ``optuna_search``).

    A tuple is refused: ``(0.0, 0.5)`` reads as a range to some and as two values to others.
    """
    columns.check_axis(name, who)
    if isinstance(value, (Uniform, Choice, IntUniform)):
        return value
    if type(value).__module__.startswith("optuna"):
        return _from_optuna(f"{who} axis `{name}`", value)
    if isinstance(value, tuple):
        low, high = value if len(value) == 2 else ("low", "high")
        raise TypeError(
            f"{who} axis `{name}` is a tuple {value!r}, which is ambiguous: use "
            f"rmsjax.uniform({low}, {high}) or rmsjax.loguniform({low}, {high}) for a range, or "
            f"a list {list(value)!r} for a choice of these values"
        )
    if isinstance(value, (list, np.ndarray)):
        return Choice(choice_values(value, f"{who} axis `{name}`"))
    raise TypeError(
        f"{who} axis `{name}` must be rmsjax.uniform, loguniform, choice or a list of values, "
        f"got {value!r}"
    )


def _from_optuna(where: str, value: Any) -> Distribution:
    """An Optuna distribution as the engine's own; a clear error for an option it lacks."""
    import optuna

    dists = optuna.distributions
    if isinstance(value, dists.FloatDistribution):
        if value.step is not None:
            raise ValueError(
                f"{where}: FloatDistribution(step={value.step!r}) is not supported; give the "
                "values as a list (a choice) or drop `step`"
            )
        if value.low == value.high:  # Optuna allows a single value
            return Choice((float(value.low),))
        return (LogUniform if value.log else Uniform)(value.low, value.high)
    if isinstance(value, dists.IntDistribution):
        return IntUniform(value.low, value.high, value.step, value.log)
    if isinstance(value, dists.CategoricalDistribution):
        return Choice(choice_values(value.choices, where))
    raise TypeError(
        f"{where}: {type(value).__name__} is not supported; use FloatDistribution, "
        "IntDistribution, CategoricalDistribution or rmsjax.uniform, loguniform, choice"
    )


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

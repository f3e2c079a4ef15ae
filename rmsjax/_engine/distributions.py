"""The distributions of a sampled axis (`uniform`, `loguniform`, `choice`, Optuna's
``IntDistribution`` as `IntUniform`, Optuna's own distributions through `distribution`) and
`static`, the marker of an axis passed as Python values; the values an axis may hold.

`rmsjax._engine.spaces` builds the spaces (`grid`, `sample`) from these.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
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

"""Search spaces for `sweep`: `grid`, the cartesian product of hyperparameter values.

A space is an ordered list of configurations (dicts of hyperparameter values) with stable ids.
Numeric axes are *dynamic* (batched with `jax.vmap`); axes holding a bool, str or None are
*static* (one compiled program per combination of their values).
"""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

# Static (non-vmappable) values an axis may hold; anything else must be a real number.
STATIC_TYPES = (bool, str, type(None))


def python_value(axis: str, value: Any) -> Any:
    """Normalizes one axis value to a plain Python bool, int, float, str or None."""
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
        f"grid axis `{axis}` holds {value!r} of type {type(value).__name__}; values must be "
        "real numbers (swept with vmap) or bool, str or None (static, one compilation each)"
    )


class Grid:
    """The cartesian product of hyperparameter axes, built by `grid`.

    Configuration ``i`` is the ``i``-th element of ``itertools.product`` over the axes in the order
    they were given (the last axis varies fastest); ``i`` is its stable id.

    Attributes:
      axes: dict mapping each axis name to the tuple of its values.
      static_axes: names of axes swept by compiling once per value (an axis holding any bool, str
        or None).
      dynamic_axes: names of numeric axes, batched with `jax.vmap`.
    """

    def __init__(self, axes: Mapping[str, Sequence[Any]]):
        if not isinstance(axes, Mapping):
            raise TypeError(
                f"Grid(axes): `axes` must be a dict of axis name -> values, got "
                f"{type(axes).__name__}: {axes!r}; e.g. rmsjax.grid(learning_rate=[0.01, 0.1])"
            )
        self.axes = {name: tuple(values) for name, values in _check_axes(axes).items()}
        self.static_axes = tuple(
            n for n, v in self.axes.items() if any(isinstance(x, STATIC_TYPES) for x in v)
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
        inner = ", ".join(f"{n}={list(v)!r}" for n, v in self.axes.items())
        return f"grid({inner})"

    def to_json(self) -> dict[str, list[Any]]:
        """The axes as a JSON-compatible dict (used in the sweep manifest)."""
        return {name: list(values) for name, values in self.axes.items()}

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
    string naming a model or optimizer). To sweep a number that must stay static (a batch size
    that sets shapes), give it as strings and convert inside ``train_fn``.

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
        normalized[name] = [python_value(name, v) for v in values]
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

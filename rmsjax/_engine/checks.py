"""Small helpers every engine module shares: argument checks, axis dtypes, grouping."""

from __future__ import annotations

import numbers
from typing import Any

import jax
import numpy as np


def positive_int(name: str, value: Any, what: str = "an int >= 1") -> int:
    """``value`` as an int >= 1, or a ValueError naming ``name`` and the value."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be {what}, got {value!r}")
    return int(value)


def check_budget(budget: Any) -> int:
    return positive_int("budget", budget, "an int >= 1 (units of training)")


def check_width(width: Any, name: str) -> int | str | None:
    """Slots: a positive int, ``"auto"`` or ``None`` (one slot per configuration)."""
    if width is None or (isinstance(width, str) and width == "auto"):
        return width
    return positive_int(name, width, "a positive int, None or 'auto'")


def direction(who: str, metric: Any, mode: Any) -> None:
    """Checks a search's ``metric`` (a name) and ``mode`` (required: ``"min"`` or ``"max"``);
    errors start with ``who`` (``halving``, ``pbt``)."""
    if not isinstance(metric, str):
        raise TypeError(f"{who}: `metric` must be a metric name, got {metric!r}")
    if mode is None:
        raise ValueError(
            f"{who}: `mode` is required: mode='min' if lower {metric!r} is better (a loss), "
            "mode='max' if higher is (an accuracy)"
        )
    if mode not in ("min", "max"):
        raise ValueError(f"{who}: `mode` must be 'min' or 'max', got {mode!r}")


def tiebreak(who: str, value: Any) -> tuple[str, str] | None:
    """Checks a ``tiebreak`` argument: None, or a ``(metric, mode)`` pair naming a metric and
    ``"min"``/``"max"``; returns it as a tuple. Errors start with ``who``."""
    if value is None:
        return None
    if (
        isinstance(value, (str, bytes))
        or not isinstance(value, (tuple, list))
        or len(value) != 2
        or not isinstance(value[0], str)
        or value[1] not in ("min", "max")
    ):
        raise ValueError(
            f"{who}: `tiebreak` must be None or a (metric, mode) pair with mode 'min' or 'max', "
            f"e.g. ('val_loss', 'min'); got {value!r}"
        )
    return (value[0], value[1])


def int_at_least(who: str, name: str, value: Any, low: int) -> int:
    """``value`` as an int; refused, naming ``who`` and ``name``, unless an int >= ``low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{who}: `{name}` must be an int >= {low}, got {value!r}")
    return int(value)


def rule_metrics(who: str, rule: Any, traced: Any) -> None:
    """The ``metric`` of a search's ``rule`` (halving, pbt, ...) and its ``tiebreak`` metric
    must be scalar metrics of the traced trainer (``traced``)."""
    if rule is None:
        return
    if rule.metric not in traced.scalar_metrics():
        raise ValueError(
            f"{who} metric {rule.metric!r} is not a scalar metric of Trainer.advance, which "
            f"returns {traced.metric_names}"
        )
    if rule.tiebreak is not None and rule.tiebreak[0] not in traced.scalar_metrics():
        raise ValueError(
            f"{who}: `tiebreak` metric {rule.tiebreak[0]!r} (tiebreak={rule.tiebreak!r}) is "
            f"not a scalar metric of Trainer.advance, which returns {traced.metric_names}"
        )


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def resumed_width(recorded: int, n_devices: int) -> int:
    """The slots of a group resumed from an ``out_dir``: the width it recorded, rounded up to a
    multiple of the devices it resumes on (every search, the same rule). On as many devices as
    it started on this is the recorded width, and the run equals an uninterrupted one bit for
    bit; on another number it pads the width (the added slots train copies that are dropped), so
    the rest of the run rounds as a batch of that width does (close to, not bit for bit, the
    uninterrupted run).

    >>> resumed_width(3, 1), resumed_width(3, 2), resumed_width(4, 2), resumed_width(4, 3)
    (3, 4, 4, 6)
    """
    return round_up(int(recorded), n_devices)


def traced_value_error(who: str, names: list[str], error: Exception) -> TypeError:
    """The error for a user function (``who``: ``"train_fn"``, ``"Trainer.init"``...) that used a
    traced hyperparameter as a Python value."""
    short = who.split()[0]
    return TypeError(
        f"{who} used a traced value as a Python value (an `if`, int(), float(), a NumPy call, or "
        f"an array shape or slice): the hyperparameters {names} reach {short} as traced scalars "
        "(one compilation serves every value), and so does the key. A value that sets a shape "
        "(a layer width, a batch size) or a Python loop must be static: give its axis as "
        "rmsjax.static([64, 128]) (one compilation per value; bool, str and None axes are static "
        "already); for a branch, use jnp.where or jax.lax.cond. JAX said: "
        f"{str(error).splitlines()[0]}"
    )


def traced_dtype(values: Any) -> np.dtype:
    """The dtype an axis with these values is traced with (float32/int32, or 64-bit with x64)."""
    kind = np.float64 if np.issubdtype(np.asarray(values).dtype, np.floating) else np.int64
    return jax.dtypes.canonicalize_dtype(kind)


def groups(space) -> dict[tuple, list[int]]:
    """Configuration ids by their combination of static values, in id order."""
    out: dict[tuple, list[int]] = {}
    for config_id, config in enumerate(space):
        out.setdefault(tuple(config[a] for a in space.static_axes), []).append(config_id)
    return out


def fixed_width(width: int | str | None, n: int, n_devices: int) -> int | None:
    """Slots for ``n`` configurations: ``width`` (or ``n`` for None) rounded up to a multiple of
    the devices; None for ``"auto"``, which each scheduler measures its own way."""
    if width == "auto":
        return None
    return round_up(n if width is None else int(width), n_devices)


def value_key(value: Any) -> str:
    """What tells values of a column apart in `distinct` (and the plots' colours): its repr."""
    return repr(value)


def distinct(values) -> list:
    """The distinct values of a column, in order of first appearance."""
    out: dict[str, Any] = {}
    for v in values:
        out.setdefault(value_key(v), v)
    return list(out.values())

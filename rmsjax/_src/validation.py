"""Checks of hyperparameter values made when an optimizer is built.

Only concrete values can be checked. A traced value (inside ``jit``, ``vmap`` or a sweep) has no
value yet at build time, so it passes through unchecked: the optimizer then computes with
whatever it is given.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def concrete(name: str, value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array, or None when it is traced (and so cannot be checked)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, bool) or callable(value):
        raise TypeError(f"`{name}` must be a real number or a scalar array, got {value!r}")
    try:
        arr = np.asarray(value)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None
    except (TypeError, ValueError) as err:
        raise TypeError(f"`{name}` must be a real number or a scalar array, got {value!r}") from err
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise TypeError(f"`{name}` must be a real number or a scalar array, got {value!r}")
    if np.iscomplexobj(arr):
        raise TypeError(f"`{name}` must be real, got {value!r}")
    if arr.ndim != 0:
        raise ValueError(
            f"`{name}` must be a scalar, got an array of shape {arr.shape}; to try several "
            "values at once, vmap over them or use rmsjax.sweep"
        )
    return arr.astype(np.float64)


def _show(value: Any) -> str:
    arr = np.asarray(value)
    return repr(arr.item()) if arr.ndim == 0 else repr(value)


def check_real(name: str, value: Any) -> None:
    arr = concrete(name, value)
    if arr is not None and not np.isfinite(arr):
        raise ValueError(f"`{name}` must be finite, got {_show(value)}")


def check_nonnegative(name: str, value: Any) -> None:
    arr = concrete(name, value)
    if arr is not None and not (np.isfinite(arr) and arr >= 0):
        raise ValueError(f"`{name}` must be >= 0, got {_show(value)}")


def check_interval(name: str, value: Any, low: float, high: float) -> None:
    """Check ``low <= value < high``."""
    arr = concrete(name, value)
    if arr is not None and not (low <= arr < high):
        raise ValueError(f"`{name}` must be in [{low:g}, {high:g}), got {_show(value)}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"`{name}` must be a Python bool (it selects the code path at build time, so it "
            f"cannot be traced), got {value!r}"
        )


def is_python_zero(value: Any) -> bool:
    """True when ``value`` is a plain Python number equal to zero.

    Presets leave out a term (a momentum buffer, a weight-decay term) only for a Python zero,
    never for an array, so an optimizer's state has the same structure whether its
    hyperparameters arrive concrete or traced (as inside :func:`optax.inject_hyperparams`).
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0

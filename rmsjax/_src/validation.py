"""Checks of hyperparameter values made when an optimizer is built.

Only concrete values can be checked. A traced value (inside ``jit``, ``vmap`` or a sweep) has no
value yet at build time, so it passes through unchecked: the optimizer then computes with
whatever it is given.

Every failed check raises :class:`HyperparameterError`, which names the argument as the caller
wrote it (``lr`` for :func:`rmsjax.torch_rmsprop`, ``rho`` for :func:`rmsjax.keras_rmsprop`).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class HyperparameterError(ValueError):
    """A hyperparameter value an optimizer cannot use.

    Attributes:
      argument: the name of the argument as the caller passed it (e.g. ``"lr"``, ``"rho"``).
      value: the value that was rejected.

    Example:
      >>> import rmsjax
      >>> try:
      ...     rmsjax.keras_rmsprop(rho=1.5)
      ... except rmsjax.HyperparameterError as err:
      ...     print(err.argument, err.value)
      rho 1.5
    """

    def __init__(self, argument: str, value: Any, message: str):
        super().__init__(message)
        self.argument = argument
        self.value = value

    def __reduce__(self):  # so it survives pickling (multiprocessing, saved results)
        return type(self), (self.argument, self.value, str(self))


class HyperparameterTypeError(HyperparameterError, TypeError):
    """A :class:`HyperparameterError` whose value has the wrong type (also a ``TypeError``)."""


def _type_error(name: str, value: Any, what: str = "a real number or a scalar array") -> Exception:
    return HyperparameterTypeError(name, value, f"`{name}` must be {what}, got {value!r}")


def concrete(name: str, value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array, or None when it is traced (and so cannot be checked)."""
    if isinstance(value, jax.core.Tracer):
        return None
    if value is None or isinstance(value, bool) or callable(value):
        raise _type_error(name, value)
    try:
        arr = np.asarray(value)
    except (jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None
    except (TypeError, ValueError) as err:
        raise _type_error(name, value) from err
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise _type_error(name, value)
    if np.iscomplexobj(arr):
        raise _type_error(name, value, "real")
    if arr.ndim != 0:
        raise HyperparameterError(
            name,
            value,
            f"`{name}` must be a scalar, got an array of shape {arr.shape}; to try several "
            "values at once, vmap over them or use rmsjax.sweep",
        )
    return arr.astype(np.float64)


def _show(value: Any) -> str:
    arr = np.asarray(value)
    return repr(arr.item()) if arr.ndim == 0 else repr(value)


def _reject_nan(name: str, value: Any, arr: np.ndarray | None, requirement: str) -> None:
    """A NaN fails every check; say so rather than quote a bound it does not violate."""
    if arr is not None and np.isnan(arr):
        raise HyperparameterError(
            name, value, f"`{name}` is NaN (not a number); it must be {requirement}, got nan"
        )


def check_real(name: str, value: Any) -> None:
    arr = concrete(name, value)
    _reject_nan(name, value, arr, "a finite real number")
    if arr is not None and not np.isfinite(arr):
        raise HyperparameterError(name, value, f"`{name}` must be finite, got {_show(value)}")


def check_nonnegative(name: str, value: Any) -> None:
    arr = concrete(name, value)
    _reject_nan(name, value, arr, "a finite number >= 0")
    if arr is not None and not np.isfinite(arr):
        raise HyperparameterError(
            name, value, f"`{name}` must be finite (and >= 0), got {_show(value)}"
        )
    if arr is not None and not arr >= 0:
        raise HyperparameterError(name, value, f"`{name}` must be >= 0, got {_show(value)}")


def check_interval(name: str, value: Any, low: float, high: float) -> None:
    """Check ``low <= value < high``."""
    arr = concrete(name, value)
    _reject_nan(name, value, arr, f"in [{low:g}, {high:g})")
    if arr is not None and not (low <= arr < high):
        raise HyperparameterError(
            name, value, f"`{name}` must be in [{low:g}, {high:g}), got {_show(value)}"
        )


def check_rate(name: str, value: Any) -> None:
    """A learning rate: >= 0, or a schedule (a callable of the step count)."""
    if not callable(value):
        check_nonnegative(name, value)


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise HyperparameterTypeError(
            name,
            value,
            f"`{name}` must be a Python bool (it selects the code path at build time, so it "
            f"cannot be traced), got {value!r}",
        )


def check_dtype(name: str, value: Any) -> Any:
    """A floating dtype (or None for the default); returns it as a NumPy dtype."""
    if value is None:
        return None
    try:
        dtype = np.dtype(value)
    except TypeError as err:
        raise HyperparameterError(
            name, value, f"`{name}` must be a floating dtype, got {value!r}"
        ) from err
    if not jnp.issubdtype(dtype, jnp.floating):
        raise HyperparameterError(name, value, f"`{name}` must be a floating dtype, got {value!r}")
    return dtype


def is_python_zero(value: Any) -> bool:
    """True when ``value`` is a plain Python number equal to zero.

    Presets leave out a term (a momentum buffer, a weight-decay term) only for a Python zero,
    never for an array, so an optimizer's state has the same structure whether its
    hyperparameters arrive concrete or traced (as inside :func:`optax.inject_hyperparams`).
    """
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0

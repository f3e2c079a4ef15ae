"""The XLA options the pool compiles its two programs with on a CPU, and the two public calls
that read and change them (:func:`cpu_compiler_options`, :func:`set_cpu_compiler_options`).

`Pool` reads the current setting (`for_program`) each time it compiles, so a change applies to
every pool built after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# On a CPU, LLVM dominates compile time. Measured on the digits MLP with 27 slots (2-core CPU):
# the init program runs once per configuration, so its speed hardly matters; it compiles in 1.8 s
# at XLA's defaults, 0.85 s at LLVM level 1 and 0.5 s with XLA's older loop emitters as well
# (``xla_cpu_use_fusion_emitters`` off), and runs as fast (2.1 ms against 2.7 ms). The advance
# program compiles in 1.1 s at level 1 against 1.5 s at the default level and runs as fast (27
# units: 0.85 s either way); the older emitters would compile it in 0.7 s but run it 35% slower.
# There and on the MNIST MLP these choices give bitwise the results of XLA's defaults; level 0
# does not (it forms no fused multiply-adds).
DEFAULTS: dict[str, dict[str, Any]] = {
    "init": {"xla_backend_optimization_level": 1, "xla_cpu_use_fusion_emitters": False},
    "advance": {"xla_backend_optimization_level": 1},
}

_current = {name: dict(options) for name, options in DEFAULTS.items()}


class _Unchanged:
    """The default of :func:`set_cpu_compiler_options`'s arguments: keep that program's options."""

    def __repr__(self) -> str:
        return "unchanged"


_UNCHANGED = _Unchanged()


def cpu_compiler_options() -> dict[str, dict[str, Any]]:
    """The XLA options with which the sweeps of a :class:`Trainer` (trained the whole budget, or
    stopped by a scheduler, PBT and :func:`replay` included) and :func:`optuna_search` compile
    their two programs on a CPU.

    Returns a copy, ``{"init": {...}, "advance": {...}}``: for each program a dict of XLA option
    name -> value (``{}`` is XLA's defaults). ``init`` starts configurations in their slots,
    ``advance`` trains every slot one budget unit. Change them with
    :func:`set_cpu_compiler_options`; editing the copy changes nothing.

    By default both programs compile at LLVM optimization level 1, and ``init`` also with XLA's
    older loop emitters: they compile faster than at XLA's defaults and, on the digits and MNIST
    MLPs and in the tests, give the same results bit for bit. Other backends, and sweeps of a
    ``train_fn``, compile with XLA's defaults.

    >>> import rmsjax
    >>> rmsjax.cpu_compiler_options()
    {'init': {'xla_backend_optimization_level': 1, 'xla_cpu_use_fusion_emitters': False},
     'advance': {'xla_backend_optimization_level': 1}}
    """
    return {name: dict(options) for name, options in _current.items()}


def set_cpu_compiler_options(
    *, init: Mapping[str, Any] | None = _UNCHANGED, advance: Mapping[str, Any] | None = _UNCHANGED
) -> dict[str, dict[str, Any]]:
    """Sets the XLA options of :func:`cpu_compiler_options` for the sweeps that compile after the
    call. An argument left out keeps that program's options. XLA checks the option names when it
    compiles: a sweep compiling with a name it does not know fails, naming it.

    Args:
      init: the options of the program that starts configurations: a dict of XLA option name ->
        value (a str, bool, int or float), or ``None`` or ``{}`` for XLA's defaults.
      advance: the same for the program that trains every slot one budget unit.

    Returns:
      The options as they were before the call (as :func:`cpu_compiler_options` gives them), so
      ``set_cpu_compiler_options(**previous)`` puts them back.

    >>> import rmsjax
    >>> previous = rmsjax.set_cpu_compiler_options(init={}, advance=None)  # XLA's defaults
    >>> rmsjax.cpu_compiler_options()
    {'init': {}, 'advance': {}}
    >>> _ = rmsjax.set_cpu_compiler_options(**previous)  # as they were
    >>> rmsjax.cpu_compiler_options() == previous
    True
    """
    given = {"init": init, "advance": advance}
    checked = {n: _checked(n, options) for n, options in given.items() if options is not _UNCHANGED}
    previous = cpu_compiler_options()
    _current.update(checked)  # only once every argument is checked
    return previous


def for_program(name: str) -> dict[str, Any]:
    """A copy of the current CPU options of the program ``name`` (``"init"`` or ``"advance"``)."""
    return dict(_current[name])


def _checked(name: str, options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"set_cpu_compiler_options: `{name}` must be a dict of XLA option name -> value, or "
            f"None or {{}} for XLA's defaults; got {options!r}"
        )
    for option, value in options.items():
        if not isinstance(option, str):
            raise TypeError(
                f"set_cpu_compiler_options: `{name}` has the option name {option!r} "
                f"({type(option).__name__}); XLA's option names are str"
            )
        if not isinstance(value, (str, bool, int, float)):
            raise TypeError(
                f"set_cpu_compiler_options: `{name}`[{option!r}] is {value!r} "
                f"({type(value).__name__}); an XLA option's value is a str, bool, int or float"
            )
    return dict(options)

"""The RMSprop presets as data: which arguments each takes, how to build and describe it.

Hyperparameters are always named as :func:`rmsjax.rmsprop` names them (``learning_rate``,
``decay``, ``eps``...); each :class:`Preset` maps them to its function's own arguments (PyTorch's
``alpha``, Keras's ``rho``...). The command line, :mod:`rmsjax.tasks` and
:mod:`rmsjax.experiment` all build optimizers through this table, so a preset's arguments are
written down once, here, next to the functions it builds.

>>> from rmsjax.experiment import PRESETS
>>> PRESETS["torch"].describe({"learning_rate": 0.01, "decay": 0.9})
'rmsjax.torch_rmsprop(lr=0.01, alpha=0.9)'
>>> PRESETS["tf1"].unsupported(["learning_rate", "nesterov"])
['nesterov']
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np
import optax

import rmsjax

__all__ = ["DESCRIPTIONS", "FLAGS", "HPARAMS", "NU_DTYPES", "PRESETS", "Preset", "get_preset"]


def _kinds() -> dict[str, str]:
    """The arguments of :func:`rmsjax.rmsprop` a user sets, each ``"float"`` (may be traced),
    ``"bool"`` (static) or ``"dtype"`` (static), read from its signature."""
    out = {}
    for name, param in inspect.signature(rmsjax.rmsprop).parameters.items():
        if name == "maximize":  # a property of the objective, not a hyperparameter to tune
            continue
        if name == "nu_dtype":
            out[name] = "dtype"
        elif isinstance(param.default, bool):
            out[name] = "bool"
        else:
            out[name] = "float"
    return out


HPARAMS: dict[str, str] = _kinds()
"""Argument of :func:`rmsjax.rmsprop` -> ``"float"``, ``"bool"`` or ``"dtype"``."""

NU_DTYPES = ("float32", "bfloat16", "float16")

FLAGS: dict[str, str] = {name: "--" + name.replace("_", "-") for name in HPARAMS}
"""The command line's flag of each argument of :func:`rmsjax.rmsprop` (``--lr`` for
``learning_rate``) and of the baselines' learning rates."""
FLAGS.update(learning_rate="--lr", sgd_learning_rate="--sgd-lr", adam_learning_rate="--adam-lr")

DESCRIPTIONS: dict[str, str] = {
    "learning_rate": "learning rate (default: the task's)",
    "decay": "how slowly the average of squared gradients forgets (0.9: about 10 steps)",
    "eps": "small number added to the denominator, so tiny gradients do not explode",
    "eps_in_sqrt": "add eps inside the square root (as optax, Keras and TF1 do)",
    "initial_scale": "starting value of the average of squared gradients (TF1 starts at 1)",
    "centered": "divide by the gradients' standard deviation instead of their RMS",
    "momentum": "momentum, e.g. 0.9; none (the default) keeps no momentum buffer",
    "nesterov": "Nesterov momentum (needs momentum)",
    "weight_decay": "weight decay (L2 penalty) coefficient",
    "bias_correction": "correct the average's bias toward its start, as Adam does",
    "nu_dtype": f"number format of the average of squared gradients ({', '.join(NU_DTYPES)})",
}
"""Each argument of :data:`HPARAMS` in a user's words (the command line's help)."""
if set(DESCRIPTIONS) != set(HPARAMS):  # a new argument of rmsprop needs its words here
    raise AssertionError(f"describe {sorted(set(HPARAMS) ^ set(DESCRIPTIONS))}")


def format_value(value: Any) -> str:
    """A hyperparameter or metric as printed: floats to 4 significant digits (thousands
    separated from 10,000 up), everything else as ``str``."""
    if isinstance(value, (float, np.floating)) and not isinstance(value, bool):
        value = float(value)
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


@dataclasses.dataclass(frozen=True)
class Preset:
    """One RMSprop preset.

    Attributes:
      name: the preset's short name (``"rmsjax"``, ``"torch"``, ``"keras"``, ``"tf1"``).
      function: the optimizer function (e.g. :func:`rmsjax.torch_rmsprop`).
      arguments: argument of :func:`rmsjax.rmsprop` -> the function's own name for it; the
        hyperparameters this preset takes.
      convention: one line saying which framework's conventions it follows.
    """

    name: str
    function: Callable[..., optax.GradientTransformation]
    arguments: Mapping[str, str]
    convention: str

    def __post_init__(self):
        own = inspect.signature(self.function).parameters
        missing = [a for a in self.arguments.values() if a not in own]
        if missing:  # the table cannot drift from the functions' signatures unnoticed
            raise TypeError(f"preset {self.name!r}: {self.function.__name__} has no {missing}")

    def unsupported(self, names: Iterable[str]) -> list[str]:
        """The names (as :func:`rmsjax.rmsprop` calls them) this preset does not take."""
        return [n for n in names if n not in self.arguments]

    def supported(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """The entries of ``hparams`` this preset takes (the others dropped)."""
        return {k: v for k, v in hparams.items() if k in self.arguments}

    def hparam_name(self, argument: str) -> str:
        """The :func:`rmsjax.rmsprop` name of this preset's own ``argument`` (``alpha`` ->
        ``decay`` for torch); ``argument`` itself when it is not one of them."""
        for name, own in self.arguments.items():
            if own == argument:
                return name
        return argument

    def kwargs(self, hparams: Mapping[str, Any]) -> dict[str, Any]:
        """``hparams`` in the function's own argument names; unknown names raise ValueError."""
        unknown = self.unsupported(hparams)
        if unknown:
            raise ValueError(
                f"hyperparameters {unknown} are not arguments of the {self.name!r} preset "
                f"(rmsjax.{self.function.__name__}); it takes {list(self.arguments)}"
            )
        # None (e.g. --momentum none) means the function's own default: no momentum buffer for
        # every preset (rmsprop's momentum=None, the others' Python 0).
        out = {self.arguments[k]: v for k, v in hparams.items() if v is not None}
        if isinstance(out.get("nu_dtype"), str):
            import jax.numpy as jnp

            out["nu_dtype"] = jnp.dtype(out["nu_dtype"])
        return out

    def build(self, hparams: Mapping[str, Any]) -> optax.GradientTransformation:
        """``function(**kwargs(hparams))``; numeric values may be traced (sweeps)."""
        return self.function(**self.kwargs(hparams))

    def describe(self, hparams: Mapping[str, Any]) -> str:
        """The call that builds this optimizer, as text (values to 4 significant digits)."""
        self.kwargs(hparams)  # unknown names are an error here too
        inner = ", ".join(f"{self.arguments[k]}={format_value(v)}" for k, v in hparams.items())
        return f"rmsjax.{self.function.__name__}({inner})"


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset(
            "rmsjax",
            rmsjax.rmsprop,
            {name: name for name in HPARAMS},
            "rmsjax.rmsprop: Hinton's rule, eps outside the root, accumulator from 0",
        ),
        Preset(
            "torch",
            rmsjax.torch_rmsprop,
            {
                "learning_rate": "lr",
                "decay": "alpha",
                "eps": "eps",
                "weight_decay": "weight_decay",
                "momentum": "momentum",
                "centered": "centered",
            },
            "torch.optim.RMSprop: eps outside the root, lr outside the momentum buffer",
        ),
        Preset(
            "keras",
            rmsjax.keras_rmsprop,
            {
                "learning_rate": "learning_rate",
                "decay": "rho",
                "eps": "epsilon",
                "momentum": "momentum",
                "centered": "centered",
                "weight_decay": "weight_decay",
            },
            "keras.optimizers.RMSprop: eps inside the root, decoupled weight decay",
        ),
        Preset(
            "tf1",
            rmsjax.tf1_rmsprop,
            {
                "learning_rate": "learning_rate",
                "decay": "decay",
                "eps": "epsilon",
                "momentum": "momentum",
                "centered": "centered",
            },
            "tf.compat.v1.train.RMSPropOptimizer: accumulator from 1, eps inside the root",
        ),
    ]
}


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name`` (a :class:`Preset` is returned as it is).

    >>> from rmsjax.experiment import get_preset
    >>> get_preset("keras").arguments["decay"]
    'rho'
    """
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]

"""rmsjax: RMSprop for JAX as a pure optax transformation, with framework parity and sweeps.

The optimizers, ``sweep`` and ``Trainer`` are imported with the package. The modules
``rmsjax.models``, ``rmsjax.training``, ``rmsjax.data``, ``rmsjax.tasks``, ``rmsjax.experiment``,
``rmsjax.report`` and ``rmsjax.store`` load on first use
(``rmsjax.models.mlp`` works after a plain ``import rmsjax``), so importing the optimizer stays
light.
"""

import importlib

from rmsjax._cache import disable_compilation_cache, enable_compilation_cache
from rmsjax._engine.asha import Asha, asha
from rmsjax._engine.compiler_options import cpu_compiler_options, set_cpu_compiler_options
from rmsjax._engine.distributions import (
    Choice,
    LogUniform,
    Static,
    Uniform,
    choice,
    loguniform,
    static,
    uniform,
)
from rmsjax._engine.halving import Halving, halving
from rmsjax._engine.hyperband import Hyperband, hyperband
from rmsjax._engine.pbt_result import PBTResult
from rmsjax._engine.population import PBT, pbt
from rmsjax._engine.record import Finished, StagedResult
from rmsjax._engine.replay import replay
from rmsjax._engine.results import SweepResult
from rmsjax._engine.search import optuna_search
from rmsjax._engine.spaces import Configs, Grid, Sample, grid, sample
from rmsjax._engine.sweep import sweep
from rmsjax._engine.trainer import Trainer
from rmsjax._src.alias import keras_rmsprop, rmsprop, tf1_rmsprop, torch_rmsprop
from rmsjax._src.transform import (
    ScaleByCenteredRmsState,
    ScaleByCenteredRmsWithCountState,
    ScaleByRmsState,
    ScaleByRmsWithCountState,
    scale_by_rms,
)
from rmsjax._src.validation import HyperparameterError

__version__ = "0.1.0"

__all__ = [
    "Asha",
    "Choice",
    "Configs",
    "Finished",
    "Grid",
    "Halving",
    "Hyperband",
    "HyperparameterError",
    "LogUniform",
    "PBT",
    "PBTResult",
    "Sample",
    "ScaleByCenteredRmsState",
    "ScaleByCenteredRmsWithCountState",
    "ScaleByRmsState",
    "ScaleByRmsWithCountState",
    "StagedResult",
    "Static",
    "SweepResult",
    "Trainer",
    "Uniform",
    "asha",
    "choice",
    "cpu_compiler_options",
    "disable_compilation_cache",
    "enable_compilation_cache",
    "grid",
    "halving",
    "hyperband",
    "keras_rmsprop",
    "loguniform",
    "optuna_search",
    "pbt",
    "replay",
    "rmsprop",
    "sample",
    "scale_by_rms",
    "set_cpu_compiler_options",
    "static",
    "sweep",
    "tf1_rmsprop",
    "torch_rmsprop",
    "uniform",
]

_LAZY_MODULES = ("data", "experiment", "models", "report", "store", "tasks", "training")


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(f"rmsjax.{name}")  # also sets it as an attribute here
    raise AttributeError(f"module 'rmsjax' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_LAZY_MODULES])

"""rmsjax: RMSprop for JAX as a pure optax transformation, with framework parity and sweeps."""

from rmsjax._src.alias import keras_rmsprop, rmsprop, tf1_rmsprop, torch_rmsprop
from rmsjax._src.results import SweepResult
from rmsjax._src.search import optuna_search
from rmsjax._src.spaces import (
    Choice,
    Configs,
    Grid,
    LogUniform,
    Sample,
    Uniform,
    choice,
    grid,
    loguniform,
    sample,
    uniform,
)
from rmsjax._src.staged import Halving, StagedResult, halving
from rmsjax._src.sweep import sweep
from rmsjax._src.trainer import Trainer
from rmsjax._src.transform import (
    ScaleByCenteredRmsState,
    ScaleByRmsState,
    scale_by_rms,
)

__version__ = "0.1.0"

__all__ = [
    "Choice",
    "Configs",
    "Grid",
    "Halving",
    "LogUniform",
    "Sample",
    "ScaleByCenteredRmsState",
    "ScaleByRmsState",
    "StagedResult",
    "SweepResult",
    "Trainer",
    "Uniform",
    "choice",
    "grid",
    "halving",
    "keras_rmsprop",
    "loguniform",
    "optuna_search",
    "rmsprop",
    "sample",
    "scale_by_rms",
    "sweep",
    "tf1_rmsprop",
    "torch_rmsprop",
    "uniform",
]

"""rmsjax: RMSprop for JAX as a pure optax transformation, with framework parity and sweeps."""

from rmsjax._src.alias import keras_rmsprop, rmsprop, tf1_rmsprop, torch_rmsprop
from rmsjax._src.results import SweepResult
from rmsjax._src.spaces import Grid, grid
from rmsjax._src.sweep import sweep
from rmsjax._src.trainer import Trainer
from rmsjax._src.transform import (
    ScaleByCenteredRmsState,
    ScaleByRmsState,
    scale_by_rms,
)

__version__ = "0.1.0"

__all__ = [
    "ScaleByCenteredRmsState",
    "Grid",
    "ScaleByRmsState",
    "SweepResult",
    "Trainer",
    "grid",
    "keras_rmsprop",
    "rmsprop",
    "scale_by_rms",
    "sweep",
    "tf1_rmsprop",
    "torch_rmsprop",
]

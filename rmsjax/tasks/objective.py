""":class:`ObjectiveTask`: a 2-D function minimised from a fixed start, one step at a time."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rmsjax import data as data_lib
from rmsjax import training
from rmsjax.presets import Preset
from rmsjax.tasks.base import OptimizerFactory, PathLike, Task


@dataclasses.dataclass(frozen=True, kw_only=True)
class ObjectiveTask(Task):
    """A 2-D objective: a :class:`~rmsjax.data.Problem` minimised from its start point, its
    budget counted in optimizer steps (``epochs`` counts steps). It has no examples, batches,
    model or loss (the loss is the objective), so nothing to stage epoch by epoch; every run
    records its trajectory.

    What every task has is in :class:`~rmsjax.tasks.Task`.

    Attributes:
      budget_unit: what ``epochs`` counts: ``"step"``.
    """

    budget_unit: str = "step"

    kind = "objective"
    stageable = False
    data_type = data_lib.Problem

    def __post_init__(self):
        self._check_budget_unit("step")
        super().__post_init__()

    @property
    def model(self) -> dict:
        """``{}``: a 2-D objective has no model."""
        return {}

    @property
    def loss(self) -> None:
        """None: the loss is the objective."""
        return None

    @property
    def batch_size(self) -> None:
        """None: a 2-D objective has no batches."""
        return None

    # -- what a run measures ------------------------------------------------------------------

    @property
    def scalar_metrics(self) -> tuple[str, ...]:
        """The scalar metrics ``make_train_fn``'s ``train_fn`` returns (what a sweep ranks by):
        the objective at the last point and its distance to the minimum.

        >>> from rmsjax import tasks
        >>> tasks.get("rosenbrock").scalar_metrics
        ('loss', 'distance_to_minimum')
        """
        return ("loss", "distance_to_minimum")

    @property
    def default_metric(self) -> str:
        """The metric a sweep ranks by unless told otherwise: the loss (the objective)."""
        return "loss"

    def run_batch_size(self, batch_size: int | None = None) -> None:
        """None, whatever ``batch_size``: a 2-D objective has no batches."""
        return None

    def total_steps(self, data: Any, epochs: int | None = None, batch_size: Any = None) -> int:
        """Optimizer steps of a run: ``epochs`` (``batch_size`` is ignored)."""
        return self.epochs if epochs is None else epochs

    def examples_per_run(self, data: Any, epochs: Any = None, batch_size: Any = None) -> None:
        """None: a 2-D function has no examples."""
        return None

    # -- data ---------------------------------------------------------------------------------

    def describe_data(self, data: data_lib.Problem) -> str:
        """Where ``data`` came from, in a sentence to print and record with every figure.

        >>> from rmsjax import tasks
        >>> task = tasks.get("rosenbrock")
        >>> task.describe_data(task.load())
        'embedded 2-D objective rosenbrock: start (-1.5, 2.5), minimum at (1.0, 1.0)'
        """
        return (
            f"embedded 2-D objective {self.name}: start {tuple(data.start)}, "
            f"minimum at {tuple(data.minimum)}"
        )

    def sweep_data(self, data: data_lib.Problem) -> data_lib.Problem:
        """``data`` unchanged: a 2-D objective has no examples to hold out."""
        return data

    def problem(self, data: data_lib.Problem) -> data_lib.Problem:
        """``data``, the problem whose contours a report draws trajectories over."""
        return data

    def model_fns(self, data: Any):
        """Refused: a 2-D objective has no model."""
        raise ValueError(f"task {self.name!r} has no model (it is a 2-D objective)")

    # -- training -----------------------------------------------------------------------------

    def _train_fn(self, data: data_lib.Problem, epochs: int, batch_size: None, factory):
        return _minimize_fn(data, epochs, factory)

    def make_trainer(
        self,
        data: Any = None,
        *,
        budget: int | None = None,
        batch_size: int | None = None,
        optimizer_factory: OptimizerFactory | None = None,
        data_dir: PathLike | None = None,
        preset: str | Preset = "rmsjax",
    ):
        """Refused: a 2-D objective has no epochs to stage (see :attr:`stageable`)."""
        raise ValueError(f"task {self.name!r} has no epochs to stage (it is a 2-D objective)")

    def _fit(self, data, opt, epochs, batch_size, seed, progress, eval_every, started) -> tuple:
        trajectory, history, metrics = _minimize(data, opt, epochs)
        history.wall_seconds = time.perf_counter() - started
        return trajectory[-1], history, metrics, trajectory


def _minimize_fn(problem: data_lib.Problem, steps: int, factory) -> Callable:
    """The pure ``train_fn(hparams, key)`` of a 2-D objective (the key is not used)."""
    start = jnp.asarray(problem.start, jnp.float32)
    minimum = jnp.asarray(problem.minimum, jnp.float32)

    def objective_train_fn(hparams, key):
        del key  # deterministic: the start point is fixed
        traj, values = training.minimize(problem.fn, start, factory(hparams), steps)
        return {
            "loss": values[-1],
            "loss_curve": values,
            "trajectory": traj,
            "distance_to_minimum": jnp.linalg.norm(traj[-1] - minimum),
        }

    return objective_train_fn


def _minimize(problem: data_lib.Problem, opt, steps: int):
    """``(trajectory, history, metrics)`` of one configuration of a 2-D objective."""
    start = jnp.asarray(problem.start, jnp.float32)
    run = jax.jit(lambda s: training.minimize(problem.fn, s, opt, steps))
    compile_start = time.perf_counter()
    compiled = run.lower(start).compile()
    compile_seconds = time.perf_counter() - compile_start
    t0 = time.perf_counter()
    traj, values = jax.block_until_ready(compiled(start))
    seconds = time.perf_counter() - t0
    traj, values = np.asarray(traj), np.asarray(values)
    history = training.History(
        train_loss=values.tolist(), compile_seconds=compile_seconds, train_seconds=seconds
    )
    metrics = {
        "loss": float(values[-1]),
        "distance_to_minimum": float(np.linalg.norm(traj[-1] - np.asarray(problem.minimum))),
        "steps_per_second": steps / seconds if seconds > 0 else 0.0,
    }
    return traj, history, metrics

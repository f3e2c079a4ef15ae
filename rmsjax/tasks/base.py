""":class:`Task`, what every task has, and :class:`TrainResult`. The two kinds of task are
:class:`~rmsjax.tasks.ClassifierTask` (``classifier.py``) and
:class:`~rmsjax.tasks.ObjectiveTask` (``objective.py``); the classifiers' training machinery is
in ``_run``."""

from __future__ import annotations

import abc
import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import jax
import numpy as np
import optax

from rmsjax import data as data_lib
from rmsjax import training
from rmsjax.presets import Preset, get_preset
from rmsjax.tasks import _run

PathLike = str | os.PathLike
Hparams = Mapping[str, Any]
OptimizerFactory = Callable[[Hparams], optax.GradientTransformation]

SCHEDULES = ("constant", "cosine")
# Which way each metric of a task is better, and the metric that breaks a tie of an accuracy.
METRIC_MODES = {"loss": "min", "distance_to_minimum": "min", "val_loss": "min",
                "test_loss": "min", "val_accuracy": "max", "test_accuracy": "max"}  # fmt: skip
TIEBREAKS = {"val_accuracy": ("val_loss", "min"), "test_accuracy": ("test_loss", "min")}


@dataclasses.dataclass
class TrainResult:
    """One trained configuration.

    Attributes:
      task: the task's name.
      params: the trained parameters (for 2-D tasks, the final point).
      history: :class:`rmsjax.training.History` (for 2-D tasks ``train_loss`` is the objective at
        every point of the trajectory, start included).
      metrics: JSON-ready floats: ``loss`` (the training loss of the last epoch; for 2-D tasks
        the objective at the last point); for classifiers ``test_accuracy``, ``test_loss`` and
        ``train_accuracy``; for 2-D tasks ``distance_to_minimum``; ``examples_per_second``
        (for 2-D tasks, which have no examples, ``steps_per_second``), and ``wall_seconds``.
      config: JSON-ready configuration (hyperparameters, epochs, batch size, seed, model, data).
      source: where the data came from (report it with any figure).
      trajectory: ``[steps + 1, 2]`` points for 2-D tasks, else None.
    """

    task: str
    params: Any
    history: training.History
    metrics: dict[str, float]
    config: dict[str, Any]
    source: str
    trajectory: np.ndarray | None = None


def _json_hparams(hparams: Hparams) -> dict[str, Any]:
    out = {}
    for k, v in hparams.items():
        arr = np.asarray(v)
        out[k] = arr.item() if arr.ndim == 0 else arr.tolist()
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class Task(abc.ABC):
    """A named experiment, declared as data: its data, defaults, budget and learning-rate schedule.

    What every task has; a task is a :class:`~rmsjax.tasks.ClassifierTask` (a
    dataset, a model, a loss, batches) or an :class:`~rmsjax.tasks.ObjectiveTask` (a
    2-D function minimised step by step), declared by one module of :mod:`rmsjax.tasks`
    (``TASK = ClassifierTask(...)``); use :func:`rmsjax.tasks.get`. Beside the methods here, both
    kinds have ``default_metric``, ``examples_per_run``, ``sweep_data``, ``problem`` (the 2-D
    problem to draw trajectories over, or None) and ``make_trainer`` (a 2-D objective refuses).

    Attributes:
      name: the task's name.
      description: one line for listings.
      loader: ``loader(data_dir, **options)`` -> a :class:`~rmsjax.data.Dataset`, or for a 2-D
        objective a :class:`~rmsjax.data.Problem`.
      defaults: hyperparameters for ``rmsjax.rmsprop`` (``learning_rate``, ``decay``...).
      epochs: default epochs (for 2-D tasks: optimisation steps).
      sweep_space: default grid for ``rmsjax.grid(**sweep_space)``.
      data_options: keyword arguments of the loader (JSON-ready).
      needs_data_dir: whether loading needs ``data_dir`` offline (tfds is used without one).
      tfds: ``(name, host)``: the tensorflow-datasets name the data is downloaded under without
        a ``data_dir``, and the host it comes from (None: the data is embedded or bundled).
      schedule: ``"constant"``, or ``"cosine"``: the default optimizer decays ``learning_rate``
        to zero over the run with ``optax.cosine_decay_schedule`` (``learning_rate`` is the peak).
      sgd_learning_rate: the learning rate of plain SGD as a baseline (SGD needs far larger steps
        than RMSprop on the classifiers, and far smaller ones on Rosenbrock).
      kind: ``"classification"``, or ``"objective"`` for the 2-D problems (no model); read-only.
      budget_unit: what ``epochs`` counts: ``"epoch"``, or ``"step"`` for a 2-D objective.
      batch_size, model, loss: a classifier's (see its class); a 2-D objective has none
        (``None``, ``{}``, ``None``).
      stageable: whether the task trains one epoch at a time (:meth:`make_trainer`), as halving,
        Optuna's pruning and PBT need; a 2-D objective does not.
    """

    name: str
    description: str
    loader: Callable[..., Any]
    defaults: Mapping[str, float]
    epochs: int
    sweep_space: Mapping[str, Sequence[float]]
    data_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    needs_data_dir: bool = False
    tfds: tuple[str, str] | None = None
    schedule: str = "constant"
    sgd_learning_rate: float = 0.1

    kind: ClassVar[str]
    stageable: ClassVar[bool]
    data_type: ClassVar[type]  # what load() returns: Dataset or Problem

    def __post_init__(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"task {self.name!r}: `schedule` must be one of {list(SCHEDULES)}, "
                             f"got {self.schedule!r}")  # fmt: skip

    def _check_budget_unit(self, unit: str) -> None:
        """Refuse a declaration whose ``budget_unit`` is not ``unit``, its kind's."""
        if self.budget_unit != unit:
            raise ValueError(
                f"task {self.name!r}: `budget_unit` must be 'step' for a 2-D objective and "
                f"'epoch' for a classifier, got {self.budget_unit!r}"
            )

    # -- what a run measures ------------------------------------------------------------------

    @property
    def tfds_name(self) -> str | None:
        """The tensorflow-datasets name of the data (None: embedded or bundled)."""
        return None if self.tfds is None else self.tfds[0]

    @property
    @abc.abstractmethod
    def scalar_metrics(self) -> tuple[str, ...]:
        """The scalar metrics ``make_train_fn``'s ``train_fn`` returns (what a sweep ranks by)."""

    def metric_mode(self, metric: str) -> str:
        """Which way ``metric`` is better, declared per metric, never guessed from its name:
        ``"max"`` for the accuracies, ``"min"`` for the losses and the distance to the minimum.

        >>> from rmsjax import tasks
        >>> tasks.get("digits").metric_mode("val_accuracy"), tasks.get("xor").metric_mode("loss")
        ('max', 'min')
        """
        if metric not in self.scalar_metrics:
            raise ValueError(
                f"`metric` {metric!r} is not a metric of task {self.name!r}; choose from "
                f"{', '.join(self.scalar_metrics)}"
            )
        return METRIC_MODES[metric]

    def tiebreak(self, metric: str) -> tuple[str, str] | None:
        """The tie-breaker of ``metric`` for picking a configuration (``tiebreak`` of
        `SweepResult.best`): an accuracy on a few hundred examples ties often, and the matching
        loss decides; None for a metric that does not tie (a loss, the distance to the minimum).

        >>> from rmsjax import tasks
        >>> tasks.get("digits").tiebreak("val_accuracy"), tasks.get("rosenbrock").tiebreak("loss")
        (('val_loss', 'min'), None)
        """
        self.metric_mode(metric)  # an unknown metric is an error
        return TIEBREAKS.get(metric)

    @abc.abstractmethod
    def run_batch_size(self, batch_size: int | None = None) -> int | None:
        """The batch size of a run: ``batch_size``, or :attr:`batch_size` when None."""

    @abc.abstractmethod
    def total_steps(self, data, epochs: int | None = None, batch_size: int | None = None) -> int:
        """Optimizer steps of a run of ``epochs`` (default :attr:`epochs`)."""

    # -- data ---------------------------------------------------------------------------------

    def load(self, data_dir: PathLike | None = None, **options: Any) -> Any:
        """The task's data: a :class:`~rmsjax.data.Dataset` (or the 2-D
        :class:`~rmsjax.data.Problem`). ``options`` override :attr:`data_options`.

        Without ``data_dir``, mnist and reviews come from tensorflow-datasets; when its copy is
        not on disk yet and its download server cannot be reached, this raises ``RuntimeError``
        within seconds (instead of minutes of retries) and writes nothing."""
        if data_dir is None and self.tfds is not None and data_lib.tfds_installed():
            _run.check_tfds_download(self.name, *self.tfds)
        return self.loader(data_dir, **{**self.data_options, **options})

    @abc.abstractmethod
    def describe_data(self, data: Any) -> str:
        """Where ``data`` came from, in a sentence to print and record with every figure."""

    def _data(self, data: Any, data_dir: PathLike | None = None) -> Any:
        """``data``, loaded from ``data_dir`` when None, checked to be this task's kind."""
        data = self.load(data_dir) if data is None else data
        if not isinstance(data, self.data_type):
            raise TypeError(
                f"task {self.name!r} needs data of type {self.data_type.__name__} (from "
                f"task.load()), got {type(data).__name__}"
            )
        return data

    # -- optimizer ----------------------------------------------------------------------------

    def default_optimizer_factory(
        self, total_steps: int, preset: str | Preset = "rmsjax"
    ) -> OptimizerFactory:
        """``factory(hparams)`` building the RMSprop ``preset`` (``"rmsjax"``, ``"torch"``,
        ``"keras"``, ``"tf1"``) from hyperparameters named as ``rmsjax.rmsprop`` names them, with
        ``learning_rate`` on this task's schedule over ``total_steps`` steps (see
        :attr:`schedule`).

        >>> from rmsjax import tasks
        >>> factory = tasks.get("xor").default_optimizer_factory(100, "torch")
        >>> type(factory({"learning_rate": 0.01, "decay": 0.9, "centered": True})).__name__
        'GradientTransformationExtraArgs'
        """
        base = get_preset(preset).build
        return base if self.schedule == "constant" else _run.cosine_factory(base, total_steps)

    def learning_rate_schedule(self, peak: Any, total_steps: int) -> Any:
        """``peak`` on this task's schedule over ``total_steps`` steps (``peak`` if constant)."""
        if self.schedule == "constant":
            return peak
        return optax.cosine_decay_schedule(peak, total_steps)

    def hparams(self, hparams: Hparams | None = None, preset: str | Preset = "rmsjax") -> dict:
        """:attr:`defaults` that ``preset`` takes, overridden by ``hparams``.

        >>> from rmsjax import tasks
        >>> tasks.get("reviews").hparams({"momentum": 0.9}, "tf1")
        {'learning_rate': 0.02, 'decay': 0.9, 'eps': 0.0001, 'momentum': 0.9}
        """
        return {**get_preset(preset).supported(self.defaults), **(hparams or {})}

    def describe_optimizer(self, hparams: Hparams, preset: str | Preset = "rmsjax") -> str:
        """The optimizer :meth:`train` builds, as text, schedule included."""
        text = get_preset(preset).describe(hparams)
        if self.schedule != "constant":
            text += f" (learning rate on the task's {self.schedule} schedule)"
        return text

    # -- training -----------------------------------------------------------------------------

    def make_train_fn(
        self,
        data: Any = None,
        *,
        epochs: int | None = None,
        batch_size: int | None = None,
        optimizer_factory: OptimizerFactory | None = None,
        data_dir: PathLike | None = None,
        preset: str | Preset = "rmsjax",
    ) -> Callable[[Hparams, jax.Array], dict[str, jax.Array]]:
        """The pure ``train_fn(hparams, key) -> dict[str, jax.Array]`` for ``rmsjax.sweep``.

        ``hparams`` is a dict of (possibly traced) scalars; the optimizer is built inside from
        them by ``optimizer_factory`` (default: :meth:`default_optimizer_factory` of ``preset``,
        e.g. ``rmsjax.rmsprop(**hparams)``, on the task's learning-rate schedule). Keys missing from
        ``hparams`` are NOT filled from :attr:`defaults` (a sweep should say what it varies);
        merge them yourself with ``{**task.defaults, **hparams}`` if you want them.

        Returns ``loss`` (the training loss of the last epoch), ``loss_curve`` (per epoch) and,
        for classifiers, ``test_accuracy`` and ``test_loss``; for 2-D tasks ``loss`` is the
        objective at the last point, ``loss_curve`` has every step (``[epochs + 1]``, start
        included), plus ``trajectory`` ``[epochs + 1, 2]`` and ``distance_to_minimum``.

        >>> import jax, jax.numpy as jnp
        >>> from rmsjax import tasks
        >>> task = tasks.get("rosenbrock")
        >>> train_fn = task.make_train_fn(epochs=50)
        >>> hp = {"learning_rate": jnp.array([1e-3, 1e-2]), "decay": jnp.array([0.9, 0.9])}
        >>> out = jax.jit(jax.vmap(train_fn, in_axes=(0, None)))(hp, jax.random.key(0))
        >>> out["trajectory"].shape
        (2, 51, 2)
        """
        epochs = self.epochs if epochs is None else epochs
        batch_size = self.run_batch_size(batch_size)
        data = self._data(data, data_dir)
        steps = self.total_steps(data, epochs, batch_size)
        factory = optimizer_factory or self.default_optimizer_factory(steps, preset)
        return self._train_fn(data, epochs, batch_size, factory)

    @abc.abstractmethod
    def _train_fn(self, data: Any, epochs: int, batch_size: int | None, factory) -> Callable:
        """:meth:`make_train_fn`'s ``train_fn``, everything resolved."""

    def train(
        self,
        hparams: Hparams | None = None,
        *,
        preset: str | Preset = "rmsjax",
        data: Any = None,
        data_dir: PathLike | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        seed: int = 0,
        optimizer: optax.GradientTransformation | None = None,
        optimizer_factory: OptimizerFactory | None = None,
        progress: bool = False,
        eval_every: int = 1,
    ) -> TrainResult:
        """Train one configuration and report it.

        Args:
          hparams: overrides of :attr:`defaults` (e.g. ``{"learning_rate": 3e-3}``, or a static
            option such as ``{"centered": True}``), named as ``rmsjax.rmsprop`` names them and
            passed to ``preset`` (or to ``optimizer_factory``).
          preset: which RMSprop: ``"rmsjax"`` (default), ``"torch"``, ``"keras"`` or ``"tf1"``
            (see :data:`rmsjax.experiment.PRESETS`); only the defaults it takes are used.
          data: data from :meth:`load` (loaded from ``data_dir`` when None).
          data_dir: folder of local data (MNIST IDX files, review folders).
          epochs, batch_size: override the task's defaults.
          seed: seeds the parameter initialisation and the shuffling. With the same seed,
            ``make_train_fn(...)(hparams, jax.random.key(seed))`` trains the same model.
          optimizer: any optax transformation to use instead (e.g. ``optax.adam(1e-3)``);
            ``hparams`` are then only recorded.
          optimizer_factory: ``factory(hparams) -> GradientTransformation`` to use instead.
          progress: tqdm progress bar over epochs.
          eval_every: evaluate the held-out set after every this many epochs.

        Returns:
          :class:`TrainResult`.
        """
        if optimizer is not None and optimizer_factory is not None:
            raise ValueError("give `optimizer` or `optimizer_factory`, not both")
        start_time = time.perf_counter()
        hp = self.hparams(hparams, preset)
        epochs = self.epochs if epochs is None else epochs
        batch_size = self.run_batch_size(batch_size)
        data = self._data(data, data_dir)
        steps = self.total_steps(data, epochs, batch_size)
        if optimizer is not None:
            opt, opt_desc = optimizer, "user-supplied optax transformation"
        elif optimizer_factory is not None:
            opt, opt_desc = optimizer_factory(hp), "optimizer_factory(hparams)"
        else:
            opt = self.default_optimizer_factory(steps, preset)(hp)
            opt_desc = self.describe_optimizer(hp, preset)
        config = {
            "task": self.name,
            "hparams": _json_hparams(hp),
            "optimizer": opt_desc,
            "preset": get_preset(preset).name,
            "epochs": epochs,
            "seed": seed,
            "model": dict(self.model),
            "loss": self.loss,
            "data": dict(self.data_options),
        }
        if batch_size is not None:  # a 2-D objective has no batches
            config["batch_size"] = batch_size
        params, history, metrics, trajectory = self._fit(
            data, opt, epochs, batch_size, seed, progress, eval_every, start_time
        )
        metrics["wall_seconds"] = time.perf_counter() - start_time
        source = self.describe_data(data)
        return TrainResult(self.name, params, history, metrics, config, source, trajectory)

    @abc.abstractmethod
    def _fit(self, data, opt, epochs, batch_size, seed, progress, eval_every, started) -> tuple:
        """:meth:`train`'s ``(params, history, metrics, trajectory or None)``, everything
        resolved (``started``: the ``time.perf_counter()`` the run began at)."""

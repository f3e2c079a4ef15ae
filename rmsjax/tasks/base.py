"""The :class:`Task` declaration and :class:`TrainResult`; what tasks share is in ``_run``."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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


@dataclasses.dataclass(frozen=True)
class Task:
    """A named experiment, declared as data: its data, model, loss, defaults and budget unit.

    One module of :mod:`rmsjax.tasks` declares one task (``TASK = Task(...)``); the methods
    train it, all tasks alike. Use :func:`rmsjax.tasks.get`.

    Attributes:
      name: the task's name.
      description: one line for listings.
      loader: ``loader(data_dir, **options)`` -> a :class:`~rmsjax.data.Dataset`, or for a 2-D
        objective a :class:`~rmsjax.data.Problem`.
      defaults: hyperparameters for ``rmsjax.rmsprop`` (``learning_rate``, ``decay``...).
      epochs: default epochs (for 2-D tasks: optimisation steps).
      sweep_space: default grid for ``rmsjax.grid(**sweep_space)``.
      batch_size: default batch size (None for 2-D tasks).
      model: the model's settings (JSON-ready): ``{"type": "mlp", "hidden", "activation"}`` or
        ``{"type": "rnn", "cell", "pooling", "embed_dim", "hidden_size"}`` (optionally
        ``dropout``, ``word_dropout``, ``bidirectional``, ``pool_inputs``); empty for a
        2-D objective.
      loss: ``"softmax_cross_entropy"`` or ``"sigmoid_binary_cross_entropy"`` (one output);
        None for a 2-D objective (the loss is the objective).
      budget_unit: what ``epochs`` counts: ``"epoch"``, or ``"step"`` for a 2-D objective.
      data_options: keyword arguments of the loader (JSON-ready).
      needs_data_dir: whether loading needs ``data_dir`` offline (tfds is used without one).
      tfds: ``(name, host)``: the tensorflow-datasets name the data is downloaded under without
        a ``data_dir``, and the host it comes from (None: the data is embedded or bundled).
      schedule: ``"constant"``, or ``"cosine"``: the default optimizer decays ``learning_rate``
        to zero over the run with ``optax.cosine_decay_schedule`` (``learning_rate`` is the peak).
      sgd_learning_rate: the learning rate of plain SGD as a baseline (SGD needs far larger steps
        than RMSprop on the classifiers, and far smaller ones on Rosenbrock).
      validation: the fraction of the training examples a sweep holds out to choose its best
        configuration on (:meth:`sweep_data`), so that the test split only reports; 0: none
        (the sweep then ranks by the test split, and says so).
    """

    name: str
    description: str
    loader: Callable[..., Any]
    defaults: Mapping[str, float]
    epochs: int
    sweep_space: Mapping[str, Sequence[float]]
    batch_size: int | None = None
    model: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    loss: str | None = None
    budget_unit: str = "epoch"
    data_options: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    needs_data_dir: bool = False
    tfds: tuple[str, str] | None = None
    schedule: str = "constant"
    sgd_learning_rate: float = 0.1
    validation: float = 0.0

    def __post_init__(self):
        objective = not self.model
        if objective != (self.loss is None) or objective != (self.batch_size is None):
            raise ValueError(
                f"task {self.name!r}: a classifier declares `model`, `loss` and `batch_size`; a "
                "2-D objective none of them"
            )
        if self.budget_unit != ("step" if objective else "epoch"):
            raise ValueError(
                f"task {self.name!r}: `budget_unit` must be 'step' for a 2-D objective and "
                f"'epoch' for a classifier, got {self.budget_unit!r}"
            )
        if self.loss is not None and self.loss not in _run.LOSSES:
            raise ValueError(f"task {self.name!r}: `loss` must be one of {list(_run.LOSSES)}, "
                             f"got {self.loss!r}")  # fmt: skip
        if self.model and self.model.get("type") not in _run.MODELS:
            raise ValueError(f"task {self.name!r}: model type must be one of "
                             f"{list(_run.MODELS)}, got {self.model.get('type')!r}")  # fmt: skip
        if not 0.0 <= self.validation < 1.0 or (self.validation and objective):
            raise ValueError(
                f"task {self.name!r}: `validation` must be a fraction in [0, 1) of a classifier's "
                f"training examples, got {self.validation!r}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"task {self.name!r}: `schedule` must be one of {list(SCHEDULES)}, "
                             f"got {self.schedule!r}")  # fmt: skip

    # -- what a run measures ------------------------------------------------------------------

    @property
    def kind(self) -> str:
        """``"classification"``, or ``"objective"`` for the 2-D problems (no model)."""
        return "classification" if self.model else "objective"

    @property
    def tfds_name(self) -> str | None:
        """The tensorflow-datasets name of the data (None: embedded or bundled)."""
        return None if self.tfds is None else self.tfds[0]

    @property
    def scalar_metrics(self) -> tuple[str, ...]:
        """The scalar metrics ``make_train_fn``'s ``train_fn`` returns (what a sweep ranks by).

        >>> from rmsjax import tasks
        >>> tasks.get("rosenbrock").scalar_metrics
        ('loss', 'distance_to_minimum')
        """
        if self.kind == "objective":
            return ("loss", "distance_to_minimum")
        held_out = ("val_accuracy", "val_loss") if self.validation else ()
        return ("loss", *held_out, "test_accuracy", "test_loss")

    def metric_mode(self, metric: str) -> str:
        """Which way ``metric`` is better, declared per metric, never guessed from its name:
        ``"max"`` for the accuracies, ``"min"`` for the losses and the distance to the minimum.

        >>> from rmsjax import tasks
        >>> tasks.get("digits").metric_mode("val_accuracy"), tasks.get("xor").metric_mode("loss")
        ('max', 'min')
        """
        modes = {"loss": "min", "distance_to_minimum": "min", "val_loss": "min",
                 "test_loss": "min", "val_accuracy": "max", "test_accuracy": "max"}  # fmt: skip
        if metric not in self.scalar_metrics:
            raise ValueError(
                f"`metric` {metric!r} is not a metric of task {self.name!r}; choose from "
                f"{', '.join(self.scalar_metrics)}"
            )
        return modes[metric]

    def tiebreak(self, metric: str) -> tuple[str, str] | None:
        """The tie-breaker of ``metric`` for picking a configuration (``tiebreak`` of
        `SweepResult.best`): an accuracy on a few hundred examples ties often, and the matching
        loss decides; None for a metric that does not tie (a loss, the distance to the minimum).

        >>> from rmsjax import tasks
        >>> tasks.get("digits").tiebreak("val_accuracy"), tasks.get("rosenbrock").tiebreak("loss")
        (('val_loss', 'min'), None)
        """
        self.metric_mode(metric)  # an unknown metric is an error
        pairs = {"val_accuracy": ("val_loss", "min"), "test_accuracy": ("test_loss", "min")}
        return pairs.get(metric)

    @property
    def default_metric(self) -> str:
        """The metric a sweep ranks by unless told otherwise: the validation accuracy (the test
        accuracy for a classifier without a validation split; the loss for 2-D tasks)."""
        if self.kind == "objective":
            return "loss"
        return "val_accuracy" if self.validation else "test_accuracy"

    def examples_per_run(
        self, data: Any, epochs: int | None = None, batch_size: int | None = None
    ) -> int | None:
        """Training examples one run processes (None for the 2-D tasks: they have none)."""
        if self.kind == "objective":
            return None
        batch_size = self.batch_size if batch_size is None else batch_size
        return self.total_steps(data, epochs, batch_size) * batch_size

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

    def describe_data(self, data: Any) -> str:
        """Where ``data`` came from, in a sentence to print and record with every figure.

        >>> from rmsjax import tasks
        >>> task = tasks.get("rosenbrock")
        >>> task.describe_data(task.load())
        'embedded 2-D objective rosenbrock: start (-1.5, 2.5), minimum at (1.0, 1.0)'
        """
        if hasattr(data, "source"):
            return data.source
        return (
            f"embedded 2-D objective {self.name}: start {tuple(data.start)}, "
            f"minimum at {tuple(data.minimum)}"
        )

    def sweep_data(self, data: Any) -> Any:
        """``data`` with :attr:`validation` of its training examples held out as a validation
        split (a seeded permutation; the rest keep their order), to choose configurations on
        while the test split is only reported. Unchanged for a task without one, or for data
        that has a validation split already.

        >>> from rmsjax import tasks
        >>> task = tasks.get("digits")
        >>> data = task.sweep_data(task.load())
        >>> data.num_train, len(data.x_val), data.num_test
        (1150, 288, 359)
        """
        if not self.validation or data.validation is not None:
            return data
        n = data.num_train
        held = int(round(self.validation * n))
        perm = np.random.default_rng(0).permutation(n)
        val, train = np.sort(perm[:held]), np.sort(perm[held:])
        return dataclasses.replace(
            data,
            x_train=data.x_train[train],
            y_train=data.y_train[train],
            x_val=data.x_train[val],
            y_val=data.y_train[val],
            source=f"{data.source}; a sweep trains on {n - held:,} of the training examples and "
            f"chooses on the other {held:,} (validation, seeded), the test split only reports",
        )

    def _data(self, data: Any, data_dir: PathLike | None = None) -> Any:
        """``data``, loaded from ``data_dir`` when None, checked to be this task's kind."""
        data = self.load(data_dir) if data is None else data
        expected = data_lib.Problem if self.kind == "objective" else data_lib.Dataset
        if not isinstance(data, expected):
            raise TypeError(
                f"task {self.name!r} needs data of type {expected.__name__} (from task.load()), "
                f"got {type(data).__name__}"
            )
        return data

    # -- model --------------------------------------------------------------------------------

    def model_fns(self, data: data_lib.Dataset) -> tuple[Callable, Callable]:
        """``(init_fn(key) -> params, apply_fn(params, x) -> logits)`` for a classification task."""
        if self.kind != "classification":
            raise ValueError(f"task {self.name!r} has no model (it is a 2-D objective)")
        return _run.model_fns(self, data)

    def loss_and_metrics(self, apply_fn: Callable) -> tuple[Callable, Callable]:
        """``(loss_fn(params, (x, y)) -> scalar, metrics_fn(params, (x, y)) -> per-example)``.

        With ``model["dropout"]`` or ``model["word_dropout"]``, ``loss_fn`` takes a third
        argument, a PRNG key."""
        return _run.loss_and_metrics(self, apply_fn)

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

    def total_steps(
        self, data: Any, epochs: int | None = None, batch_size: int | None = None
    ) -> int:
        """Optimizer steps of a run: ``epochs`` for 2-D tasks, else epochs x batches per epoch."""
        epochs = self.epochs if epochs is None else epochs
        if self.kind == "objective":
            return epochs
        batch_size = self.batch_size if batch_size is None else batch_size
        return epochs * (data.num_train // batch_size)

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
        batch_size = self.batch_size if batch_size is None else batch_size
        data = self._data(data, data_dir)
        steps = self.total_steps(data, epochs, batch_size)
        factory = optimizer_factory or self.default_optimizer_factory(steps, preset)
        return _run.make_train_fn(self, data, epochs, batch_size, factory)

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
        """An ``rmsjax.Trainer`` (one unit = one epoch) for staged sweeps of a classifier.

        As :meth:`make_train_fn` without a fixed number of epochs (``preset`` as there):
        ``budget`` (default :attr:`epochs`) only sets the length of a learning-rate schedule
        (see :attr:`schedule`).
        Each unit returns ``loss`` (the epoch's training loss) and ``test_accuracy``,
        ``test_loss`` on the held-out data.

        >>> import jax
        >>> from rmsjax import tasks
        >>> trainer = tasks.get("digits").make_trainer()
        >>> hp = {"learning_rate": 1e-3, "decay": 0.9}
        >>> carry = trainer.init(hp, jax.random.key(0))
        >>> sorted(trainer.advance(carry, hp, jax.random.key(0))[1])
        ['loss', 'test_accuracy', 'test_loss']
        """
        if self.kind != "classification":
            raise ValueError(f"task {self.name!r} has no epochs to stage (it is a 2-D objective)")
        data = self._data(data, data_dir)
        batch_size = self.batch_size if batch_size is None else batch_size
        steps = self.total_steps(data, budget, batch_size)
        factory = optimizer_factory or self.default_optimizer_factory(steps, preset)
        return _run.make_trainer(self, data, batch_size, factory)

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
        batch_size = self.batch_size if batch_size is None else batch_size
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
        if self.kind == "objective":
            traj, history, metrics = _run.train_objective(data, opt, epochs)
            params, source = traj[-1], self.describe_data(data)
            history.wall_seconds = time.perf_counter() - start_time
        else:
            config["batch_size"] = batch_size
            params, history, metrics = _run.train_classifier(
                self, data, opt, epochs, batch_size, jax.random.key(seed), progress, eval_every
            )
            traj, source = None, data.source
        metrics["wall_seconds"] = time.perf_counter() - start_time
        return TrainResult(self.name, params, history, metrics, config, source, traj)

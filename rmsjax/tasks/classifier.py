""":class:`ClassifierTask`: a dataset, a model and a loss, trained in batches for epochs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from rmsjax import data as data_lib
from rmsjax.presets import Preset
from rmsjax.tasks import _run
from rmsjax.tasks.base import OptimizerFactory, PathLike, Task


@dataclasses.dataclass(frozen=True, kw_only=True)
class ClassifierTask(Task):
    """A classification task: a :class:`~rmsjax.data.Dataset`, a model and its loss, trained
    in batches, epoch by epoch, and measured by accuracy on held-out examples.

    What every task has is in :class:`~rmsjax.tasks.Task`; a classifier adds:

    Attributes:
      model: the model's settings (JSON-ready): ``{"type": "mlp", "hidden", "activation"}`` or
        ``{"type": "rnn", "cell", "pooling", "embed_dim", "hidden_size"}`` (optionally
        ``dropout``, ``word_dropout``, ``bidirectional``, ``pool_inputs``).
      loss: ``"softmax_cross_entropy"`` or ``"sigmoid_binary_cross_entropy"`` (one output).
      batch_size: default batch size.
      budget_unit: what ``epochs`` counts: ``"epoch"``.
      validation: the fraction of the training examples a sweep holds out to choose its best
        configuration on (:meth:`sweep_data`), so that the test split only reports; 0: none
        (the sweep then ranks by the test split, and says so).
    """

    model: Mapping[str, Any]
    loss: str
    batch_size: int
    budget_unit: str = "epoch"
    validation: float = 0.0

    kind = "classification"
    stageable = True
    data_type = data_lib.Dataset

    def __post_init__(self):
        if not self.model or self.loss is None or self.batch_size is None:
            raise ValueError(
                f"task {self.name!r}: a classifier declares `model`, `loss` and `batch_size`; a "
                "2-D objective none of them"
            )
        self._check_budget_unit("epoch")
        if self.loss not in _run.LOSSES:
            raise ValueError(f"task {self.name!r}: `loss` must be one of {list(_run.LOSSES)}, "
                             f"got {self.loss!r}")  # fmt: skip
        if self.model.get("type") not in _run.MODELS:
            raise ValueError(f"task {self.name!r}: model type must be one of "
                             f"{list(_run.MODELS)}, got {self.model.get('type')!r}")  # fmt: skip
        if not 0.0 <= self.validation < 1.0:
            raise ValueError(
                f"task {self.name!r}: `validation` must be a fraction in [0, 1) of a classifier's "
                f"training examples, got {self.validation!r}"
            )
        super().__post_init__()

    # -- what a run measures ------------------------------------------------------------------

    @property
    def scalar_metrics(self) -> tuple[str, ...]:
        """The scalar metrics ``make_train_fn``'s ``train_fn`` returns (what a sweep ranks by):
        the training loss, and the accuracy and loss on the validation split (with one) and on
        the test split.

        >>> from rmsjax import tasks
        >>> tasks.get("digits").scalar_metrics
        ('loss', 'val_accuracy', 'val_loss', 'test_accuracy', 'test_loss')
        """
        held_out = ("val_accuracy", "val_loss") if self.validation else ()
        return ("loss", *held_out, "test_accuracy", "test_loss")

    @property
    def default_metric(self) -> str:
        """The metric a sweep ranks by unless told otherwise: the validation accuracy (the test
        accuracy for a classifier without a validation split)."""
        return "val_accuracy" if self.validation else "test_accuracy"

    def run_batch_size(self, batch_size: int | None = None) -> int:
        """The batch size of a run: ``batch_size``, or :attr:`batch_size` when None.

        >>> from rmsjax import tasks
        >>> tasks.get("digits").run_batch_size(), tasks.get("digits").run_batch_size(64)
        (32, 64)
        """
        return self.batch_size if batch_size is None else batch_size

    def total_steps(
        self, data: Any, epochs: int | None = None, batch_size: int | None = None
    ) -> int:
        """Optimizer steps of a run: epochs x batches per epoch."""
        epochs = self.epochs if epochs is None else epochs
        batch_size = self.run_batch_size(batch_size)
        return epochs * (data.num_train // batch_size)

    def examples_per_run(
        self, data: Any, epochs: int | None = None, batch_size: int | None = None
    ) -> int:
        """Training examples one run processes (each epoch drops the last incomplete batch)."""
        batch_size = self.run_batch_size(batch_size)
        return self.total_steps(data, epochs, batch_size) * batch_size

    # -- data ---------------------------------------------------------------------------------

    def describe_data(self, data: data_lib.Dataset) -> str:
        """Where ``data`` came from (its ``source``), to print and record with every figure."""
        return data.source

    def sweep_data(self, data: data_lib.Dataset) -> data_lib.Dataset:
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

    def problem(self, data: data_lib.Dataset) -> None:
        """None: a classifier has no 2-D problem to draw trajectories over."""
        return None

    # -- model --------------------------------------------------------------------------------

    def model_fns(self, data: data_lib.Dataset) -> tuple[Callable, Callable]:
        """``(init_fn(key) -> params, apply_fn(params, x) -> logits)`` of the task's model."""
        return _run.model_fns(self, data)

    def loss_and_metrics(self, apply_fn: Callable) -> tuple[Callable, Callable]:
        """``(loss_fn(params, (x, y)) -> scalar, metrics_fn(params, (x, y)) -> per-example)``.

        With ``model["dropout"]`` or ``model["word_dropout"]``, ``loss_fn`` takes a third
        argument, a PRNG key."""
        return _run.loss_and_metrics(self, apply_fn)

    # -- training -----------------------------------------------------------------------------

    def _train_fn(self, data, epochs: int, batch_size: int, factory) -> Callable:
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
        data = self._data(data, data_dir)
        batch_size = self.run_batch_size(batch_size)
        steps = self.total_steps(data, budget, batch_size)
        factory = optimizer_factory or self.default_optimizer_factory(steps, preset)
        return _run.make_trainer(self, data, batch_size, factory)

    def _fit(self, data, opt, epochs, batch_size, seed, progress, eval_every, started) -> tuple:
        key = jax.random.key(seed)
        params, history, metrics = _run.train_classifier(
            self, data, opt, epochs, batch_size, key, progress, eval_every
        )
        return params, history, metrics, None

"""The experiments as tasks: each declares its data, model, loss, defaults and budget unit.

``get(name)`` returns a :class:`Task` for ``quadratic``, ``rosenbrock``, ``xor``, ``digits``,
``mnist`` or ``reviews``: a :class:`ClassifierTask` (a dataset, a model, a loss, batches) or,
for the 2-D problems, an :class:`ObjectiveTask` (a function minimised step by step). Each task
is one module of this package (``rmsjax/tasks/digits.py`` holds ``TASK = ClassifierTask(...)``);
every module of the package not starting with ``_`` that defines ``TASK`` is registered, so
adding a task is adding one file (see CONTRIBUTING, "Adding a task"). What training a declared
task takes (its model and loss built from the declaration, the training loops, the sweep's
``train_fn`` and ``Trainer``) lives once, in the methods of the two kinds.

Every task offers the same programmatic entry points, which the ``rmsjax`` command, the examples
and the notebooks use:

- ``task.load(data_dir=None)``: the data (:class:`~rmsjax.data.Dataset`, or the 2-D
  :class:`~rmsjax.data.Problem`); ``.source`` says where it came from.
- ``task.defaults`` (hyperparameters of ``rmsjax.rmsprop``), ``task.epochs``,
  ``task.batch_size``, ``task.sweep_space`` (the default grid for a sweep),
  ``task.sgd_learning_rate`` (the SGD baseline's), ``task.scalar_metrics``,
  ``task.default_metric`` and ``task.budget_unit`` (``"epoch"``, or ``"step"`` for 2-D tasks).
- ``task.train(hparams=None, preset="rmsjax", ...)``: one configuration of any RMSprop preset
  (``"rmsjax"``, ``"torch"``, ``"keras"``, ``"tf1"``; hyperparameters named as
  ``rmsjax.rmsprop`` names them, static options such as ``centered`` included), returning a
  :class:`TrainResult` with the history, JSON-ready metrics (``loss``, the training loss of the
  last epoch; ``test_accuracy``, ``examples_per_second`` or, for 2-D tasks,
  ``steps_per_second``, ``wall_seconds``...), the configuration, the data source and, for 2-D
  tasks, the trajectory.
- ``task.make_train_fn(data, ...)``: the pure ``train_fn(hparams, key) -> dict`` for
  ``rmsjax.sweep``; ``task.make_trainer(data, ...)``: the same training one epoch at a time, an
  ``rmsjax.Trainer`` for staged sweeps (``halving``, ``optuna_search``).

The training loss of the last epoch is called ``loss`` everywhere: in :meth:`Task.train`'s
metrics, in ``train_fn``'s outputs and in each unit of the ``Trainer``.

The defaults are the settings that reach the project's targets (measured by
``bench/accuracy.py``): MNIST 784-128-10 >= 0.95 test accuracy in 20 epochs on the offline split,
reviews >= 0.80 held-out accuracy, XOR all four points, digits >= 0.97 held-out.

>>> from rmsjax import tasks
>>> task = tasks.get("quadratic")
>>> result = task.train(epochs=100)
>>> result.metrics["loss"] < 0.1
True
>>> result.trajectory.shape
(101, 2)
"""

from __future__ import annotations

import importlib
import pkgutil

from rmsjax.tasks._run import EVAL_BATCH_SIZE
from rmsjax.tasks.base import Task, TrainResult
from rmsjax.tasks.classifier import ClassifierTask
from rmsjax.tasks.objective import ObjectiveTask

__all__ = [
    "EVAL_BATCH_SIZE",
    "TASKS",
    "ClassifierTask",
    "ObjectiveTask",
    "Task",
    "TrainResult",
    "get",
    "names",
]

# The order of listings (the --help, names()); a task module not named here comes after these.
_ORDER = ("quadratic", "rosenbrock", "xor", "digits", "mnist", "reviews")
# The modules of the package that declare the kinds of task, not a task.
_KINDS = ("base", "classifier", "objective")


def _discover() -> dict[str, Task]:
    found = {}
    for module in pkgutil.iter_modules(__path__):
        if module.name.startswith("_") or module.name in _KINDS:
            continue
        task = getattr(importlib.import_module(f"{__name__}.{module.name}"), "TASK", None)
        if isinstance(task, Task):
            if task.name in found:
                raise ValueError(f"two task modules declare the task name {task.name!r}")
            found[task.name] = task
    known = [n for n in _ORDER if n in found]
    return {n: found[n] for n in [*known, *sorted(set(found) - set(known))]}


TASKS: dict[str, Task] = _discover()
"""Task name -> :class:`Task`, every task module of this package."""


def names() -> list[str]:
    """The registered task names.

    >>> from rmsjax import tasks
    >>> tasks.names()
    ['quadratic', 'rosenbrock', 'xor', 'digits', 'mnist', 'reviews']
    """
    return list(TASKS)


def get(name: str) -> Task:
    """The task called ``name``; an unknown name raises ``ValueError`` listing the known ones.

    >>> from rmsjax import tasks
    >>> tasks.get("mnist").defaults
    {'learning_rate': 0.001, 'decay': 0.9}
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return TASKS[name]

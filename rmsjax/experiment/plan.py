"""A config resolved once: :func:`prepare` turns it into the :class:`Plan` that its run reads.

:func:`prepare` resolves a config (:func:`~rmsjax.experiment.resolve`) and looks up, once, what
its run needs by name: the task, the preset and, for a sweep, its resume folder, what breaks its
ties, the space it trains and its search's rule. The runs
(:func:`~rmsjax.experiment.run_train`, :func:`~rmsjax.experiment.run_sweep`,
:func:`~rmsjax.experiment.run_compare`, :func:`~rmsjax.experiment.make_trainer`) and
:func:`load_data` take a config or its plan and read the plan, going back to neither the
config's names nor the presets; the command line prepares its config once and hands the plan on.

>>> from rmsjax import experiment
>>> config = experiment.SweepConfig("xor", search="random", trials=4, halving=2, epochs=4)
>>> plan = experiment.prepare(config)
>>> plan.task.name, plan.preset.name, len(plan.space), list(plan.schedule), plan.tiebreak
('xor', 'rmsjax', 4, ['budget', 'halving'], ('test_loss', 'min'))
>>> experiment.prepare(plan) is plan
True
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import rmsjax
from rmsjax import tasks
from rmsjax.experiment.config import CompareConfig, SweepConfig, TrainConfig, resolve
from rmsjax.presets import Preset, get_preset

_CONFIGS = {"train": TrainConfig, "sweep": SweepConfig, "compare": CompareConfig}


@dataclasses.dataclass(frozen=True, eq=False)
class Plan:
    """What a command runs, resolved once (see :func:`prepare`).

    Attributes:
      config: the resolved config (:func:`~rmsjax.experiment.resolve`); the run reads its
        values.
      task: the :class:`rmsjax.tasks.Task` that ``config.task`` names.
      preset: the :class:`~rmsjax.experiment.Preset` that ``config.preset`` names; None for a
        comparison, which trains every preset.
      folder: a sweep's resume folder (``config.resume_dir``) as a path, else None.
      tiebreak: what breaks a tie on a sweep's metric (``task.tiebreak(metric)``), else None.
      space: the configurations a sweep trains, a :func:`rmsjax.grid` or :func:`rmsjax.sample`
        of ``config.space``; None for an ``"optuna"`` search (its study asks over
        ``config.space``) and for the other commands.
      schedule: the keywords of :func:`rmsjax.sweep` that make a sweep staged, ``budget`` and
        the search's rule (``halving``, for asha and hyperband too, or ``pbt``); for
        ``"optuna"`` the budget alone; empty for a plain sweep and for the other commands.
    """

    config: Any
    task: tasks.Task
    preset: Preset | None = None
    folder: Path | None = None
    tiebreak: tuple[str, str] | None = None
    space: Any = None
    schedule: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def command(self) -> str:
        """``"train"``, ``"sweep"`` or ``"compare"``: the command that runs it."""
        return self.config.command

    @property
    def staged(self) -> bool:
        """Whether a sweep trains a :class:`rmsjax.Trainer` unit by unit (halving, asha,
        hyperband, optuna, pbt) rather than each configuration's whole budget at once."""
        return bool(self.schedule)


def prepare(config, command: str | None = None) -> Plan:
    """``config`` (a :class:`~rmsjax.experiment.TrainConfig`,
    :class:`~rmsjax.experiment.SweepConfig` or :class:`~rmsjax.experiment.CompareConfig`)
    resolved once into the :class:`Plan` its run reads; a plan is returned as it is.

    ``command`` (``"train"``, ``"sweep"`` or ``"compare"``) is the command that will run it: a
    config of another raises TypeError. Otherwise raises what
    :func:`~rmsjax.experiment.resolve` raises, before any data is loaded.
    """
    if command is not None and getattr(config, "command", None) != command:
        raise TypeError(
            f"{command} runs a {_CONFIGS[command].__name__} (or its plan), got "
            f"{type(config).__name__}"
        )
    if isinstance(config, Plan):
        return config
    config = resolve(config)
    task = tasks.get(config.task)
    if isinstance(config, CompareConfig):
        return Plan(config, task)
    preset = get_preset(config.preset)
    if isinstance(config, TrainConfig):
        return Plan(config, task, preset)
    folder = None if config.resume_dir is None else Path(config.resume_dir)
    tiebreak = task.tiebreak(config.metric)
    space, schedule = _search(config, tiebreak)
    return Plan(config, task, preset, folder, tiebreak, space, schedule)


def _search(config: SweepConfig, tiebreak) -> tuple[Any, dict[str, Any]]:
    """The space a sweep of ``config`` trains and the keywords that stage it (its rule)."""
    schedule = {}
    if config.halving is not None or config.search in ("optuna", "pbt"):
        schedule["budget"] = config.epochs  # a Trainer, one unit an epoch
    if config.search == "optuna":
        return None, schedule
    if config.halving is not None:
        rule = {"asha": rmsjax.asha, "hyperband": rmsjax.hyperband}.get(
            config.search, rmsjax.halving
        )
        schedule["halving"] = rule(config.metric, config.mode, eta=int(config.halving),
                                   tiebreak=tiebreak)  # fmt: skip
    if config.search == "pbt":  # the population is drawn as a random search draws its trials
        schedule["pbt"] = rmsjax.pbt(config.metric, config.mode, interval=int(config.interval),
                                     tiebreak=tiebreak)  # fmt: skip
        space = rmsjax.sample(config.population, seed=config.seed, method="random",
                              **config.space)  # fmt: skip
    elif config.search == "grid":
        space = rmsjax.grid(**config.space)
    else:  # asha and hyperband draw their trials as a random search does
        method = "sobol" if config.search == "sobol" else "random"
        space = rmsjax.sample(config.trials, seed=config.seed, method=method, **config.space)
    return space, schedule


def load_data(config) -> Any:
    """The data of ``config.task`` (``config``: a config or its :class:`Plan`; from
    ``config.data_dir`` where the task reads files); for a sweep (or a train config with
    ``sweep_run``) with the task's validation split held out
    (:meth:`rmsjax.tasks.Task.sweep_data`).

    Raises FileNotFoundError for a missing folder or files, RuntimeError when
    tensorflow-datasets cannot provide the data; both say what to pass instead.
    """
    if isinstance(config, Plan):
        task, config = config.task, config.config
    else:
        task = tasks.get(config.task)
    data_dir = config.data_dir if task.needs_data_dir else None
    if data_dir is not None and not Path(data_dir).is_dir():
        raise FileNotFoundError(f"`data_dir` {str(data_dir)!r} is not a directory")
    absl = logging.getLogger("absl")  # tensorflow-datasets logs its fallbacks as warnings
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        data = task.load(data_dir)
    finally:
        absl.setLevel(level)
    swept = isinstance(config, SweepConfig) or getattr(config, "sweep_run", None) is not None
    return task.sweep_data(data) if swept else data

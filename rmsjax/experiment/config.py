"""The configs of the experiments and everything that reads and checks them.

:class:`TrainConfig`, :class:`SweepConfig` and :class:`CompareConfig` name a task, a preset and
its hyperparameters; :func:`resolve` fills what is not given from the task and checks every
value; :func:`parse_values` and :func:`parse_hparam` read values written as text (the command
line's flags). :mod:`rmsjax.experiment.plan` turns a resolved config into what its run reads.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

import rmsjax
from rmsjax import tasks
from rmsjax._checks import positive_int
from rmsjax.presets import HPARAMS, NU_DTYPES, PRESETS, Preset, get_preset

METRIC_ALIASES = {"final_loss": "loss"}
"""Older metric names a sweep's ``metric`` still accepts -> the name used now."""

SEARCHES = ("grid", "random", "sobol", "optuna", "pbt", "asha", "hyperband")
"""How a sweep picks configurations: every one of a grid, ``trials`` drawn at random or from a
Sobol sequence (:func:`rmsjax.sample`), ``trials`` asked of an Optuna study
(:func:`rmsjax.optuna_search`, which needs ``optuna``), a ``population`` drawn at random and
trained by population-based training (:func:`rmsjax.pbt`), which changes their hyperparameters
as they train, or ``trials`` drawn at random and stopped early by asynchronous successive
halving (:func:`rmsjax.asha`) or Hyperband's brackets (:func:`rmsjax.hyperband`)."""

STOPPING = ("asha", "hyperband")
"""The searches that draw their trials at random and always stop some early (``halving`` is
their ``eta``, 3 unless given)."""


@dataclasses.dataclass
class TrainConfig:
    """One configuration of one preset on one task.

    Attributes:
      task: a name of :func:`rmsjax.tasks.names`.
      preset: ``"rmsjax"``, ``"torch"``, ``"keras"`` or ``"tf1"`` (see :data:`PRESETS`).
      hparams: hyperparameters named as :func:`rmsjax.rmsprop` names them; the task's defaults
        that the preset takes fill the rest.
      epochs: epochs (steps for the 2-D tasks); None: the task's.
      batch_size: None: the task's (the 2-D tasks have none).
      seed: seeds initialisation and shuffling.
      data_dir: folder with the task's files (mnist, reviews); None: tensorflow-datasets.
      sweep_run: ``(config, seed_index, width)``: train as run ``(config, seed_index)`` of a
        plain sweep (no halving, no Optuna) run with this ``seed``, whose compiled batch held
        ``width`` runs (configurations per chunk x seeds): with its key,
        ``fold_in(fold_in(key(seed), config), seed_index)``, and its program (``train_fn``,
        vmapped over ``width`` copies when ``width`` > 1, since a batched program can round
        differently from an unbatched one), so the metrics equal that run of the sweep bit for
        bit. Numeric hyperparameters are traced as in a sweep whose axes hold
        only numbers. None: train with ``key(seed)`` and the epoch loop of
        :meth:`rmsjax.tasks.Task.train`. A sweep's report prints the line that does this for
        its best row.
    """

    command: ClassVar[str] = "train"  # the command that runs it (not a field)
    task: str
    preset: str = "rmsjax"
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    data_dir: str | os.PathLike | None = None
    sweep_run: tuple[int, int, int] | None = None


@dataclasses.dataclass
class SweepConfig:
    """A sweep: every configuration of a grid, trained at once by :func:`rmsjax.sweep`.

    Attributes:
      task, preset, epochs, batch_size, seed, data_dir: as in :class:`TrainConfig`.
      space: axis name -> a list of values, or (for sampled searches) a range
        (:func:`rmsjax.uniform`, :func:`rmsjax.loguniform`); the task's default grid
        (``task.sweep_space`` and its other defaults as one-value axes) fills the axes not given
        (a sampled search draws the learning rate log-uniformly over the grid's range).
      seeds: seeds per configuration; ranking uses their mean.
      chunk_size: configurations per compiled chunk (an int, ``"auto"`` or None).
      metric, mode: what ranks the configurations (None: ``task.default_metric``, the
        validation accuracy for tasks with a validation split, see
        :meth:`rmsjax.tasks.Task.sweep_data`; ``"max"`` for accuracies, else ``"min"``).
        ``"loss"`` is the training loss of the last epoch (``"final_loss"``, its older name, is
        read as ``"loss"``).
      resume_dir: a folder for finished chunks, reused when the same sweep runs again.
      search: one of :data:`SEARCHES`: ``"grid"`` (default), ``"random"``, ``"sobol"``,
        ``"optuna"`` (Optuna's TPE sampler and median pruner, seeded with ``seed``) or ``"pbt"``
        (population-based training, classifiers only: ``population`` members drawn at random
        as ``"random"`` draws trials, trained together; every ``interval`` epochs the bottom
        quarter by ``metric`` copies the weights of the top quarter and perturbs their
        hyperparameters, :func:`rmsjax.pbt` with its defaults), ``"asha"`` or ``"hyperband"``
        (``trials`` drawn as ``"random"`` draws them, stopped early by :func:`rmsjax.asha` or
        :func:`rmsjax.hyperband` with ``eta`` = ``halving``, 3 unless given; classifiers only).
      trials: configurations a sampled search draws (None for a grid and for ``"pbt"``).
      population: members of a ``"pbt"`` search, an int >= 4 (a quarter of it, at least one,
        is copied at each ranking); None for the other searches.
      interval: epochs between two rankings of a ``"pbt"`` search, an int in [1, ``epochs``);
        None for the other searches.
      halving: successive halving's ``eta``, an int >= 2 (:func:`rmsjax.halving`; classifiers
        only): configurations behind at a rung stop early. None: every configuration trains all
        its epochs.
      optuna_storage: an Optuna storage URL (e.g. ``sqlite:///runs/optuna.db``), or None: the
        result is also written there as a new study, one trial per configuration
        (:meth:`rmsjax.SweepResult.to_optuna`), for ``optuna-dashboard``.
      study_name: the study of ``optuna_storage`` to write to, created by the first trial
        written and continued by a rerun; None: a name derived from the run
        (``rmsjax TASK SEARCH RUN_ID``, the run id of the resume folder's manifest), so that a
        rerun of the same command into the same folder continues the same study. Trials already
        in the study (same ``rmsjax_run`` and ``rmsjax_config`` user attributes) are not
        written again.
    """

    command: ClassVar[str] = "sweep"  # the command that runs it (not a field)
    task: str
    preset: str = "rmsjax"
    space: Mapping[str, Sequence[Any]] = dataclasses.field(default_factory=dict)
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    seeds: int = 1
    chunk_size: int | str | None = "auto"
    metric: str | None = None
    mode: str | None = None
    data_dir: str | os.PathLike | None = None
    resume_dir: str | os.PathLike | None = None
    search: str = "grid"
    trials: int | None = None
    halving: float | None = None
    optuna_storage: str | None = None
    study_name: str | None = None
    population: int | None = None
    interval: int | None = None


@dataclasses.dataclass
class CompareConfig:
    """SGD, every RMSprop preset and Adam on one task, from the same start and data order.

    Attributes:
      task, epochs, batch_size, seed, data_dir: as in :class:`TrainConfig`.
      hparams: RMSprop hyperparameters; each preset takes those it has.
      sgd_learning_rate: None: ``task.sgd_learning_rate``.
      adam_learning_rate: None: the RMSprop learning rate.
    """

    command: ClassVar[str] = "compare"  # the command that runs it (not a field)
    task: str
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    sgd_learning_rate: float | None = None
    adam_learning_rate: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    data_dir: str | os.PathLike | None = None


# --------------------------------------------------------------------------------------------
# Values written as text (the command line's flags).


class OptionError(ValueError):
    """An option written as text cannot be read (the command line exits with status 2)."""


def _float(text: str, label: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise OptionError(f"{label}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise OptionError(f"{label}: {text!r} is not a finite number")
    return value


def _range(text: str, label: str) -> list[Any]:
    """``lo:hi`` as ``[loguniform(lo, hi)]`` (``uniform`` when ``lo`` <= 0)."""

    lo, hi = (_float(t, label) for t in text.split(":"))
    if lo >= hi:
        raise OptionError(f"{label}: a range LO:HI needs LO < HI, got {text!r}")
    return [rmsjax.loguniform(lo, hi) if lo > 0 else rmsjax.uniform(lo, hi)]


def _log_range(text: str, label: str, ranges: bool) -> list[float]:
    """``lo:hi:n``: ``n`` log-spaced values, rounded to 3 significant digits."""
    parts = text.split(":")
    if len(parts) != 3:
        more = " or LO:HI" if ranges else ""
        raise OptionError(f"{label}: a range is LO:HI:N (e.g. 1e-4:1e-2:8){more}, got {text!r}")
    lo, hi = _float(parts[0], label), _float(parts[1], label)
    n = int(parts[2]) if parts[2].strip().isdigit() else 0
    if n < 2:
        raise OptionError(f"{label}: N in LO:HI:N must be an integer, at least 2; got {text!r}")
    if lo <= 0 or hi <= 0:
        raise OptionError(
            f"{label}: a log-spaced range needs positive ends, got {text!r} "
            "(list the values instead, e.g. 0,0.5,0.9)"
        )
    return [float(f"{v:.3g}") for v in np.geomspace(lo, hi, n)]


def parse_values(
    text: str, label: str, *, allow_none: bool = False, ranges: bool = False
) -> list[Any]:
    """The numbers in ``text``: one value, a list ``a,b,c`` or a log-spaced range ``lo:hi:n``
    (``n`` >= 2 values from ``lo`` to ``hi``, both positive, rounded to 3 significant digits).

    With ``allow_none`` a list may hold ``none`` (no momentum against momentum); with ``ranges``,
    ``lo:hi`` is ``[rmsjax.loguniform(lo, hi)]`` (``uniform`` for ``lo`` <= 0), for a sampled
    search. Malformed text raises :class:`OptionError`, its message starting with ``label``.

    >>> parse_values("1e-2:1e-4:5", "--lr")
    [0.01, 0.00316, 0.001, 0.000316, 0.0001]
    >>> parse_values("none,0.9", "--momentum", allow_none=True)
    [None, 0.9]
    """
    text = text.strip()
    if ranges and text.count(":") == 1:
        return _range(text, label)
    if ":" in text:
        return _log_range(text, label, ranges)
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise OptionError(f"{label}: empty value in {text!r}")
    return [None if allow_none and t.lower() == "none" else _float(t, label) for t in items]


_WORDS = {"true": True, "yes": True, "on": True, "1": True}
_WORDS.update({"false": False, "no": False, "off": False, "0": False})


def parse_hparam(name: str, text: str, label: str | None = None, *, ranges: bool = False) -> list:
    """The values of hyperparameter ``name`` (a key of :data:`HPARAMS`) in ``text``, a list
    ``a,b`` of numbers (see :func:`parse_values`; ``none`` for ``momentum``), booleans
    (``true``, ``no``...) or dtypes of :data:`NU_DTYPES`; errors start with ``label``.

    >>> parse_hparam("centered", "false,true")
    [False, True]
    """
    label, kind = label or name, HPARAMS[name]
    if kind == "float":
        return parse_values(text, label, allow_none=name == "momentum", ranges=ranges)
    table = _WORDS if kind == "bool" else {d: d for d in NU_DTYPES}
    values = [t.strip().lower() for t in text.split(",")]
    if any(v not in table for v in values):
        what = "true or false (or a list: false,true)" if kind == "bool" else ", ".join(table)
        raise OptionError(f"{label}: expected {what}, got {text!r}")
    return [table[v] for v in values]


# --------------------------------------------------------------------------------------------
# Resolving a config.


def _check_hparams(preset: Preset, hparams: Mapping[str, Any]) -> None:
    """Build the optimizer from concrete values, so the library checks each of them; an error
    names the argument as ``hparams`` does (``decay``, not torch's ``alpha``)."""
    try:
        preset.build(hparams)
    except rmsjax.HyperparameterError as err:
        raise type(err)(preset.hparam_name(err.argument), err.value, str(err)) from err


def _check_nonnegative(name: str, value: float) -> None:
    if not value >= 0:  # NaN fails too
        raise rmsjax.HyperparameterError(name, value, f"`{name}` must be >= 0, got {value!r}")


def _default_space(task: tasks.Task, preset: Preset) -> dict[str, list[Any]]:
    axes = {k: [v] for k, v in task.defaults.items()}
    axes.update({k: list(v) for k, v in task.sweep_space.items()})
    return preset.supported(axes)


def resolve(config):
    """``config`` with everything not given filled from its task, every value checked.

    Hyperparameters are checked by building the optimizer from them (for a sweep, from each
    configuration of the grid), so a bad value raises here, naming the argument as the config
    does, before any data is loaded or anything is trained. Resolving twice changes nothing.

    >>> from rmsjax import experiment
    >>> c = experiment.resolve(experiment.SweepConfig("digits", preset="torch", seeds=2))
    >>> c.space, c.metric, c.mode, c.batch_size
    ({'learning_rate': [0.0001, 0.0003, 0.001, 0.003, 0.01], 'decay': [0.9, 0.99]}, \
'val_accuracy', 'max', 32)
    """
    task = tasks.get(config.task)
    epochs = task.epochs if config.epochs is None else config.epochs
    batch_size = task.run_batch_size(config.batch_size or None)  # a 2-D objective: None
    common = {"epochs": epochs, "batch_size": batch_size}
    if isinstance(config, TrainConfig):
        preset = get_preset(config.preset)
        hparams = task.hparams(config.hparams, preset)
        _check_hparams(preset, hparams)
        run = config.sweep_run
        if run is not None:
            if len(run) != 3 or any(isinstance(v, bool) or not isinstance(v, int) for v in run):
                raise ValueError(f"`sweep_run` must be (config, seed_index, width), got {run!r}")
            if run[0] < 0 or run[1] < 0 or run[2] < 1:
                raise ValueError(f"`sweep_run` needs config, seed_index >= 0, width >= 1: {run!r}")
            run = tuple(run)
        return dataclasses.replace(config, hparams=hparams, sweep_run=run, **common)
    if isinstance(config, CompareConfig):
        hparams = task.hparams(config.hparams, "rmsjax")
        for preset in PRESETS.values():
            _check_hparams(preset, preset.supported(hparams))
        sgd = (
            task.sgd_learning_rate if config.sgd_learning_rate is None else config.sgd_learning_rate
        )
        adam = hparams["learning_rate"]
        adam = adam if config.adam_learning_rate is None else config.adam_learning_rate
        _check_nonnegative("sgd_learning_rate", sgd)
        _check_nonnegative("adam_learning_rate", adam)
        return dataclasses.replace(
            config, hparams=hparams, sgd_learning_rate=sgd, adam_learning_rate=adam, **common
        )
    if isinstance(config, SweepConfig):
        return _resolve_sweep(config, task, common)
    raise TypeError(f"resolve() takes a TrainConfig, SweepConfig or CompareConfig, got {config!r}")


def _is_range(values: Any) -> bool:

    return isinstance(values, rmsjax.Uniform)  # LogUniform included


def _sweep_space(config: SweepConfig, task: tasks.Task, preset: Preset) -> dict[str, Any]:

    unknown = preset.unsupported(config.space)
    if unknown:
        raise ValueError(
            f"space axes {unknown} are not arguments of the {preset.name!r} preset; it takes "
            f"{list(preset.arguments)}"
        )
    defaults = _default_space(task, preset)
    if config.search != "grid":  # draw the learning rate over the default grid's range
        rates = defaults["learning_rate"]
        defaults["learning_rate"] = rmsjax.loguniform(min(rates), max(rates))
    given = {k: v if _is_range(v) else list(v) for k, v in config.space.items()}
    space = {**defaults, **given}
    ranges = [k for k, v in space.items() if _is_range(v)]
    if ranges and config.search == "grid":
        raise ValueError(
            f"space axes {ranges} are ranges, which a grid cannot list; give values, or search "
            "'random', 'sobol' or 'optuna'"
        )
    ends = {k: [v.low, v.high] if _is_range(v) else v for k, v in space.items()}
    for hparams in rmsjax.grid(**ends):  # a range is checked at both ends
        _check_hparams(preset, hparams)
    return space


def _resolve_sweep(config: SweepConfig, task: tasks.Task, common: dict) -> SweepConfig:
    if config.search not in SEARCHES:
        raise ValueError(f"`search` must be one of {list(SEARCHES)}, got {config.search!r}")
    positive_int("seeds", config.seeds)
    if config.search == "optuna" and importlib.util.find_spec("optuna") is None:
        raise ImportError("search 'optuna' needs optuna: pip install optuna")
    storage = config.optuna_storage
    if storage is not None and (not isinstance(storage, str) or "://" not in storage):
        raise ValueError(
            f"`optuna_storage` must be a storage URL such as 'sqlite:///optuna.db', got {storage!r}"
        )
    name = config.study_name
    if name is not None and (storage is None or not isinstance(name, str) or not name.strip()):
        raise ValueError(
            f"`study_name` {name!r} needs `optuna_storage` and a non-empty name"
            if storage is None else f"`study_name` must be a non-empty string, got {name!r}"
        )  # fmt: skip
    if storage is not None and importlib.util.find_spec("optuna") is None:
        raise ImportError("`optuna_storage` needs optuna: pip install optuna")
    if config.search == "pbt":
        _check_pbt(config, task)
    else:
        for name in ("population", "interval"):
            if getattr(config, name) is not None:
                raise ValueError(f"`{name}` is for search 'pbt', not {config.search!r}")
    sampled = config.search not in ("grid", "pbt")
    if sampled and (config.trials is None or config.trials < 1):
        raise ValueError(f"search {config.search!r} needs `trials` >= 1, got {config.trials!r}")
    if config.search == "grid" and config.trials is not None:
        raise ValueError(
            "`trials` is for the sampled searches (random, sobol, optuna, asha, hyperband), not "
            "a grid"
        )
    if config.search in STOPPING:
        if not task.stageable:
            raise ValueError(
                f"search {config.search!r} needs epochs to stop at; task {task.name!r} has none"
            )
        if config.halving is None:
            config = dataclasses.replace(config, halving=3)
    if config.halving is not None:
        if not task.stageable:
            raise ValueError(f"`halving` needs epochs to stop at; task {task.name!r} has none")
        if config.search == "optuna":
            raise ValueError("`halving` is for grid, random and sobol; optuna prunes by itself")
        eta = config.halving
        if isinstance(eta, bool) or not isinstance(eta, (int, np.integer)) or eta < 2:
            raise ValueError(f"`halving` (eta) must be an int >= 2, got {eta!r}")
    space = _sweep_space(config, task, get_preset(config.preset))
    if config.search == "pbt":
        _check_pbt_space(space)
    metric = METRIC_ALIASES.get(config.metric, config.metric) or task.default_metric
    if metric not in task.scalar_metrics:
        raise ValueError(
            f"`metric` {metric!r} is not a metric of task {task.name!r}; choose from "
            f"{', '.join(task.scalar_metrics)}"
        )
    mode = config.mode or task.metric_mode(metric)
    if mode not in ("min", "max"):
        raise ValueError(f"`mode` must be 'min' or 'max', got {mode!r}")
    return dataclasses.replace(config, space=space, metric=metric, mode=mode, **common)


def _check_pbt(config: SweepConfig, task: tasks.Task) -> None:
    """The options of search 'pbt': a population, an interval shorter than the epochs."""
    if not task.stageable:
        raise ValueError(
            f"search 'pbt' trains epoch by epoch between rankings; task {task.name!r} has no "
            "epochs (it is a 2-D objective)"
        )
    if config.trials is not None:
        raise ValueError(
            "`trials` is not for search 'pbt': give the size of its population as `population`"
        )
    if config.halving is not None:
        raise ValueError("`halving` is not for search 'pbt', which copies and perturbs instead")
    n, interval = config.population, config.interval
    fraction = rmsjax.PBT.fraction  # the default of rmsjax.pbt
    least = math.ceil(1 / fraction)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < least:
        raise ValueError(
            f"search 'pbt' needs `population`, an int >= {least} (the bottom quarter, at least one "
            f"member, copies the top quarter at each ranking), got {n!r}"
        )
    epochs = task.epochs if config.epochs is None else config.epochs
    if isinstance(interval, bool) or not isinstance(interval, (int, np.integer)) or interval < 1:
        raise ValueError(
            f"search 'pbt' needs `interval`, the epochs between two rankings, an int >= 1, "
            f"got {interval!r}"
        )
    if interval >= epochs:
        raise ValueError(
            f"`interval` ({interval}) must be smaller than `epochs` ({epochs}): with no ranking "
            "before the end, search 'pbt' would copy nothing"
        )
    width = config.chunk_size
    if isinstance(width, (int, np.integer)) and not isinstance(width, bool) and width < n:
        raise ValueError(
            f"search 'pbt' trains its whole population at once: `chunk_size` {width} is smaller "
            f"than `population` {n}; leave it 'auto'"
        )


def _check_pbt_space(space: Mapping[str, Any]) -> None:
    """PBT changes hyperparameters while training: numeric ones only, or one value of one
    that is compiled into the program (a bool, None or a dtype: one program per value)."""
    for name, values in space.items():
        if _is_range(values):
            continue
        fixed = [v for v in values if isinstance(v, (bool, str)) or v is None]
        if fixed and len(values) > 1:
            raise ValueError(
                f"search 'pbt' changes hyperparameters while training, numeric ones only; "
                f"`{name}` {values!r} is compiled into the program: give it one value, leave "
                "it out, or use another search"
            )

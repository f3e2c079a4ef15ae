"""Experiments as plain configs: train one configuration, sweep a grid, compare optimizers.

What the ``rmsjax`` command runs, as library functions a script or a notebook calls directly:
a config (:class:`TrainConfig`, :class:`SweepConfig`, :class:`CompareConfig`) names a task of
:mod:`rmsjax.tasks`, an RMSprop preset (:data:`PRESETS`) and its hyperparameters (named as
:func:`rmsjax.rmsprop` names them); :func:`resolve` fills what is not given from the task's
defaults and checks every value; :func:`run_train`, :func:`run_sweep` and :func:`run_compare`
return a :class:`Report` (headline metrics, tables, curves, the optimizer's description and the
JSON that ``metrics.json`` holds). Nothing here prints or writes files, except a sweep's resume
folder when asked for one; :mod:`rmsjax.report` prints and saves a report. :func:`parse_values`
and :func:`parse_hparam` read values written as text (``1e-4:1e-2:8``, ``none,0.9``,
``false,true``), as the command line's flags give them.

>>> from rmsjax import experiment
>>> config = experiment.resolve(experiment.TrainConfig("quadratic", hparams={"momentum": 0.5}))
>>> config.hparams, config.epochs
({'learning_rate': 0.1, 'decay': 0.9, 'momentum': 0.5}, 100)
>>> report = experiment.run_train(config)
>>> report.optimizer
'rmsjax.rmsprop(learning_rate=0.1, decay=0.9, momentum=0.5)'
>>> report.metrics["final_loss"] < 1e-3
True
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import rmsjax
from rmsjax import tasks
from rmsjax.presets import (
    DESCRIPTIONS,
    HPARAMS,
    NU_DTYPES,
    PRESETS,
    Preset,
    format_value,
    get_preset,
)

__all__ = [
    "DESCRIPTIONS",
    "HPARAMS",
    "NU_DTYPES",
    "PRESETS",
    "SEARCHES",
    "CompareConfig",
    "OptionError",
    "Preset",
    "Report",
    "SweepConfig",
    "TrainConfig",
    "get_preset",
    "load_data",
    "parse_hparam",
    "parse_values",
    "resolve",
    "run_compare",
    "run_sweep",
    "run_train",
]

SEARCHES = ("grid", "random", "sobol", "optuna")
"""How a sweep picks configurations: every one of a grid, ``trials`` drawn at random or from a
Sobol sequence (:func:`rmsjax.sample`), or ``trials`` asked of an Optuna study
(:func:`rmsjax.optuna_search`, which needs ``optuna``)."""


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
    """

    task: str
    preset: str = "rmsjax"
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    data_dir: str | os.PathLike | None = None


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
      metric, mode: what ranks the configurations (None: ``task.default_metric``; ``"max"`` for
        accuracies, else ``"min"``).
      resume_dir: a folder for finished chunks, reused when the same sweep runs again.
      search: one of :data:`SEARCHES`: ``"grid"`` (default), ``"random"``, ``"sobol"`` or
        ``"optuna"`` (Optuna's TPE sampler and median pruner, seeded with ``seed``).
      trials: configurations a sampled search draws (None for a grid).
      halving: successive halving's ``eta``, an int >= 2 (:func:`rmsjax.halving`; classifiers
        only): configurations behind at a rung stop early. None: every configuration trains all
        its epochs.
    """

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


@dataclasses.dataclass
class CompareConfig:
    """SGD, every RMSprop preset and Adam on one task, from the same start and data order.

    Attributes:
      task, epochs, batch_size, seed, data_dir: as in :class:`TrainConfig`.
      hparams: RMSprop hyperparameters; each preset takes those it has.
      sgd_learning_rate: None: ``task.sgd_learning_rate``.
      adam_learning_rate: None: the RMSprop learning rate.
    """

    task: str
    hparams: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    sgd_learning_rate: float | None = None
    adam_learning_rate: float | None = None
    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    data_dir: str | os.PathLike | None = None


@dataclasses.dataclass
class Report:
    """What an experiment found, ready to print (:func:`rmsjax.report.print_report`) or save.

    Attributes:
      command: ``"train"``, ``"sweep"`` or ``"compare"``.
      task: the task's name.
      source: where the data came from.
      optimizer: the optimizer that trained (a sweep: its best configuration), as a call.
      metrics: headline numbers (a sweep: the best configuration's, and throughput).
      table: rows to print (a sweep: every configuration, best first; compare: one per
        optimizer; train: none).
      notes: lines worth saying beside the table (the best configuration, divergences...).
      curves: label -> training loss per epoch (per step, start included, for 2-D tasks).
      trajectories: label -> ``[steps + 1, 2]`` points (2-D tasks only).
      highlight: labels drawn in colour (a sweep's best few), or None for all.
      problem: the 2-D :class:`~rmsjax.data.Problem` (contours), else None.
      sweep: the :class:`rmsjax.SweepResult` of a sweep, else None.
      json: everything, JSON-ready: the content of ``metrics.json``.
    """

    command: str
    task: str
    source: str
    optimizer: str
    metrics: dict[str, float]
    table: list[dict[str, Any]]
    notes: list[str]
    curves: dict[str, np.ndarray]
    trajectories: dict[str, np.ndarray]
    highlight: list[str] | None
    problem: Any
    sweep: Any
    json: dict[str, Any]


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
'test_accuracy', 'max', 32)
    """
    task = tasks.get(config.task)
    epochs = task.epochs if config.epochs is None else config.epochs
    batch_size = None if task.kind == "objective" else (config.batch_size or task.batch_size)
    common = {"epochs": epochs, "batch_size": batch_size}
    if isinstance(config, TrainConfig):
        preset = get_preset(config.preset)
        hparams = task.hparams(config.hparams, preset)
        _check_hparams(preset, hparams)
        return dataclasses.replace(config, hparams=hparams, **common)
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
    if config.seeds < 1:
        raise ValueError(f"`seeds` must be at least 1, got {config.seeds!r}")
    if config.search == "optuna" and importlib.util.find_spec("optuna") is None:
        raise ImportError("search 'optuna' needs optuna: pip install 'rmsjax[optuna]'")
    sampled = config.search != "grid"
    if sampled and (config.trials is None or config.trials < 1):
        raise ValueError(f"search {config.search!r} needs `trials` >= 1, got {config.trials!r}")
    if not sampled and config.trials is not None:
        raise ValueError("`trials` is for the sampled searches (random, sobol, optuna), not a grid")
    if config.halving is not None:
        if task.kind != "classification":
            raise ValueError(f"`halving` needs epochs to stop at; task {task.name!r} has none")
        if config.search == "optuna":
            raise ValueError("`halving` is for grid, random and sobol; optuna prunes by itself")
        eta = config.halving
        if isinstance(eta, bool) or not isinstance(eta, (int, np.integer)) or eta < 2:
            raise ValueError(f"`halving` (eta) must be an int >= 2, got {eta!r}")
    space = _sweep_space(config, task, get_preset(config.preset))
    metric = config.metric or task.default_metric
    if metric not in task.scalar_metrics:
        raise ValueError(
            f"`metric` {metric!r} is not a metric of task {task.name!r}; choose from "
            f"{', '.join(task.scalar_metrics)}"
        )
    mode = config.mode or ("max" if "accuracy" in metric else "min")
    if mode not in ("min", "max"):
        raise ValueError(f"`mode` must be 'min' or 'max', got {mode!r}")
    return dataclasses.replace(config, space=space, metric=metric, mode=mode, **common)


# --------------------------------------------------------------------------------------------
# Data.


def load_data(config) -> Any:
    """The data of ``config.task`` (from ``config.data_dir`` where the task reads files).

    Raises FileNotFoundError for a missing folder or files, RuntimeError when
    tensorflow-datasets cannot provide the data; both say what to pass instead.
    """
    task = tasks.get(config.task)
    data_dir = config.data_dir if task.needs_data_dir else None
    if data_dir is not None and not Path(data_dir).is_dir():
        raise FileNotFoundError(f"`data_dir` {str(data_dir)!r} is not a directory")
    absl = logging.getLogger("absl")  # tensorflow-datasets logs its fallbacks as warnings
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        return task.load(data_dir)
    finally:
        absl.setLevel(level)


# --------------------------------------------------------------------------------------------
# train


def run_train(config: TrainConfig, data: Any = None, *, progress: bool = False) -> Report:
    """Train one configuration (see :class:`TrainConfig`) and report it.

    ``data`` is the task's data (default: :func:`load_data`); ``progress`` shows a bar.
    """
    config = resolve(config)
    task = tasks.get(config.task)
    data = load_data(config) if data is None else data
    result = task.train(
        config.hparams,
        preset=config.preset,
        data=data,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        progress=progress,
    )
    source = task.describe_data(data)
    label = config.preset if task.kind == "objective" else "train loss"
    history = result.history.as_dict()
    if task.examples_per_run(data) is None:  # a 2-D objective has no examples to count
        del history["examples_per_second"]
    payload = {
        "command": "train",
        "task": task.name,
        **result.metrics,
        "source": source,
        "config": result.config,
        "history": history,
    }
    trajectories = {}
    if result.trajectory is not None:
        payload["trajectory"] = result.trajectory
        trajectories = {config.preset: result.trajectory}
    return Report(
        command="train",
        task=task.name,
        source=source,
        optimizer=result.config["optimizer"],
        metrics=dict(result.metrics),
        table=[],
        notes=[],
        curves={label: np.asarray(result.history.train_loss)},
        trajectories=trajectories,
        highlight=None,
        problem=data if task.kind == "objective" else None,
        sweep=None,
        json=payload,
    )


# --------------------------------------------------------------------------------------------
# sweep


def _label(config: Mapping[str, Any], names: Sequence[str]) -> str:
    return ", ".join(f"{n}={format_value(config[n])}" for n in names) or "config 0"


def _rows(result, task, metric, mode, varying) -> list[dict[str, Any]]:
    """Every configuration, best first (by the mean over seeds; diverged ones last)."""
    means = {
        n: result.metrics[n].astype(np.float64).mean(axis=1)
        for n in task.scalar_metrics
        if n in result.metrics
    }
    diverged = result.diverged.any(axis=1)
    rows = []
    for rank, i in enumerate(result.rank(metric, mode), start=1):
        row: dict[str, Any] = {"rank": rank, "config": i}
        row.update({n: result.space[i][n] for n in varying})
        row.update({n: float(m[i]) for n, m in means.items()})
        if result.seeds > 1:
            row[f"{metric}_std"] = float(result.metrics[metric][i].astype(np.float64).std())
        row["diverged"] = bool(diverged[i])
        if getattr(result, "pruned", None) is not None:  # a staged search
            row["epochs"], row["pruned"] = int(result.budget[i]), bool(result.pruned[i])
        rows.append(row)
    return rows


def _throughput(task, data, config, result, loaded: set[int], seconds: float) -> dict:
    """Work per second over what this run computed (configurations loaded from a resume folder
    excluded; a configuration stopped early by halving counts the units it trained)."""
    units = getattr(result, "budget", None)  # a staged sweep: units each configuration trained
    units = np.full(len(result.space), config.epochs) if units is None else np.asarray(units)
    computed = [i for i in range(len(result.space)) if i not in loaded]
    work = int(units[computed].sum()) * result.seeds
    per_unit = task.examples_per_run(data, 1, config.batch_size)
    if per_unit is None:  # a 2-D function: steps, not examples
        return {"steps_per_second": work / seconds if seconds else 0.0}
    return {"examples_per_second": work * per_unit / seconds if seconds else 0.0}


def _loaded_configs(resume_dir) -> set[int]:
    """Configurations already finished in ``resume_dir`` (read from its ``chunk_*.npz``)."""
    ids: set[int] = set()
    for file in [] if resume_dir is None else Path(resume_dir).glob("chunk_*.npz"):
        with np.load(file, allow_pickle=False) as chunk:
            ids.update(chunk["config_ids"].tolist())
    return ids


def _search(config: SweepConfig, task, preset, data, resume, metadata, progress):
    """Run ``config``'s search and return its `SweepResult`."""
    import jax

    key = jax.random.key(config.seed)
    common = {"seeds": config.seeds, "out_dir": resume, "metadata": metadata, "progress": progress}
    # Staged training reports the epoch's training loss as "loss" (final_loss of a train_fn).
    unit_metric = "loss" if config.metric == "final_loss" else config.metric
    if config.halving is None and config.search != "optuna":
        fn = task.make_train_fn(
            data, epochs=config.epochs, batch_size=config.batch_size, preset=preset
        )
        staged = {}
    else:
        fn = task.make_trainer(
            data, budget=config.epochs, batch_size=config.batch_size, preset=preset
        )
        staged = {"budget": config.epochs}
    if config.search == "optuna":
        study = _optuna_study(config, resume)
        return rmsjax.optuna_search(
            fn, study, n_trials=config.trials, space=config.space, key=key, budget=config.epochs,
            metric=unit_metric, **common,
        )  # fmt: skip
    if config.halving is not None:
        staged["halving"] = rmsjax.halving(unit_metric, config.mode, eta=int(config.halving))
    if config.search == "grid":
        space = rmsjax.grid(**config.space)
    else:
        space = rmsjax.sample(config.trials, seed=config.seed, method=config.search, **config.space)
    return rmsjax.sweep(fn, space, key=key, chunk_size=config.chunk_size, **common, **staged)


def _optuna_study(config: SweepConfig, resume: Path | None):
    """A seeded TPE study (median pruner), kept in ``resume/study.db`` when resuming."""
    import optuna  # resolve() checked that it is installed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = None
    if resume is not None:
        resume.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{resume / 'study.db'}"
    return optuna.create_study(
        direction="maximize" if config.mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        storage=storage, study_name="rmsjax", load_if_exists=True,
    )  # fmt: skip


def run_sweep(config: SweepConfig, data: Any = None, *, progress: bool = False) -> Report:
    """Train every configuration of ``config``'s grid at once and rank them.

    With ``resume_dir``, finished chunks are saved there, and reused when the same sweep (same
    grid, seeds, seed, and the task, preset, epochs, batch size and data recorded in the sweep's
    manifest) runs again; throughput then counts only the configurations computed now.
    """
    wall_start = time.perf_counter()
    config = resolve(config)
    task = tasks.get(config.task)
    preset = get_preset(config.preset)
    data = load_data(config) if data is None else data
    source = task.describe_data(data)
    metadata = {
        "task": task.name,
        "preset": preset.name,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "data": source,
    }
    resume = None if config.resume_dir is None else Path(config.resume_dir)
    if resume is not None and (resume / "cli-options.json").exists():
        raise ValueError(
            f"{resume} holds chunks from an older rmsjax (its options are in cli-options.json, "
            "which this version no longer reads); delete that folder or resume elsewhere"
        )
    loaded = _loaded_configs(resume)
    start = time.perf_counter()
    result = _search(config, task, preset, data, resume, metadata, progress)
    seconds = time.perf_counter() - start
    report = _sweep_report(config, task, preset, data, result, seconds, loaded, source)
    report.metrics["wall_seconds"] = report.json["wall_seconds"] = time.perf_counter() - wall_start
    return report


def _sweep_config_json(config: SweepConfig, task, preset: Preset, result) -> dict[str, Any]:
    return {
        "task": task.name,
        "preset": preset.name,
        "optimizer": preset.function.__name__,
        "grid": result.space.to_json(),
        "search": config.search,
        "trials": config.trials,
        "halving": config.halving,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "seeds": config.seeds,
        "chunk_size": config.chunk_size,
        "chunk_sizes_used": result.chunk_sizes,
        "model": dict(task.model),
        "data": dict(task.data_options),
    }


def _sweep_report(config, task, preset, data, result, seconds, loaded, source) -> Report:
    if "loss" in result.metrics and "final_loss" not in result.metrics:  # a staged search
        result.metrics["final_loss"] = result.metrics["loss"]
    space = result.space
    metric, mode = config.metric, config.mode
    varying = [n for n, v in space.axes.items() if len(set(map(repr, v))) > 1]
    rows = _rows(result, task, metric, mode, varying)
    best_id = rows[0]["config"]
    best = space[best_id]
    best_metrics = {n: rows[0][n] for n in task.scalar_metrics if n in rows[0]}
    computed = len(space) - len(loaded)
    totals = {
        **_throughput(task, data, config, result, loaded, seconds),
        "sweep_seconds": seconds,
        "loaded_configurations": len(loaded),
        "wall_seconds": seconds,  # run_sweep sets the whole call's
    }
    n_div = sum(r["diverged"] for r in rows)
    notes = []
    if n_div:
        notes.append(f"diverged: {n_div} of {len(space)} configurations (NaN or inf; ranked last)")
    if loaded:
        notes.append(
            f"resumed: {len(loaded)} of {len(space)} configurations loaded from "
            f"{config.resume_dir}, {computed} computed now (throughput counts only those)"
        )
    notes += [f"best: {_label(best, list(best))}", f"  {preset.describe(best)}"]
    curves = result.metrics["loss_curve"].astype(np.float64).mean(axis=1)
    labels = [_label(space[i], varying) for i in range(len(space))]
    shown = [labels[r["config"]] for r in rows[: min(6, len(rows))]]
    trajectories = {}
    if task.kind == "objective":
        trajectories = {labels[r["config"]]: result.metrics["trajectory"][r["config"], 0]
                        for r in rows[:6]}  # fmt: skip
    payload = {
        "command": "sweep",
        "task": task.name,
        "metric": metric,
        "mode": mode,
        **best_metrics,
        **totals,
        "best": best,
        "best_config_id": best_id,
        "configurations": len(space),
        "seeds": config.seeds,
        "diverged_configurations": n_div,
        "source": source,
        "config": _sweep_config_json(config, task, preset, result),
        "ranking": rows,
    }
    return Report(
        command="sweep",
        task=task.name,
        source=source,
        optimizer=preset.describe(best),
        metrics={**best_metrics, **totals},
        table=rows,
        notes=notes,
        curves=dict(zip(labels, curves, strict=True)),
        trajectories=trajectories,
        highlight=shown,
        problem=data if task.kind == "objective" else None,
        sweep=result,
        json=payload,
    )


# --------------------------------------------------------------------------------------------
# compare


def _compare_runs(config: CompareConfig, task, steps: int) -> list[tuple[str, Any, str, list]]:
    """(name, optimizer, description, hyperparameters it ignores) for each optimizer."""
    import optax

    def schedule(lr):  # every optimizer gets the task's schedule (constant for most tasks)
        return task.learning_rate_schedule(lr, steps)

    note = f" (learning rate on the task's {task.schedule} schedule)"
    note = "" if task.schedule == "constant" else note
    sgd = optax.sgd(schedule(config.sgd_learning_rate))
    runs = [("sgd", sgd, f"optax.sgd({config.sgd_learning_rate:g}){note}", [])]
    for preset in PRESETS.values():
        hparams = preset.supported(config.hparams)
        optimizer = task.default_optimizer_factory(steps, preset)(hparams)
        ignored = preset.unsupported(config.hparams)
        runs.append((preset.name, optimizer, task.describe_optimizer(hparams, preset), ignored))
    adam = optax.adam(schedule(config.adam_learning_rate))
    runs.append(("adam", adam, f"optax.adam({config.adam_learning_rate:g}){note}", []))
    return runs


def run_compare(config: CompareConfig, data: Any = None, *, progress: bool = False) -> Report:
    """Train SGD, each RMSprop preset and Adam on one task, from the same initialisation and
    data order, and report them side by side (see :class:`CompareConfig`)."""
    import optax

    config = resolve(config)
    task = tasks.get(config.task)
    data = load_data(config) if data is None else data
    steps = task.total_steps(data, config.epochs, config.batch_size)
    runs = _compare_runs(config, task, steps)
    # The first training in a process also pays one-time costs inside its timed epochs (JAX
    # compiling the small eager ops around the epoch function); a one-epoch warm-up keeps them
    # out of the first optimizer's throughput, so the column compares like with like.
    task.train(data=data, epochs=1, batch_size=config.batch_size, optimizer=optax.sgd(0.0))
    results = {}
    for name, optimizer, _, _ in runs:
        results[name] = task.train(
            config.hparams,
            data=data,
            epochs=config.epochs,
            batch_size=config.batch_size,
            seed=config.seed,
            optimizer=optimizer,
            progress=progress,
        )
    return _compare_report(task, data, runs, results)


def _compare_report(task, data, runs, results) -> Report:
    columns = ["final_loss"] + (
        ["test_accuracy", "test_loss", "examples_per_second"]
        if task.kind == "classification"
        else ["distance_to_minimum"]  # a 2-D function has no examples to count
    )
    columns.append("wall_seconds")
    rows = [{"optimizer": n, **{c: results[n].metrics[c] for c in columns}} for n, *_ in runs]
    notes = [f"{n}: {description}" for n, _, description, _ in runs]
    notes += [
        f"note: {n} ignores {k} (not an argument of its preset)"
        for n, _, _, ignored in runs
        for k in ignored
    ]
    source = task.describe_data(data)
    payload = {
        "command": "compare",
        "task": task.name,
        "wall_seconds": sum(r.metrics["wall_seconds"] for r in results.values()),
        "source": source,
        "results": {
            name: {
                **results[name].metrics,
                "optimizer": description,
                "config": dict(results[name].config, optimizer=description),
                "train_loss": results[name].history.train_loss,
            }
            for name, _, description, _ in runs
        },
    }
    objective = task.kind == "objective"
    return Report(
        command="compare",
        task=task.name,
        source=source,
        optimizer=", ".join(n for n, *_ in runs),
        metrics={},
        table=rows,
        notes=notes,
        curves={n: np.asarray(results[n].history.train_loss) for n, *_ in runs},
        trajectories={n: results[n].trajectory for n, *_ in runs} if objective else {},
        highlight=None,
        problem=data if objective else None,
        sweep=None,
        json=payload,
    )

"""Running a resolved config: :func:`run_train`, :func:`run_sweep`, :func:`run_compare`, each
returning a :class:`Report`."""

from __future__ import annotations

import dataclasses
import json
import secrets
import shlex
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

import rmsjax
from rmsjax import tasks, training
from rmsjax.experiment.config import (
    CompareConfig,
    SweepConfig,
    TrainConfig,
    load_data,
    resolve,
)
from rmsjax.presets import FLAGS, PRESETS, Preset, format_value, get_preset


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
# train


def run_train(config: TrainConfig, data: Any = None, *, progress: bool = False) -> Report:
    """Train one configuration (see :class:`TrainConfig`) and report it.

    ``data`` is the task's data (default: :func:`load_data`); ``progress`` shows a bar.
    """
    config = resolve(config)
    task = tasks.get(config.task)
    data = load_data(config) if data is None else data
    if config.sweep_run is not None:
        result = _train_as_sweep_run(config, task, data)
    else:
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
    problem = task.problem(data)  # a 2-D objective: its curve is named as its trajectory is
    label = config.preset if problem is not None else "train loss"
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
        problem=problem,
        sweep=None,
        json=payload,
    )


def _traced(value: Any) -> bool:
    """Whether a sweep traces this hyperparameter value (numbers; not bools, None, strings)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _train_as_sweep_run(config: TrainConfig, task, data) -> tasks.TrainResult:
    """One run of a plain sweep again, bit for bit (see :attr:`TrainConfig.sweep_run`)."""
    start = time.perf_counter()
    config_id, seed_index, width = config.sweep_run
    key = jax.random.fold_in(jax.random.key(config.seed), config_id)
    key = jax.random.fold_in(key, seed_index)  # the key rmsjax.sweep gives run (config, seed)
    data = task.sweep_data(data)  # the data the sweep trained on (its validation split out)
    train_fn = task.make_train_fn(
        data, epochs=config.epochs, batch_size=config.batch_size, preset=config.preset
    )
    static = {k: v for k, v in config.hparams.items() if not _traced(v)}

    def run(traced, key):
        return train_fn({**static, **traced}, key)

    traced = {k: jnp.asarray(v) for k, v in config.hparams.items() if _traced(v)}
    if width == 1:
        out = jax.jit(run)(traced, key)
    else:
        copies = {k: jnp.stack([v] * width) for k, v in traced.items()}
        out = jax.jit(jax.vmap(run))(copies, jnp.stack([key] * width))
        out = {k: v[0] for k, v in out.items()}
    out = jax.device_get(out)
    metrics = {n: float(out[n]) for n in task.scalar_metrics}
    metrics["wall_seconds"] = time.perf_counter() - start
    description = task.describe_optimizer(config.hparams, config.preset)
    run_config = {
        "task": task.name,
        "hparams": _plain_hparams(config.hparams),
        "optimizer": description,
        "preset": config.preset,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "sweep_run": list(config.sweep_run),
        "model": dict(task.model),
        "loss": task.loss,
        "data": dict(task.data_options),
    }
    history = training.History(train_loss=np.asarray(out["loss_curve"]).tolist())
    trajectory = out.get("trajectory")
    return tasks.TrainResult(task.name, None, history, metrics, run_config,
                             task.describe_data(data), trajectory)  # fmt: skip


def _plain_hparams(hparams: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in hparams.items()}


# --------------------------------------------------------------------------------------------
# sweep


def _label(config: Mapping[str, Any], names: Sequence[str]) -> str:
    return ", ".join(f"{n}={format_value(config[n])}" for n in names) or "config 0"


def _curve_labels(space, varying: Sequence[str], pbt: bool) -> list[str]:
    """One distinct label per configuration's curve. A PBT member's curve was trained under
    several hyperparameters (its schedule): it is labelled by member, not by its final values;
    configurations whose shown values coincide (rounded) get their id added.

    >>> import rmsjax
    >>> _curve_labels(rmsjax.grid(lr=[0.1, 0.1000001]), ["lr"], pbt=False)
    ['lr=0.1 (config 0)', 'lr=0.1 (config 1)']
    >>> _curve_labels(rmsjax.grid(lr=[0.1, 0.2]), ["lr"], pbt=True)
    ['member 0', 'member 1']
    """
    if pbt:
        return [f"member {i}" for i in range(len(space))]
    labels = [_label(space[i], varying) for i in range(len(space))]
    counts = {label: labels.count(label) for label in labels}
    return [f"{lab} (config {i})" if counts[lab] > 1 else lab for i, lab in enumerate(labels)]


def _rows(result, task, metric, mode, varying) -> list[dict[str, Any]]:
    """Every configuration, best first (by the mean over seeds; diverged ones last)."""
    means = {
        n: result.metrics[n].astype(np.float64).mean(axis=1)
        for n in task.scalar_metrics
        if n in result.metrics
    }
    diverged = result.diverged.any(axis=1)
    rows = []
    for rank, i in enumerate(result.rank(metric, mode, task.tiebreak(metric)), start=1):
        row: dict[str, Any] = {"rank": rank, "config_id": i}
        row.update({n: result.space[i][n] for n in varying})
        row.update({n: float(m[i]) for n, m in means.items()})
        if result.seeds > 1:
            row[f"{metric}_std"] = float(result.metrics[metric][i].astype(np.float64).std())
        row["diverged"] = bool(diverged[i])
        if isinstance(result, rmsjax.PBTResult):  # times it took another member's weights
            row["copies"] = int((result.copied_from[i] >= 0).sum())
        elif getattr(result, "pruned", None) is not None:  # a staged search
            row["epochs"], row["pruned"] = int(result.budget[i]), bool(result.pruned[i])
        rows.append(row)
    return rows


def _throughput(task, data, config, result, seconds: float) -> dict:
    """Work per second over what this run computed (configurations loaded from a resume folder
    excluded; a configuration stopped early by halving counts the units it trained). Nothing
    when this run trained nothing (every configuration loaded): no rate, rather than 0."""
    units = getattr(result, "budget", None)  # a staged sweep: units each configuration trained
    units = np.full(len(result.space), config.epochs) if units is None else np.asarray(units)
    resumed = getattr(result, "resumed_units", None)  # pbt: units done before this call
    if resumed is not None:
        work = int((units - resumed).sum()) * result.seeds
    else:
        work = int(units[~result.loaded].sum()) * result.seeds
    if work == 0:
        return {}
    per_unit = task.examples_per_run(data, 1, config.batch_size)
    if per_unit is None:  # a 2-D function: steps, not examples
        return {"steps_per_second": work / seconds if seconds else 0.0}
    return {"examples_per_second": work * per_unit / seconds if seconds else 0.0}


def _search(config: SweepConfig, task, preset, data, resume, metadata, progress):
    """Run ``config``'s search and return its `SweepResult`."""
    key = jax.random.key(config.seed)
    common = {"seeds": config.seeds, "out_dir": resume, "metadata": metadata, "progress": progress}
    if config.halving is None and config.search not in ("optuna", "pbt"):
        fn = task.make_train_fn(
            data, epochs=config.epochs, batch_size=config.batch_size, preset=preset
        )
        staged = {}
    else:
        fn = task.make_trainer(
            data, budget=config.epochs, batch_size=config.batch_size, preset=preset
        )  # as make_trainer(config) builds it
        staged = {"budget": config.epochs}
    if config.search == "optuna":
        study = _optuna_study(config, resume)
        return rmsjax.optuna_search(
            fn, study, n_trials=config.trials, space=config.space, key=key, budget=config.epochs,
            metric=config.metric, **common,
        )  # fmt: skip
    if config.halving is not None:
        rule = {"asha": rmsjax.asha, "hyperband": rmsjax.hyperband}.get(
            config.search, rmsjax.halving
        )
        staged["halving"] = rule(config.metric, config.mode, eta=int(config.halving),
                                 tiebreak=task.tiebreak(config.metric))  # fmt: skip
    if config.search == "pbt":  # the population is drawn as a random search draws its trials
        staged["pbt"] = rmsjax.pbt(config.metric, config.mode, interval=int(config.interval),
                                   tiebreak=task.tiebreak(config.metric))  # fmt: skip
        space = rmsjax.sample(config.population, seed=config.seed, method="random",
                              **config.space)  # fmt: skip
    elif config.search == "grid":
        space = rmsjax.grid(**config.space)
    else:  # asha and hyperband draw their trials as a random search does
        method = "sobol" if config.search == "sobol" else "random"
        space = rmsjax.sample(config.trials, seed=config.seed, method=method, **config.space)
    return rmsjax.sweep(fn, space, key=key, chunk_size=config.chunk_size, **common, **staged)


def make_trainer(config: SweepConfig, data: Any = None) -> rmsjax.Trainer:
    """The `rmsjax.Trainer` that :func:`run_sweep` trains for a staged search of ``config``
    (``halving``, ``"optuna"``, ``"pbt"``; classifiers only): one unit an epoch, on the data the
    sweep trains on (``data``, default :func:`load_data`, with the validation split held out).

    With it, ``rmsjax.replay(make_trainer(config), result.schedule(member), key=...)`` trains a
    member of a ``"pbt"`` search again, bit for bit.

    >>> import jax
    >>> from rmsjax import experiment
    >>> config = experiment.SweepConfig("digits", search="pbt", population=4, interval=1, epochs=2)
    >>> trainer = experiment.make_trainer(config)
    >>> hparams = {"learning_rate": 1e-3, "decay": 0.9}
    >>> _, metrics = trainer.advance(trainer.init(hparams, jax.random.key(0)), hparams,
    ...                              jax.random.key(0))
    >>> sorted(metrics)
    ['loss', 'test_accuracy', 'test_loss', 'val_accuracy', 'val_loss']
    """
    config = resolve(config)
    task = tasks.get(config.task)
    data = task.sweep_data(load_data(config) if data is None else data)
    return task.make_trainer(
        data, budget=config.epochs, batch_size=config.batch_size, preset=get_preset(config.preset)
    )


def _optuna_study(config: SweepConfig, resume: Path | None):
    """A seeded TPE study (median pruner), kept in ``resume/study.db`` when resuming.

    A resumed study's sampler is seeded with the seed and the number of trials the study holds:
    seeded with the seed alone, it would start its draws over and propose again the parameters
    of the trials already run."""
    import optuna  # resolve() checked that it is installed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = None
    if resume is not None:
        resume.mkdir(parents=True, exist_ok=True)
        storage = f"sqlite:///{resume / 'study.db'}"
    study = optuna.create_study(
        direction="maximize" if config.mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=config.seed),
        storage=storage, study_name="rmsjax", load_if_exists=True,
    )  # fmt: skip
    done = len(study.trials)
    if done:
        seed = int(np.random.SeedSequence([config.seed, done]).generate_state(1)[0])
        study.sampler = optuna.samplers.TPESampler(seed=seed)
    return study


def _storage_check(config: SweepConfig) -> None:
    """Fails before training when ``config.optuna_storage`` cannot be reached; creates no
    study (a run interrupted before its first trial leaves none)."""
    import optuna  # resolve() checked that it is installed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.storages.get_storage(config.optuna_storage)


def _run_id(resume: Path | None) -> str | None:
    """The run id in ``resume``'s manifest, or None (no resume folder)."""
    manifest = None if resume is None else resume / "manifest.json"
    if manifest is None or not manifest.exists():
        return None
    return json.loads(manifest.read_text()).get("run_id")


def _write_storage(config: SweepConfig, task, result, run_id: str | None) -> str | None:
    """Writes ``result`` into study ``config.study_name`` (default named after the run) of
    ``config.optuna_storage``: only the trials it lacks (tagged ``rmsjax_run`` and
    ``rmsjax_config``), creating the study with its first trial. Returns the study's name, or
    None when there was nothing to write and no study."""
    import warnings

    import optuna  # resolve() checked that it is installed

    how = config.search + (f" halving {config.halving}" if config.halving is not None else "")
    name = config.study_name
    if name is None and run_id is not None:
        name = f"rmsjax {task.name} {how} {run_id}"
    elif name is None:  # no resume folder: the run cannot be continued, its own study
        stamp = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} {secrets.token_hex(3)}"
        name = f"rmsjax {task.name} {how} {stamp}"
    direction = "maximize" if config.mode == "max" else "minimize"
    staging = optuna.create_study(direction=direction)  # in memory, to build the trials
    result.to_optuna(staging, config.metric, config.mode, space=config.space)
    storage = config.optuna_storage
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        study = None
    written = set()
    if study is not None:
        if study.direction.name != direction.upper():
            raise ValueError(
                f"`study_name` {name!r}: that study's direction is {study.direction.name}, "
                f"this run's {direction.upper()} ({config.metric!r}, mode={config.mode!r})"
            )
        written = {t.user_attrs.get("rmsjax_config") for t in study.trials
                   if t.user_attrs.get("rmsjax_run") == run_id}  # fmt: skip
    tag = {} if run_id is None else {"rmsjax_run": run_id}
    new = [optuna.trial.create_trial(
        state=t.state, value=t.value, params=t.params, distributions=t.distributions,
        intermediate_values=t.intermediate_values, user_attrs={**t.user_attrs, **tag},
    ) for t in staging.trials if t.user_attrs["rmsjax_config"] not in written]  # fmt: skip
    if study is None:
        if not new:
            return None
        study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                    load_if_exists=True)  # fmt: skip
        with warnings.catch_warnings():  # experimental in Optuna: the dashboard shows the name
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([config.metric])
        study.set_user_attr("rmsjax", {"task": task.name, "preset": config.preset,
                                       "epochs": config.epochs, "seed": config.seed})  # fmt: skip
    study.add_trials(new)
    return name


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
    data = task.sweep_data(load_data(config) if data is None else data)
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
    if config.optuna_storage is not None:
        _storage_check(config)
    start = time.perf_counter()
    result = _search(config, task, preset, data, resume, metadata, progress)
    seconds = time.perf_counter() - start
    report = _sweep_report(config, task, preset, data, result, seconds, source)
    if config.optuna_storage is not None:  # one trial per configuration, for optuna-dashboard
        name = _write_storage(config, task, result, _run_id(resume))
        if name is not None:
            report.notes.append(f"written to the Optuna storage as study {name!r}")
            report.json["optuna_study"] = name
    report.metrics["wall_seconds"] = report.json["wall_seconds"] = time.perf_counter() - wall_start
    return report


def _flag_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # every digit: the sweep traced exactly this value
    return str(value)


def _compiled_numbers(result, best_id: int) -> list[str]:
    """The numeric values of ``best_id`` that its sweep compiled as constants (of a static axis,
    e.g. ``--momentum none,0.9``), which ``rmsjax train --sweep-run`` would trace instead: a
    different program, so no line claims to reproduce that row bit for bit."""
    best = result.space[best_id]
    return [f"{a}={best[a]!r}" for a in result.space.static_axes if _traced(best[a])]


def _train_line(config: SweepConfig, task, preset: Preset, result, best_id: int) -> str | None:
    """The ``rmsjax train`` command that trains the best configuration's first seed again, bit
    for bit (a plain sweep only: a staged search's rows come from its pool of trainers)."""
    if isinstance(result, rmsjax.StagedResult) or _compiled_numbers(result, best_id):
        return None
    space = result.space
    best = space[best_id]
    # Runs batched together: the chunk width of best's static combination (keyed by its first
    # configuration) times the seeds, one flat vmap over (configuration, seed) pairs.
    first = next(i for i in range(len(space))
                 if all(space[i][a] == best[a] for a in space.static_axes))  # fmt: skip
    width = result.chunk_sizes.get(first, 1) * result.seeds
    words = ["rmsjax", "train", task.name]
    words += [] if preset.name == "rmsjax" else ["--preset", preset.name]
    for name, value in best.items():
        words.append(f"{FLAGS[name]}={_flag_value(value)}")
    words += ["--epochs", str(config.epochs)]
    words += [] if config.batch_size is None else ["--batch-size", str(config.batch_size)]
    words += ["--seed", str(config.seed)]
    if task.needs_data_dir and config.data_dir is not None:
        words += ["--data-dir", str(config.data_dir)]
    words += ["--sweep-run", f"{best_id},0,{width}"]
    return shlex.join(words)


def _sweep_config_json(config: SweepConfig, task, preset: Preset, result) -> dict[str, Any]:
    return {
        "task": task.name,
        "preset": preset.name,
        "optimizer": preset.function.__name__,
        "grid": result.space.to_json(),
        "search": config.search,
        "trials": config.trials,
        "halving": config.halving,
        "population": config.population,
        "interval": config.interval,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "seed": config.seed,
        "seeds": config.seeds,
        "chunk_size": config.chunk_size,
        "chunk_sizes_used": result.chunk_sizes,
        "model": dict(task.model),
        "data": dict(task.data_options),
    }


def _sweep_report(config, task, preset, data, result, seconds, source) -> Report:
    loaded = int(result.loaded.sum())
    space = result.space
    metric, mode = config.metric, config.mode
    varying = [n for n, v in space.axes.items() if len(set(map(repr, v))) > 1]
    rows = _rows(result, task, metric, mode, varying)
    best_id = rows[0]["config_id"]
    best = space[best_id]
    best_metrics = {n: rows[0][n] for n in task.scalar_metrics if n in rows[0]}
    tiebreak = task.tiebreak(metric)
    computed = len(space) - loaded
    totals = {
        **_throughput(task, data, config, result, seconds),
        "sweep_seconds": seconds,
        "loaded_configurations": loaded,
        "wall_seconds": seconds,  # run_sweep sets the whole call's
    }
    n_div = sum(r["diverged"] for r in rows)
    notes = []
    if n_div:
        notes.append(f"diverged: {n_div} of {len(space)} configurations (NaN or inf; ranked last)")
    if loaded:
        notes.append(
            f"resumed: {loaded} of {len(space)} configurations loaded from "
            f"{config.resume_dir}, {computed} computed now "
            + ("(throughput counts only those)" if computed else "(no throughput: none trained)")
        )
    pbt = isinstance(result, rmsjax.PBTResult)
    continued = (
        sorted({int(u) for u in result.resumed_units if 0 < u < config.epochs}) if pbt else []
    )
    if continued:
        notes.append(
            f"resumed: the population continued from epoch {continued[0]}, saved in "
            f"{config.resume_dir}; throughput counts only the epochs computed now"
        )
    what = f"best (member {best_id}, its hyperparameters at the end)" if pbt else "best"
    notes += _tie_notes(rows, metric, tiebreak)
    notes += [f"{what}: {_label(best, list(best))}", f"  {preset.describe(best)}"]
    if metric.startswith("val_"):
        test = ", ".join(f"{n}={format_value(v)}" for n, v in best_metrics.items()
                         if n.startswith("test_"))  # fmt: skip
        notes.append(f"chosen by {metric} on the validation split; on the test split: {test}")
    train_line = _train_line(config, task, preset, result, best_id)
    if train_line is not None:
        seeds = "" if config.seeds == 1 else f" (its seed 0 of {config.seeds})"
        notes.append(f"the best row again{seeds}, bit for bit: {train_line}")
    elif not isinstance(result, rmsjax.StagedResult):
        constants = ", ".join(_compiled_numbers(result, best_id))
        notes.append(
            f"no `rmsjax train` line reproduces the best row bit for bit: the sweep compiled "
            f"{constants} as a constant (its axis holds none too), which `rmsjax "
            "train` traces; sweep that value on an axis of numbers only to get the line"
        )
    if pbt:
        notes += _pbt_notes(config, result, best_id)
    curves = result.metrics["loss_curve"].astype(np.float64).mean(axis=1)
    labels = _curve_labels(space, varying, pbt)
    shown = [labels[r["config_id"]] for r in rows[: min(6, len(rows))]]
    trajectories, problem = {}, task.problem(data)
    if problem is not None:
        trajectories = {labels[r["config_id"]]: result.metrics["trajectory"][r["config_id"], 0]
                        for r in rows[:6]}  # fmt: skip
    payload = {
        "command": "sweep",
        "task": task.name,
        "metric": metric,
        "mode": mode,
        "tiebreak": None if tiebreak is None else list(tiebreak),
        **best_metrics,
        **totals,
        "best": best,
        "best_config_id": best_id,
        "best_train_command": train_line,
        "configurations": len(space),
        "seeds": config.seeds,
        "diverged_configurations": n_div,
        "source": source,
        "config": _sweep_config_json(config, task, preset, result),
        "ranking": rows,
    }
    if pbt:
        payload["pbt"] = _pbt_json(config, result, best_id)
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
        problem=problem,
        sweep=result,
        json=payload,
    )


def _tie_notes(rows: list[dict], metric: str, tiebreak) -> list[str]:
    """A line saying how many configurations tie with the pick on ``metric`` and whether the
    tie-breaker decided (rows are best first, means over seeds)."""
    first = rows[0]
    if first["diverged"] or metric not in first:
        return []
    tied = [r for r in rows if not r["diverged"] and r.get(metric) == first[metric]]
    if len(tied) < 2:
        return []
    head = f"{len(tied)} configurations tie at {metric} {format_value(first[metric])}"
    if tiebreak is None:
        return [f"{head}; the smallest id decided (no tie-breaker)"]
    seconds = {r.get(tiebreak[0]) for r in tied}
    if len(seconds) < 2:
        return [f"{head} and on {tiebreak[0]}; the smallest id decided"]
    return [f"{head}; {tiebreak[0]} decided ({tiebreak[1]})"]


def _pbt_notes(config: SweepConfig, result, best_id: int) -> list[str]:
    """What population-based training did, and how its best member is trained again."""
    copies = int((result.copied_from >= 0).sum())
    rankings = len(result.rule.intervals(result.max_budget))
    own = int((result.copied_from[best_id] >= 0).sum())
    key = f"jax.random.key({config.seed})"
    every = "epoch" if config.interval == 1 else f"{config.interval} epochs"
    return [
        f"population-based training: {_count(copies, 'copy', 'copies')} in "
        f"{_count(rankings, 'ranking')} (every {every}); the best member took another's weights "
        f"{_count(own, 'time')}, its schedule epoch by epoch is in best_schedule.csv",
        "the best member again: `rmsjax train` trains fixed hyperparameters and cannot follow "
        f"its schedule; rmsjax.replay(experiment.make_trainer(config), result.schedule("
        f"{best_id}), key={key}) does, bit for bit, with this run's config and result (see the "
        "command-line guide)",
    ]


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _pbt_json(config: SweepConfig, result, best_id: int) -> dict[str, Any]:
    frame = result.schedule(best_id)
    return {
        "population": config.population,
        "interval": config.interval,
        "copies": int((result.copied_from >= 0).sum()),
        "best_member": best_id,
        "best_schedule": frame.to_dict(orient="records"),
    }


# --------------------------------------------------------------------------------------------
# compare


def _compare_runs(config: CompareConfig, task, steps: int) -> list[tuple[str, Any, str, list]]:
    """(name, optimizer, description, hyperparameters it ignores) for each optimizer."""

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


# The columns of a comparison that a task's runs report, in this order (a classifier's first).
_COMPARED = ("loss", "test_accuracy", "test_loss", "examples_per_second", "distance_to_minimum")


def _compare_report(task, data, runs, results) -> Report:
    reported = next(iter(results.values())).metrics  # a 2-D function has no examples to count
    columns = [c for c in _COMPARED if c in reported] + ["wall_seconds"]
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
    problem = task.problem(data)
    return Report(
        command="compare",
        task=task.name,
        source=source,
        optimizer=", ".join(n for n, *_ in runs),
        metrics={},
        table=rows,
        notes=notes,
        curves={n: np.asarray(results[n].history.train_loss) for n, *_ in runs},
        trajectories={} if problem is None else {n: results[n].trajectory for n, *_ in runs},
        highlight=None,
        problem=problem,
        sweep=None,
        json=payload,
    )

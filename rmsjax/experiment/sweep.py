"""``rmsjax sweep``: :func:`run_sweep` runs a config's search (a grid, a sample, halving, Optuna,
PBT...) through the engine and builds its :class:`Report` (the ranking, the notes, the best
row's ``rmsjax train`` line); :func:`make_trainer` is the trainer of its staged searches."""

from __future__ import annotations

import shlex
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import numpy as np

import rmsjax
from rmsjax.experiment import studies
from rmsjax.experiment.common import is_traced
from rmsjax.experiment.config import SweepConfig
from rmsjax.experiment.plan import Plan, load_data, prepare
from rmsjax.presets import FLAGS, format_value
from rmsjax.report import Report


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


def _rows(result, task, metric, mode, tiebreak, varying) -> list[dict[str, Any]]:
    """Every configuration, best first (by the mean over seeds; diverged ones last)."""
    means = {
        n: result.metrics[n].astype(np.float64).mean(axis=1)
        for n in task.scalar_metrics
        if n in result.metrics
    }
    diverged = result.diverged.any(axis=1)
    rows = []
    for rank, i in enumerate(result.rank(metric, mode, tiebreak), start=1):
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


def _search(plan: Plan, data, metadata, progress, on_finish=None):
    """Run the plan's search and return its `SweepResult` (``on_finish``: see `rmsjax.sweep`)."""
    config, task, resume = plan.config, plan.task, plan.folder
    key = jax.random.key(config.seed)
    common = {"seeds": config.seeds, "out_dir": resume, "metadata": metadata, "progress": progress,
              "on_finish": on_finish}  # fmt: skip
    if plan.staged:
        fn = task.make_trainer(
            data, budget=config.epochs, batch_size=config.batch_size, preset=plan.preset
        )  # as make_trainer(config) builds it
    else:
        fn = task.make_train_fn(
            data, epochs=config.epochs, batch_size=config.batch_size, preset=plan.preset
        )
    if config.search == "optuna":
        study = studies.optuna_study(config, resume)
        return rmsjax.optuna_search(
            fn, study, n_trials=config.trials, space=config.space, key=key, budget=config.epochs,
            metric=config.metric, **common,
        )  # fmt: skip
    return rmsjax.sweep(
        fn, plan.space, key=key, chunk_size=config.chunk_size, **common, **plan.schedule
    )


def make_trainer(config: SweepConfig | Plan, data: Any = None) -> rmsjax.Trainer:
    """The `rmsjax.Trainer` that :func:`run_sweep` trains for a staged search of ``config``
    (or its :class:`Plan`; ``halving``, ``"optuna"``, ``"pbt"``; classifiers only): one unit an
    epoch, on the data the sweep trains on (``data``, default :func:`load_data`, with the
    validation split held out).

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
    plan = prepare(config, "sweep")
    config, task = plan.config, plan.task
    data = task.sweep_data(load_data(plan) if data is None else data)
    return task.make_trainer(
        data, budget=config.epochs, batch_size=config.batch_size, preset=plan.preset
    )


def run_sweep(config: SweepConfig | Plan, data: Any = None, *, progress: bool = False) -> Report:
    """Train every configuration of ``config``'s grid (or its :class:`Plan`'s) at once and
    rank them.

    With ``resume_dir``, finished chunks are saved there, and reused when the same sweep (same
    grid, seeds, seed, and the task, preset, epochs, batch size and data recorded in the sweep's
    manifest) runs again; throughput then counts only the configurations computed now.
    """
    wall_start = time.perf_counter()
    plan = prepare(config, "sweep")
    config, task, preset, resume = plan.config, plan.task, plan.preset, plan.folder
    data = task.sweep_data(load_data(plan) if data is None else data)
    source = task.describe_data(data)
    metadata = {
        "task": task.name,
        "preset": preset.name,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "data": source,
    }
    if resume is not None and (resume / "cli-options.json").exists():
        raise ValueError(
            f"{resume} holds chunks from an older rmsjax (its options are in cli-options.json, "
            "which this version no longer reads); delete that folder or resume elsewhere"
        )
    live = None
    if config.optuna_storage is not None:  # each configuration as it finishes, for the dashboard
        studies.check_storage(config)
        live = studies.LiveStudy(config, task, resume)
    start = time.perf_counter()
    result = _search(plan, data, metadata, progress, None if live is None else live.write)
    seconds = time.perf_counter() - start
    report = _sweep_report(plan, data, result, seconds, source)
    if live is not None:  # and what the storage still lacks: configurations loaded from resume
        name = live.finish(result)
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
    return [f"{a}={best[a]!r}" for a in result.space.static_axes if is_traced(best[a])]


def _train_line(plan: Plan, result, best_id: int) -> str | None:
    """The ``rmsjax train`` command that trains the best configuration's first seed again, bit
    for bit (a plain sweep only: a staged search's rows come from its pool of trainers)."""
    if isinstance(result, rmsjax.StagedResult) or _compiled_numbers(result, best_id):
        return None
    config, task, preset = plan.config, plan.task, plan.preset
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


def _sweep_config_json(plan: Plan, result) -> dict[str, Any]:
    config, task, preset = plan.config, plan.task, plan.preset
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


def _sweep_report(plan: Plan, data, result, seconds, source) -> Report:
    config, task, preset, tiebreak = plan.config, plan.task, plan.preset, plan.tiebreak
    loaded = int(result.loaded.sum())
    space = result.space
    metric, mode = config.metric, config.mode
    varying = [n for n, v in space.axes.items() if len(set(map(repr, v))) > 1]
    rows = _rows(result, task, metric, mode, tiebreak, varying)
    best_id = rows[0]["config_id"]
    best = space[best_id]
    best_metrics = {n: rows[0][n] for n in task.scalar_metrics if n in rows[0]}
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
    train_line = _train_line(plan, result, best_id)
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
        "config": _sweep_config_json(plan, result),
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

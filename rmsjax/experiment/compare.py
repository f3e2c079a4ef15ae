"""``rmsjax compare``: :func:`run_compare` trains SGD, each RMSprop preset and Adam on one task
from the same start and data order, and builds their :class:`Report` side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
import optax

from rmsjax.experiment.config import CompareConfig
from rmsjax.experiment.plan import Plan, load_data, prepare
from rmsjax.presets import PRESETS
from rmsjax.report import Report


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


def run_compare(
    config: CompareConfig | Plan, data: Any = None, *, progress: bool = False
) -> Report:
    """Train SGD, each RMSprop preset and Adam on one task, from the same initialisation and
    data order, and report them side by side (see :class:`CompareConfig`)."""
    plan = prepare(config, "compare")
    config, task = plan.config, plan.task
    data = load_data(plan) if data is None else data
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

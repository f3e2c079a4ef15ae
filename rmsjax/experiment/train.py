"""``rmsjax train``: :func:`run_train` trains one configuration and builds its :class:`Report`,
either with the task's epoch loop or as one run of a plain sweep again
(:attr:`~rmsjax.experiment.TrainConfig.sweep_run`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from rmsjax import tasks, training
from rmsjax.experiment.common import is_traced
from rmsjax.experiment.config import TrainConfig
from rmsjax.experiment.plan import Plan, load_data, prepare
from rmsjax.report import Report


def run_train(config: TrainConfig | Plan, data: Any = None, *, progress: bool = False) -> Report:
    """Train one configuration (see :class:`TrainConfig`; or its :class:`Plan`) and report it.

    ``data`` is the task's data (default: :func:`load_data`); ``progress`` shows a bar.
    """
    plan = prepare(config, "train")
    config, task = plan.config, plan.task
    data = load_data(plan) if data is None else data
    if config.sweep_run is not None:
        result = _train_as_sweep_run(plan, data)
    else:
        result = task.train(
            config.hparams,
            preset=plan.preset,
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


def _train_as_sweep_run(plan: Plan, data) -> tasks.TrainResult:
    """One run of a plain sweep again, bit for bit (see :attr:`TrainConfig.sweep_run`)."""
    start = time.perf_counter()
    config, task = plan.config, plan.task
    config_id, seed_index, width = config.sweep_run
    key = jax.random.fold_in(jax.random.key(config.seed), config_id)
    key = jax.random.fold_in(key, seed_index)  # the key rmsjax.sweep gives run (config, seed)
    data = task.sweep_data(data)  # the data the sweep trained on (its validation split out)
    train_fn = task.make_train_fn(
        data, epochs=config.epochs, batch_size=config.batch_size, preset=plan.preset
    )
    static = {k: v for k, v in config.hparams.items() if not is_traced(v)}

    def run(traced, key):
        return train_fn({**static, **traced}, key)

    traced = {k: jnp.asarray(v) for k, v in config.hparams.items() if is_traced(v)}
    if width == 1:
        out = jax.jit(run)(traced, key)
    else:
        copies = {k: jnp.stack([v] * width) for k, v in traced.items()}
        out = jax.jit(jax.vmap(run))(copies, jnp.stack([key] * width))
        out = {k: v[0] for k, v in out.items()}
    out = jax.device_get(out)
    metrics = {n: float(out[n]) for n in task.scalar_metrics}
    metrics["wall_seconds"] = time.perf_counter() - start
    description = task.describe_optimizer(config.hparams, plan.preset)
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

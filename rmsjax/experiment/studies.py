"""A sweep's Optuna studies: the seeded study an ``"optuna"`` search asks (kept in its resume
folder), and the storage a finished result is written to for ``optuna-dashboard``
(``optuna_storage``)."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import numpy as np

from rmsjax.experiment.config import SweepConfig


def optuna_study(config: SweepConfig, resume: Path | None):
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


def check_storage(config: SweepConfig) -> None:
    """Fails before training when ``config.optuna_storage`` cannot be reached; creates no
    study (a run interrupted before its first trial leaves none)."""
    import optuna  # resolve() checked that it is installed

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.storages.get_storage(config.optuna_storage)


def run_id(resume: Path | None) -> str | None:
    """The run id in ``resume``'s manifest, or None (no resume folder)."""
    manifest = None if resume is None else resume / "manifest.json"
    if manifest is None or not manifest.exists():
        return None
    return json.loads(manifest.read_text()).get("run_id")


def write_storage(config: SweepConfig, task, result, run_id: str | None) -> str | None:
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

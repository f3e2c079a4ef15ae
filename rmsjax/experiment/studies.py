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


def study_name(config: SweepConfig, task, run_id: str | None) -> str:
    """``config.study_name``, else a name after the run: ``rmsjax TASK SEARCH RUN_ID`` (without
    a resume folder, a time stamp instead of the run id: such a run cannot be continued)."""
    how = config.search + (f" halving {config.halving}" if config.halving is not None else "")
    if config.study_name is not None:
        return config.study_name
    if run_id is not None:
        return f"rmsjax {task.name} {how} {run_id}"
    stamp = f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} {secrets.token_hex(3)}"
    return f"rmsjax {task.name} {how} {stamp}"


def open_study(config: SweepConfig, task, name: str, run_id: str | None, create: bool):
    """Study ``name`` of ``config.optuna_storage`` (created, with the run's metric name and
    options, where ``create`` and it is missing; else None) and the configuration ids of this
    run's trials it holds. A study of the other direction is refused."""
    import warnings

    import optuna  # resolve() checked that it is installed

    direction = "maximize" if config.mode == "max" else "minimize"
    storage = config.optuna_storage
    try:
        study = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        study = None
    if study is not None:
        if study.direction.name != direction.upper():
            raise ValueError(
                f"`study_name` {name!r}: that study's direction is {study.direction.name}, "
                f"this run's {direction.upper()} ({config.metric!r}, mode={config.mode!r})"
            )
        written = {t.user_attrs.get("rmsjax_config") for t in study.trials
                   if t.user_attrs.get("rmsjax_run") == run_id}  # fmt: skip
        return study, written
    if not create:
        return None, set()
    study = optuna.create_study(storage=storage, study_name=name, direction=direction,
                                load_if_exists=True)  # fmt: skip
    with warnings.catch_warnings():  # experimental in Optuna: the dashboard shows the name
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([config.metric])
    study.set_user_attr("rmsjax", {"task": task.name, "preset": config.preset,
                                   "epochs": config.epochs, "seed": config.seed})  # fmt: skip
    return study, set()


def write_storage(config: SweepConfig, task, result, run_id: str | None,
                  name: str | None = None) -> str | None:  # fmt: skip
    """Writes ``result`` into study ``name`` (default `study_name`) of
    ``config.optuna_storage``: only the trials it lacks (tagged ``rmsjax_run`` and
    ``rmsjax_config``), creating the study with its first trial. Returns the study's name, or
    None when there was nothing to write and no study."""
    import optuna  # resolve() checked that it is installed

    name = study_name(config, task, run_id) if name is None else name
    direction = "maximize" if config.mode == "max" else "minimize"
    staging = optuna.create_study(direction=direction)  # in memory, to build the trials
    result.to_optuna(staging, config.metric, config.mode, space=config.space)
    study, written = open_study(config, task, name, run_id, create=False)
    tag = {} if run_id is None else {"rmsjax_run": run_id}
    new = [optuna.trial.create_trial(
        state=t.state, value=t.value, params=t.params, distributions=t.distributions,
        intermediate_values=t.intermediate_values, user_attrs={**t.user_attrs, **tag},
    ) for t in staging.trials if t.user_attrs["rmsjax_config"] not in written]  # fmt: skip
    if study is None:
        if not new:
            return None
        study, _ = open_study(config, task, name, run_id, create=True)
    study.add_trials(new)
    return name


class LiveStudy:
    """``config.optuna_storage``'s study, written while the search runs: `write` (the search's
    ``on_finish``) adds each configuration as a trial the moment it finishes (pruned ones at
    their rung), with its real start and end times, so that optuna-dashboard shows the search
    progress; `finish` adds what the study still lacks of the result (configurations loaded
    from the resume folder that an earlier run did not write). Trials carry ``rmsjax_run`` (the
    resume folder's run id) and ``rmsjax_config``, so none is written twice, and the study is
    created with its first trial: a run stopped before any configuration finished leaves
    none."""

    def __init__(self, config: SweepConfig, task, resume: Path | None):
        self.config, self.task, self.resume = config, task, resume
        self.name: str | None = None
        self.study = None
        self.written: set = set()

    def write(self, finished) -> None:
        here = run_id(self.resume)  # in the manifest before the first configuration finishes
        if self.study is None:
            self.name = study_name(self.config, self.task, here)
            self.study, self.written = open_study(self.config, self.task, self.name, here, True)
        if finished.config_id in self.written:
            return
        trial = finished.to_optuna(self.config.metric, self.config.space)
        if here is not None:
            trial.user_attrs["rmsjax_run"] = here
        self.study.add_trial(trial)
        self.written.add(finished.config_id)

    def finish(self, result) -> str | None:
        """Writes what the study lacks of ``result``; its name, or None when there was nothing
        to write and no study."""
        return write_storage(self.config, self.task, result, run_id(self.resume), self.name)

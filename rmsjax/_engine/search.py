"""`optuna_search`: Optuna decides which trials to run and when to prune; rmsjax trains them.

Optuna's sampler asks for each trial's hyperparameters (``study.ask``), its pruner judges every
unit's report (``trial.report``, ``trial.should_prune``) and ``study.tell`` records each trial;
rmsjax trains ``width`` trials at once in one vmapped, compiled `pool.Pool`, refilling a slot
as soon as its trial is told.
"""

from __future__ import annotations

import collections
import functools
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np

from rmsjax._engine import checks, driver, program
from rmsjax._engine.pool import Pool, auto_width, trace_trainer
from rmsjax._engine.progress import progress_bar
from rmsjax._engine.record import StagedRecord, StagedResult
from rmsjax._engine.spaces import Choice, Configs, IntUniform, distribution
from rmsjax._engine.store import Store, check_metadata, open_store, run_fields
from rmsjax._engine.trainer import Trainer

_INSTALL = "optuna_search needs Optuna: pip install optuna"


def _optuna():
    try:
        import optuna
    except ImportError as e:
        raise ImportError(_INSTALL) from e
    return optuna


# User attributes of the trials a search with an out_dir asks: the out_dir's run id and the
# configuration id; a retry of an interrupted trial also names the trial it repeats.
RUN_ATTR, CONFIG_ATTR, RETRY_ATTR = "rmsjax_run", "rmsjax_config", "rmsjax_retry_of"


class OptunaScheduler(driver.Scheduler):
    """Asks Optuna for a trial per free slot, reports every unit, tells a finished trial once
    ``on_finish`` has saved it.

    ``reserved``: configuration ids held by retries waiting in the study (see `settle_trial`);
    a retry asked by this search takes its id back (so it trains with the same key as the
    trial it repeats), and other trials take the other ids first.

    With a ``run_id`` (an out_dir), every trial carries the run's tags from the moment it
    exists: before asking, the scheduler enqueues a trial holding only the tags (``rmsjax_run``,
    ``rmsjax_config``; no parameters, so the sampler draws them), which ``study.ask`` then pops.
    A process killed at any point after that (even inside ``ask``, before the parameters are
    drawn) leaves a trial that the rerun recognises as its own and settles, never one it cannot
    tell from another process's live trial.
    """

    def __init__(self, study, distributions: dict, ids: list[int], metric: str, budget: int,
                 on_finish: Callable, run_id: str | None = None,
                 reserved: set[int] = frozenset()):  # fmt: skip
        self.study, self.distributions, self.on_finish = study, distributions, on_finish
        self.ids, self.metric, self.budget = collections.deque(ids), metric, budget
        self.run_id, self.reserved = run_id, set(reserved)
        self.sign = 1.0 if study.direction.name == "MAXIMIZE" else -1.0
        self.trials: dict[int, Any] = {}  # config id -> trial asked and not yet told
        self.tagged: int | None = None  # the config id of this run's tags waiting in the study

    def next(self) -> tuple[int, dict] | None:
        if not self.ids:
            return None
        if self.run_id is not None and self.tagged is None:
            free = [i for i in self.ids if i not in self.reserved]
            if free:  # else the trials asked are this run's retries, tagged already
                attrs = {RUN_ATTR: self.run_id, CONFIG_ATTR: free[0]}
                self.study.enqueue_trial({}, user_attrs=attrs)
                self.reserved.add(free[0])
                self.tagged = free[0]
        trial = self.study.ask(self.distributions)
        attrs = dict(trial.user_attrs)
        config_id = self._config_id(attrs)
        if config_id == self.tagged:
            self.tagged = None
        self.trials[config_id] = trial  # from here on, an interruption settles it
        if self.run_id is not None:
            # Popped another trial than the tags enqueued (a retry, or another process's
            # waiting trial): it becomes this run's.
            if attrs.get(RUN_ATTR) != self.run_id:
                trial.set_user_attr(RUN_ATTR, self.run_id)
            if attrs.get(CONFIG_ATTR) != config_id:
                trial.set_user_attr(CONFIG_ATTR, config_id)
        return config_id, dict(trial.params), None

    def _config_id(self, attrs: dict) -> int:
        """The id a retry of this run's held, else the first id no waiting retry holds."""
        mine = self.run_id is not None and attrs.get(RUN_ATTR) == self.run_id
        held = attrs.get(CONFIG_ATTR) if mine else None
        if held in self.ids:
            config_id = held
        else:
            config_id = next((i for i in self.ids if i not in self.reserved), self.ids[0])
        self.ids.remove(config_id)
        self.reserved.discard(config_id)
        return config_id

    def value(self, metrics: dict) -> float:
        return float(np.mean(np.asarray(metrics[self.metric], np.float64)))

    def decide(self, config_id: int, unit: int, metrics: dict) -> str:
        if unit >= self.budget:
            return driver.STOP
        trial = self.trials[config_id]
        trial.report(self.value(metrics), unit)
        return driver.PRUNE if trial.should_prune() else driver.CONTINUE

    def finished(self, config_id: int, unit: int, metrics: dict, pruned: bool) -> None:
        """Reports a finished trial's last value, has ``on_finish(config_id, units, pruned,
        number, params)`` save it, then tells it: an interruption loses no told trial."""
        trial, value = self.trials[config_id], self.value(metrics)
        state = _state(pruned, value)
        if state.name == "COMPLETE":
            trial.report(value, unit)
        self.on_finish(config_id, unit, pruned, trial.number, dict(trial.params))
        self.study.tell(trial, value if state.name == "COMPLETE" else None, state=state)
        del self.trials[config_id]  # told: nothing left to settle

    def interrupted(self, record: StagedRecord) -> None:
        """Settles every trial asked and not told (see `settle_trial`)."""
        for config_id, trial in self.trials.items():
            settle_trial(self.study, trial.number, trial.params, config_id, record, self.metric,
                         self.run_id)  # fmt: skip
        self.trials.clear()


def _state(pruned: bool, value: float):
    """PRUNED, FAIL for a non-finite value, else COMPLETE."""
    states = _optuna().trial.TrialState
    if pruned:
        return states.PRUNED
    return states.COMPLETE if math.isfinite(value) else states.FAIL


def settle_trial(study, number, params, config_id, record, metric, run_id) -> int | None:
    """Tells an interrupted trial: what ``record`` holds if it finished there (saved, with an
    out_dir), else FAIL; then, for a search with an out_dir (``run_id``), enqueues a retry
    with its parameters, as Optuna's ``RetryFailedTrialCallback`` does. Returns the
    configuration id the retry holds, or None."""
    known = 0 <= config_id < record.n
    if known and record.done[config_id] and record.arrays["_trial"][config_id, 0] == number:
        value = float(np.mean(np.asarray(record.arrays[metric][config_id], np.float64)))
        state = _state(bool(record.arrays["_pruned"][config_id, 0]), value)
        study.tell(number, value if state.name == "COMPLETE" else None, state=state,
                   skip_if_finished=True)  # fmt: skip
        return None
    study.tell(number, state=_optuna().trial.TrialState.FAIL, skip_if_finished=True)
    if run_id is None or not known or record.done[config_id]:
        return None
    attrs = {RETRY_ATTR: number, RUN_ATTR: run_id, CONFIG_ATTR: config_id}
    study.enqueue_trial(params, user_attrs=attrs)
    return config_id


def _settle(study, store: Store | None, record: StagedRecord, metric: str) -> set[int]:
    """Settles the trials this out_dir's run left RUNNING when it was killed (`settle_trial`);
    only trials tagged with its run id, never those of other processes sharing the study.
    Returns the configuration ids held by its retries waiting in the study."""
    if store is None or store.manifest is None or "_trial" not in record.arrays:
        return set()
    states = _optuna().trial.TrialState
    reserved = set()
    for trial in study.get_trials(deepcopy=False, states=(states.RUNNING, states.WAITING)):
        if trial.user_attrs.get(RUN_ATTR) != store.run_id:
            continue
        config_id = int(trial.user_attrs.get(CONFIG_ATTR, -1))
        if trial.state == states.RUNNING:
            args = (trial.number, trial.params, config_id, record, metric, store.run_id)
            config_id = settle_trial(study, *args)
        if config_id is not None and 0 <= config_id < record.n and not record.done[config_id]:
            reserved.add(config_id)
    return reserved


def optuna_search(
    trainer: Trainer,
    study,
    *,
    n_trials: int,
    space: Mapping[str, Any],
    key: jax.Array,
    budget: int,
    metric: str,
    width: int | str | None = "auto",
    seeds: int = 1,
    devices: Sequence[jax.Device] | None = None,
    out_dir: str | os.PathLike | None = None,
    metadata: Mapping[str, Any] | None = None,
    progress: bool = True,
    keys: str = "per_config",
    on_finish: Callable | None = None,
) -> StagedResult:
    """Optuna's sampler and pruner drive, rmsjax trains: ``width`` trials in one vmapped program.

    Every free slot asks ``study.ask(space)`` (``space`` translated to Optuna distributions), so
    the study's sampler (TPE, CMA-ES, random...) picks the hyperparameters. All slots advance
    one unit at a time; after each unit every trial reports the mean over seeds of ``metric``
    (``trial.report(value, unit)``) and the study's pruner decides (``trial.should_prune()``).
    Pruned and finished trials are told (``study.tell``: PRUNED, the final value, or FAIL for a
    non-finite one) and their slots refilled. ``init`` and ``advance`` are traced and compiled
    once each, whatever the number of trials. The study's ``direction`` sets what is better,
    once: the result records it (``objective``), so its `best` and `rank` rank ``metric`` that
    way without a ``mode`` (and refuse a contradicting one).

    ``width="auto"``: as many slots as `rmsjax.sweep`'s ``chunk_size="auto"`` would batch, at
    most ``n_trials // 10`` (a sampler learns only from trials already told, so a wider pool
    makes it closer to random search), at least one per device.

    Resuming: with ``out_dir`` every finished trial's metrics are saved before the study is
    told, so a told trial is never lost; a rerun with the same arguments (``metadata``
    included) trains only the trials still missing out of ``n_trials`` (a larger ``n_trials``
    extends the search). Give the study a persistent storage
    (``optuna.create_study(storage=..., load_if_exists=True)``) so that it remembers the told
    trials too. No trial is left RUNNING: on Ctrl-C or an error the trials in flight are
    settled before the exception propagates, and those a kill (SIGKILL, a crash of the machine)
    left RUNNING are settled when the search resumes from ``out_dir``. Settling tells a trial
    that finished (saved) what was saved, and tells one still training FAIL; with ``out_dir``
    it is then enqueued again with its parameters (as Optuna's ``RetryFailedTrialCallback``
    does; the retry's user attribute ``rmsjax_retry_of`` is the failed trial's number) and
    trains in its configuration slot, with the same key. A search with ``out_dir`` knows its
    trials by user attributes that each trial carries from the moment it exists (they are
    enqueued before ``study.ask``, which pops them): ``rmsjax_run`` (the run id in the
    manifest) and ``rmsjax_config`` (the configuration id), so even a kill inside ``ask``
    leaves a trial the rerun settles, and a live trial of another process is never taken for
    a dead one. Without ``out_dir``, trials a kill leaves in flight stay RUNNING.

    Several processes (or machines) can search one study: give each the same study name and a
    storage they share (an RDB such as ``"sqlite:///study.db"`` on one machine or a database
    server across machines; or ``optuna.storages.JournalStorage`` with a
    ``JournalFileBackend`` on a file system they share) and each its own ``out_dir`` (a folder
    has one writer: a second process opening it is refused). Each process asks ``n_trials``
    trials, so the study ends with the sum of them; a process settles only its own interrupted
    trials, never those another process is training. ``key`` gives trial ``i`` of every process
    the same key: pass each process its own key (e.g. ``fold_in(key, process)``) unless those
    common random numbers are what you want, and leave the sampler unseeded (or seed it per
    process) so that the processes do not propose the same parameters.

    Static axes (bool, str or None choices) are not supported here: run one search per value.
    One call runs in one JAX process, on all its local devices (not in a multi-process JAX
    job); to search on several machines, run one such process on each, sharing the study.

    Args:
      trainer: an `rmsjax.Trainer`.
      study: an ``optuna.Study`` with one objective.
      n_trials: trials to run in this process (with ``out_dir``: including those finished
        before in it).
      space: axis name -> `rmsjax.uniform`, `loguniform`, `choice`, a list of numbers (a
        tuple is refused as ambiguous: a range or two values?), or Optuna's own
        ``FloatDistribution`` (with ``log``; ``step`` is refused: give a list),
        ``IntDistribution`` (with ``step`` or ``log``; traced as an int) or
        ``CategoricalDistribution`` of numbers.
      key: a PRNG key; trial ``i`` (in ask order) trains with ``fold_in(key, i)`` as a sweep's
        configuration ``i`` does (with ``keys="shared"``: ``fold_in(key, 0)``, every trial);
        `SweepResult.key_of` gives each.
      budget: units (epochs) a trial trains unless pruned.
      metric: the scalar metric of ``Trainer.advance`` that is reported and optimized.
      width: slots (trials trained together), ``None`` (all ``n_trials`` at once) or ``"auto"``.
      seeds: seeds per trial (the mean is reported).
      devices: devices to shard the slots over; default all of ``jax.devices()``.
      out_dir: directory to save finished trials in (one per process), or None.
      metadata: JSON-serialisable data about the search (task, data version, ...), recorded in
        ``out_dir``'s manifest (a rerun with other metadata is refused, naming the keys that
        differ) and returned as `SweepResult.metadata`, as `rmsjax.sweep` does.
      progress: a tqdm progress bar over trials.
      keys: ``"per_config"`` (each trial its own keys) or ``"shared"`` (common random numbers:
        seed ``s`` is the same key for every trial, so trials differ by their hyperparameters
        alone; see `rmsjax.sweep` on when to use which); recorded in ``out_dir``.
      on_finish: None, or a function called with an `rmsjax.Finished` as each trial finishes,
        after it is saved and before the study is told (as `rmsjax.sweep`'s).

    Returns:
      A `SweepResult` over the trials (configuration ``i`` is the ``i``-th trial asked), with
      ``budget`` and ``pruned`` per trial; ``best`` considers trials trained the full budget.

    Example:
      >>> import jax, jax.numpy as jnp, optuna, rmsjax
      >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
      >>> trainer = rmsjax.Trainer(
      ...     init=lambda hp, key: jnp.float32(5.0),
      ...     advance=lambda x, hp, key: (x * (1 - hp["lr"]), {"x": x * (1 - hp["lr"])}))
      >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
      >>> result = rmsjax.optuna_search(
      ...     trainer, study, n_trials=8, space={"lr": rmsjax.uniform(0.0, 0.5)},
      ...     key=jax.random.key(0), budget=3, metric="x", progress=False)
      >>> len(study.trials), result.metrics["x_curve"].shape
      (8, (8, 1, 3))
    """
    optuna = _optuna()
    args = _check(trainer, study, n_trials, space, budget, metric, width, seeds, optuna)
    n_trials, dists, budget, width, seeds = args
    metadata = check_metadata(metadata)
    run_key, devices = program.split_key(key, keys), program.check_devices(devices)
    store = open_store(out_dir, _header(study, dists, seeds, run_key, budget, metric, metadata))
    record = StagedRecord(n_trials, seeds, budget)
    record.load(store)
    if on_finish is not None:
        if not callable(on_finish):
            raise TypeError(f"`on_finish` must be a function or None, got {on_finish!r}")

        def params(config_id):
            return {n: record.arrays[f"_hp_{n}"][config_id, 0].item() for n in dists}

        record.on_finish = (on_finish, params)
    reserved = _settle(study, store, record, metric)
    ids = [int(i) for i in np.flatnonzero(~record.done)]
    if ids or store is not None:  # traced even when every trial has finished: checked
        scheduler = _Search(trainer, study, dists, metric, budget, width, seeds, run_key, devices)
        scheduler.check(record, store)
    if ids:
        scheduler.run(ids, record, store, progress, reserved)
    columns = {n: record.arrays[f"_hp_{n}"][:, 0].tolist() for n in dists} if record.spec else {}
    objective = (metric, "max" if study.direction.name == "MAXIMIZE" else "min")
    space = Configs(columns or {n: [] for n in dists})
    return record.result(space, store, metadata, objective, key=key, keys=keys, run_order="trials")


class _Search:
    """One `optuna_search` call's unfinished trials: traced, compiled once, run in a pool."""

    def __init__(self, trainer, study, dists, metric, budget, width, seeds, run_key, devices):
        self.study, self.dists, self.metric, self.budget = study, dists, metric, budget
        self.width, self.seeds, self.key, self.devices = width, seeds, run_key, devices
        self.dtypes = _dtypes_of(dists)
        self.traced = trace_trainer(trainer, {}, self.dtypes, run_key.aval)
        self.retrace = functools.partial(trace_trainer, trainer, {}, self.dtypes)
        if metric not in self.traced.scalar_metrics():
            raise ValueError(
                f"`metric` {metric!r} is not a scalar metric of Trainer.advance, which returns "
                f"{self.traced.metric_names}"
            )

    def _spec(self, record) -> dict:
        ints = {n: np.issubdtype(dt, np.integer) for n, dt in self.dtypes.items()}
        extra = {"_trial": np.int64, **{f"_hp_{n}": np.int64 if ints[n] else np.float64
                                        for n in self.dists}}  # fmt: skip
        return record.set_spec(self.traced, extra)

    def check(self, record, store) -> None:
        """Refuses a program other than the one that filled ``store`` (see `Store`)."""
        if store is not None:
            store.check_program(0, self.key, self._spec(record), self.traced, self.retrace)

    def run(self, ids: list[int], record, store, progress: bool, reserved: set[int]) -> None:
        self._spec(record)
        n, devices = len(ids), self.devices
        fixed = checks.fixed_width(self.width, n, len(devices))
        if fixed is not None:  # a width given here is used even where another was recorded
            record.widths[0] = fixed

        def choose():
            run_bytes = self.traced.largest * self.seeds
            return auto_width(n, devices, run_bytes, cap=max(1, n // 10))

        width = record.open_group(store, 0, self.key, self.traced, self.retrace, len(devices),
                                  choose)  # fmt: skip
        pool = Pool(self.traced, self.dtypes, self.key, self.seeds, width, devices)
        optuna_dists = {name: d.to_optuna() for name, d in self.dists.items()}
        run_id = None if store is None else store.run_id
        with progress_bar(len(ids), progress, "optuna_search") as bar:

            def finish(config_id, units, pruned, number, params):
                hp = {f"_hp_{n}": v for n, v in params.items()}
                record.finish(config_id, units, pruned, store, _trial=number, **hp)
                if bar is not None:
                    bar.update(1)

            scheduler = OptunaScheduler(self.study, optuna_dists, ids, self.metric, self.budget,
                                        finish, run_id, reserved)  # fmt: skip
            try:
                driver.drive(pool, scheduler, record)
            except BaseException:  # Ctrl-C or an error: no trial is left RUNNING in the study
                scheduler.interrupted(record)
                raise


def _check(trainer, study, n_trials, space, budget, metric, width, seeds, optuna):
    if not isinstance(trainer, Trainer):
        raise TypeError(f"`trainer` must be an rmsjax.Trainer, got {trainer!r}")
    if not isinstance(study, optuna.Study):
        raise TypeError(f"`study` must be an optuna.Study, got {study!r}")
    if jax.process_count() > 1:
        raise ValueError(
            "optuna_search runs in one process (every process would ask its own trials); for "
            "multi-host search use rmsjax.sweep with halving"
        )
    if len(study.directions) != 1:
        raise ValueError("optuna_search needs a study with one objective (one direction)")
    if not isinstance(space, Mapping) or not space:
        raise ValueError(f"`space` must be a non-empty dict of axis -> distribution, got {space!r}")
    dists = {name: distribution(name, value, "optuna_search") for name, value in space.items()}
    static = [name for name, d in dists.items() if d.static]
    if static:
        raise ValueError(
            f"optuna_search does not support static axes {static} (bool, str or None values); "
            "run one search per value"
        )
    if not isinstance(metric, str):
        raise TypeError(f"`metric` must be a metric name, got {metric!r}")
    n_trials, seeds = checks.positive_int("n_trials", n_trials), checks.positive_int("seeds", seeds)
    width = checks.check_width(width, "width")
    return n_trials, dists, checks.check_budget(budget), width, seeds


def _header(study, dists, seeds, run_key, budget, metric, metadata) -> dict:
    return {
        "search": "optuna",
        "metadata": metadata,  # compared first: a mismatch names the differing keys
        "study": study.study_name,
        "direction": study.direction.name,
        "space": {name: d.to_json() for name, d in dists.items()},
        **run_fields(seeds, run_key),
        "budget": budget,
        "metric": metric,
    }


def _dtypes_of(dists: dict) -> dict[str, np.dtype]:
    """The traced dtype of each axis of ``dists`` (distributions): int only for int choices."""
    out = {}
    for name, dist in dists.items():
        ints = isinstance(dist, IntUniform) or (
            isinstance(dist, Choice) and all(isinstance(v, int) for v in dist.values)
        )
        out[name] = jax.dtypes.canonicalize_dtype(np.int64 if ints else np.float64)
    return out

"""Staged sweeps: a `Trainer` trained unit by unit in one slot pool, with optional halving.

`sweep_trainer` is what `rmsjax.sweep` runs for a `Trainer`: every configuration of the space
trained ``budget`` units, or, with `halving`, asynchronous successive halving (Li et al. 2018,
"A System for Massively Parallel Hyperparameter Tuning"; Jamieson and Talwalkar 2016). The pool
(`pool.Pool`) and the result record (`StagedRecord`) are shared with `optuna_search`.
"""

from __future__ import annotations

import collections
import dataclasses
import math
import numbers
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from rmsjax._engine import checks, program
from rmsjax._engine.pool import Pool, TracedTrainer, auto_width, trace_trainer
from rmsjax._engine.results import SweepResult
from rmsjax._engine.store import Store

_MODES = ("min", "max")


# Halving.


@dataclasses.dataclass(frozen=True)
class Halving:
    """Asynchronous successive halving, built by `halving`."""

    metric: str
    mode: str = "max"
    eta: int = 3
    min_budget: int = 1

    def rungs(self, budget: int) -> list[int]:
        """The units ``min_budget * eta**k`` below ``budget`` where configurations are compared."""
        out, rung = [], self.min_budget
        while rung < budget:
            out.append(rung)
            rung *= self.eta
        return out


def halving(metric: str, mode: str = "max", eta: int = 3, min_budget: int = 1) -> Halving:
    """Asynchronous successive halving for `rmsjax.sweep` with a `Trainer`.

    Configurations run in a fixed number of slots, one unit at a time. When a configuration has
    trained ``min_budget * eta**k`` units (a rung), it continues only if the mean over seeds of
    ``metric`` puts it in the top ``1/eta`` of the configurations that reached that rung so far
    (while fewer than ``eta`` have, only if it is the best of them, as Optuna's
    ``SuccessiveHalvingPruner`` does); otherwise it stops (``pruned``) and its slot takes the next
    configuration. A NaN or infinite score always stops.

    Args:
      metric: a scalar metric returned by ``Trainer.advance``.
      mode: ``"max"`` (default) or ``"min"``: which direction is better.
      eta: the halving rate, an int >= 2.
      min_budget: the first rung, an int >= 1.

    >>> import rmsjax
    >>> rmsjax.halving("test_accuracy", eta=3).rungs(27)
    [1, 3, 9]
    """
    if not isinstance(metric, str):
        raise TypeError(f"halving: `metric` must be a metric name, got {metric!r}")
    if mode not in _MODES:
        raise ValueError(f"halving: `mode` must be 'min' or 'max', got {mode!r}")
    if isinstance(eta, bool) or not isinstance(eta, numbers.Integral) or eta < 2:
        raise ValueError(f"halving: `eta` must be an int >= 2, got {eta!r}")
    if (
        isinstance(min_budget, bool)
        or not isinstance(min_budget, numbers.Integral)
        or min_budget < 1
    ):
        raise ValueError(f"halving: `min_budget` must be an int >= 1, got {min_budget!r}")
    return Halving(metric, mode, int(eta), int(min_budget))


def score(values: np.ndarray, mode: str) -> float:
    """Mean over seeds, as a number where larger is better (NaN for a non-finite mean)."""
    mean = float(np.mean(np.asarray(values, np.float64)))
    if not math.isfinite(mean):
        return math.nan
    return mean if mode == "max" else -mean


def promotable(value: float, seen: list[float], eta: int) -> bool:
    """Whether ``value`` (larger is better; in ``seen``) is in the top ``len(seen) // eta``."""
    if math.isnan(value):
        return False
    top = max(1, len(seen) // eta)
    ranked = sorted((v for v in seen if not math.isnan(v)), reverse=True)
    return value >= ranked[min(top, len(ranked)) - 1]


# Schedulers: which configuration runs next, and whether one stops at a unit.


class Queue:
    """Every configuration of ``ids`` in order, each to the full budget."""

    def __init__(self, ids: list[int], space):
        self.queue = collections.deque(ids)
        self.space = space

    def next(self) -> tuple[int, dict] | None:
        if not self.queue:
            return None
        config_id = self.queue.popleft()
        return config_id, self.space[config_id]

    def stop(self, config_id: int, unit: int, metrics: dict) -> bool:
        return False

    def finished(self, config_id: int, unit: int, metrics: dict, pruned: bool) -> None:
        pass


class Asha(Queue):
    """`Queue` with halving: ``seen`` holds every score recorded at each rung (shared by groups)."""

    def __init__(self, ids, space, rule: Halving, budget: int, seen: dict[int, list[float]]):
        super().__init__(ids, space)
        self.rule, self.seen = rule, seen
        self.rungs = set(rule.rungs(budget))

    def stop(self, config_id: int, unit: int, metrics: dict) -> bool:
        if unit not in self.rungs:
            return False
        value = score(metrics[self.rule.metric], self.rule.mode)
        self.seen.setdefault(unit, []).append(value)
        return not promotable(value, self.seen[unit], self.rule.eta)


# The record of results.


class StagedRecord:
    """Final metrics, per-unit curves, units trained and pruned flags of every configuration."""

    def __init__(self, n: int, seeds: int, budget: int):
        self.n, self.seeds, self.budget = n, seeds, budget
        self.spec: dict[str, dict] | None = None  # what is stored, in order
        self.arrays: dict[str, np.ndarray] = {}
        self.done = np.zeros(n, bool)
        self.loaded = np.zeros(n, bool)  # finished in an earlier run, read from out_dir
        self.widths: dict[int, int] = {}
        self.extra: list[str] = []  # names of the columns besides metrics, curves, units, pruned

    def set_spec(self, traced: TracedTrainer, extra: dict[str, str] | None = None) -> dict:
        """The stored arrays: metrics, ``<name>_curve`` of scalar ones, ``_units``, ``_pruned``."""
        pairs = zip(traced.metric_names, traced.metric_avals, strict=True)
        spec = {n: _spec(a.shape, a.dtype) for n, a in pairs}
        curves = {f"{n}_curve": _spec((self.budget,), np.float64) for n in traced.scalar_metrics()}
        clash = sorted((set(curves) | {"budget", "pruned"}) & set(spec))
        if clash:
            raise ValueError(f"Trainer.advance returns metrics named {clash}, which staged sweeps "
                             "use for curves and columns; rename them")  # fmt: skip
        spec = {**spec, **curves, "_units": _spec((), np.int32), "_pruned": _spec((), np.bool_)}
        spec.update({k: _spec((), dt) for k, dt in (extra or {}).items()})
        if self.spec is not None and spec != self.spec:
            raise ValueError(
                f"Trainer.advance returns {spec} here but {self.spec} for other configurations "
                "(or in the out_dir's manifest); every configuration must return the same metrics"
            )
        if self.spec is None:
            self.spec, self.extra = spec, list(extra or {})
            self.arrays = {k: _empty(s, self.n, self.seeds) for k, s in spec.items()}
        return spec

    def unit(self, config_id: int, unit: int, metrics: dict[str, np.ndarray]) -> None:
        for name, value in metrics.items():
            self.arrays[name][config_id] = value
            curve = self.arrays.get(f"{name}_curve")
            if curve is not None:
                curve[config_id, :, unit - 1] = value

    def finish(self, config_id: int, units: int, pruned: bool, store: Store | None, **extra):
        self.arrays["_units"][config_id] = units
        self.arrays["_pruned"][config_id] = pruned
        for k, v in extra.items():
            self.arrays[k][config_id] = v
        self.done[config_id] = True
        if store is not None:
            store.save(np.asarray([config_id]), [a[[config_id]] for a in self.arrays.values()])

    def load(self, store: Store | None) -> None:
        """The configurations ``store`` holds, finished in an earlier run."""
        if store is None or store.metrics is None:
            return
        self.spec = store.metrics
        self.extra = [k for k in self.spec if k.startswith("_") and k not in ("_units", "_pruned")]
        self.arrays = {k: _empty(s, self.n, self.seeds) for k, s in self.spec.items()}
        self.widths = store.widths
        for ids, arrays in store.load():
            keep = ids < self.n
            for array, name in zip(arrays, self.spec, strict=True):
                self.arrays[name][ids[keep]] = array[keep]
            self.done[ids[keep]] = True
        self.loaded = self.done.copy()
        if jax.process_count() > 1:
            multihost_utils.assert_equal(
                self.done, f"processes found different finished configurations in out_dir "
                f"{store.path!r}: it must be a directory every process sees")  # fmt: skip

    def begin_group(self, store: Store | None, first_id: int, key, traced, spec) -> None:
        """Checks ``traced`` against the program that filled ``store``, then records it there."""
        if store is None:
            return
        kind = "typed_key" if key.typed else "raw_key"
        store.check_program(first_id, kind, spec, traced.fingerprint, traced.text)
        width = self.widths[first_id]
        store.begin_group(first_id, width, kind, spec, traced.fingerprint, traced.text)

    def result(self, space, store: Store | None, metadata: dict) -> StagedResult:
        if store is not None and jax.process_count() > 1:  # process 0 has written everything
            multihost_utils.sync_global_devices("rmsjax staged sweep: out_dir written")
        hidden = {"_units", "_pruned", *self.extra}
        metrics = {k: v for k, v in self.arrays.items() if k not in hidden}
        units = self.arrays.get("_units", np.zeros((self.n, self.seeds), np.int32))
        pruned = self.arrays.get("_pruned", np.zeros((self.n, self.seeds), bool))
        widths = dict(sorted(self.widths.items()))
        return StagedResult(space, self.seeds, metrics, widths, metadata, units[:, 0].copy(),
                            pruned[:, 0].copy(), self.budget, loaded=self.loaded)  # fmt: skip


def _spec(shape, dtype) -> dict:
    return {"shape": list(shape), "dtype": np.dtype(dtype).name}


def _empty(spec: dict, n: int, seeds: int) -> np.ndarray:
    shape, dtype = (n, seeds, *spec["shape"]), np.dtype(spec["dtype"])
    if np.issubdtype(dtype, np.inexact):
        return np.full(shape, np.nan, dtype)
    return np.zeros(shape, dtype)


@dataclasses.dataclass(repr=False, eq=False)
class StagedResult(SweepResult):
    """A `SweepResult` of a staged sweep, with ``budget`` (units trained per configuration) and
    ``pruned`` (stopped early by halving or an Optuna pruner). `best` considers only
    configurations that trained the full ``max_budget``; `to_pandas` has both columns."""

    budget: np.ndarray = None  # int (n_configs,)
    pruned: np.ndarray = None  # bool (n_configs,)
    max_budget: int = 0

    def _eligible(self) -> np.ndarray:
        return self.budget >= self.max_budget

    def best(self, metric: str, mode: str = "min") -> dict[str, Any]:
        """As `SweepResult.best`, among configurations trained the full ``max_budget``."""
        first = self.rank(metric, mode)[0]
        if not self._eligible()[first] or np.isnan(self._scores(metric, mode)[first]):
            raise ValueError(
                f"no configuration was trained the full budget ({self.max_budget} units) with a "
                f"finite {metric!r}; there is no best one"
            )
        return self.space[first]

    def to_pandas(self):
        frame = super().to_pandas()
        frame["budget"] = np.repeat(self.budget, self.seeds)
        frame["pruned"] = np.repeat(self.pruned, self.seeds)
        return frame

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f"; pruned: {int(self.pruned.sum())})"


# The driver.


def run_pool(pool: Pool, scheduler, record: StagedRecord, budget: int, on_finish: Callable):
    """Fills free slots from ``scheduler``, advances every slot a unit, stops and finishes runs,
    until the scheduler has nothing left and every slot is free."""
    names = pool.traced.metric_names
    while True:
        fresh = np.zeros(pool.width, bool)
        for slot in pool.free_slots():
            job = scheduler.next()
            if job is None:
                break
            pool.place(slot, *job)
            fresh[slot] = True
        if not pool.active():
            return
        if fresh.any():
            pool.start(fresh)
        running = [int(s) for s in np.flatnonzero(pool.config >= 0)]
        metrics = pool.step()
        for slot in sorted(running, key=lambda s: pool.config[s]):
            config_id, unit = int(pool.config[slot]), int(pool.units[slot])
            values = {n: m[slot] for n, m in zip(names, metrics, strict=True)}
            record.unit(config_id, unit, values)
            pruned = unit < budget and scheduler.stop(config_id, unit, values)
            if pruned or unit >= budget:
                pool.release(slot)
                scheduler.finished(config_id, unit, values, pruned)
                on_finish(config_id, unit, pruned)


def replay_rungs(record: StagedRecord, rule: Halving, budget: int) -> dict[int, list[float]]:
    """The rung scores of configurations finished earlier (from their curves), for a resume."""
    seen: dict[int, list[float]] = {}
    curve = record.arrays.get(f"{rule.metric}_curve")
    if curve is None:
        return seen
    units = record.arrays["_units"][:, 0]
    for config_id in np.flatnonzero(record.done):
        for rung in rule.rungs(budget):
            if units[config_id] >= rung:
                value = score(curve[config_id, :, rung - 1], rule.mode)
                seen.setdefault(rung, []).append(value)
    return seen


def sweep_trainer(trainer, space, *, key, budget, seeds, chunk_size, devices, out_dir, progress,
                  halving_rule: Halving | None, metadata: dict) -> StagedResult:  # fmt: skip
    """`rmsjax.sweep` for a `Trainer` (see its docstring)."""
    budget, width = checks.check_budget(budget), checks.check_width(chunk_size, "chunk_size")
    if halving_rule is not None and not isinstance(halving_rule, Halving):
        raise TypeError(f"`halving` must come from rmsjax.halving(...), got {halving_rule!r}")
    run = _Run(trainer, space, seeds, program.split_key(key), program.check_devices(devices),
               budget, width, halving_rule)  # fmt: skip
    store = _open_store(out_dir, space, seeds, run.key, budget, halving_rule, metadata)
    record = StagedRecord(len(space), seeds, budget)
    record.load(store)
    seen = replay_rungs(record, halving_rule, budget) if halving_rule else {}
    groups = checks.groups(space)
    todo = {g: [i for i in ids if not record.done[i]] for g, ids in groups.items()}
    total = sum(map(len, todo.values()))
    with checks.progress_bar(total, progress, "sweep") as bar:
        for static_values, ids in groups.items():  # traced even when finished: checked
            run.group(static_values, ids, todo[static_values], record, store, seen, bar)
    return record.result(space, store, metadata)


@dataclasses.dataclass
class _Run:
    """What every static combination of one staged sweep shares."""

    trainer: Any
    space: Any
    seeds: int
    key: program.RunKey
    devices: list
    budget: int
    width: int | str | None
    rule: Halving | None

    def group(self, static_values, ids, todo, record: StagedRecord, store, seen, bar) -> None:
        """Traces, compiles and runs the unfinished configurations of one static combination."""
        static = dict(zip(self.space.static_axes, static_values, strict=True))
        dynamic = {n: checks.traced_dtype(self.space.column(n)) for n in self.space.dynamic_axes}
        traced = trace_trainer(self.trainer, static, dynamic, self.key.aval)
        _check_halving_metric(self.rule, traced)
        spec = record.set_spec(traced)
        if store is not None:
            kind = "typed_key" if self.key.typed else "raw_key"
            store.check_program(ids[0], kind, spec, traced.fingerprint, traced.text)
        if not todo:
            return
        if ids[0] not in record.widths:  # a resumed sweep keeps its widths
            record.widths[ids[0]] = _width(self.width, len(ids), self.devices, traced,
                                           self.seeds, self.rule)  # fmt: skip
        record.begin_group(store, ids[0], self.key, traced, spec)
        width = record.widths[ids[0]]
        pool = Pool(traced, self.space.dynamic_axes, self.key, self.seeds, width, self.devices)
        if self.rule is None:
            scheduler = Queue(todo, self.space)
        else:
            scheduler = Asha(todo, self.space, self.rule, self.budget, seen)

        def finish(config_id, units, pruned):
            record.finish(config_id, units, pruned, store)
            if bar is not None:
                bar.update(1)

        run_pool(pool, scheduler, record, self.budget, finish)


def _open_store(out_dir, space, seeds, run_key, budget, rule, metadata) -> Store | None:
    if out_dir is None:
        return None
    header = {
        "space": space.to_json(),
        "metadata": metadata,
        "seeds": seeds,
        "key": checks.key_header(run_key),
        "budget": budget,
        "halving": dataclasses.asdict(rule) if rule else None,
    }
    return Store(out_dir, header, writer=jax.process_index() == 0)


def _check_halving_metric(rule: Halving | None, traced: TracedTrainer) -> None:
    if rule is not None and rule.metric not in traced.scalar_metrics():
        raise ValueError(
            f"halving metric {rule.metric!r} is not a scalar metric of Trainer.advance, which "
            f"returns {traced.metric_names}"
        )


def _width(width, n: int, devices, traced, seeds, rule) -> int:
    """The slots of a group of ``n`` configurations: as given, all (None), or `auto_width`."""
    fixed = checks.fixed_width(width, n, len(devices))
    if fixed is not None:
        return fixed
    cap = None if rule is None else math.ceil(n / rule.eta)
    return auto_width(n, devices, traced.largest * seeds, cap)

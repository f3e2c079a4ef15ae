"""Staged sweeps: a `Trainer` trained unit by unit in one slot pool, with optional halving.

`sweep_trainer` is what `rmsjax.sweep` runs for a `Trainer`: every configuration of the space
trained ``budget`` units, or, with `halving`, synchronous successive halving (Jamieson and
Talwalkar 2016; Li et al. 2020), runs paused at each rung and the best promoted. The pool
(`pool.Pool`) and the result record (`StagedRecord`) are shared with `optuna_search`.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import math
import numbers
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from rmsjax._engine import checks, columns, driver, program
from rmsjax._engine.pool import Paused, Pool, TracedTrainer, auto_width, trace_trainer
from rmsjax._engine.results import SweepResult
from rmsjax._engine.store import Store, key_kind, open_store, run_fields

# Halving.


@dataclasses.dataclass(frozen=True)
class Halving:
    """Synchronous successive halving, built by `halving`."""

    metric: str
    mode: str
    eta: int = 3
    min_budget: int = 1
    tiebreak: tuple[str, str] | None = None

    def rungs(self, budget: int) -> list[int]:
        """The units ``min_budget * eta**k`` below ``budget`` where configurations are compared."""
        out, rung = [], self.min_budget
        while rung < budget:
            out.append(rung)
            rung *= self.eta
        return out


def halving(
    metric: str,
    mode: str | None = None,
    eta: int = 3,
    min_budget: int = 1,
    tiebreak: tuple[str, str] | None = None,
) -> Halving:
    """Synchronous successive halving for `rmsjax.sweep` with a `Trainer`.

    The rungs are ``min_budget * eta**k`` units below the budget. Every configuration trains to
    the first rung; there it is paused (its carry copied to the host, and with ``out_dir`` saved
    there). Once all have arrived, the top ``max(1, n // eta)`` of the ``n`` by the mean over
    seeds of ``metric`` (a NaN or infinite score never; ties, an equal mean, decided by
    ``tiebreak``'s mean at that rung if given, NaN last, then to the smaller configuration id)
    are promoted: resumed from their carry to the next rung, and so on up to the budget. The
    others stop (``pruned``, ``budget`` = the rung). With 81 configurations and ``eta=3``: 81
    train 1 unit, 27 reach 3, 9 reach 9 and 3 the budget of 27, 243 units instead of 2,187. The
    rungs are global: configurations of every static combination compete in one ranking.

    Why synchronous (Jamieson and Talwalkar 2016; Li et al. 2020, "A System for Massively
    Parallel Hyperparameter Tuning", Algorithm 1) and not ASHA's asynchronous promotion: the
    slots of one pool advance in lockstep, so there are no stragglers for asynchrony to hide,
    and a configuration is judged against everything that reached its rung, never against the
    few that happened to arrive first (the rule of Optuna's ``SuccessiveHalvingPruner``, which
    cannot pause: the first arrival always continues, a good late arrival may stop). The
    decisions depend only on the scores, so they do not change with the pool's width, the
    devices or an interruption: a sweep resumed from ``out_dir`` (paused runs included) gives
    every bit of an uninterrupted one. While fewer configurations than slots remain at a rung,
    the free slots idle.

    The direction is stated here, once, and required: the result of the sweep records it
    (``objective``), so its `best` and `rank` rank ``metric`` the same way without a ``mode``
    (and refuse a contradicting one).

    Args:
      metric: a scalar metric returned by ``Trainer.advance``.
      mode: ``"min"`` (lower is better: a loss) or ``"max"`` (an accuracy); required.
      eta: the halving rate, an int >= 2.
      min_budget: the first rung, an int >= 1.
      tiebreak: None or a ``(metric, mode)`` pair, e.g. ``("val_loss", "min")``: another
        scalar metric of ``Trainer.advance`` that orders configurations tied on ``metric`` at
        each rung (for the pick, pass it to the result's `best` too).

    >>> import rmsjax
    >>> rmsjax.halving("test_accuracy", mode="max", eta=3).rungs(27)
    [1, 3, 9]
    """
    checks.direction("halving", metric, mode)
    tiebreak = checks.tiebreak("halving", tiebreak)
    if isinstance(eta, bool) or not isinstance(eta, numbers.Integral) or eta < 2:
        raise ValueError(f"halving: `eta` must be an int >= 2, got {eta!r}")
    if (
        isinstance(min_budget, bool)
        or not isinstance(min_budget, numbers.Integral)
        or min_budget < 1
    ):
        raise ValueError(f"halving: `min_budget` must be an int >= 1, got {min_budget!r}")
    return Halving(metric, mode, int(eta), int(min_budget), tiebreak)


def score(values: np.ndarray, mode: str) -> float:
    """Mean over seeds, as a number where larger is better (NaN for a non-finite mean)."""
    mean = float(np.mean(np.asarray(values, np.float64)))
    if not math.isfinite(mean):
        return math.nan
    return mean if mode == "max" else -mean


def promote(
    ids: list[int], scores: list[float], eta: int, seconds: list[float] | None = None
) -> list[int]:
    """The top ``max(1, len(ids) // eta)`` of ``ids`` by ``scores`` (larger is better; NaN
    never), in increasing id order. Equal scores are ordered by ``seconds`` (the tie-breaker's
    scores, larger is better, NaN last among the tied) if given, then to the smaller id.

    >>> promote([0, 1, 2, 3], [0.9, 0.9, 0.9, 0.5], eta=3)
    [0]
    >>> promote([0, 1, 2, 3], [0.9, 0.9, 0.9, 0.5], eta=3, seconds=[-0.4, -0.2, -0.3, 0.0])
    [1]
    """
    if seconds is None:
        seconds = [0.0] * len(ids)
    ranked = sorted(
        (-v, math.isnan(t), 0.0 if math.isnan(t) else -t, i)
        for i, v, t in zip(ids, scores, seconds, strict=True)
        if not math.isnan(v)
    )
    return sorted(r[-1] for r in ranked[: max(1, len(ids) // eta)])


# Halving's scheduler: one rung.


class Stage(driver.Scheduler):
    """Trains every job ``(config_id, values, paused or None)`` to ``target`` units, each fresh
    or from its `Paused` carry; ``on_reach(config_id, paused)`` when it gets there (``paused``:
    its carry taken back to the host, or None at the ``budget``)."""

    def __init__(self, jobs: list, target: int, budget: int, on_reach: Callable):
        self.jobs, self.target, self.budget = collections.deque(jobs), target, budget
        self.on_reach = on_reach

    def next(self):
        return self.jobs.popleft() if self.jobs else None

    def decide(self, config_id: int, unit: int, metrics: dict) -> str:
        if unit < self.target:
            return driver.CONTINUE
        return driver.PAUSE if self.target < self.budget else driver.STOP

    def paused(self, config_id: int, run: Paused) -> None:
        self.on_reach(config_id, run)

    def finished(self, config_id: int, unit: int, metrics: dict, pruned: bool) -> None:
        self.on_reach(config_id, None)


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
        clash = sorted((set(curves) | set(columns.RESERVED)) & set(spec))
        if clash:
            raise ValueError(f"Trainer.advance returns metrics named {clash}, which staged sweeps "
                             "use for curves and columns; rename them")  # fmt: skip
        spec = {**spec, **curves, "_units": _spec((), np.int32), "_pruned": _spec((), np.bool_)}
        for k, dt in (extra or {}).items():  # a dtype (a scalar column) or (shape, dtype)
            spec[k] = _spec(*dt) if isinstance(dt, tuple) else _spec((), dt)
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

    def open_group(self, store: Store | None, first_id: int, key, traced, retrace,
                   n_devices: int, choose: Callable[[], int]) -> int:  # fmt: skip
        """The slots of the static combination starting at ``first_id``, about to run: the
        width recorded for it (a resumed search, on ``n_devices``: see `checks.resumed_width`),
        else ``choose()``. Checks ``traced`` against the program that filled ``store``, then
        records both there (``retrace``: a key's abstract value -> the program traced with it,
        see `Store`)."""
        if first_id in self.widths:
            width = checks.resumed_width(self.widths[first_id], n_devices)
        else:
            width = choose()
        self.widths[first_id] = width
        if store is not None:
            store.check_program(first_id, key, self.spec, traced, retrace)
            store.begin_group(first_id, width, key_kind(key), self.spec, traced.fingerprint,
                              traced.text)  # fmt: skip
        return width

    def result(self, space, store: Store | None, metadata: dict, objective=None, key=None,
               keys: str = "per_config", run_order: str = "rungs") -> StagedResult:  # fmt: skip
        if store is not None and jax.process_count() > 1:  # process 0 has written everything
            multihost_utils.sync_global_devices("rmsjax staged sweep: out_dir written")
        hidden = {"_units", "_pruned", *self.extra}
        metrics = {k: v for k, v in self.arrays.items() if k not in hidden}
        units = self.arrays.get("_units", np.zeros((self.n, self.seeds), np.int32))
        pruned = self.arrays.get("_pruned", np.zeros((self.n, self.seeds), bool))
        widths = dict(sorted(self.widths.items()))
        return StagedResult(space, self.seeds, metrics, widths, metadata, objective=objective,
                            key=key, keys=keys, loaded=self.loaded,
                            budget=units[:, 0].copy(), pruned=pruned[:, 0].copy(),
                            max_budget=self.budget, run_order=run_order)  # fmt: skip


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
    # The order the run spent its units in, `history`'s default: "rungs" (a staged sweep,
    # halving, pbt) or "trials" (optuna_search).
    run_order: str = "rungs"

    def _eligible(self) -> np.ndarray:
        return self.budget >= self.max_budget

    def best(
        self, metric: str, mode: str | None = None, tiebreak: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """As `SweepResult.best` (``tiebreak`` included), among configurations trained the full
        ``max_budget``."""
        first = self.rank(metric, mode, tiebreak)[0]
        if not self._eligible()[first] or np.isnan(self._scores(metric)[first]):
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


# Paused runs in out_dir.


def load_paused(record: StagedRecord, store: Store | None) -> dict[int, Paused]:
    """The runs an earlier call paused in ``store`` and did not finish, their metrics so far put
    back into ``record``."""
    if store is None or record.spec is None:
        return {}
    out = {}
    for config_id, arrays in store.load_paused().items():
        if config_id >= record.n or record.done[config_id]:
            store.drop_paused(config_id)  # finished after it was paused
            continue
        for i, name in enumerate(record.spec):
            record.arrays[name][config_id] = arrays[f"metric_{i}"]
        n_carry = sum(k.startswith("carry_") for k in arrays)
        carry = [arrays[f"carry_{i}"] for i in range(n_carry)]
        out[config_id] = Paused(int(arrays["units"]), carry, arrays["keys"])
    if jax.process_count() > 1:
        found = np.zeros(record.n, bool)
        found[list(out)] = True
        multihost_utils.assert_equal(
            found, f"processes found different paused runs in out_dir {store.path!r}: it must be "
            "a directory every process sees")  # fmt: skip
    return out


def save_paused(record: StagedRecord, store: Store | None, config_id: int, run: Paused) -> None:
    if store is None:
        return
    arrays = {"units": np.asarray(run.units), "keys": run.keys}
    arrays.update({f"carry_{i}": x for i, x in enumerate(run.carry)})
    arrays.update({f"metric_{i}": a[config_id] for i, a in enumerate(record.arrays.values())})
    store.save_paused(config_id, arrays)


def sweep_trainer(trainer, space, *, key, budget, seeds, chunk_size, devices, out_dir, progress,
                  halving_rule: Halving | None, metadata: dict,
                  keys: str = "per_config") -> StagedResult:  # fmt: skip
    """`rmsjax.sweep` for a `Trainer` (see its docstring)."""
    budget, width = checks.check_budget(budget), checks.check_width(chunk_size, "chunk_size")
    if halving_rule is not None and not isinstance(halving_rule, Halving):
        raise TypeError(f"`halving` must come from rmsjax.halving(...), got {halving_rule!r}")
    run = _Run(trainer, space, seeds, program.split_key(key, keys), program.check_devices(devices),
               budget, width, halving_rule)  # fmt: skip
    store = open_store(out_dir, store_header(space, seeds, run.key, budget, halving_rule, metadata))
    record = StagedRecord(len(space), seeds, budget)
    record.load(store)
    groups = checks.groups(space)
    for static_values, ids in groups.items():  # traced even when finished: checked
        run.trace(static_values, ids, record, store)
    total = int((~record.done).sum())
    with checks.progress_bar(total, progress, "sweep") as bar:

        def finish(config_id, units, pruned):
            record.finish(config_id, units, pruned, store)
            if store is not None:
                store.drop_paused(config_id)
            if bar is not None:
                bar.update(1)

        if halving_rule is None:
            for static_values, ids in groups.items():
                todo = [i for i in ids if not record.done[i]]
                if todo:
                    pool = run.pool(static_values, ids, record, store)
                    driver.drive(pool, driver.Queue(todo, space, budget, finish), record)
        else:
            run.halving(groups, record, store, finish)
    objective = (halving_rule.metric, halving_rule.mode) if halving_rule else None
    return record.result(space, store, metadata, objective, key=key, keys=keys)


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
    traced: dict = dataclasses.field(default_factory=dict)  # static values -> TracedTrainer
    pools: dict = dataclasses.field(default_factory=dict)  # static values -> Pool

    def trace(self, static_values, ids, record: StagedRecord, store) -> None:
        """Traces one static combination and checks it against the record and ``store``."""
        static = dict(zip(self.space.static_axes, static_values, strict=True))
        dynamic = {n: checks.traced_dtype(self.space.column(n)) for n in self.space.dynamic_axes}
        traced = trace_trainer(self.trainer, static, dynamic, self.key.aval)
        _check_halving_metric(self.rule, traced)
        spec = record.set_spec(traced)
        if store is not None:
            store.check_program(ids[0], self.key, spec, traced, self._retrace(static_values))
        self.traced[static_values] = traced

    def _retrace(self, static_values):
        """Traces one static combination with another kind of key (see `Store.check_program`)."""
        static = dict(zip(self.space.static_axes, static_values, strict=True))
        dynamic = {n: checks.traced_dtype(self.space.column(n)) for n in self.space.dynamic_axes}
        return functools.partial(trace_trainer, self.trainer, static, dynamic)

    def pool(self, static_values, ids, record: StagedRecord, store) -> Pool:
        """The pool of one static combination, compiled on first use."""
        if static_values in self.pools:
            return self.pools[static_values]
        traced = self.traced[static_values]

        def choose():
            return _width(self.width, len(ids), self.devices, traced, self.seeds, self.rule)

        width = record.open_group(store, ids[0], self.key, traced, self._retrace(static_values),
                                  len(self.devices), choose)  # fmt: skip
        pool = Pool(traced, self.space.dynamic_axes, self.key, self.seeds, width, self.devices)
        self.pools[static_values] = pool
        return pool

    def halving(self, groups: dict, record: StagedRecord, store, finish: Callable) -> None:
        """Synchronous successive halving over every group (see `halving`)."""
        rule, budget = self.rule, self.budget
        paused = load_paused(record, store)
        members = list(range(len(self.space)))
        for target in [*rule.rungs(budget), budget]:

            def reach(config_id, run, target=target):
                if run is None:
                    finish(config_id, target, False)
                else:
                    paused[config_id] = run
                    save_paused(record, store, config_id, run)

            todo = {
                c for c in members if not record.done[c] and paused.get(c, _START).units < target
            }
            for static_values, ids in groups.items():
                jobs = [(c, self.space[c], paused.pop(c, None)) for c in ids if c in todo]
                if jobs:
                    pool = self.pool(static_values, ids, record, store)
                    driver.drive(pool, Stage(jobs, target, budget, reach), record)
            if target == budget:
                return
            curve = record.arrays[f"{rule.metric}_curve"]
            scores = [score(curve[c, :, target - 1], rule.mode) for c in members]
            seconds = None
            if rule.tiebreak is not None:
                second = record.arrays[f"{rule.tiebreak[0]}_curve"]
                seconds = [score(second[c, :, target - 1], rule.tiebreak[1]) for c in members]
            kept = promote(members, scores, rule.eta, seconds)
            for c in sorted(set(members) - set(kept)):
                if not record.done[c]:
                    paused.pop(c, None)
                    finish(c, target, True)
            members = kept


_START = Paused(0, [], np.zeros(0))  # a run not started yet


def store_header(space, seeds, run_key, budget, rule, metadata, pbt=None) -> dict:
    """What identifies a staged sweep in its out_dir: halving's ``rule`` or a `pbt` rule
    (``pbt``), or none."""
    return {
        "space": space.to_json(),
        "metadata": metadata,
        **run_fields(seeds, run_key),
        "budget": budget,
        # "synchronous": out_dirs of the earlier asynchronous rule are refused, not mixed in
        "halving": {**_rule_header(rule), "rule": "synchronous"} if rule else None,
        "pbt": None if pbt is None else _rule_header(pbt),
    }


def _rule_header(rule) -> dict:
    """A halving or pbt rule as out_dir records it; ``tiebreak`` only where given, so that an
    out_dir written before it existed resumes."""
    header = dataclasses.asdict(rule)
    if header.get("tiebreak") is None:
        header.pop("tiebreak", None)
    return header


def _check_halving_metric(rule: Halving | None, traced: TracedTrainer) -> None:
    if rule is not None and rule.metric not in traced.scalar_metrics():
        raise ValueError(
            f"halving metric {rule.metric!r} is not a scalar metric of Trainer.advance, which "
            f"returns {traced.metric_names}"
        )
    check_tiebreak_metric("halving", rule, traced)


def check_tiebreak_metric(who: str, rule, traced: TracedTrainer) -> None:
    """The ``tiebreak`` metric of a halving or pbt ``rule`` must be a scalar metric of the
    trainer."""
    if rule is not None and rule.tiebreak is not None:
        if rule.tiebreak[0] not in traced.scalar_metrics():
            raise ValueError(
                f"{who}: `tiebreak` metric {rule.tiebreak[0]!r} (tiebreak={rule.tiebreak!r}) is "
                f"not a scalar metric of Trainer.advance, which returns {traced.metric_names}"
            )


def _width(width, n: int, devices, traced, seeds, rule) -> int:
    """The slots of a group of ``n`` configurations: as given, all (None), or `auto_width`."""
    fixed = checks.fixed_width(width, n, len(devices))
    if fixed is not None:
        return fixed
    cap = None if rule is None else math.ceil(n / rule.eta)
    return auto_width(n, devices, traced.largest * seeds, cap)

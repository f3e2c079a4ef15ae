"""Staged sweeps: a `Trainer` trained unit by unit in one slot pool, with optional halving.

`sweep_trainer` is what `rmsjax.sweep` runs for a `Trainer`: every configuration of the space
trained ``budget`` units (`driver.Queue`), or, with `halving.halving`, synchronous successive
halving, rung after rung over the pools of every static combination. The pool (`pool.Pool`),
the driver (`driver.drive`) and the record (`record.StagedRecord`) are shared by every search.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from rmsjax._engine import checks, driver, program
from rmsjax._engine.halving import Halving, Stage, promote, rung_scores
from rmsjax._engine.pool import Paused, Pool, auto_width, trace_trainer
from rmsjax._engine.progress import progress_bar
from rmsjax._engine.record import StagedRecord, StagedResult, load_paused, save_paused
from rmsjax._engine.store import open_store, run_fields


def sweep_trainer(trainer, space, *, key, budget, seeds, chunk_size, devices, out_dir, progress,
                  halving_rule: Halving | driver.Rule | None, metadata: dict,
                  keys: str = "per_config", on_finish=None) -> StagedResult:  # fmt: skip
    """`rmsjax.sweep` for a `Trainer` (see its docstring)."""
    budget, width = checks.check_budget(budget), checks.check_width(chunk_size, "chunk_size")
    if halving_rule is not None and not isinstance(halving_rule, (Halving, driver.Rule)):
        raise TypeError(
            "`halving` must come from rmsjax.halving(...), rmsjax.asha(...) or "
            f"rmsjax.hyperband(...), got {halving_rule!r}"
        )
    if isinstance(halving_rule, driver.Rule):
        _one_pool(halving_rule, space)
    run = _Run(trainer, space, seeds, program.split_key(key, keys), program.check_devices(devices),
               budget, width, halving_rule)  # fmt: skip
    store = open_store(out_dir, store_header(space, seeds, run.key, budget, halving_rule, metadata))
    record = StagedRecord(len(space), seeds, budget)
    record.load(store)
    if on_finish is not None:
        record.on_finish = (on_finish, space.__getitem__)
    groups = checks.groups(space)
    for static_values, ids in groups.items():  # traced even when finished: checked
        run.trace(static_values, ids, record, store)
    total = int((~record.done).sum())
    with progress_bar(total, progress, "sweep") as bar:

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
        elif isinstance(halving_rule, Halving):
            run.halving(groups, record, store, finish)
        else:
            run.one_pool(record, store, finish)
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
        checks.rule_metrics(getattr(self.rule, "name", "halving"), self.rule, traced)
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
            scores, seconds = rung_scores(record, rule, members, target)
            kept = promote(members, scores, rule.eta, seconds)
            for c in sorted(set(members) - set(kept)):
                if not record.done[c]:
                    paused.pop(c, None)
                    finish(c, target, True)
            members = kept

    def one_pool(self, record: StagedRecord, store, finish: Callable) -> None:
        """A `driver.Rule` (`asha`, `hyperband`) in the pool of the space's one static
        combination."""
        paused = load_paused(record, store)
        ((static_values, ids),) = checks.groups(self.space).items()

        def pause(config_id, run):
            save_paused(record, store, config_id, run)

        scheduler = self.rule.scheduler(ids, self.space, self.budget, record, paused, finish,
                                        pause)  # fmt: skip
        if not record.done.all():
            driver.drive(self.pool(static_values, ids, record, store), scheduler, record)
        scheduler.close()


def _one_pool(rule, space) -> None:
    """A `driver.Rule` runs one pool: a static axis may take one value only."""
    changing = [n for n in space.static_axes if len(checks.distinct(space.column(n))) > 1]
    if changing:
        raise ValueError(
            f"{rule.name}: the space's static axes {changing} take several values (one compiled "
            "program each), and its runs share one pool; run one search per value"
        )


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
        "halving": None if rule is None else {**_rule_header(rule), "rule": _rule_name(rule)},
        "pbt": None if pbt is None else _rule_header(pbt),
    }


def _rule_name(rule) -> str:
    """How out_dir records the rule: "synchronous" for `halving`, else the rule's name."""
    return "synchronous" if isinstance(rule, Halving) else rule.name


def _rule_header(rule) -> dict:
    """A halving or pbt rule as out_dir records it; ``tiebreak`` only where given, so that an
    out_dir written before it existed resumes."""
    header = dataclasses.asdict(rule)
    if header.get("tiebreak") is None:
        header.pop("tiebreak", None)
    return header


def _width(width, n: int, devices, traced, seeds, rule) -> int:
    """The slots of a group of ``n`` configurations: as given, all (None), or `auto_width`."""
    fixed = checks.fixed_width(width, n, len(devices))
    if fixed is not None:
        return fixed
    eta = getattr(rule, "eta", None)  # a rule that stops runs: fewer slots than runs
    cap = None if eta is None else math.ceil(n / eta)
    return auto_width(n, devices, traced.largest * seeds, cap)

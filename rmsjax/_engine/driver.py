"""The one loop that every search of a `Trainer` runs: a `Pool` and a scheduler deciding.

A search is a scheduler over the slots of one compiled `pool.Pool`. `drive` fills every free
slot with the job the scheduler gives (a configuration started afresh, or a `Paused` run put
back), advances every slot one unit, and after each unit asks the scheduler what each slot does
next (`CONTINUE`, `PAUSE`: its carry goes back to the host, `STOP`: it finished, `PRUNE`: it
was stopped early). At the unit boundary the scheduler may also act on the whole pool
(`Scheduler.boundary`), e.g. copy one slot's carry into another (`Pool.copy`), which is how
population-based training exploits. The loop ends when the scheduler has nothing left to run
and every slot is free.

The schedulers hold only their rule: `Queue` (every configuration to the budget: the grid),
`halving.Stage` (one rung of successive halving), `search.OptunaScheduler` (Optuna's sampler
and pruner) and `population.Population` (PBT).
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from rmsjax._engine.pool import Paused, Pool

CONTINUE, PAUSE, STOP, PRUNE = "continue", "pause", "stop", "prune"

Job = tuple[int, dict, "Paused | None"]  # configuration id, its values, a paused run or None


class Scheduler:
    """What a search decides; each method's default does nothing (or continues)."""

    def next(self) -> Job | None:
        """The job for a free slot, or None when there is none now."""
        return None

    def before_step(self, pool: Pool) -> None:
        """Called before every unit, e.g. to set the slots' hyperparameters."""

    def decide(self, config_id: int, unit: int, metrics: dict[str, np.ndarray]) -> str:
        """What the run of ``config_id`` does after ``unit`` units, which gave ``metrics``."""
        return CONTINUE

    def finished(self, config_id: int, unit: int, metrics: dict, pruned: bool) -> None:
        """A run that stopped (``pruned``: stopped early), its slot already free."""

    def paused(self, config_id: int, run: Paused) -> None:
        """A run taken out of its slot, its carry on the host."""

    def boundary(self, pool: Pool) -> None:
        """Called after every unit, once every slot's decision is carried out."""

    def close(self) -> None:
        """Called once `drive` has returned: e.g. to stop the runs still paused."""


class Rule:
    """A search of `rmsjax.sweep`'s ``halving=`` argument that runs in one pool (`asha`,
    `hyperband`): a frozen dataclass with ``metric``, ``mode`` and ``tiebreak`` (None or a
    ``(metric, mode)`` pair) fields, ``name`` (how ``out_dir`` records it and errors name it),
    and `scheduler`, which builds its `Scheduler` for one sweep."""

    name: ClassVar[str]

    def scheduler(self, ids: list[int], space, budget: int, record, paused: dict[int, Paused],
                  finish: Callable, pause: Callable) -> Scheduler:  # fmt: skip
        """The scheduler of the configurations ``ids`` of ``space`` (all of them, none finished
        in ``record`` yet or some: a resumed sweep), each to ``budget`` units; ``paused``: runs
        an earlier call paused (from ``out_dir``); ``finish(config_id, units, pruned)`` records
        a run that stopped, ``pause(config_id, run)`` saves a paused one."""
        raise NotImplementedError


class Queue(Scheduler):
    """Every configuration of ``ids`` in order, each to ``budget`` units; ``on_finish(config_id,
    units, pruned)`` as each one finishes."""

    def __init__(self, ids: list[int], space, budget: int, on_finish: Callable):
        self.queue, self.space = collections.deque(ids), space
        self.budget, self.on_finish = budget, on_finish

    def next(self) -> Job | None:
        if not self.queue:
            return None
        config_id = self.queue.popleft()
        return config_id, self.space[config_id], None

    def decide(self, config_id: int, unit: int, metrics: dict) -> str:
        return STOP if unit >= self.budget else CONTINUE

    def finished(self, config_id: int, unit: int, metrics: dict, pruned: bool) -> None:
        self.on_finish(config_id, unit, pruned)


def drive(pool: Pool, scheduler: Scheduler, record: Any) -> None:
    """Runs ``scheduler``'s jobs in ``pool`` until it has none left and every slot is free;
    every unit's metrics go to ``record`` (a `record.StagedRecord`)."""
    names = pool.traced.metric_names
    while True:
        fresh, restored = np.zeros(pool.width, bool), {}
        for slot in pool.free_slots():
            job = scheduler.next()
            if job is None:
                break
            config_id, values, paused = job
            pool.place(slot, config_id, values, 0 if paused is None else paused.units)
            record.started.setdefault(config_id, time.time())
            if paused is None:
                fresh[slot] = True
            else:
                restored[slot] = paused
        if not pool.active():
            return
        if fresh.any():
            pool.start(fresh)
        if restored:
            pool.restore(restored)
        scheduler.before_step(pool)
        running = [int(s) for s in np.flatnonzero(pool.config >= 0)]
        metrics = pool.step()
        pausing = []
        for slot in sorted(running, key=lambda s: pool.config[s]):
            config_id, unit = int(pool.config[slot]), int(pool.units[slot])
            values = {n: m[slot] for n, m in zip(names, metrics, strict=True)}
            record.unit(config_id, unit, values)
            action = scheduler.decide(config_id, unit, values)
            if action == PAUSE:
                pausing.append(slot)
            elif action in (STOP, PRUNE):
                pool.release(slot)
                scheduler.finished(config_id, unit, values, action == PRUNE)
            elif action != CONTINUE:
                raise ValueError(f"a scheduler decided {action!r} for configuration {config_id}")
        if pausing:
            taken = pool.take(pausing)
            for slot in pausing:
                config_id = int(pool.config[slot])
                pool.release(slot)
                scheduler.paused(config_id, taken[slot])
        scheduler.boundary(pool)

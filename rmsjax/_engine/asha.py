"""Asynchronous successive halving (ASHA): promotion as soon as a run is in its rung's top.

Li et al. 2020, "A System for Massively Parallel Hyperparameter Tuning", Algorithm 2: the rungs
are ``min_budget * eta**k`` units below the budget; a run that reaches a rung continues at once
if it is among the top ``floor(n / eta)`` of the ``n`` runs that have reached that rung so far,
and is paused there otherwise (its carry on the host). A free slot takes, in this order: a
paused run that has become one of its rung's top (the highest rung first, the best first),
then a configuration not started yet. Once nothing is left to start and no slot runs, the runs
still paused are judged as synchronous halving would (the top ``max(1, n // eta)`` of each
rung, from the highest), so that a small search still trains one run to the budget; the rest
stop there (``pruned``).

Slots never wait for a rung to fill, which is what asynchrony buys; the price is that a run is
judged against whatever reached its rung before it, so the decisions depend on the order of
arrival, which depends on the pool's width: another width, or a resumed run, can promote other
runs (see `asha`).
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Callable

import numpy as np

from rmsjax._engine import driver
from rmsjax._engine.halving import RungRule, ranking, rung_scores
from rmsjax._engine.pool import Paused


@dataclasses.dataclass(frozen=True)
class Asha(RungRule, driver.Rule):
    """Asynchronous successive halving, built by `asha`."""

    name = "asha"

    def scheduler(self, ids, space, budget, record, paused, finish, pause) -> AshaScheduler:
        return AshaScheduler(self, ids, space, budget, record, paused, finish, pause)


def asha(
    metric: str,
    mode: str | None = None,
    eta: int = 3,
    min_budget: int = 1,
    tiebreak: tuple[str, str] | None = None,
) -> Asha:
    """Asynchronous successive halving for `rmsjax.sweep` with a `Trainer` (pass it as
    ``halving=``).

    The rungs are those of `halving` (``min_budget * eta**k`` units below the budget). A run
    that reaches a rung continues at once if it is among the top ``floor(n / eta)`` of the
    ``n`` runs that have reached the rung so far (by the mean over seeds of ``metric``; ties by
    ``tiebreak``, then the smaller configuration id), and is paused otherwise; a free slot
    resumes a paused run that has since become one of its rung's top before it starts a new
    configuration (Li et al. 2020, Algorithm 2). When nothing is left to start and every slot
    is free, each rung keeps its top ``max(1, n // eta)`` as synchronous halving would, so at
    least one run trains the full budget; the other paused runs stop (``pruned``).

    Asynchronous and synchronous halving differ in what a run is compared with: here, the runs
    that reached its rung before it; with `halving`, every run of the rung. So here the slots
    never wait for a rung to fill, but the decisions depend on the order in which runs arrive,
    which depends on the pool's width (``chunk_size``): two widths, or an interrupted sweep
    resumed from ``out_dir``, can promote other configurations. A resumed sweep loses no
    finished or paused run, and restarts the runs that were training from their last pause. Use
    `halving` where the result must not depend on the width or on an interruption.

    Args:
      metric: a scalar metric returned by ``Trainer.advance``.
      mode: ``"min"`` or ``"max"``; required.
      eta: the halving rate, an int >= 2.
      min_budget: the first rung, an int >= 1.
      tiebreak: None or a ``(metric, mode)`` pair ordering runs tied on ``metric``.

    >>> import rmsjax
    >>> rmsjax.asha("test_accuracy", mode="max", eta=3).rungs(27)
    [1, 3, 9]
    """
    return Asha.checked("asha", metric, mode, eta, min_budget, tiebreak)


class AshaScheduler(driver.Scheduler):
    """The rule of `asha` over the slots of one pool.

    ``paused``: runs paused at a rung by an earlier call (from ``out_dir``); ``finish(config_id,
    units, pruned)`` records a run that stopped, ``pause(config_id, run)`` saves a paused one.
    """

    def __init__(self, rule: Asha, ids: list[int], space, budget: int, record,
                 paused: dict[int, Paused], finish: Callable, pause: Callable):  # fmt: skip
        self.rule, self.space, self.budget, self.record = rule, space, budget, record
        self.finish, self.pause = finish, pause
        self.rungs = rule.rungs(budget)
        self.waiting = dict(paused)  # config id -> its run paused at a rung
        self.new = collections.deque(c for c in ids if not record.done[c] and c not in paused)
        # The runs that reached each rung, and those that went past it (promoted).
        units = np.where(record.done, record.arrays["_units"][:, 0], 0)
        for c, run in paused.items():
            units[c] = run.units
        self.reached = {r: [int(c) for c in np.flatnonzero(units >= r)] for r in self.rungs}
        self.promoted = {r: {int(c) for c in np.flatnonzero(units > r)} for r in self.rungs}
        self.running = 0

    # What runs next.

    def next(self):
        job = self._promotion(lambda n: n // self.rule.eta)
        if job is None and self.new:
            config_id = self.new.popleft()
            job = config_id, self.space[config_id], None
        if job is None and self.running == 0:  # the end: judge the paused runs as halving does
            job = self._promotion(lambda n: max(1, n // self.rule.eta))
        if job is not None:
            self.running += 1
        return job

    def _promotion(self, top: Callable[[int], int]):
        """The best paused run among its rung's top ``top(n)``, from the highest rung."""
        for rung in reversed(self.rungs):
            for c in self._top(rung, top(len(self.reached[rung]))):
                if c in self.waiting and c not in self.promoted[rung]:
                    self.promoted[rung].add(c)
                    return c, self.space[c], self.waiting.pop(c)
        return None

    def _top(self, rung: int, k: int) -> list[int]:
        """The best ``k`` runs at ``rung``, best first (NaN never)."""
        ids = self.reached[rung]
        return ranking(ids, *rung_scores(self.record, self.rule, ids, rung))[:k]

    # What a run does at a unit.

    def decide(self, config_id: int, unit: int, metrics: dict) -> str:
        if unit >= self.budget:
            return driver.STOP
        if unit not in self.promoted:  # not a rung
            return driver.CONTINUE
        self.reached[unit].append(config_id)
        top = self._top(unit, len(self.reached[unit]) // self.rule.eta)
        if config_id in top:
            self.promoted[unit].add(config_id)
            return driver.CONTINUE
        return driver.PAUSE

    def paused(self, config_id: int, run: Paused) -> None:
        self.running -= 1
        self.waiting[config_id] = run
        self.pause(config_id, run)

    def finished(self, config_id: int, unit: int, metrics: dict, pruned: bool) -> None:
        self.running -= 1
        self.finish(config_id, unit, pruned)

    def close(self) -> None:
        """Stops the runs still paused (none of their rung's top), in id order."""
        for config_id in sorted(self.waiting):
            self.finish(config_id, self.waiting.pop(config_id).units, True)

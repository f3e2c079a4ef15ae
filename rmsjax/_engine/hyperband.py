"""Hyperband: brackets of synchronous successive halving, side by side in one pool.

Li et al. 2018, "Hyperband: A Novel Bandit-Based Approach to Hyperparameter Optimization"
(JMLR 18), Algorithm 1: with ``s_max`` the largest ``s`` such that ``min_budget * eta**s <=
budget``, bracket ``s`` (``s_max`` down to 0) starts ``n_s = ceil((s_max + 1) / (s + 1) *
eta**s)`` configurations at ``budget / eta**s`` units and halves them as `halving` does; the
most aggressive bracket starts the most configurations at the fewest units, the last trains a
few to the full budget without stopping any. Here the space is split among the brackets in
proportion to ``n_s``, in configuration order, and every bracket's runs share the slots of
one pool: a bracket promotes as soon as all its runs reached its rung, while the others train.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable

from rmsjax._engine import driver
from rmsjax._engine.halving import RungRule, promote, rung_scores
from rmsjax._engine.pool import Paused


@dataclasses.dataclass(frozen=True)
class Hyperband(RungRule, driver.Rule):
    """Hyperband, built by `hyperband`."""

    name = "hyperband"

    def brackets(self, budget: int) -> list[tuple[int, int]]:
        """``(n_s, first rung)`` of each bracket ``s`` from ``s_max`` down to 0 (Li et al.)."""
        s_max = 0
        while self.min_budget * self.eta ** (s_max + 1) <= budget:
            s_max += 1
        return [
            (math.ceil((s_max + 1) * self.eta**s / (s + 1)), budget // self.eta**s)
            for s in range(s_max, -1, -1)
        ]

    def split(self, n: int, budget: int) -> list[list[int]]:
        """Configuration ids ``0..n-1`` split among the brackets in proportion to their ``n_s``
        (largest remainders; each at least one), in id order.

        >>> Hyperband("loss", "min").split(12, 9)
        [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9], [10, 11]]
        """
        sizes = [size for size, _ in self.brackets(budget)]
        if n < len(sizes):
            raise ValueError(
                f"hyperband: a budget of {budget} units with eta {self.eta} and min_budget "
                f"{self.min_budget} makes {len(sizes)} brackets, and the space has {n} "
                f"configurations; give at least {len(sizes)} (Hyperband's own sizes: {sizes}, "
                f"{sum(sizes)} in all)"
            )
        total = sum(sizes)
        shares = [n * size / total for size in sizes]
        counts = [math.floor(x) for x in shares]
        order = sorted(range(len(sizes)), key=lambda i: (-(shares[i] - counts[i]), i))
        for i in order[: n - sum(counts)]:
            counts[i] += 1
        for i, count in enumerate(counts):  # every bracket at least one configuration
            if count == 0:
                counts[counts.index(max(counts))] -= 1
                counts[i] = 1
        out, start = [], 0
        for count in counts:
            out.append(list(range(start, start + count)))
            start += count
        return out

    def scheduler(self, ids, space, budget, record, paused, finish, pause) -> HyperbandScheduler:
        return HyperbandScheduler(self, space, budget, record, paused, finish, pause)


def hyperband(
    metric: str,
    mode: str | None = None,
    eta: int = 3,
    min_budget: int = 1,
    tiebreak: tuple[str, str] | None = None,
) -> Hyperband:
    """Hyperband for `rmsjax.sweep` with a `Trainer` (pass it as ``halving=``).

    Successive halving must choose between many configurations stopped early and few trained
    long; Hyperband runs several brackets that choose differently (Li et al. 2018, Algorithm 1).
    With ``s_max`` the largest ``s`` such that ``min_budget * eta**s <= budget``, bracket ``s``
    (from ``s_max`` down to 0) holds ``ceil((s_max + 1) / (s + 1) * eta**s)`` configurations
    that start at ``budget // eta**s`` units and are halved as `halving` halves: at each of the
    bracket's rungs, once all its runs have arrived, its top ``max(1, n // eta)`` by the mean
    over seeds of ``metric`` (ties by ``tiebreak``, then the smaller id) continue and the rest
    stop. Bracket 0 trains its few configurations the whole budget. With ``budget=27, eta=3``:
    brackets of 27, 12, 6 and 4 configurations starting at 1, 3, 9 and 27 units.

    The space is split among the brackets in proportion to these sizes, in configuration order
    (give a space of their sum, 49 above, to run Li et al.'s brackets exactly; `Hyperband.split`
    says which ids go where), and the brackets run side by side in one pool: a slot freed in
    one bracket takes the next run of any other, and each bracket promotes as soon as its own
    rung is complete. Every decision depends only on scores within a bracket, so, as with
    `halving`, the result does not depend on the pool's width or the devices, and a sweep
    resumed from ``out_dir`` (paused runs included) gives every bit of an uninterrupted one.
    The configurations of one pool share one compiled program: the space's static axes may
    take one value each.

    Args:
      metric: a scalar metric returned by ``Trainer.advance``.
      mode: ``"min"`` or ``"max"``; required.
      eta: the halving rate, an int >= 2.
      min_budget: the smallest first rung, an int >= 1.
      tiebreak: None or a ``(metric, mode)`` pair ordering runs tied on ``metric``.

    >>> import rmsjax
    >>> rmsjax.hyperband("test_accuracy", mode="max", eta=3).brackets(27)
    [(27, 1), (12, 3), (6, 9), (4, 27)]
    """
    return Hyperband.checked("hyperband", metric, mode, eta, min_budget, tiebreak)


@dataclasses.dataclass
class _Bracket:
    members: list[int]  # the configurations still in it
    rungs: list[int]  # its rungs left, then the budget
    waiting: set[int] = dataclasses.field(default_factory=set)  # not at the current rung yet

    @property
    def target(self) -> int:
        return self.rungs[0]


class HyperbandScheduler(driver.Scheduler):
    """The rule of `hyperband` over the slots of one pool."""

    def __init__(self, rule: Hyperband, space, budget: int, record, paused: dict[int, Paused],
                 finish: Callable, pause: Callable):  # fmt: skip
        self.rule, self.space, self.budget, self.record = rule, space, budget, record
        self.held, self.finish, self.pause = dict(paused), finish, pause
        self.jobs = collections.deque()
        self.of: dict[int, _Bracket] = {}
        firsts = [first for _, first in rule.brackets(budget)]
        for ids, first in zip(rule.split(len(space), budget), firsts, strict=True):
            bracket = _Bracket(list(ids), [*rule.rungs(budget, first), budget])
            self.of.update(dict.fromkeys(ids, bracket))
            self._open(bracket)

    def _open(self, bracket: _Bracket) -> None:
        """Queues the bracket's runs that have not reached its rung; promotes at once where
        every run has (a resumed sweep)."""
        record = self.record
        while True:
            target = bracket.target
            todo = [
                c for c in bracket.members
                if not record.done[c] and (c not in self.held or self.held[c].units < target)
            ]  # fmt: skip
            if todo:
                bracket.waiting = set(todo)
                self.jobs.extend((c, self.space[c], self.held.pop(c, None)) for c in todo)
                return
            if target == self.budget:
                return
            self._promote(bracket)

    def _promote(self, bracket: _Bracket) -> None:
        """The bracket's top ``1/eta`` at its rung continue (`halving.promote`); the rest stop."""
        rule, target, members = self.rule, bracket.target, bracket.members
        scores, seconds = rung_scores(self.record, rule, members, target)
        kept = promote(members, scores, rule.eta, seconds)
        for c in sorted(set(members) - set(kept)):
            if not self.record.done[c]:
                self.held.pop(c, None)
                self.finish(c, target, True)
        bracket.members, bracket.rungs = kept, bracket.rungs[1:]

    def next(self):
        return self.jobs.popleft() if self.jobs else None

    def decide(self, config_id: int, unit: int, metrics: dict) -> str:
        target = self.of[config_id].target
        if unit < target:
            return driver.CONTINUE
        return driver.STOP if target >= self.budget else driver.PAUSE

    def paused(self, config_id: int, run: Paused) -> None:
        self.held[config_id] = run
        self.pause(config_id, run)
        self._arrived(config_id)

    def finished(self, config_id: int, unit: int, metrics: dict, pruned: bool) -> None:
        self.finish(config_id, unit, pruned)
        self._arrived(config_id)

    def _arrived(self, config_id: int) -> None:
        bracket = self.of[config_id]
        bracket.waiting.discard(config_id)
        if not bracket.waiting and bracket.target < self.budget:
            self._promote(bracket)
            self._open(bracket)

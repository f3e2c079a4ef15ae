"""Synchronous successive halving: the rule (`halving`) and its scheduler for one rung (`Stage`).

Every configuration trains to a rung, the best ``1/eta`` of them continue (Jamieson and
Talwalkar 2016; Li et al. 2020); `staged.sweep_trainer` runs the rungs over the pools of a
staged sweep.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from collections.abc import Callable

import numpy as np

from rmsjax._engine import checks, driver
from rmsjax._engine.pool import Paused

# Halving.


@dataclasses.dataclass(frozen=True)
class RungRule:
    """What every rule of the halving family holds (`halving`, `asha`, `hyperband`): the metric
    and its direction, the halving rate, the first rung and the tie-breaker."""

    metric: str
    mode: str
    eta: int = 3
    min_budget: int = 1
    tiebreak: tuple[str, str] | None = None

    def rungs(self, budget: int, first: int | None = None) -> list[int]:
        """The units ``first * eta**k`` (``first``: ``min_budget`` unless given) below
        ``budget`` where configurations are compared."""
        out, rung = [], self.min_budget if first is None else first
        while rung < budget:
            out.append(rung)
            rung *= self.eta
        return out

    @classmethod
    def checked(cls, who: str, metric, mode, eta, min_budget, tiebreak):
        """The rule, its arguments checked (errors name ``who``)."""
        checks.direction(who, metric, mode)
        tiebreak = checks.tiebreak(who, tiebreak)
        eta = checks.int_at_least(who, "eta", eta, 2)
        min_budget = checks.int_at_least(who, "min_budget", min_budget, 1)
        return cls(metric, mode, eta, min_budget, tiebreak)


@dataclasses.dataclass(frozen=True)
class Halving(RungRule):
    """Synchronous successive halving, built by `halving`."""


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
    return Halving.checked("halving", metric, mode, eta, min_budget, tiebreak)


def score(values: np.ndarray, mode: str) -> float:
    """Mean over seeds, as a number where larger is better (NaN for a non-finite mean)."""
    mean = float(np.mean(np.asarray(values, np.float64)))
    if not math.isfinite(mean):
        return math.nan
    return mean if mode == "max" else -mean


def ranking(ids: list[int], scores: list[float], seconds: list[float] | None = None) -> list[int]:
    """``ids`` best first by ``scores`` (larger is better; NaN left out); equal scores ordered
    by ``seconds`` (the tie-breaker's scores, larger is better, NaN last among the tied) if
    given, then to the smaller id.

    >>> ranking([0, 1, 2], [0.5, float("nan"), 0.9])
    [2, 0]
    """
    if seconds is None:
        seconds = [0.0] * len(ids)
    ranked = sorted(
        (-v, math.isnan(t), 0.0 if math.isnan(t) else -t, i)
        for i, v, t in zip(ids, scores, seconds, strict=True)
        if not math.isnan(v)
    )
    return [r[-1] for r in ranked]


def promote(
    ids: list[int], scores: list[float], eta: int, seconds: list[float] | None = None
) -> list[int]:
    """The top ``max(1, len(ids) // eta)`` of ``ids`` by `ranking`, in increasing id order.

    >>> promote([0, 1, 2, 3], [0.9, 0.9, 0.9, 0.5], eta=3)
    [0]
    >>> promote([0, 1, 2, 3], [0.9, 0.9, 0.9, 0.5], eta=3, seconds=[-0.4, -0.2, -0.3, 0.0])
    [1]
    """
    return sorted(ranking(ids, scores, seconds)[: max(1, len(ids) // eta)])


def rung_scores(record, rule, ids: list[int], unit: int) -> tuple[list[float], list | None]:
    """The `score` of ``rule.metric`` after ``unit`` units of each of ``ids`` in ``record``
    (a `record.StagedRecord`), and of the rule's ``tiebreak`` metric (None without one)."""
    curve = record.arrays[f"{rule.metric}_curve"]
    scores = [score(curve[c, :, unit - 1], rule.mode) for c in ids]
    if rule.tiebreak is None:
        return scores, None
    second = record.arrays[f"{rule.tiebreak[0]}_curve"]
    return scores, [score(second[c, :, unit - 1], rule.tiebreak[1]) for c in ids]


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

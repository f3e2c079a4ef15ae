"""Ranking a sweep's configurations: the direction of a metric, the order best first, the best
configuration and the search's pick against units spent (`SweepResult`'s `Ranking` base).

`scores` and `eligible` give the package the per-configuration scores and the configurations
`best` may pick, as `rank` uses them (the figures and the Optuna export draw and write those).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rmsjax._engine import checks


def scores(result: Ranking, metric: str) -> np.ndarray:
    """Mean of ``metric`` over seeds per configuration of ``result``; NaN where any seed
    diverged (a non-scalar or unknown metric is refused, as by `Ranking.rank`)."""
    return result._scores(metric)


def eligible(result: Ranking) -> np.ndarray:
    """Bool ``(n_configs,)``: the configurations of ``result`` that `Ranking.best` may pick."""
    return result._eligible()


class Ranking:
    """How a result ranks its configurations: `mode_of`, `rank`, `best` and `history`.

    A base of `SweepResult`, using its ``space``, ``seeds``, ``metrics``, ``objective``,
    ``scalar_metrics`` and ``diverged`` (and a staged result's ``budget``, ``max_budget`` and
    ``run_order`` in `history`).
    """

    def mode_of(self, metric: str, mode: str | None = None) -> str:
        """The direction ``metric`` is ranked in: the search's for its own metric, else ``mode``.

        Args:
          metric: a metric name.
          mode: ``"min"``, ``"max"`` or None (the direction the result was searched with).

        Returns:
          ``"min"`` or ``"max"``.

        Raises:
          ValueError: ``mode`` is not ``"min"``, ``"max"`` or None; ``mode`` contradicts the
            direction ``metric`` was searched with; or ``mode`` is None and ``metric`` was not
            searched (a plain sweep, or another metric than the search's).

        Example:
          >>> import numpy as np, rmsjax
          >>> result = rmsjax.SweepResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2]), seeds=1,
          ...     metrics={"loss": np.array([[0.5], [0.2]])}, objective=("loss", "min"))
          >>> result.mode_of("loss"), result.mode_of("loss", mode="min")
          ('min', 'min')
        """
        if mode is not None and mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min', 'max' or None, got {mode!r}")
        searched = self.objective is not None and self.objective[0] == metric
        if searched and mode is not None and mode != self.objective[1]:
            raise ValueError(
                f"`mode` {mode!r} contradicts the direction this result was searched with: "
                f"{metric!r} was searched with mode={self.objective[1]!r}; omit `mode` (or pass "
                f"{self.objective[1]!r})"
            )
        if searched:
            return self.objective[1]
        if mode is None:
            how = (
                "this sweep ran no search" if self.objective is None
                else f"this result was searched on {self.objective[0]!r}, not on it"
            )  # fmt: skip
            raise ValueError(
                f"`mode` is required to rank metric {metric!r} ({how}): pass mode='min' if "
                "lower is better (a loss) or mode='max' if higher is (an accuracy)"
            )
        return mode

    def _scores(self, metric: str) -> np.ndarray:
        """Mean of ``metric`` over seeds per configuration; NaN where any seed diverged."""
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; this sweep has {sorted(self.metrics)}")
        if self.metrics[metric].ndim != 2:
            raise ValueError(
                f"metric {metric!r} has shape {self.metrics[metric].shape[2:]} per run; rank(), "
                f"best() and heatmaps need a scalar metric, one of {list(self.scalar_metrics)}"
            )
        scores = self.metrics[metric].astype(np.float64).mean(axis=1)
        bad = self.diverged.any(axis=1) | ~np.isfinite(scores)
        return np.where(bad, np.nan, scores)

    def _eligible(self) -> np.ndarray:
        """Bool ``(n_configs,)``: configurations `best` may pick (those trained in full)."""
        return np.ones(len(self.space), dtype=bool)

    def rank(
        self, metric: str, mode: str | None = None, tiebreak: tuple[str, str] | None = None
    ) -> list[int]:
        """Configuration ids (rows of `metrics`, the ``config_id`` column of `to_pandas`), best
        first, by the mean of ``metric`` over seeds.

        Configurations that diverged for any seed (see `diverged`) come last. A tie is an equal
        mean of ``metric`` (common for an accuracy on a small validation set): with
        ``tiebreak=(other_metric, other_mode)`` the tied configurations are ordered by the mean
        over seeds of ``other_metric`` in that direction (a NaN or infinite one last among the
        tied); remaining ties, and every tie with ``tiebreak=None``, keep id order.

        The direction is stated once: a result of a search (``halving``, `optuna_search`) ranks
        its searched metric in the search's direction (``mode`` may be omitted; a contradicting
        one is an error); any other metric, and every metric of a plain sweep, needs ``mode``.

        Args:
          metric: name of a scalar metric.
          mode: ``"min"`` (lower is better), ``"max"``, or None: the search's direction
            (see `mode_of`).
          tiebreak: None (ties keep id order) or a ``(metric, mode)`` pair: a scalar metric
            and ``"min"``/``"max"``, deciding between configurations tied on ``metric``.

        Returns:
          Every configuration id once, as a list of ints.

        Raises:
          ValueError: unknown metric or mode, a non-scalar metric, a missing or contradicting
            ``mode``, or a ``tiebreak`` that is not such a pair.

        Example:
          >>> import numpy as np, rmsjax
          >>> result = rmsjax.SweepResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2, 0.3]), seeds=1,
          ...     metrics={"loss": np.array([[0.5], [np.nan], [0.2]])})
          >>> result.rank("loss", mode="min"), result.rank("loss", mode="max")
          ([2, 0, 1], [0, 2, 1])

          Configurations 0 and 2 tie on accuracy; the lower validation loss decides:

          >>> tied = rmsjax.SweepResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2, 0.3]), seeds=1,
          ...     metrics={"acc": np.array([[0.9], [0.8], [0.9]]),
          ...              "val_loss": np.array([[0.4], [0.3], [0.2]])})
          >>> tied.rank("acc", mode="max"), tied.rank("acc", "max", tiebreak=("val_loss", "min"))
          ([0, 2, 1], [2, 0, 1])
        """
        scores = self._scores(metric)
        mode = self.mode_of(metric, mode)
        # Tiers: eligible and finite, then finite but not eligible, then diverged.
        tier = np.where(np.isnan(scores), 2, np.where(self._eligible(), 0, 1))
        value = np.nan_to_num(-scores if mode == "max" else scores, nan=0.0)
        second, second_nan = self._tiebreak_keys(tiebreak, np.isnan(scores))
        return [int(i) for i in np.lexsort((second, second_nan, value, tier))]

    def _tiebreak_keys(self, tiebreak, diverged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Sort keys (value, NaN flag) of ``tiebreak`` for `rank`; zeros where there is none and
        where the ranked metric ``diverged`` (those keep id order)."""
        zeros = np.zeros(len(self.space))
        tiebreak = checks.tiebreak("rank", tiebreak)
        if tiebreak is None:
            return zeros, zeros
        name, tie_mode = tiebreak
        if name not in self.scalar_metrics:
            raise ValueError(
                f"`tiebreak` metric {name!r} (tiebreak={tiebreak!r}) is not a scalar metric of "
                f"this result, which has {list(self.scalar_metrics)}"
            )
        scores = self._scores(name)
        nan = np.isnan(scores) & ~diverged
        value = np.nan_to_num(-scores if tie_mode == "max" else scores, nan=0.0)
        return np.where(diverged, 0.0, value), nan.astype(np.float64)

    def best(
        self, metric: str, mode: str | None = None, tiebreak: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """The hyperparameters of the best configuration by the mean of ``metric`` over seeds.

        The first of `rank` (``mode`` and ``tiebreak`` as there: among configurations tied on
        ``metric``, the best by ``tiebreak``, else the smallest id); a configuration that
        diverged for any seed is never chosen.

        Args:
          metric: name of a scalar metric.
          mode: ``"min"``, ``"max"``, or None: the search's direction (see `mode_of`).
          tiebreak: None or a ``(metric, mode)`` pair deciding ties (see `rank`).

        Returns:
          The configuration as a dict of hyperparameter values.

        Raises:
          ValueError: unknown metric or mode, a non-scalar metric, a missing or contradicting
            ``mode``, or every configuration diverged.

        Example:
          >>> import numpy as np, rmsjax
          >>> result = rmsjax.SweepResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2]), seeds=1,
          ...     metrics={"loss": np.array([[0.5], [0.2]])})
          >>> result.best("loss", mode="min")
          {'lr': 0.2}
          >>> tied = rmsjax.SweepResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2]), seeds=1,
          ...     metrics={"acc": np.array([[0.9], [0.9]]), "val_loss": np.array([[0.4], [0.2]])})
          >>> tied.best("acc", "max"), tied.best("acc", "max", tiebreak=("val_loss", "min"))
          ({'lr': 0.1}, {'lr': 0.2})
        """
        first = self.rank(metric, mode, tiebreak)[0]
        if np.isnan(self._scores(metric)[first]):
            raise ValueError(
                f"every configuration diverged (metric {metric!r} is NaN or inf for some seed "
                "of each); there is no best one"
            )
        return self.space[first]

    def history(
        self,
        metric: str | None = None,
        mode: str | None = None,
        order: str | None = None,
        tiebreak: tuple[str, str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The search's answer so far against units spent: did the budget suffice?

        Needs a staged result (a `Trainer` swept with ``budget``: ``halving``, `optuna_search`,
        ``pbt`` or a plain staged sweep), whose ``<metric>_curve`` holds each unit's value. Each
        point is the value of the configuration the search would have answered at that point:
        its pick by the rule of `best` (``mode`` and ``tiebreak`` as there), so the last point is
        the value of ``best(metric, mode, tiebreak)``. Not the best value any configuration
        showed at any unit: a configuration stopped early or a peak before the end is no answer.
        Units are counted in one of two orders:

        - ``"rungs"``: every configuration advances one unit at a time together, as synchronous
          successive halving, a population and a sweep of one chunk do; one point per unit of
          the budget. At unit ``u`` the pick is the best of the configurations that reached
          ``u`` (for halving: the highest rung so far), by their values after ``u`` units.
        - ``"trials"``: one configuration after the other in id order, as Optuna asks trials;
          one point per configuration. After each the pick is the best of the configurations so
          far that trained the full budget (NaN until one has).

        Args:
          metric: a scalar metric of the trainer; default the search's (see `objective`).
          mode: ``"min"``, ``"max"`` or None (the search's direction, see `mode_of`).
          order: ``"rungs"``, ``"trials"`` or None: the order the run spent its units in
            (``"trials"`` for an `optuna_search` result; ``"rungs"`` for a staged sweep,
            ``halving`` and ``pbt``, whatever the type of the space).
          tiebreak: None or a ``(metric, mode)`` pair deciding ties (see `rank`).

        Returns:
          ``(units_spent, pick_value)``, two float arrays of the same length.

        Raises:
          ValueError: not a staged result, an unknown metric, order, mode or tiebreak, or no
            metric where the result ran no search.

        Example:
          >>> import numpy as np, rmsjax
          >>> result = rmsjax.StagedResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2]), seeds=1, objective=("loss", "min"),
          ...     metrics={"loss": np.array([[3.0], [1.0]]),
          ...              "loss_curve": np.array([[[0.5, 3.0]], [[2.0, 1.0]]])},
          ...     budget=np.array([2, 2]), pruned=np.array([False, False]), max_budget=2)
          >>> [a.tolist() for a in result.history()]  # config 0's 0.5 at unit 1 is no answer
          [[2.0, 4.0], [0.5, 1.0]]
        """
        if getattr(self, "max_budget", 0) <= 0:
            raise ValueError(
                "history() needs a staged result, one of a Trainer swept with a `budget` "
                "(halving, optuna_search or a staged sweep); this result has no units"
            )
        if metric is None:
            if self.objective is None:
                raise ValueError("`metric` is required: this result ran no search")
            metric = self.objective[0]
        mode = self.mode_of(metric, mode)
        tiebreak = checks.tiebreak("history", tiebreak)
        for name in (metric,) if tiebreak is None else (metric, tiebreak[0]):
            if f"{name}_curve" not in self.metrics:
                curves = sorted(n[: -len("_curve")] for n in self.metrics if n.endswith("_curve"))
                raise ValueError(f"unknown metric {name!r}; its curve is not recorded, these "
                                 f"are: {curves}")  # fmt: skip
        if order is None:
            order = getattr(self, "run_order", "rungs")
        if order not in ("rungs", "trials"):
            raise ValueError(f"`order` must be 'rungs', 'trials' or None, got {order!r}")
        units = np.asarray(self.budget, dtype=np.int64)
        n = len(self.space)
        ranked = self.rank(metric, mode, tiebreak)
        final, eligible = self._scores(metric), self._eligible()
        if order == "trials":
            spent = np.cumsum(units).astype(np.float64)
            out = np.full(n, np.nan)
            for k in range(n):  # the first of `rank` among the full ones of trials 0..k
                pick = next((c for c in ranked if c <= k and eligible[c]), None)
                if pick is not None and not np.isnan(final[pick]):
                    out[k] = final[pick]
            return spent, out
        curves = self.metrics[f"{metric}_curve"].astype(np.float64).mean(axis=1)
        seconds = None
        if tiebreak is not None:
            seconds = self.metrics[f"{tiebreak[0]}_curve"].astype(np.float64).mean(axis=1)
        ticks = np.arange(1, int(units.max(initial=0)) + 1)
        spent = np.array([np.minimum(units, t).sum() for t in ticks], dtype=np.float64)
        out = np.full(len(ticks), np.nan)
        for j, t in enumerate(ticks):
            value = curves[:, t - 1]
            keys = []
            for c in np.flatnonzero((units >= t) & np.isfinite(value)):
                v = value[c] if mode == "min" else -value[c]
                tie = 0.0 if seconds is None else seconds[c, t - 1]
                tie = tie if tiebreak is None or tiebreak[1] == "min" else -tie
                keys.append((v, bool(np.isnan(tie)), 0.0 if np.isnan(tie) else tie, c))
            if keys:
                out[j] = value[min(keys)[-1]]
        if len(ticks) and ticks[-1] >= self.max_budget:  # at the budget: `best`'s answer
            pick = ranked[0]
            out[-1] = final[pick] if eligible[pick] else np.nan
        return spent, out

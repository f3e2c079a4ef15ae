"""`SweepResult`: the metrics of a sweep, with helpers to tabulate, rank and plot them."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from rmsjax._engine import checks, optuna_export, plotting
from rmsjax._engine.spaces import Grid


@dataclasses.dataclass(repr=False, eq=False)
class SweepResult:
    """The metrics of a sweep, one entry per (configuration, seed).

    Attributes:
      space: the `Grid` that was swept.
      seeds: number of seeds per configuration.
      metrics: dict mapping each metric name to a NumPy array shaped
        ``(n_configs, seeds, *metric_shape)``, configurations in id order.
      chunk_sizes: the chunk width each static combination ran with, by the first configuration
        id of that combination (for a resumed sweep, the widths recorded in ``out_dir``).
      metadata: the ``metadata`` passed to `sweep` (as JSON reads it back), ``{}`` if none.
      objective: ``(metric, mode)`` of the search that produced the result (``halving`` or an
        Optuna study's direction), None for a plain sweep. `rank`, `best` and `plot` rank that
        metric in that direction; for any other metric (or a plain sweep) they need ``mode``.
      key: the PRNG key the sweep was given (None if unknown); see `key_of`.
      keys: ``"per_config"`` or ``"shared"``, as the sweep was run.
      loaded: bool ``(n_configs,)``: True for the configurations read back from ``out_dir``
        (finished by an earlier run), False for those computed by this call.
    """

    space: Grid
    seeds: int
    metrics: dict[str, np.ndarray]
    chunk_sizes: dict[int, int] = dataclasses.field(default_factory=dict)
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    objective: tuple[str, str] | None = None
    key: Any = None
    keys: str = "per_config"
    loaded: np.ndarray | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self):
        if self.loaded is None:
            self.loaded = np.zeros(len(self.space), dtype=bool)

    @property
    def configs(self) -> list[dict[str, Any]]:
        """The hyperparameters of every configuration, in id order."""
        return list(self.space)

    @property
    def scalar_metrics(self) -> tuple[str, ...]:
        return tuple(n for n, v in self.metrics.items() if v.ndim == 2)

    @property
    def diverged(self) -> np.ndarray:
        """Bool array ``(n_configs, seeds)``: True where any scalar metric is NaN or infinite."""
        out = np.zeros((len(self.space), self.seeds), dtype=bool)
        for name in self.scalar_metrics:
            values = self.metrics[name]
            if np.issubdtype(values.dtype, np.inexact):
                out |= ~np.isfinite(values)
        return out

    def to_pandas(self):
        """One row per (configuration, seed), configurations in id order, seeds innermost.

        Columns: ``config_id`` (the configuration id, as `rank` returns it and as rows of
        `metrics` are numbered), one per hyperparameter axis, ``seed``, one per scalar metric, and
        ``diverged`` (True where any scalar metric is not finite). Array metrics (curves) are
        left out; read them from `metrics`. An axis may not be named like a column (refused when
        the space is built), nor a metric (refused when the sweep traces it).

        Example:
          >>> import numpy as np, rmsjax
          >>> result = rmsjax.SweepResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2]), seeds=1,
          ...     metrics={"loss": np.array([[0.5], [0.2]])})
          >>> frame = result.to_pandas()
          >>> list(frame.columns), int(frame["config_id"][result.rank("loss", mode="min")[0]])
          (['config_id', 'lr', 'seed', 'loss', 'diverged'], 1)
        """
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - pandas is a dependency
            raise ImportError("SweepResult.to_pandas needs pandas: pip install pandas") from e
        n, s = len(self.space), self.seeds
        columns: dict[str, Any] = {"config_id": np.repeat(np.arange(n), s)}
        for name in self.space.names:
            columns[name] = np.repeat(np.asarray(self.space.column(name), dtype=object), s)
            try:  # give numeric and bool axes a proper dtype
                columns[name] = columns[name].astype(np.asarray(self.space.axes[name]).dtype)
            except (TypeError, ValueError):
                pass
        columns["seed"] = np.tile(np.arange(s), n)
        for name in self.scalar_metrics:
            columns[name] = self.metrics[name].reshape(n * s)
        columns["diverged"] = self.diverged.reshape(n * s)
        return pd.DataFrame(columns)

    def key_of(self, config_id: int, seed: int = 0, unit: int | None = None):
        """The exact key run (``config_id``, ``seed``) trained with, of the kind the sweep got.

        ``fold_in(fold_in(key, config_id), seed)``, or ``fold_in(fold_in(key, 0), seed)`` for
        ``keys="shared"``: what ``train_fn(hparams, key)`` (or ``Trainer.init``) received.
        With ``unit``, the key of that unit of a `Trainer` (0-based): ``fold_in(run key, unit)``.
        Training ``self.space[config_id]`` alone with it reproduces the run (bit for bit where
        the batched program rounds as the unbatched one, see `sweep`).

        Raises:
          ValueError: the result does not know its key, or an id, seed or unit out of range.

        Example:
          >>> import jax, rmsjax
          >>> result = rmsjax.sweep(lambda hp, key: {"u": jax.random.uniform(key) * hp["lr"]},
          ...                       rmsjax.grid(lr=[1.0, 2.0]), key=jax.random.key(0), seeds=2,
          ...                       progress=False)
          >>> alone = jax.random.uniform(result.key_of(1, seed=1)) * 2.0  # config 1, seed 1
          >>> bool(alone == result.metrics["u"][1, 1])
          True
        """
        import jax

        if self.key is None:
            raise ValueError("this result does not know the key it was trained with (key=None)")
        n = len(self.space)
        for name, value, bound in (("config_id", config_id, n), ("seed", seed, self.seeds)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < bound:
                raise ValueError(f"`{name}` must be an int in [0, {bound}), got {value!r}")
        if unit is not None and (isinstance(unit, bool) or not isinstance(unit, int) or unit < 0):
            raise ValueError(f"`unit` must be an int >= 0 or None, got {unit!r}")
        folded = 0 if self.keys == "shared" else config_id
        run_key = jax.random.fold_in(jax.random.fold_in(self.key, folded), seed)
        return run_key if unit is None else jax.random.fold_in(run_key, unit)

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

    def plot(
        self,
        metric: str,
        *,
        x: str | None = None,
        y: str | None = None,
        mode: str | None = None,
        unit: str | None = None,
        path: str | os.PathLike | None = None,
        ax=None,
    ):
        """Plots ``metric``: curves per configuration, or a heatmap over two hyperparameter axes.

        An array metric of one dimension (e.g. a loss curve) is drawn as one line per
        configuration (mean over seeds, diverged configurations dashed), each labelled with its
        hyperparameters; up to 10 configurations get a legend, more are coloured by the axis with
        the most distinct values: a legend of its values, or, for a numeric axis with more than
        12, a continuous colour bar with sorted, round ticks (logarithmic for a ``loguniform``
        axis, or for positive values of a grid spanning two decades or more). In a staged result
        (``halving``, `optuna_search`) every configuration shows: a configuration stopped early
        is thin, faded and ends in an ``x``; a curve of a single point is drawn as a marker.

        A scalar metric is drawn as a heatmap of its mean over seeds with axis ``x`` across and
        ``y`` up (default: the first two axes with more than one value), the other axes reduced by
        ``mode`` (their best value; as in `rank`, None means the search's direction and is an
        error where there is none); with a single varying axis it is a line against that axis.
        Diverged cells are blank.

        Args:
          metric: the metric to draw.
          x: hyperparameter on the horizontal axis (scalar metrics).
          y: hyperparameter on the vertical axis (scalar metrics).
          mode: ``"min"``, ``"max"`` or None (see `rank`): how to reduce the axes not drawn.
          unit: what one entry of a curve is (e.g. ``"epoch"``): the horizontal axis counts
            them from 1. None: a staged result's ``"unit"`` (its entries are the units trained,
            from 1); a plain sweep's curve is drawn against each entry's position in it, from
            0, since only ``train_fn`` knows what an entry is.
          path: if given, the figure is saved there (format from the suffix, e.g. ``.png``).
          ax: a matplotlib Axes to draw into; default a new figure.

        Returns:
          The matplotlib Figure.

        >>> import matplotlib; matplotlib.use("Agg")
        >>> import numpy as np, rmsjax
        >>> result = rmsjax.SweepResult(space=rmsjax.grid(lr=[0.1]), seeds=1,
        ...                             metrics={"loss_curve": np.array([[[3.0, 2.0, 1.5]]])})
        >>> ax = result.plot("loss_curve").axes[0]
        >>> ax.get_xlabel(), ax.lines[0].get_xdata().tolist()
        ('position in loss_curve', [0, 1, 2])
        >>> ax = result.plot("loss_curve", unit="epoch").axes[0]
        >>> ax.get_xlabel(), ax.lines[0].get_xdata().tolist()
        ('epoch', [1, 2, 3])
        """
        return plotting.plot(self, metric, x=x, y=y, mode=mode, unit=unit, path=path, ax=ax)

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

    def plot_history(
        self,
        metric: str | None = None,
        *,
        mode: str | None = None,
        order: str | None = None,
        tiebreak: tuple[str, str] | None = None,
        unit: str = "unit",
        path: str | os.PathLike | None = None,
        ax=None,
    ):
        """Plots `history`: the search's pick so far (its value) against units spent by all
        configurations; the last point is the value of the answer, `best`'s pick.

        Args:
          metric, mode, order, tiebreak: as in `history`.
          unit: what a unit is, for the axis label (e.g. ``"epoch"``).
          path: if given, the figure is saved there.
          ax: a matplotlib Axes to draw into; default a new figure.

        Returns:
          The matplotlib Figure.

        Example:
          >>> import matplotlib; matplotlib.use("Agg")
          >>> import numpy as np, rmsjax
          >>> result = rmsjax.StagedResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2]), seeds=1, objective=("loss", "min"),
          ...     metrics={"loss": np.array([[3.0], [1.0]]),
          ...              "loss_curve": np.array([[[4.0, np.nan]], [[2.0, 1.0]]])},
          ...     budget=np.array([1, 2]), pruned=np.array([True, False]), max_budget=2)
          >>> fig = result.plot_history(unit="epoch")
          >>> fig.axes[0].get_xlabel(), fig.axes[0].lines[0].get_ydata().tolist()
          ('epochs spent (all configurations)', [2.0, 1.0])
        """
        return plotting.plot_history(
            self, metric, mode=mode, order=order, tiebreak=tiebreak, unit=unit, path=path, ax=ax
        )

    def to_optuna(self, study, metric: str | None = None, mode: str | None = None, *,
                  space: Mapping[str, Any] | None = None):  # fmt: skip
        """Writes this result into an Optuna study, one trial per configuration, for Optuna's
        plots (``optuna.visualization``) and ``optuna-dashboard``.

        Each trial (added in id order with ``study.add_trials``) has the configuration's
        hyperparameters as params, with the search space's own distributions, so that Optuna's
        plots and the dashboard draw each axis as it was searched: a `sample`'s (``loguniform``
        as ``FloatDistribution(log=True)`` with its bounds, ``choice`` and a list as a
        ``CategoricalDistribution`` of its values, ``IntUniform`` with its step), a `grid` axis
        as a ``CategoricalDistribution`` of its values, a `pbt` result's the distributions of
        the population it started from (``initial``), an `optuna_search` result's those of
        ``space``, the space the search was given (its result keeps only the values drawn).
        Without ``space`` an `optuna_search` result's axis falls back to the range of the values
        drawn (``FloatDistribution``, ``IntDistribution``, categorical for the rest), which is
        not the space searched: pass ``space``. A value Optuna cannot store (not None, bool,
        int, float or str) is written as its ``str``. Its value is the mean of ``metric`` over
        seeds. A staged result (a `Trainer` with a ``budget``) adds each unit's value as the
        intermediate value of step ``unit`` (1, 2, ...), as `optuna_search` reports them.
        States: FAIL for a configuration that diverged for any seed (no value), PRUNED for one
        stopped before the budget (its value at the unit it reached, as Optuna gives pruned
        trials), COMPLETE for the others.
        User attributes: ``rmsjax_config`` (the configuration id), ``rmsjax_units`` (units
        trained, staged results).

        Args:
          study: an ``optuna.Study`` with one objective, whose direction must be ``mode``'s.
          metric: the scalar metric to write as the value; default the search's (`objective`).
          mode: ``"min"``, ``"max"`` or None: the search's direction for its metric (see
            `mode_of`), else the study's.
          space: axis name -> distribution (``rmsjax.loguniform`` ..., an Optuna distribution
            or a list of values), as `optuna_search` and `sample` take it: the distributions to
            write for the axes it names, in place of the result's own. Its axes must be the
            result's.

        Returns:
          The trials added, as ``optuna.trial.FrozenTrial`` in id order.

        Raises:
          ImportError: Optuna is not installed.
          ValueError: no metric where the result ran no search, an unknown or non-scalar
            metric, a study with several objectives, or a study direction that is not ``mode``.

        Example:
          >>> import numpy as np, optuna, rmsjax
          >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
          >>> result = rmsjax.SweepResult(
          ...     space=rmsjax.grid(lr=[0.1, 0.2]), seeds=1,
          ...     metrics={"loss": np.array([[0.5], [np.nan]])})
          >>> study = optuna.create_study(direction="minimize")
          >>> trials = result.to_optuna(study, "loss")
          >>> [(t.params, t.state.name, t.value) for t in study.trials]
          [({'lr': 0.1}, 'COMPLETE', 0.5), ({'lr': 0.2}, 'FAIL', None)]
        """
        return optuna_export.to_optuna(self, study, metric, mode, space)

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}[{len(v)}]" for n, v in self.space.axes.items()) or "none"
        metrics = ", ".join(f"{n}{tuple(v.shape[2:])}" for n, v in self.metrics.items())
        n_div = int(self.diverged.any(axis=1).sum())
        return (
            f"SweepResult({_count(len(self.space), 'configuration')} x "
            f"{_count(self.seeds, 'seed')}; axes: {axes}; metrics: {metrics}; "
            f"diverged configurations: {n_div})"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"

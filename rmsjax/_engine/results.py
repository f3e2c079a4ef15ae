"""`SweepResult`: the metrics of a sweep, with helpers to tabulate, rank and plot them."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from rmsjax._engine import optuna_export, plotting
from rmsjax._engine.ranking import Ranking
from rmsjax._engine.spaces import Grid


@dataclasses.dataclass(repr=False, eq=False)
class SweepResult(Ranking):
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

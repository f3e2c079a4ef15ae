"""`SweepResult`: the metrics of a sweep, with helpers to tabulate, rank and plot them."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any

import numpy as np

from rmsjax._src.spaces import Grid


@dataclasses.dataclass(repr=False, eq=False)
class SweepResult:
    """The metrics of a sweep, one entry per (configuration, seed).

    Attributes:
      space: the `Grid` that was swept.
      seeds: number of seeds per configuration.
      metrics: dict mapping each metric name to a NumPy array shaped
        ``(n_configs, seeds, *metric_shape)``, configurations in id order.
      chunk_sizes: the chunk size used for each static combination, by the first configuration id
        of that combination (informational).
    """

    space: Grid
    seeds: int
    metrics: dict[str, np.ndarray]
    chunk_sizes: dict[int, int] = dataclasses.field(default_factory=dict)

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

        Columns: one per hyperparameter axis, ``seed``, one per scalar metric, and ``diverged``
        (True where any scalar metric is not finite). Array metrics (curves) are left out; read them
        from `metrics`.
        """
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - pandas is in the `examples` extra
            raise ImportError(
                "SweepResult.to_pandas needs pandas: pip install 'rmsjax[examples]'"
            ) from e
        n, s = len(self.space), self.seeds
        columns: dict[str, Any] = {}
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

    def _scores(self, metric: str, mode: str) -> np.ndarray:
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max', got {mode!r}")
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; this sweep has {sorted(self.metrics)}")
        if self.metrics[metric].ndim != 2:
            raise ValueError(
                f"metric {metric!r} has shape {self.metrics[metric].shape[2:]} per run; best() and "
                "heatmaps need a scalar metric"
            )
        values = self.metrics[metric].astype(np.float64)
        scores = values.mean(axis=1)
        bad = self.diverged.any(axis=1) | ~np.isfinite(scores)
        return np.where(bad, np.nan, scores)

    def best(self, metric: str, mode: str = "min") -> dict[str, Any]:
        """The hyperparameters of the best configuration by the mean of ``metric`` over seeds.

        A configuration that diverged for any seed (see `diverged`) is never chosen.

        Args:
          metric: name of a scalar metric.
          mode: ``"min"`` (default) or ``"max"``.

        Returns:
          The configuration as a dict of hyperparameter values.

        Raises:
          ValueError: unknown metric or mode, a non-scalar metric, or every configuration diverged.
        """
        scores = self._scores(metric, mode)
        if np.all(np.isnan(scores)):
            raise ValueError(
                f"every configuration diverged (metric {metric!r} is NaN or inf for some seed "
                "of each); there is no best one"
            )
        index = int(np.nanargmin(scores) if mode == "min" else np.nanargmax(scores))
        return self.space[index]

    def plot(
        self,
        metric: str,
        *,
        x: str | None = None,
        y: str | None = None,
        mode: str = "min",
        path: str | os.PathLike | None = None,
        ax=None,
    ):
        """Plots ``metric``: curves per configuration, or a heatmap over two hyperparameter axes.

        An array metric of one dimension (e.g. a loss curve) is drawn as one line per
        configuration (mean over seeds, diverged configurations dashed). A scalar metric is drawn
        as a heatmap of its mean over seeds with axis ``x`` across and ``y`` up (default: the
        first two axes with more than one value), the other axes reduced by ``mode`` (their best
        value); with a single varying axis it is a line against that axis. Diverged cells are
        blank.

        Args:
          metric: the metric to draw.
          x: hyperparameter on the horizontal axis (scalar metrics).
          y: hyperparameter on the vertical axis (scalar metrics).
          mode: ``"min"`` or ``"max"``: how to reduce the axes not drawn.
          path: if given, the figure is saved there (format from the suffix, e.g. ``.png``).
          ax: a matplotlib Axes to draw into; default a new figure.

        Returns:
          The matplotlib Figure.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError(
                "SweepResult.plot needs matplotlib: pip install 'rmsjax[examples]'"
            ) from e
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; this sweep has {sorted(self.metrics)}")
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        else:
            fig = ax.figure
        values = self.metrics[metric]
        if values.ndim == 3:
            diverged = self.diverged.any(axis=1)
            curves = values.astype(np.float64).mean(axis=1)
            for i, config in enumerate(self.space):
                label = ", ".join(f"{k}={v}" for k, v in config.items()) or f"config {i}"
                ax.plot(curves[i], linestyle="--" if diverged[i] else "-", label=label)
            ax.set_xlabel("step")
            ax.set_ylabel(metric)
            if len(self.space) <= 12:
                ax.legend(fontsize="small")
        elif values.ndim == 2:
            self._plot_scalar(ax, fig, metric, x, y, mode)
        else:
            raise ValueError(
                f"metric {metric!r} has shape {values.shape[2:]} per run; plot() draws scalars "
                "(heatmap) and 1-D arrays (curves)"
            )
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig

    def _plot_scalar(self, ax, fig, metric, x, y, mode):
        scores = self._scores(metric, mode).reshape(self.space.shape)
        names = list(self.space.names)
        varying = [n for n in names if len(self.space.axes[n]) > 1]
        for arg, value in (("x", x), ("y", y)):
            if value is not None and value not in names:
                raise ValueError(f"`{arg}` must be one of the axes {names}, got {value!r}")
        if x is None:
            x = next((n for n in varying if n != y), None)
        if y is None:
            y = next((n for n in varying if n != x), None)
        if x is None:
            ax.bar([0], [scores.ravel()[0]])
            ax.set_ylabel(metric)
            return
        keep = [names.index(x)] + ([names.index(y)] if y is not None else [])
        reduce_axes = tuple(i for i in range(len(names)) if i not in keep)
        reducer = np.nanmin if mode == "min" else np.nanmax
        with np.errstate(all="ignore"), _quiet_all_nan():
            table = reducer(scores, axis=reduce_axes) if reduce_axes else scores
        xs = [str(v) for v in self.space.axes[x]]
        if y is None:
            ax.plot(xs, table, marker="o")
            ax.set_xlabel(x)
            ax.set_ylabel(metric)
            return
        table = np.asarray(table)
        if keep[0] < keep[1]:
            table = table.T  # rows follow y, columns follow x
        image = ax.imshow(np.ma.masked_invalid(table), aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)), xs, rotation=45)
        ax.set_yticks(range(len(self.space.axes[y])), [str(v) for v in self.space.axes[y]])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        fig.colorbar(image, ax=ax, label=f"{metric} ({mode} over other axes)")

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}[{len(v)}]" for n, v in self.space.axes.items()) or "none"
        metrics = ", ".join(f"{n}{tuple(v.shape[2:])}" for n, v in self.metrics.items())
        n_div = int(self.diverged.any(axis=1).sum())
        return (
            f"SweepResult({len(self.space)} configurations x {self.seeds} seeds; axes: {axes}; "
            f"metrics: {metrics}; diverged configurations: {n_div})"
        )


@contextlib.contextmanager
def _quiet_all_nan():
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        yield

"""The figures of a result: `SweepResult.plot` (curves, heatmaps, sampled points),
`SweepResult.plot_history` and `PBTResult.plot_schedules`; the methods draw here.

matplotlib is imported when a figure is drawn, not with this module.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rmsjax._engine import checks, ranking
from rmsjax._engine.spaces import Grid

if TYPE_CHECKING:
    from rmsjax._engine.results import SweepResult


def plot(result, metric, *, x=None, y=None, mode=None, unit=None, path=None, ax=None):
    """The figure of `SweepResult.plot` (see there)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("SweepResult.plot needs matplotlib: pip install matplotlib") from e
    if metric not in result.metrics:
        raise ValueError(f"unknown metric {metric!r}; this sweep has {sorted(result.metrics)}")
    if mode is not None or (result.objective is not None and result.objective[0] == metric):
        mode = result.mode_of(metric, mode)  # a contradicting mode is an error here too
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    values = result.metrics[metric]
    if values.ndim == 3:
        _plot_curves(result, ax, fig, metric, unit)
    elif values.ndim == 2 and not isinstance(result.space, Grid):
        _plot_points(result, ax, metric, x, mode)
    elif values.ndim == 2:
        _plot_scalar(result, ax, fig, metric, x, y, mode)
    else:
        raise ValueError(
            f"metric {metric!r} has shape {values.shape[2:]} per run; plot() draws scalars "
            "(heatmap) and 1-D arrays (curves)"
        )
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def plot_history(
    result, metric=None, *, mode=None, order=None, tiebreak=None, unit="unit", path=None, ax=None
):
    """The figure of `SweepResult.plot_history` (see there)."""
    spent, best = result.history(metric, mode, order, tiebreak)
    metric = result.objective[0] if metric is None else metric
    if ax is None:
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError(
                "SweepResult.plot_history needs matplotlib: pip install matplotlib"
            ) from e
        fig, ax = plt.subplots(figsize=(6, 4))
    else:
        fig = ax.figure
    ax.plot(spent, best, drawstyle="steps-post", marker="o", markersize=3)
    ax.set_xlabel(f"{unit}s spent (all configurations)")
    ax.set_ylabel(f"{metric} of the pick so far")
    ax.set_title(f"{len(result.space)} configurations, {int(spent[-1])} {unit}s "
                 f"({result.mode_of(metric, mode)} {metric})", fontsize="small")  # fmt: skip
    fig.tight_layout()
    if path is not None:
        fig.savefig(path)
    return fig


def _plot_curves(result, ax, fig, metric, unit=None):
    diverged = result.diverged.any(axis=1)
    curves = result.metrics[metric].astype(np.float64).mean(axis=1)
    n = len(result.space)
    stopped = ~ranking.eligible(result)  # a staged result: stopped before the budget (halving)
    staged = getattr(result, "max_budget", 0) > 0
    if unit is None and not staged:
        xs, xlabel = np.arange(curves.shape[1]), f"position in {metric}"
    else:
        xs, xlabel = np.arange(1, curves.shape[1] + 1), unit or "unit"
    colour = _Colours(result, n > _LEGEND_LINES)
    for i, config in enumerate(result.space):
        label = ", ".join(f"{k}={v}" for k, v in config.items()) or f"config {i}"
        seen = np.flatnonzero(np.isfinite(curves[i]))
        style = {"color": colour(config)} if colour.by is not None else {}
        if stopped[i]:  # thin and faded, an "x" where it stopped
            style.update(linewidth=0.8, alpha=0.6, marker="x")
            style["markevery"] = [int(seen[-1])] if seen.size else []
        elif seen.size == 1:  # one point: a line alone would not show
            style["marker"] = "o"
        ax.plot(xs, curves[i], linestyle="--" if diverged[i] else "-", label=label, **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    colour.explain(ax, fig)
    parts = [f"{n} configurations"]
    if stopped.any():
        parts.append(f"{int(stopped.sum())} stopped early (x)")
    if colour.by is not None:
        parts.append(f"coloured by {colour.by}")
    if colour.by is not None or stopped.any():
        ax.set_title(", ".join(parts), fontsize="small")


def _plot_scalar(result, ax, fig, metric, x, y, mode):
    scores = ranking.scores(result, metric).reshape(result.space.shape)
    names = list(result.space.names)
    varying = [n for n in names if len(result.space.axes[n]) > 1]
    for arg, value in (("x", x), ("y", y)):
        if value is not None and value not in names:
            raise ValueError(f"`{arg}` must be one of the axes {names}, got {value!r}")
    if x is not None and x == y:
        raise ValueError(f"`x` and `y` must be different axes, got {x!r} for both")
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
    if any(scores.shape[i] > 1 for i in reduce_axes):  # taking the best needs a direction
        mode = result.mode_of(metric, mode)
    reducer = np.nanmin if mode == "min" else np.nanmax
    with np.errstate(all="ignore"), _quiet_all_nan():
        table = reducer(scores, axis=reduce_axes) if reduce_axes else scores
    # What a value shows: the mean over seeds, the best over the axes reduced (if any vary).
    over = [names[i] for i in reduce_axes if scores.shape[i] > 1]
    best = f", {mode} over {', '.join(over)}" if over else ""
    label = f"{metric} (mean over seeds{best})"
    xs = [str(v) for v in result.space.axes[x]]
    if y is None:
        ax.plot(xs, table, marker="o")
        ax.set_xlabel(x)
        ax.set_ylabel(label)
        return
    table = np.asarray(table)
    if keep[0] < keep[1]:
        table = table.T  # rows follow y, columns follow x
    image = ax.imshow(np.ma.masked_invalid(table), aspect="auto", origin="lower")
    ax.set_xticks(range(len(xs)), xs, rotation=45)
    ax.set_yticks(range(len(result.space.axes[y])), [str(v) for v in result.space.axes[y]])
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    fig.colorbar(image, ax=ax, label=label)


def _plot_points(result, ax, metric, x, mode):
    """A sampled space: one point per configuration against ``x`` (log axis if loguniform)."""
    names = list(result.space.names)
    x = names[0] if x is None else x
    if x not in names:
        raise ValueError(f"`x` must be one of the axes {names}, got {x!r}")
    xs = np.asarray([v if isinstance(v, (int, float)) else str(v) for v in result.space.column(x)])
    scores, full = ranking.scores(result, metric), ranking.eligible(result)
    ax.scatter(xs[full], scores[full], label="trained the full budget")
    if not full.all():  # stopped early (halving, a pruner): its score at the budget it reached
        ax.scatter(xs[~full], scores[~full], facecolors="none", edgecolors="C0",
                   label="stopped early")  # fmt: skip
        ax.legend(fontsize="small")
    if type(getattr(result.space, "distributions", {}).get(x)).__name__ == "LogUniform":
        ax.set_xscale("log")
    ax.set_xlabel(x)
    ax.set_ylabel(f"{metric} (mean over seeds)")


# Curves with a legend of one entry each; above, lines are coloured by one axis.
_LEGEND_LINES = 10
# Values of that axis listed in a legend; above, a colour bar.
_LEGEND_VALUES = 12


class _Colours:
    """The colour of each curve: by the axis with the most distinct values, on a continuous,
    sorted scale for a numeric axis with many values (logarithmic for a ``loguniform`` axis, or
    positive values spanning two decades or more), else one colour per value with a legend."""

    def __init__(self, result: SweepResult, needed: bool):
        import matplotlib as mpl

        space = result.space
        distinct = {n: checks.distinct(space.column(n)) for n in space.names}
        self.by = max(distinct, key=lambda n: len(distinct[n]), default=None) if needed else None
        self.cmap, self.norm, self.shade = mpl.colormaps["viridis"], None, {}
        if self.by is None:
            return
        values = distinct[self.by]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric:
            values = sorted(values)
        if numeric and len(values) > _LEGEND_VALUES:
            lo, hi = float(values[0]), float(values[-1])
            dist = getattr(space, "distributions", {}).get(self.by)
            if dist is not None:
                log = type(dist).__name__ == "LogUniform" or bool(getattr(dist, "log", False))
            else:
                log = lo > 0 and hi / lo >= 100
            self.norm = (mpl.colors.LogNorm if log else mpl.colors.Normalize)(lo, hi)
        else:
            last = max(1, len(values) - 1)
            self.shade = {checks.value_key(v): self.cmap(i / last) for i, v in enumerate(values)}
            self.values = values

    def __call__(self, config: dict[str, Any]):
        value = config[self.by]
        return (
            self.cmap(self.norm(value))
            if self.norm is not None
            else self.shade[checks.value_key(value)]
        )

    def explain(self, ax, fig) -> None:
        """A colour bar (continuous scale), a legend of values, or the configurations' legend."""
        import matplotlib as mpl

        if self.by is None:
            ax.legend(fontsize="small")
        elif self.norm is not None:
            fig.colorbar(mpl.cm.ScalarMappable(self.norm, self.cmap), ax=ax, label=self.by)
        elif len(self.values) <= _LEGEND_VALUES:
            handles = [
                mpl.lines.Line2D([], [], color=self.shade[checks.value_key(v)]) for v in self.values
            ]
            labels = [f"{self.by}={v}" for v in self.values]
            ax.legend(handles, labels, fontsize="small", title=self.by)
        else:  # many values without an order: a colour bar of their indices, a few labelled
            last = len(self.values) - 1
            norm = mpl.colors.Normalize(0, last)
            bar = fig.colorbar(mpl.cm.ScalarMappable(norm, self.cmap), ax=ax, label=self.by)
            ticks = np.linspace(0, last, min(len(self.values), 6)).round().astype(int)
            bar.set_ticks(ticks, labels=[str(self.values[t]) for t in ticks])


@contextlib.contextmanager
def _quiet_all_nan():
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        yield


# The picture of a population-based search: every member's schedule, copies drawn as jumps.
# One panel per hyperparameter the population varies and one for a metric, each with one line
# per member slot against units, coloured by the member's final score (Jaderberg et al. 2017,
# Fig. 1 and 5).

_DECADES = 100.0  # positive values spanning this ratio or more get a log axis


def plot_schedules(result, metric: str | None = None, *, unit="unit", path=None, axes=None):
    """The figure of `PBTResult.plot_schedules` (see there)."""
    rule = result.rule
    metric = rule.metric if metric is None else metric
    if not isinstance(metric, str) or f"{metric}_curve" not in result.metrics:
        curves = sorted(n[: -len("_curve")] for n in result.metrics if n.endswith("_curve"))
        raise ValueError(f"plot_schedules: unknown metric {metric!r}; its curve is not recorded, "
                         f"these are: {curves}")  # fmt: skip
    names = [n for n in result.space.dynamic_axes if _varies(result.hparams[n])]
    panels = [*names, metric]
    fig, axes = _axes(axes, len(panels))
    import matplotlib as mpl

    final = ranking.scores(result, rule.metric)  # NaN where a seed diverged
    finite = final[np.isfinite(final)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    tied = hi == lo  # every member ends at the same score: one colour, mid-scale
    if tied:
        half = abs(lo) * 0.01 or 0.01
        lo, hi = lo - half, hi + half
    norm = mpl.colors.Normalize(lo, hi)
    cmap = mpl.colormaps["viridis" if rule.mode == "max" else "viridis_r"]  # best is yellow

    def colour(m: int):
        return cmap(norm(final[m])) if np.isfinite(final[m]) else "0.6"

    curve = result.metrics[f"{metric}_curve"].astype(np.float64).mean(axis=1)
    series = {n: result.hparams[n].astype(np.float64) for n in names}
    series[metric] = curve
    goodness = final if rule.mode == "max" else -final
    order = np.argsort(np.where(np.isfinite(goodness), goodness, -np.inf))  # the best on top
    for ax, name in zip(axes, panels, strict=True):
        for m in order:
            _member_lines(ax, series[name], result.copied_from, int(m), colour(int(m)))
        ax.set_ylabel(name)
        if _log_axis(result, name, series[name]):
            ax.set_yscale("log")
    axes[-1].set_xlabel(unit)
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)
    copies = int((result.copied_from >= 0).sum())
    axes[0].set_title(
        f"{len(result.space)} members, {copies} copies (dashed), ranked every {rule.interval} "
        f"{unit}s by {rule.metric} ({rule.mode})"
        + ("" if rule.tiebreak is None else f", ties by {rule.tiebreak[0]} ({rule.tiebreak[1]})"),
        fontsize="small",
    )
    bar = fig.colorbar(mpl.cm.ScalarMappable(norm, cmap), ax=list(axes))
    bar.set_label(f"final {rule.metric}" + (" (every member ties)" if tied else ""))
    if rule.mode == "min":
        bar.ax.invert_yaxis()  # the best at the top
    if path is not None:
        fig.savefig(os.fspath(path))
    return fig


def _varies(values: np.ndarray) -> bool:
    return bool(np.unique(values).size > 1)


def _axes(axes, n: int):
    """The figure and ``n`` axes: new ones in a column sharing x, or the ``axes`` given."""
    if axes is None:
        try:
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError(
                "PBTResult.plot_schedules needs matplotlib: pip install matplotlib"
            ) from e
        fig = Figure(figsize=(7.0, 1.2 + 1.8 * n), layout="constrained")
        return fig, list(np.atleast_1d(fig.subplots(n, 1, sharex=True)))
    if not isinstance(axes, Sequence) or len(axes) != n:
        got = len(axes) if isinstance(axes, Sequence) else type(axes).__name__
        raise ValueError(
            f"plot_schedules: `axes` must be a sequence of {n} matplotlib Axes (one per varying "
            f"hyperparameter, then the metric), got {got}"
        )
    return axes[0].figure, list(axes)


def _member_lines(ax, values: np.ndarray, copied_from: np.ndarray, m: int, colour) -> None:
    """Member ``m``'s slot: solid between copies; at a copy at unit ``u`` (0-based), a dashed
    jump from the donor's value at ``u - 1`` to ``m``'s new value at ``u``. Unit ``u`` is drawn
    at x = ``u + 1`` (the value that trained epoch ``u + 1``; the metric after it)."""
    units = values.shape[1]
    xs = np.arange(1, units + 1)
    copies = [int(u) for u in np.flatnonzero(copied_from[m] >= 0)]
    starts = [0, *copies]
    ends = [*copies, units]
    for s, e in zip(starts, ends, strict=True):
        marker = {"marker": "o", "markersize": 2.5} if e - s == 1 else {}
        ax.plot(xs[s:e], values[m, s:e], color=colour, linewidth=1.2, **marker)
    for u in copies:
        donor = int(copied_from[m, u])
        ax.plot([xs[u - 1], xs[u]], [values[donor, u - 1], values[m, u]], color=colour,
                linestyle="--", linewidth=0.9)  # fmt: skip


def _log_axis(result, name: str, values: np.ndarray) -> bool:
    """A log scale for a ``loguniform`` axis, or positive values spanning two decades."""
    dist = getattr(result.initial, "distributions", {}).get(name)
    if dist is not None and (type(dist).__name__ == "LogUniform" or getattr(dist, "log", False)):
        return True
    finite = values[np.isfinite(values)]
    return bool(finite.size and finite.min() > 0 and finite.max() / finite.min() >= _DECADES)

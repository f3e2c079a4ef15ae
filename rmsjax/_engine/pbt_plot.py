"""The picture of a population-based search: every member's schedule, copies drawn as jumps.

One panel per hyperparameter the population varies and one for a metric, each with one line
per member slot against units, coloured by the member's final score (Jaderberg et al. 2017,
Fig. 1 and 5). Drawn by `PBTResult.plot_schedules`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

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

    final = result._scores(rule.metric)  # NaN where a seed diverged
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

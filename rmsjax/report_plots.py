"""The pictures of a :class:`~rmsjax.report.Report`: training curves, 2-D trajectories on their
contours, a sweep's metric over its space, the search's history and PBT's schedules, as PNG
files (:func:`rmsjax.report.save_report` draws them after the results are saved).

matplotlib's object-oriented API with the Agg canvas: no display, no global state; matplotlib is
imported only when a figure is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

import rmsjax

INSTALL_HINT = "pip install matplotlib"


def _figure(figsize=(6.4, 4.0)):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(f"the plots need matplotlib: {INSTALL_HINT}") from None
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path, saved: list[str]) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    saved.append(path.name)


def _legend_place(lines) -> str:
    """matplotlib's "best" place, unless there are so many points that finding it is slow (it
    warns then, and may take seconds): a fixed corner instead."""
    points = sum(int(np.size(line)) for line in lines)
    return "best" if points < 100_000 else "upper right"


def _plot_curves(path, curves: Mapping[str, np.ndarray], xlabel, title, saved, *, x0, highlight):
    """One line per curve; with ``highlight`` (labels, best first) the others are grey."""
    fig = _figure() if highlight is None else _figure((8.4, 4.0))  # room for the legend
    ax = fig.add_subplot()
    curves = {k: np.asarray(c, dtype=np.float64) for k, c in curves.items()}
    shown = list(curves) if highlight is None else list(highlight)
    for label, curve in curves.items():
        if label not in shown:
            xs = np.arange(x0, x0 + len(curve))
            ax.plot(xs, curve, color="0.75", linewidth=0.8, zorder=1, **_dot(curve))
    for label in shown:
        xs = np.arange(x0, x0 + len(curves[label]))
        ax.plot(xs, curves[label], label=label, linewidth=1.6, zorder=2, **_dot(curves[label]))
    values = np.concatenate([c.ravel() for c in curves.values()])
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite > 0):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize="medium")
    if highlight is None:
        ax.legend(fontsize="small", loc=_legend_place(curves.values()))
    else:  # a sweep's many curves: the legend beside the axes, covering none of them
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    _save(fig, path, saved)
    return fig


def _dot(curve: np.ndarray) -> dict:
    """A marker for a curve of one point (a run stopped after one epoch), which a line hides."""
    return {"marker": "o", "markersize": 3} if np.isfinite(curve).sum() == 1 else {}


def _plot_trajectories(path, problem, trajectories: Mapping[str, np.ndarray], title, saved):
    from matplotlib.colors import LogNorm

    X, Y, Z = problem.grid(200)
    fig = _figure((6.4, 5.0))
    ax = fig.add_subplot()
    levels = np.geomspace(max(float(Z.min()), 1e-2), float(Z.max()), 20)
    ax.contour(X, Y, Z, levels=levels, norm=LogNorm(), cmap="viridis", linewidths=0.7)
    for label, traj in trajectories.items():
        traj = np.asarray(traj, dtype=np.float64)
        ax.plot(traj[:, 0], traj[:, 1], linewidth=1.5, label=label)
    ax.plot(*problem.start, "ro", label="start")
    ax.plot(*problem.minimum, "k*", markersize=10, label="minimum")
    (x0, x1), (y0, y1) = problem.bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small", loc=_legend_place(trajectories.values()))
    _save(fig, path, saved)


def save_plots(report, out: Path, saved: list[str]) -> None:
    """Draw ``report``'s pictures into ``out``, appending each file's name to ``saved``."""
    objective = report.problem is not None
    xlabel, x0 = ("step", 0) if objective else ("epoch", 1)
    name = report.task
    if report.command == "train":
        title = f"{name}: {report.optimizer}"
        _plot_curves(out / "loss.png", report.curves, xlabel, title, saved, x0=x0, highlight=None)
        if objective:
            _plot_trajectories(out / "trajectory.png", report.problem, report.trajectories,
                               title, saved)  # fmt: skip
        return
    if report.command == "compare":
        title = f"{name}: SGD, RMSprop presets, Adam"
        _plot_curves(out / "loss_curves.png", report.curves, xlabel, title, saved, x0=x0,
                     highlight=None)  # fmt: skip
        if objective:
            _plot_trajectories(out / "trajectories.png", report.problem, report.trajectories,
                               title, saved)  # fmt: skip
        return
    shown = report.highlight
    title = f"{name}: training loss (best {len(shown)} in colour)"
    if isinstance(report.sweep, rmsjax.PBTResult):  # labelled by member: values changed
        title = f"{name}: training loss per member (best {len(shown)} in colour)\n"
        title += "each trained under a schedule of hyperparameters: see pbt_schedules.png"
    _plot_curves(out / "loss_curves.png", report.curves, xlabel, title, saved, x0=x0,
                 highlight=shown)  # fmt: skip
    metric, mode = report.json["metric"], report.json["mode"]
    fig = _figure()
    report.sweep.plot(metric, mode=mode, ax=fig.add_subplot())
    fig.axes[0].set_title(f"{name}: {metric}", fontsize="medium")
    varying = [n for n, v in report.sweep.space.axes.items() if len(set(map(repr, v))) > 1]
    heatmap = len(varying) >= 2 and isinstance(report.sweep.space, rmsjax.Grid)  # sampled: points
    _save(fig, out / ("heatmap.png" if heatmap else f"{metric}.png"), saved)
    pbt = isinstance(report.sweep, rmsjax.PBTResult)
    if getattr(report.sweep, "max_budget", 0):  # a search (halving, Optuna): did the budget do?
        fig = _figure()
        order = "rungs" if pbt else None  # the population trains together, epoch by epoch
        tiebreak = report.json.get("tiebreak")  # the pick's tie-breaker, as the table ranks
        tiebreak = None if tiebreak is None else tuple(tiebreak)
        report.sweep.plot_history(metric, mode=mode, order=order, tiebreak=tiebreak,
                                  unit="epoch", ax=fig.add_subplot())  # fmt: skip
        fig.axes[0].set_title(f"{name}: {metric} of the search's pick so far", fontsize="medium")
        _save(fig, out / "history.png", saved)
    if pbt:  # the classic PBT picture (its own layout: no tight_layout)
        report.sweep.plot_schedules(metric, unit="epoch", path=out / "pbt_schedules.png")
        saved.append("pbt_schedules.png")
    if objective:
        _plot_trajectories(out / "trajectories.png", report.problem, report.trajectories,
                           f"{name}: best {len(shown)} trajectories", saved)  # fmt: skip

"""The ``rmsjax`` command: train, sweep and compare RMSprop on the seed's tasks.

::

    rmsjax train TASK [options]     train one configuration, report metrics, save plots
    rmsjax sweep TASK [options]     train a grid in parallel with rmsjax.sweep, rank it, save plots
    rmsjax compare TASK [options]   SGD, RMSprop (each preset) and Adam side by side

This module only parses arguments and orchestrates: the tasks come from :mod:`rmsjax.tasks`, the
optimizers from :mod:`rmsjax`, the sweeps from :func:`rmsjax.sweep`. Errors in what the user
typed or in their data (a bad value, a missing folder) are one line on stderr and a non-zero exit
status; set ``RMSJAX_DEBUG=1`` to see the full traceback instead.

>>> from rmsjax.cli import parse_values
>>> parse_values("1e-4:1e-2:3", "--lr")
[0.0001, 0.001, 0.01]
>>> parse_values("0.9,0.99", "--decay")
[0.9, 0.99]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import textwrap
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main", "parse_values"]

PROG = "rmsjax"

# --------------------------------------------------------------------------------------------
# Hyperparameters: command-line flag -> rmsjax.rmsprop argument, and how each preset names it.


@dataclasses.dataclass(frozen=True)
class _Hparam:
    flag: str  # the option, without the leading dashes
    name: str  # the argument of rmsjax.rmsprop
    kind: str  # "float", "bool" (static) or "dtype" (static)
    help: str


_HPARAMS = (
    _Hparam("lr", "learning_rate", "float", "learning rate (task default if not given)"),
    _Hparam("decay", "decay", "float", "decay of the running mean of squared gradients"),
    _Hparam("eps", "eps", "float", "epsilon added to the denominator"),
    _Hparam("eps-in-sqrt", "eps_in_sqrt", "bool", "add eps inside the square root (optax)"),
    _Hparam("initial-scale", "initial_scale", "float", "initial value of the accumulator"),
    _Hparam("centered", "centered", "bool", "centered RMSprop (divide by the variance)"),
    _Hparam("momentum", "momentum", "float", "momentum (no momentum buffer if not given)"),
    _Hparam("nesterov", "nesterov", "bool", "Nesterov momentum (needs --momentum)"),
    _Hparam("weight-decay", "weight_decay", "float", "weight decay"),
    _Hparam("bias-correction", "bias_correction", "bool", "Adam-style bias correction of nu"),
    _Hparam("nu-dtype", "nu_dtype", "dtype", "dtype of the second moment"),
)
_BY_NAME = {h.name: h for h in _HPARAMS}
_NU_DTYPES = ("float32", "bfloat16", "float16")


@dataclasses.dataclass(frozen=True)
class _Preset:
    function: str  # attribute of the rmsjax package
    names: Mapping[str, str]  # rmsjax.rmsprop argument -> the preset's argument
    convention: str


_PRESETS = {
    "rmsjax": _Preset(
        "rmsprop",
        {h.name: h.name for h in _HPARAMS},
        "rmsjax.rmsprop: Hinton's rule, eps outside the root, accumulator from 0",
    ),
    "torch": _Preset(
        "torch_rmsprop",
        {
            "learning_rate": "lr",
            "decay": "alpha",
            "eps": "eps",
            "weight_decay": "weight_decay",
            "momentum": "momentum",
            "centered": "centered",
        },
        "torch.optim.RMSprop: eps outside the root, lr outside the momentum buffer",
    ),
    "keras": _Preset(
        "keras_rmsprop",
        {
            "learning_rate": "learning_rate",
            "decay": "rho",
            "eps": "epsilon",
            "momentum": "momentum",
            "centered": "centered",
            "weight_decay": "weight_decay",
        },
        "keras.optimizers.RMSprop: eps inside the root, decoupled weight decay",
    ),
    "tf1": _Preset(
        "tf1_rmsprop",
        {
            "learning_rate": "learning_rate",
            "decay": "decay",
            "eps": "epsilon",
            "momentum": "momentum",
            "centered": "centered",
        },
        "tf.compat.v1.train.RMSPropOptimizer: accumulator from 1, eps inside the root",
    ),
}

# Learning rates of the SGD baseline in `rmsjax compare` (plain SGD needs far larger steps than
# RMSprop on the classifiers, and far smaller ones on Rosenbrock, as in the seed's slide 13).
_SGD_LR = {
    "quadratic": 0.1,
    "rosenbrock": 1e-3,
    "xor": 0.5,
    "digits": 0.1,
    "mnist": 0.1,
    "reviews": 0.1,
}


class UsageError(Exception):
    """What the user typed cannot be parsed; exit status 2, like argparse."""


# --------------------------------------------------------------------------------------------
# Parsing values, ranges and lists.


def _float(text: str, flag: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"{flag}: {text!r} is not a finite number")
    return value


def _round(value: float) -> float:
    """Three significant digits: log-spaced values that print and compare cleanly."""
    return float(f"{value:.3g}")


def parse_values(text: str, flag: str) -> list[float]:
    """The numbers in ``text``: one value, a list ``a,b,c`` or a log-spaced range ``lo:hi:n``.

    A range gives ``n`` (at least 2) values from ``lo`` to ``hi`` (both positive, either order),
    evenly spaced in log scale and rounded to three significant digits.

    >>> parse_values("3e-3", "--lr")
    [0.003]
    >>> parse_values("1e-2:1e-4:5", "--lr")
    [0.01, 0.00316, 0.001, 0.000316, 0.0001]
    """
    text = text.strip()
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise UsageError(f"{flag}: a range is LO:HI:N (e.g. 1e-4:1e-2:8), got {text!r}")
        lo, hi = _float(parts[0], flag), _float(parts[1], flag)
        try:
            n = int(parts[2])
        except ValueError:
            raise UsageError(f"{flag}: N in LO:HI:N must be an integer, got {parts[2]!r}") from None
        if n < 2:
            raise UsageError(f"{flag}: N in LO:HI:N must be at least 2, got {n}")
        if lo <= 0 or hi <= 0:
            raise UsageError(
                f"{flag}: a log-spaced range needs positive ends, got {text!r} "
                "(list the values instead, e.g. 0,0.5,0.9)"
            )
        return [_round(v) for v in np.geomspace(lo, hi, n)]
    items = [t.strip() for t in text.split(",")]
    if any(not t for t in items):
        raise UsageError(f"{flag}: empty value in {text!r}")
    return [_float(t, flag) for t in items]


def _parse_bools(text: str, flag: str) -> list[bool]:
    out = []
    for item in text.split(","):
        item = item.strip().lower()
        if item in ("true", "yes", "1", "on"):
            out.append(True)
        elif item in ("false", "no", "0", "off"):
            out.append(False)
        else:
            raise UsageError(
                f"{flag}: expected true or false (or a list: false,true), got {text!r}"
            )
    return out


def _parse_dtypes(text: str, flag: str) -> list[str]:
    out = [t.strip() for t in text.split(",")]
    for item in out:
        if item not in _NU_DTYPES:
            raise UsageError(f"{flag}: expected one of {', '.join(_NU_DTYPES)}, got {item!r}")
    return out


def _given_hparams(args: argparse.Namespace, *, many: bool) -> dict[str, list[Any]]:
    """The hyperparameters given on the command line, as lists of values."""
    out: dict[str, list[Any]] = {}
    for h in _HPARAMS:
        raw = getattr(args, h.name, None)
        if raw is None or raw is False:
            continue
        flag = f"--{h.flag}"
        if raw is True:
            values: list[Any] = [True]
        elif h.kind == "float":
            values = parse_values(raw, flag)
        elif h.kind == "bool":
            values = _parse_bools(raw, flag)
        else:
            values = _parse_dtypes(raw, flag)
        if not many and len(values) != 1:
            raise UsageError(
                f"{flag} takes one value here, got {raw!r}; lists and ranges are for `rmsjax sweep`"
            )
        if len(set(values)) != len(values):
            raise UsageError(f"{flag}: repeated values in {raw!r}")
        out[h.name] = values
    return out


# --------------------------------------------------------------------------------------------
# Optimizers.


def _supported(preset: str, hparams: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The hyperparameters the preset takes, and the names of those it does not."""
    names = _PRESETS[preset].names
    return (
        {k: v for k, v in hparams.items() if k in names},
        [k for k in hparams if k not in names],
    )


def _check_preset(preset: str, given: Mapping[str, Any]) -> None:
    _, unsupported = _supported(preset, given)
    if unsupported:
        flags = ", ".join(f"--{_BY_NAME[k].flag}" for k in unsupported)
        takes = ", ".join(f"--{_BY_NAME[k].flag}" for k in _PRESETS[preset].names)
        raise UsageError(f"--preset {preset} has no {flags} (it takes {takes})")


def _preset_kwargs(preset: str, hparams: Mapping[str, Any]) -> dict[str, Any]:
    import jax.numpy as jnp

    names = _PRESETS[preset].names
    kwargs = {names[k]: v for k, v in hparams.items() if k in names}
    if "nu_dtype" in kwargs:
        kwargs["nu_dtype"] = jnp.dtype(kwargs["nu_dtype"])
    return kwargs


def _make_optimizer(preset: str, hparams: Mapping[str, Any]):
    """``rmsjax.<preset function>(**hparams in the preset's names)``; values may be traced."""
    import rmsjax

    return getattr(rmsjax, _PRESETS[preset].function)(**_preset_kwargs(preset, hparams))


def _schedule_note(task) -> str:
    if task.schedule == "constant":
        return ""
    return f" (learning rate on the task's {task.schedule} schedule)"


def _describe(preset: str, hparams: Mapping[str, Any]) -> str:
    kwargs = _preset_kwargs(preset, hparams)
    if "nu_dtype" in kwargs:
        kwargs["nu_dtype"] = str(hparams["nu_dtype"])
    inner = ", ".join(f"{k}={_fmt(v)}" for k, v in kwargs.items())
    return f"rmsjax.{_PRESETS[preset].function}({inner})"


def _build_checked(preset: str, hparams: Mapping[str, Any]):
    """Build the optimizer from concrete values, so the library checks them; name the option."""
    try:
        return _make_optimizer(preset, hparams)
    except (ValueError, TypeError) as err:
        message = str(err)
        for name, arg in _PRESETS[preset].names.items():
            if f"`{arg}`" in message:
                message += f" (option --{_BY_NAME[name].flag})"
                break
        raise ValueError(message) from err


def _resolve(task, preset: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """The task's defaults that the preset takes, overridden by the values given."""
    defaults, _ = _supported(preset, task.defaults)
    return {**defaults, **given}


# --------------------------------------------------------------------------------------------
# Data, output folders, JSON.


def _load_data(task, data_dir: str | None):
    from rmsjax import data as data_lib

    if task.needs_data_dir:
        if data_dir is None and not data_lib.tfds_installed():
            raise FileNotFoundError(
                f"task {task.name!r} needs --data-dir DIR (the folder holding its files, e.g. "
                f"../shared/data) or tensorflow-datasets installed"
            )
        if data_dir is not None and not Path(data_dir).is_dir():
            raise FileNotFoundError(f"--data-dir {data_dir!r} is not a directory")
    import logging

    absl = logging.getLogger("absl")  # tensorflow-datasets logs its fallbacks as warnings
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        return task.load(data_dir if task.needs_data_dir else None)
    except RuntimeError as err:  # tensorflow-datasets could not load: the message says why
        raise FileNotFoundError(f"{err} (with this command: --data-dir DIR)") from err
    finally:
        absl.setLevel(level)


def _source(task, data) -> str:
    """Where the data came from (a sentence to print and record with every figure)."""
    if hasattr(data, "source"):
        return data.source
    return (
        f"embedded 2-D objective {task.name}: start {tuple(data.start)}, "
        f"minimum at {tuple(data.minimum)}"
    )


def _out_dir(args: argparse.Namespace, command: str) -> Path:
    out = Path(args.out) if args.out else Path("runs") / f"{args.task}-{command}"
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _write_json(path: Path, payload: Mapping[str, Any]) -> None:
    path.write_text(json.dumps(_jsonable(payload), indent=2, allow_nan=False) + "\n")


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


def _print_metrics(metrics: Mapping[str, Any]) -> None:
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        print(f"  {k:<{width}}  {_fmt(v)}")


# --------------------------------------------------------------------------------------------
# Plots (matplotlib's object-oriented API with the Agg canvas: no display, no global state).


def _figure(figsize=(6.4, 4.0)):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path: Path, saved: list[str]) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    saved.append(path.name)


def _log_scale_if_positive(ax, values: np.ndarray) -> None:
    finite = values[np.isfinite(values)]
    if finite.size and np.all(finite > 0):
        ax.set_yscale("log")


def _plot_curves(path, curves, labels, xlabel, title, saved, *, x0=1, highlight=None):
    """One line per curve; with ``highlight`` (ids, best first) the others are drawn in grey."""
    fig = _figure()
    ax = fig.add_subplot()
    curves = [np.asarray(c, dtype=np.float64) for c in curves]
    shown = list(range(len(curves))) if highlight is None else list(highlight)
    for i, curve in enumerate(curves):
        if i not in shown:
            xs = np.arange(x0, x0 + len(curve))
            ax.plot(xs, curve, color="0.75", linewidth=0.8, zorder=1)
    for i in shown:
        xs = np.arange(x0, x0 + len(curves[i]))
        ax.plot(xs, curves[i], label=labels[i], linewidth=1.6, zorder=2)
    _log_scale_if_positive(ax, np.concatenate([c.ravel() for c in curves]))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small")
    _save(fig, path, saved)


def _plot_trajectories(path, problem, trajectories, labels, title, saved):
    from matplotlib.colors import LogNorm

    X, Y, Z = problem.grid(200)
    fig = _figure((6.4, 5.0))
    ax = fig.add_subplot()
    levels = np.geomspace(max(float(Z.min()), 1e-2), float(Z.max()), 20)
    ax.contour(X, Y, Z, levels=levels, norm=LogNorm(), cmap="viridis", linewidths=0.7)
    for traj, label in zip(trajectories, labels, strict=True):
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
    ax.legend(fontsize="small", loc="best")
    _save(fig, path, saved)


# --------------------------------------------------------------------------------------------
# rmsjax train


def _train_options(args: argparse.Namespace) -> dict[str, Any]:
    return {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed}


def cmd_train(args: argparse.Namespace) -> int:
    from rmsjax import tasks

    start = time.perf_counter()
    task = tasks.get(args.task)
    given = {k: v[0] for k, v in _given_hparams(args, many=False).items()}
    _check_preset(args.preset, given)
    hparams = _resolve(task, args.preset, given)
    _build_checked(args.preset, hparams)  # concrete values: checked, errors name the option
    out = _out_dir(args, "train")
    data = _load_data(task, args.data_dir)

    description = _describe(args.preset, hparams) + _schedule_note(task)
    epochs = task.epochs if args.epochs is None else args.epochs
    unit = ("step" if task.kind == "objective" else "epoch") + ("" if epochs == 1 else "s")
    batch = "" if task.kind == "objective" else f", batch {args.batch_size or task.batch_size}"
    print(f"rmsjax train {task.name}: {description}, {epochs} {unit}{batch}, seed {args.seed}")
    print(f"data: {_source(task, data)}")
    preset = args.preset
    steps = task.total_steps(data, args.epochs, args.batch_size)
    result = task.train(
        hparams,
        data=data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        # The task's learning-rate schedule (e.g. cosine for reviews) applies to every preset.
        optimizer_factory=task.default_optimizer_factory(
            steps, base=lambda hp: _make_optimizer(preset, hp)
        ),
        progress=not args.no_progress,
    )
    metrics = dict(result.metrics)
    metrics["wall_seconds"] = time.perf_counter() - start  # the whole command, data included
    config = dict(result.config, preset=args.preset, optimizer=description)
    print("metrics:")
    _print_metrics(metrics)

    saved: list[str] = []
    history = result.history
    if task.kind == "objective":
        _plot_curves(
            out / "loss.png",
            [history.train_loss],
            [args.preset],
            "step",
            f"{task.name}: {description}",
            saved,
            x0=0,
        )
        _plot_trajectories(
            out / "trajectory.png",
            data,
            [result.trajectory],
            [args.preset],
            f"{task.name}: {description}",
            saved,
        )
    else:
        _plot_curves(
            out / "loss.png",
            [history.train_loss],
            ["train loss"],
            "epoch",
            f"{task.name}: {description}",
            saved,
        )
    payload = {
        "command": "train",
        "task": task.name,
        **metrics,
        "source": _source(task, data),
        "config": config,
        "history": history.as_dict(),
    }
    if result.trajectory is not None:
        payload["trajectory"] = result.trajectory
    _write_json(out / "metrics.json", payload)
    saved.insert(0, "metrics.json")
    print(f"saved to {out}/: {', '.join(saved)}")
    return 0


# --------------------------------------------------------------------------------------------
# rmsjax sweep


def _default_metric(task) -> str:
    return "test_accuracy" if task.kind == "classification" else "final_loss"


def _scalar_metrics(task) -> tuple[str, ...]:
    if task.kind == "classification":
        return ("final_loss", "test_accuracy", "test_loss")
    return ("final_loss", "distance_to_minimum")


def _chunk_size(text: str) -> int | str | None:
    if text == "auto":
        return "auto"
    if text == "none":
        return None
    return _positive_int(text)


def _rank(scores: np.ndarray, mode: str) -> np.ndarray:
    """Configuration ids best first; NaN (diverged) last; ties keep id order."""
    key = np.where(np.isnan(scores), np.inf, -scores if mode == "max" else scores)
    return np.argsort(key, kind="stable")


def cmd_sweep(args: argparse.Namespace) -> int:
    import jax

    import rmsjax
    from rmsjax import tasks

    start = time.perf_counter()
    task = tasks.get(args.task)
    given = _given_hparams(args, many=True)
    _check_preset(args.preset, given)
    default_axes, _ = _supported(
        args.preset, {**task.defaults, **{k: list(v) for k, v in task.sweep_space.items()}}
    )
    axes = {k: (v if isinstance(v, list) else [v]) for k, v in default_axes.items()}
    axes.update(given)
    space = rmsjax.grid(**axes)
    for config in space:  # concrete values, so the library checks them before any training
        _build_checked(args.preset, config)
    metric = args.metric or _default_metric(task)
    if metric not in _scalar_metrics(task):
        raise UsageError(
            f"--metric {metric!r} is not a metric of task {task.name!r}; choose from "
            f"{', '.join(_scalar_metrics(task))}"
        )
    mode = args.mode or ("max" if "accuracy" in metric else "min")
    out = _out_dir(args, "sweep")
    data = _load_data(task, args.data_dir)

    preset = args.preset
    train_fn = task.make_train_fn(
        data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        optimizer_factory=task.default_optimizer_factory(
            task.total_steps(data, args.epochs, args.batch_size),
            base=lambda hp: _make_optimizer(preset, hp),
        ),
    )
    varying = [n for n, v in space.axes.items() if len(v) > 1]
    fixed = {n: v[0] for n, v in space.axes.items() if len(v) == 1}
    epochs = task.epochs if args.epochs is None else args.epochs
    unit = ("step" if task.kind == "objective" else "epoch") + ("" if epochs == 1 else "s")
    batch_size = args.batch_size or task.batch_size
    batch = "" if task.kind == "objective" else f", batch {batch_size}"
    shape = " x ".join(f"{len(space.axes[n])} {n}" for n in varying) or "1 configuration"
    print(
        f"rmsjax sweep {task.name}: {len(space)} configurations ({shape}) x {args.seeds} "
        f"seed(s), rmsjax.{_PRESETS[preset].function}, {epochs} {unit}{batch}"
    )
    if fixed:
        print("fixed: " + ", ".join(f"{k}={_fmt(v)}" for k, v in fixed.items()))
    print(f"data: {_source(task, data)}")

    if args.resume:
        _check_resume_options(
            out / "chunks",
            {
                "task": task.name,
                "preset": preset,
                "epochs": epochs,
                "batch_size": None if task.kind == "objective" else batch_size,
                "data": _source(task, data),
            },
        )
    sweep_start = time.perf_counter()
    result = rmsjax.sweep(
        train_fn,
        space,
        key=jax.random.key(args.seed),
        seeds=args.seeds,
        chunk_size=args.chunk_size,
        out_dir=out / "chunks" if args.resume else None,
        progress=not args.no_progress,
    )
    sweep_seconds = time.perf_counter() - sweep_start

    # Rank by the mean over seeds; a configuration that diverged for any seed ranks last.
    means = {
        name: result.metrics[name].astype(np.float64).mean(axis=1)
        for name in _scalar_metrics(task)
        if name in result.metrics
    }
    diverged = result.diverged.any(axis=1)
    scores = np.where(diverged, np.nan, means[metric])
    order = _rank(scores, mode)
    rows = []
    for rank, i in enumerate(order, start=1):
        row: dict[str, Any] = {"rank": rank, "config": int(i)}
        row.update({n: space[int(i)][n] for n in varying})
        row.update({name: float(m[i]) for name, m in means.items()})
        if args.seeds > 1:
            row[f"{metric}_std"] = float(result.metrics[metric][i].astype(np.float64).std())
        row["diverged"] = bool(diverged[i])
        rows.append(row)
    _print_table(rows[: args.top], title=f"top {min(args.top, len(rows))} by {metric} ({mode})")
    n_div = int(diverged.sum())
    if n_div:
        print(f"diverged: {n_div} of {len(space)} configurations (NaN or inf; ranked last)")

    best = result.best(metric, mode)
    best_id = int(order[0])
    best_metrics = {name: float(m[best_id]) for name, m in means.items()}
    print(f"best: {', '.join(f'{k}={_fmt(v)}' for k, v in best.items())}")
    print(f"  {_describe(preset, best)}")

    n_runs = len(space) * args.seeds
    if task.kind == "objective":
        trained = n_runs * epochs  # optimisation steps
    else:
        trained = n_runs * epochs * (data.num_train // batch_size) * batch_size
    totals = {
        "examples_per_second": trained / sweep_seconds,
        "sweep_seconds": sweep_seconds,
        "wall_seconds": time.perf_counter() - start,
    }
    _print_metrics({**best_metrics, **totals})

    saved: list[str] = []
    frame = result.to_pandas()
    frame.insert(0, "config", np.repeat(np.arange(len(space)), args.seeds))
    frame.to_csv(out / "results.csv", index=False)
    saved.append("results.csv")
    _sweep_plots(
        out, task, data, result, space, order, rows, metric, mode, varying, saved, top=args.top
    )
    payload = {
        "command": "sweep",
        "task": task.name,
        "metric": metric,
        "mode": mode,
        **best_metrics,
        **totals,
        "best": best,
        "best_config_id": best_id,
        "configurations": len(space),
        "seeds": args.seeds,
        "diverged_configurations": n_div,
        "source": _source(task, data),
        "config": {
            "task": task.name,
            "preset": preset,
            "optimizer": _PRESETS[preset].function,
            "grid": space.to_json(),
            "epochs": epochs,
            "batch_size": None if task.kind == "objective" else batch_size,
            "seed": args.seed,
            "seeds": args.seeds,
            "chunk_size": args.chunk_size,
            "chunk_sizes_used": result.chunk_sizes,
            "model": dict(task.model),
            "data": dict(task.data_options),
        },
        "ranking": rows,
    }
    _write_json(out / "metrics.json", payload)
    saved.insert(0, "metrics.json")
    print(f"saved to {out}/: {', '.join(saved)}")
    return 0


def _print_table(rows: Sequence[Mapping[str, Any]], title: str) -> None:
    if not rows:
        return
    columns = list(rows[0])
    cells = [[_fmt(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(columns)]
    print(title + ":")
    print("  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in cells:
        print("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))


def _label(config: Mapping[str, Any], names: Sequence[str]) -> str:
    return ", ".join(f"{n}={_fmt(config[n])}" for n in names) or "config 0"


def _sweep_plots(out, task, data, result, space, order, rows, metric, mode, varying, saved, top):
    shown = [int(i) for i in order[: min(top, 6)]]
    curves = result.metrics["loss_curve"].astype(np.float64).mean(axis=1)
    labels = [_label(space[i], varying) for i in range(len(space))]
    objective = task.kind == "objective"
    _plot_curves(
        out / "loss_curves.png",
        curves,
        labels,
        "step" if objective else "epoch",
        f"{task.name}: training loss (best {len(shown)} in colour)",
        saved,
        x0=0 if objective else 1,
        highlight=shown,
    )
    fig = _figure()
    result.plot(metric, mode=mode, ax=fig.add_subplot())
    fig.axes[0].set_title(f"{task.name}: {metric}", fontsize="medium")
    name = "heatmap.png" if len(varying) >= 2 else f"{metric}.png"
    _save(fig, out / name, saved)
    if objective:
        trajectories = result.metrics["trajectory"][shown, 0]
        _plot_trajectories(
            out / "trajectories.png",
            data,
            trajectories,
            [labels[i] for i in shown],
            f"{task.name}: best {len(shown)} trajectories",
            saved,
        )


def _check_resume_options(folder: Path, options: dict[str, Any]) -> None:
    """Record the options a sweep's manifest cannot see (it knows the grid, seeds and key, not
    the task, epochs or data), and refuse to reuse chunks computed under other ones."""
    path = folder / "cli-options.json"
    if path.exists():
        saved = json.loads(path.read_text())
        changed = [f"{k}: {saved.get(k)!r} then, {v!r} now" for k, v in options.items()
                   if saved.get(k) != v]  # fmt: skip
        if changed:
            raise UsageError(
                f"--resume: {folder} holds a sweep run with other options ("
                + "; ".join(changed)
                + "); use another --out or delete that folder"
            )
        return
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(options, indent=1))


# --------------------------------------------------------------------------------------------
# rmsjax compare


def cmd_compare(args: argparse.Namespace) -> int:
    import optax

    from rmsjax import tasks

    start = time.perf_counter()
    task = tasks.get(args.task)
    given = {k: v[0] for k, v in _given_hparams(args, many=False).items()}
    base_lr = given.get("learning_rate", task.defaults["learning_rate"])
    sgd_lr = _SGD_LR[task.name] if args.sgd_lr is None else args.sgd_lr
    adam_lr = base_lr if args.adam_lr is None else args.adam_lr
    for flag, lr in (("--sgd-lr", sgd_lr), ("--adam-lr", adam_lr)):
        if lr < 0:
            raise ValueError(f"{flag} must be >= 0, got {lr:g}")

    out = _out_dir(args, "compare")
    data = _load_data(task, args.data_dir)
    # Every optimizer gets the task's learning-rate schedule (constant for most tasks).
    steps = task.total_steps(data, args.epochs, args.batch_size)
    note = _schedule_note(task)
    sgd = optax.sgd(task.learning_rate_schedule(sgd_lr, steps))
    runs: list[tuple[str, Any, str]] = [("sgd", sgd, f"optax.sgd({sgd_lr:g}){note}")]
    for preset in _PRESETS:
        hparams = _resolve(task, preset, given)
        _, dropped = _supported(preset, given)
        for name in dropped:
            print(f"note: {preset} ignores --{_BY_NAME[name].flag} (not an option of its preset)")
        _build_checked(preset, hparams)
        factory = task.default_optimizer_factory(
            steps, base=lambda hp, preset=preset: _make_optimizer(preset, hp)
        )
        runs.append((preset, factory(hparams), _describe(preset, hparams) + note))
    adam = optax.adam(task.learning_rate_schedule(adam_lr, steps))
    runs.append(("adam", adam, f"optax.adam({adam_lr:g}){note}"))

    epochs = task.epochs if args.epochs is None else args.epochs
    unit = ("step" if task.kind == "objective" else "epoch") + ("" if epochs == 1 else "s")
    print(f"rmsjax compare {task.name}: {len(runs)} optimizers, {epochs} {unit}, seed {args.seed}")
    print(f"data: {_source(task, data)}")
    # The first training in a process also pays one-time costs inside its timed epochs (JAX
    # compiling the small eager ops around the epoch function); a one-epoch warm-up keeps them
    # out of the first optimizer's examples_per_second, so the column compares like with like.
    task.train(data=data, epochs=1, batch_size=args.batch_size, optimizer=optax.sgd(0.0))
    results = {}
    for name, optimizer, description in runs:
        print(f"{name}: {description}")
        results[name] = task.train(
            _resolve(task, "rmsjax", given),
            data=data,
            epochs=args.epochs,
            batch_size=args.batch_size,
            seed=args.seed,
            optimizer=optimizer,
            progress=not args.no_progress,
        )
    columns = ["final_loss"] + (
        ["test_accuracy", "test_loss"] if task.kind == "classification" else ["distance_to_minimum"]
    )
    columns += ["examples_per_second", "wall_seconds"]
    rows = [
        {"optimizer": name, **{c: results[name].metrics[c] for c in columns}} for name, _, _ in runs
    ]
    _print_table(rows, title="results")

    saved: list[str] = []
    names = [name for name, _, _ in runs]
    objective = task.kind == "objective"
    _plot_curves(
        out / "loss_curves.png",
        [results[n].history.train_loss for n in names],
        names,
        "step" if objective else "epoch",
        f"{task.name}: SGD, RMSprop presets, Adam",
        saved,
        x0=0 if objective else 1,
    )
    if objective:
        _plot_trajectories(
            out / "trajectories.png",
            data,
            [results[n].trajectory for n in names],
            names,
            f"{task.name}: SGD, RMSprop presets, Adam",
            saved,
        )
    payload = {
        "command": "compare",
        "task": task.name,
        "wall_seconds": time.perf_counter() - start,
        "source": _source(task, data),
        "results": {
            name: {
                **results[name].metrics,
                "optimizer": description,
                "config": dict(results[name].config, optimizer=description),
                "train_loss": results[name].history.train_loss,
            }
            for name, _, description in runs
        },
    }
    _write_json(out / "metrics.json", payload)
    saved.insert(0, "metrics.json")
    print(f"saved to {out}/: {', '.join(saved)} (wall {payload['wall_seconds']:.1f} s)")
    return 0


# --------------------------------------------------------------------------------------------
# The parser.


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (usage is one `--help` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _int_at_least(low: int):
    """An argparse type: an integer >= ``low``."""
    what = "a positive integer" if low == 1 else f"an integer >= {low}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1)
_nonnegative_int = _int_at_least(0)


def _float_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _chunk_arg(text: str) -> int | str | None:
    try:
        return _chunk_size(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, 'auto' or 'none', got {text!r}"
        ) from None


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=88)


def _task_help() -> str:
    from rmsjax import tasks

    return "\n".join(f"  {n:<11} {tasks.get(n).description}" for n in tasks.names())


def _add_common(parser: argparse.ArgumentParser, *, many: bool, preset: bool) -> None:
    from rmsjax import tasks

    parser.add_argument("task", metavar="TASK", choices=tasks.names(), help="the task (see below)")
    group = parser.add_argument_group(
        "hyperparameters of rmsjax.rmsprop"
        + (" (each: a value, a list a,b,c, or a log range LO:HI:N)" if many else "")
    )
    if preset:
        group.add_argument(
            "--preset",
            choices=list(_PRESETS),
            default="rmsjax",
            help="which RMSprop: rmsjax (default), torch, keras or tf1. The options below map to "
            "the preset's own arguments (e.g. --decay is torch's alpha, keras's rho) and its "
            "conventions apply; options a preset lacks are an error",
        )
    for h in _HPARAMS:
        flag = f"--{h.flag}"
        if h.kind == "bool":
            if many:
                group.add_argument(
                    flag,
                    dest=h.name,
                    nargs="?",
                    const=True,
                    default=None,
                    metavar="BOOL",
                    help=f"{h.help}; give false,true to sweep both",
                )
            else:
                group.add_argument(flag, dest=h.name, action="store_true", help=h.help)
        else:
            metavar = {"float": "LIST" if many else "X", "dtype": "DTYPE"}[h.kind]
            extra = f" ({', '.join(_NU_DTYPES)})" if h.kind == "dtype" else ""
            group.add_argument(flag, dest=h.name, metavar=metavar, help=h.help + extra)
    run = parser.add_argument_group("training and output")
    run.add_argument(
        "--epochs",
        type=_positive_int,
        metavar="N",
        help="epochs (steps for the 2-D tasks); default: the task's",
    )
    run.add_argument(
        "--batch-size", type=_positive_int, metavar="N", help="batch size; default: the task's"
    )
    run.add_argument(
        "--seed",
        type=_nonnegative_int,
        metavar="N",
        default=0,
        help="seed of initialisation and shuffling (default 0)",
    )
    run.add_argument(
        "--data-dir",
        metavar="DIR",
        default=os.environ.get("RMSJAX_DATA_DIR"),
        help="folder with the data of mnist (IDX files) or reviews (pos/ and neg/); default "
        "$RMSJAX_DATA_DIR, else tensorflow-datasets",
    )
    run.add_argument("--out", metavar="DIR", help="output folder (default runs/TASK-COMMAND)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rmsjax`` command."""
    fmt = argparse.RawDescriptionHelpFormatter
    tasks_text = "tasks:\n" + _task_help()
    parser = _Parser(
        prog=PROG,
        formatter_class=fmt,
        description="Train, sweep and compare RMSprop (rmsjax) on the seed's tasks.",
        epilog=f"""{tasks_text}

examples:
  rmsjax sweep digits                       the main job: offline, ranked table and plots
  rmsjax train rosenbrock --lr 0.01         one run, with its trajectory on a contour
  rmsjax train mnist --data-dir ../shared/data --epochs 20
  rmsjax sweep xor --lr 1e-3:1e-1:8 --decay 0.9,0.99 --seeds 3
  rmsjax compare rosenbrock                 SGD, the four RMSprop presets and Adam

Every command writes metrics.json and PNG plots to --out DIR (default runs/TASK-COMMAND/).
Set RMSJAX_DEBUG=1 to see full tracebacks instead of one-line errors.""",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    train = sub.add_parser(
        "train",
        formatter_class=fmt,
        help="train one configuration, report metrics, save plots",
        description=_wrap(
            "Train one configuration of RMSprop on TASK; print and save its metrics "
            "(metrics.json) and plots (loss.png; trajectory.png for the 2-D tasks)."
        ),
        epilog=f"""{tasks_text}

examples:
  rmsjax train digits
  rmsjax train digits --lr 3e-3 --decay 0.99 --momentum 0.9 --out runs/mine
  rmsjax train xor --preset torch --lr 0.01 --momentum 0.9
  rmsjax train rosenbrock --epochs 2000 --centered
  rmsjax train reviews --data-dir ../shared/data""",
    )
    _add_common(train, many=False, preset=True)
    train.set_defaults(func=cmd_train)

    sweep = sub.add_parser(
        "sweep",
        formatter_class=fmt,
        help="train a grid in parallel with rmsjax.sweep, rank it, save plots",
        description=_wrap(
            "Train every configuration of a grid at once (rmsjax.sweep: one compiled, "
            "vmapped program), print a ranked table and the best configuration, and save "
            "results.csv, metrics.json and plots (loss_curves.png, a heatmap; trajectories.png "
            "for the 2-D tasks). Options not given take the task's default grid (learning rate "
            "x decay)."
        ),
        epilog=f"""{tasks_text}

examples:
  rmsjax sweep digits
  rmsjax sweep digits --lr 1e-4:1e-2:8 --decay 0.9,0.99 --seeds 3 --top 5
  rmsjax sweep xor --momentum 0,0.5,0.9 --centered false,true
  rmsjax sweep rosenbrock --metric distance_to_minimum --preset tf1
  rmsjax sweep mnist --data-dir ../shared/data --epochs 3 --chunk-size 4 --resume""",
    )
    _add_common(sweep, many=True, preset=True)
    group = sweep.add_argument_group("sweep")
    group.add_argument(
        "--seeds",
        type=_positive_int,
        metavar="N",
        default=1,
        help="seeds per configuration (default 1); ranking uses their mean",
    )
    group.add_argument(
        "--chunk-size",
        type=_chunk_arg,
        metavar="N",
        default="auto",
        help="configurations per compiled chunk: an integer, auto (default) or none",
    )
    group.add_argument(
        "--metric",
        metavar="NAME",
        help="metric to rank by (default test_accuracy for the "
        "classifiers, final_loss for the 2-D tasks)",
    )
    group.add_argument(
        "--mode",
        choices=("min", "max"),
        help="best is min or max (default: max for accuracies, else min)",
    )
    group.add_argument(
        "--top",
        type=_positive_int,
        metavar="N",
        default=10,
        help="rows of the ranked table (default 10)",
    )
    group.add_argument(
        "--resume",
        action="store_true",
        help="keep finished chunks in OUT/chunks and reuse them when the same "
        "sweep is run again; other options in the same OUT are an error",
    )
    sweep.set_defaults(func=cmd_sweep)

    compare = sub.add_parser(
        "compare",
        formatter_class=fmt,
        help="SGD, RMSprop (each preset) and Adam side by side on the same task",
        description=_wrap(
            "Train TASK with SGD, each RMSprop preset (rmsjax, torch, keras, tf1) and "
            "Adam from the same initialisation and data order; print a table and save "
            "metrics.json and plots. The RMSprop options apply to every preset that has them."
        ),
        epilog=f"""{tasks_text}

SGD's default learning rate depends on the task ({
            ", ".join(f"{k} {v:g}" for k, v in _SGD_LR.items())
        }); Adam's is the task's RMSprop learning rate (or --lr).

examples:
  rmsjax compare rosenbrock
  rmsjax compare digits --epochs 10 --sgd-lr 0.05""",
    )
    _add_common(compare, many=False, preset=False)
    group = compare.add_argument_group("baselines")
    group.add_argument("--sgd-lr", type=_float_arg, metavar="X", help="SGD's learning rate")
    group.add_argument("--adam-lr", type=_float_arg, metavar="X", help="Adam's learning rate")
    compare.set_defaults(func=cmd_compare)
    return parser


def _version() -> str:
    import rmsjax

    return f"rmsjax {rmsjax.__version__}"


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--lr -1`` -> ``--lr=-1``, so argparse reads a negative value, not an unknown option
    (and the library then says why the value is wrong)."""
    flags = {f"--{h.flag}" for h in _HPARAMS if h.kind == "float"} | {"--sgd-lr", "--adam-lr"}
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        nxt = argv[i + 1] if i + 1 < len(argv) else ""
        if (
            token in flags
            and len(nxt) > 1
            and nxt[0] == "-"
            and (nxt[1].isdigit() or nxt[1] == ".")
        ):
            out.append(f"{token}={nxt}")
            i += 2
        else:
            out.append(token)
            i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rmsjax`` command with ``argv`` (default ``sys.argv[1:]``); return its exit status.

    Exit status: 0 on success, 1 for a bad value or missing data, 2 for a usage error,
    130 when interrupted.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(_join_negative_values(argv))
    debug = os.environ.get("RMSJAX_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except UsageError as err:
        if debug:
            raise
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError, ImportError) as err:
        if debug:
            raise
        print(f"{PROG}: error: {_one_line(err)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""A :class:`Report`, what an experiment found, and how it is printed and saved: a text
summary, ``metrics.json``, ``results.csv`` (sweeps) and PNG plots (drawn by
:mod:`rmsjax.report_plots`).

Saving writes the computed results first (``metrics.json``, ``results.csv``) and the plots
after, so a plot that fails (matplotlib missing, a full disk) never loses a result; call
:func:`check_can_save` before a long run to find a missing dependency or an unwritable folder
before any training.

>>> from rmsjax import experiment, report
>>> r = experiment.run_train(experiment.TrainConfig("quadratic", epochs=20))
>>> report.print_report(r)  # doctest: +ELLIPSIS
metrics:
  loss              ...
  distance_to_minimum  ...
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from rmsjax import store as _store  # the out_dir's write lock and its run files
from rmsjax import tasks
from rmsjax.presets import PRESETS, format_value, get_preset
from rmsjax.report_plots import INSTALL_HINT, save_plots

__all__ = [
    "INSTALL_HINT",
    "RUN_FILE",
    "Report",
    "check_can_save",
    "claim_out_dir",
    "plan",
    "print_report",
    "run_identity",
    "save_report",
    "to_json",
]


@dataclasses.dataclass
class Report:
    """What an experiment found, ready to print (:func:`rmsjax.report.print_report`) or save.

    Attributes:
      command: ``"train"``, ``"sweep"`` or ``"compare"``.
      task: the task's name.
      source: where the data came from.
      optimizer: the optimizer that trained (a sweep: its best configuration), as a call.
      metrics: headline numbers (a sweep: the best configuration's, and throughput).
      table: rows to print (a sweep: every configuration, best first; compare: one per
        optimizer; train: none).
      notes: lines worth saying beside the table (the best configuration, divergences...).
      curves: label -> training loss per epoch (per step, start included, for 2-D tasks).
      trajectories: label -> ``[steps + 1, 2]`` points (2-D tasks only).
      highlight: labels drawn in colour (a sweep's best few), or None for all.
      problem: the 2-D :class:`~rmsjax.data.Problem` (contours), else None.
      sweep: the :class:`rmsjax.SweepResult` of a sweep, else None.
      json: everything, JSON-ready: the content of ``metrics.json``.
    """

    command: str
    task: str
    source: str
    optimizer: str
    metrics: dict[str, float]
    table: list[dict[str, Any]]
    notes: list[str]
    curves: dict[str, np.ndarray]
    trajectories: dict[str, np.ndarray]
    highlight: list[str] | None
    problem: Any
    sweep: Any
    json: dict[str, Any]


# --------------------------------------------------------------------------------------------
# Before a run.


def check_can_save(out_dir: str | os.PathLike, *, plots: bool = True) -> Path:
    """Create ``out_dir`` and check that it can be written, and (with ``plots``) that
    matplotlib is installed; return the folder. Call it before training, so neither problem
    appears after the work is done.

    Raises:
      ImportError: matplotlib is missing (the message has the install line).
      OSError: ``out_dir`` is not a folder or cannot be written.
    """
    if plots:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise ImportError(
                f"the plots need matplotlib, which is not installed: {INSTALL_HINT}"
            ) from None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output folder {str(out)!r} exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    probe = out / ".rmsjax-write-test"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise PermissionError(f"output folder {str(out)!r} cannot be written ({err})") from None
    return out


RUN_FILE = "run.json"
"""What an output folder's run was (its command and resolved config) and the files it wrote."""

# What rmsjax writes in an output folder, for folders without a run.json (an older rmsjax).
_KNOWN_FILES = ("metrics.json", "results.csv", "loss.png", "loss_curves.png", "heatmap.png",
                "history.png", "trajectory.png", "trajectories.png")  # fmt: skip
_KNOWN_METRIC_PLOTS = ("loss", "final_loss", "val_accuracy", "val_loss", "test_accuracy",
                       "test_loss", "distance_to_minimum")  # fmt: skip


def run_identity(command: str, config) -> dict[str, Any]:
    """What makes two runs the same run: the command and its resolved config, JSON-ready,
    without what does not change the results (the data folder's path, the resume folder, the
    chunk size: a resumed sweep keeps its recorded chunk widths; the Optuna storage written to)."""
    fields = dataclasses.asdict(config)
    for name in ("data_dir", "resume_dir", "chunk_size", "optuna_storage", "study_name"):
        fields.pop(name, None)
    return json.loads(json.dumps(to_json({"command": command, **fields})))


def _differences(before: Mapping[str, Any], now: Mapping[str, Any], prefix: str = "") -> list:
    out = []
    for key in [*before, *(k for k in now if k not in before)]:
        a, b = before.get(key), now.get(key)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += _differences(a, b, f"{prefix}{key}.")
        else:
            out.append(f"{prefix}{key} {json.dumps(a)} there, {json.dumps(b)} now")
    return out


def _previous_run(out: Path) -> dict[str, Any] | None:
    try:
        return json.loads((out / RUN_FILE).read_text())
    except (OSError, ValueError):
        return None


def _written_before(out: Path, previous: dict[str, Any] | None) -> list[Path]:
    """The files and folders an earlier run wrote in ``out``."""
    if previous is not None:
        names = [*previous.get("files", []), "chunks"]
    else:
        names = [*_KNOWN_FILES, *(f"{m}.png" for m in _KNOWN_METRIC_PLOTS), "chunks"]
    return [out / n for n in names if (out / n).exists()]


def _remove(paths: Sequence[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def claim_out_dir(
    out_dir: str | os.PathLike,
    identity: Mapping[str, Any],
    *,
    overwrite: bool = False,
    fresh: bool = False,
) -> None:
    """Make ``out_dir`` (from :func:`check_can_save`) the folder of the run ``identity``
    (:func:`run_identity`), before any training.

    A folder holding the results of the same run is kept (a sweep continues from its
    ``chunks/``; ``fresh`` deletes them to start afresh). A folder holding another run's
    results (or results without a ``run.json``, from an older rmsjax) raises
    ``FileExistsError`` saying what differs, unless ``overwrite``: then everything that run wrote
    is deleted first (its plots and ``chunks/`` included; files rmsjax did not write stay).

    >>> import tempfile
    >>> from rmsjax import experiment, report
    >>> out = tempfile.mkdtemp()
    >>> config = experiment.resolve(experiment.TrainConfig("quadratic", epochs=5))
    >>> report.claim_out_dir(out, report.run_identity("train", config))
    >>> report.save_report(experiment.run_train(config), out, plots=False)
    ['metrics.json']
    >>> other = experiment.resolve(experiment.TrainConfig("quadratic", epochs=7))
    >>> report.claim_out_dir(out, report.run_identity("train", other))
    Traceback (most recent call last):
    FileExistsError: output folder '...' holds the results of another run (epochs 5 there, 7 now); \
choose another folder, or overwrite them (--overwrite)
    """
    out = Path(out_dir)
    chunks = out / "chunks"
    if chunks.exists() or identity.get("command") == "sweep":
        try:  # before anything is deleted, and held for the run (its Store takes it over)
            _store.claim(chunks)
        except _store.BusyError as e:
            raise ValueError(
                f"output folder {str(out)!r} is in use: another rmsjax command is writing its "
                "chunks/; wait for it to finish, or choose another folder (--out)"
            ) from e
    previous = _previous_run(out)
    written = _written_before(out, previous)
    if chunks in written and not any(chunks.iterdir()):  # empty (as `claim` creates it)
        written.remove(chunks)
    if written and not overwrite:
        if previous is None:
            raise FileExistsError(
                f"output folder {str(out)!r} holds results of another run ("
                f"{', '.join(p.name for p in written)}; no {RUN_FILE} says which: an older rmsjax "
                "or another program wrote them); choose another folder, or overwrite them "
                "(--overwrite)"
            )
        before = previous.get("identity", {})
        differs = _differences(before, identity)
        if before.get("command") != identity.get("command"):  # the rest differs with it
            differs = differs[:1]
        if len(differs) > 3:
            differs = [*differs[:3], f"and {len(differs) - 3} more"]
        if differs:
            raise FileExistsError(
                f"output folder {str(out)!r} holds the results of another run ("
                f"{'; '.join(differs)}); choose another folder, or overwrite them (--overwrite)"
            )
    if overwrite:
        _remove([p for p in written if p != chunks])
    if (overwrite or fresh) and chunks.exists():
        # The run files: the store deletes them, under its lock (kept for a sweep's run).
        _store.clear(chunks, keep=identity.get("command") == "sweep")
    files = [] if overwrite or previous is None else previous.get("files", [])
    _write_run(out, identity, files)


def _write_run(out: Path, identity: Mapping[str, Any], files: Sequence[str]) -> None:
    text = json.dumps({"identity": identity, "files": list(files)}, indent=2) + "\n"
    tmp = out / f".{RUN_FILE}.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / RUN_FILE)


def plan(config, data) -> list[str]:
    """What a resolved config, or its :class:`~rmsjax.experiment.Plan` (whose task and preset
    are looked up already), will run, in a few lines to show before it starts."""
    if hasattr(config, "config"):  # a plan
        task, preset, config = config.task, config.preset, config.config
    else:
        task = tasks.get(config.task)
        preset = None if config.command == "compare" else get_preset(config.preset)
    unit = task.budget_unit + ("" if config.epochs == 1 else "s")
    batch = "" if config.batch_size is None else f", batch {config.batch_size}"
    lines = []
    if config.command == "train":
        optimizer = task.describe_optimizer(config.hparams, preset)
        lines.append(f"{task.name}: {optimizer}, {config.epochs} {unit}{batch}, seed {config.seed}")
    elif config.command == "sweep":
        varied = {n: v for n, v in config.space.items() if hasattr(v, "low") or len(v) > 1}
        fixed = {n: v[0] for n, v in config.space.items() if n not in varied}
        function = preset.function.__name__
        if config.search == "grid":
            size = math.prod(len(v) for v in varied.values())
            shape = " x ".join(f"{len(v)} {n}" for n, v in varied.items()) or "1 configuration"
            what = f"{size} configuration{'' if size == 1 else 's'} ({shape})"
        elif config.search == "pbt":
            axes = ", ".join(f"{n} {_describe_axis(v)}" for n, v in varied.items())
            what = f"a population of {config.population} drawn at random over {axes}"
        else:
            axes = ", ".join(f"{n} {_describe_axis(v)}" for n, v in varied.items())
            plural = "" if config.trials == 1 else "s"
            how = "random" if config.search in ("asha", "hyperband") else config.search
            what = f"{config.trials} configuration{plural} by {how} search over {axes}"
        halving = "" if config.halving is None else f", successive halving (eta {config.halving})"
        if config.search == "asha":
            halving = f", asynchronous successive halving (eta {config.halving})"
        elif config.search == "hyperband":
            halving = f", Hyperband's brackets of successive halving (eta {config.halving})"
        if config.search == "pbt":
            every = f"{config.interval} {task.budget_unit}{'' if config.interval == 1 else 's'}"
            halving = (f", population-based training (every {every} by {config.metric}, the "
                       "bottom quarter copies the top quarter)")  # fmt: skip
        lines.append(
            f"{task.name}: {what} x {config.seeds} seed(s), rmsjax.{function}, "
            f"{config.epochs} {unit}{batch}{halving}"
        )
        if fixed:
            lines.append("fixed: " + ", ".join(f"{k}={format_value(v)}" for k, v in fixed.items()))
    else:
        runs = len(PRESETS) + 2  # SGD, every preset, Adam
        lines.append(f"{task.name}: {runs} optimizers, {config.epochs} {unit}, seed {config.seed}")
    lines.append(f"data: {task.describe_data(data)}")
    return lines


def _describe_axis(values) -> str:
    if hasattr(values, "low"):
        kind = "log-uniform" if type(values).__name__ == "LogUniform" else "uniform"
        return f"{kind} in [{format_value(values.low)}, {format_value(values.high)})"
    return "in {" + ", ".join(format_value(v) for v in values) + "}"


# --------------------------------------------------------------------------------------------
# Printing.


def _print_table(rows: Sequence[Mapping[str, Any]], title: str, file: TextIO) -> None:
    if not rows:
        return
    columns = list(rows[0])
    cells = [[format_value(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[j]) for row in cells)) for j, c in enumerate(columns)]
    print(title + ":", file=file)
    print("  " + "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)), file=file)
    for row in cells:
        print("  " + "  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)), file=file)


def _print_metrics(metrics: Mapping[str, Any], file: TextIO) -> None:
    width = max(len(k) for k in metrics)
    for k, v in metrics.items():
        print(f"  {k:<{width}}  {format_value(v)}", file=file)


def print_report(report, *, top: int = 10, file: TextIO | None = None) -> None:
    """Print ``report``: its notes, its table (a sweep's ``top`` rows) and its metrics."""
    file = sys.stdout if file is None else file
    if report.command == "sweep":
        sweep = report.json
        _print_table(
            report.table[:top],
            f"top {min(top, len(report.table))} by {sweep['metric']} ({sweep['mode']})",
            file,
        )
        for line in report.notes:
            print(line, file=file)
        _print_metrics(report.metrics, file)
        return
    for line in report.notes:
        print(line, file=file)
    _print_table(report.table, "results", file)
    if report.metrics:
        print("metrics:", file=file)
        _print_metrics(report.metrics, file)


# --------------------------------------------------------------------------------------------
# Saving.


def to_json(value: Any) -> Any:
    """``value`` with NumPy arrays and scalars as lists and numbers, NaN and inf as None.

    >>> from rmsjax.report import to_json
    >>> to_json({"a": np.float32(0.5), "b": [float("nan")], 3: np.arange(2)})
    {'a': 0.5, 'b': [None], '3': [0, 1]}
    """
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_json(value.tolist())
    if isinstance(value, np.generic):
        return to_json(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _write_csv(result, path: Path) -> None:
    """One row per (configuration, seed): ``config_id``, the axes, ``seed``, the scalar metrics,
    ``diverged`` and, after a staged search, ``budget`` and ``pruned`` (the columns of
    ``SweepResult.to_pandas``, without needing pandas)."""
    names, metrics = list(result.space.names), list(result.scalar_metrics)
    staged = getattr(result, "pruned", None) is not None
    diverged = result.diverged
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        extra = ["budget", "pruned"] if staged else []
        writer.writerow(["config_id", *names, "seed", *metrics, "diverged", *extra])
        for i in range(len(result.space)):
            config = result.space[i]
            extra = [result.budget[i], result.pruned[i]] if staged else []
            for seed in range(result.seeds):
                values = [result.metrics[m][i, seed] for m in metrics]
                writer.writerow(
                    [i, *(config[a] for a in names), seed, *values, diverged[i, seed], *extra]
                )


def _write_rows(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else [])
        writer.writeheader()
        writer.writerows(rows)


def save_report(report, out_dir: str | os.PathLike, *, plots: bool = True) -> list[str]:
    """Save ``report`` in ``out_dir``: ``metrics.json``, for a sweep ``results.csv``, then
    (with ``plots``) the PNG plots. Returns the names written, in that order.

    The results are on disk before any plot is drawn: if plotting fails, they stay, and the
    error says which were saved.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    previous = _previous_run(out)
    saved = []
    text = json.dumps(to_json(report.json), indent=2, allow_nan=False) + "\n"
    (out / "metrics.json").write_text(text)
    saved.append("metrics.json")
    if report.sweep is not None:
        _write_csv(report.sweep, out / "results.csv")
        saved.append("results.csv")
    if "pbt" in report.json:  # the best member's hyperparameters, epoch by epoch
        _write_rows(report.json["pbt"]["best_schedule"], out / "best_schedule.csv")
        saved.append("best_schedule.csv")
    try:
        if plots:
            try:
                save_plots(report, out, saved)
            except Exception as err:
                raise RuntimeError(
                    f"plotting failed ({type(err).__name__}: {err}); the results are saved in "
                    f"{out}: {', '.join(saved)}"
                ) from err
    finally:
        if previous is not None:  # a folder claimed by claim_out_dir: no stale files stay
            _remove([out / n for n in previous.get("files", []) if n not in saved])
            _write_run(out, previous.get("identity", {}), saved)
    return saved

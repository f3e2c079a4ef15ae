"""What the commands share: the :class:`Report` every run returns, and :func:`is_traced`."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np


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


def is_traced(value: Any) -> bool:
    """Whether a sweep traces this hyperparameter value (numbers; not bools, None, strings)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))

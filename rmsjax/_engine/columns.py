"""The column names the results' ``to_pandas()`` add besides the axes and metrics, in one place.

`SweepResult.to_pandas` adds ``config_id``, ``seed`` and ``diverged``; `StagedResult` adds
``budget`` and ``pruned``; `PBTResult` adds ``copies`` and ``<metric>_curve`` for each scalar
metric (so does a staged sweep's ``metrics``). An axis or a metric named like one of them would
be silently replaced in that column, so both are refused: axis names when the space is built,
metric names when the train_fn or trainer is traced (before any training).
"""

from __future__ import annotations

# name -> the column (which result adds it: see above)
RESERVED = {
    "config_id": "the configuration id column",
    "seed": "the seed column",
    "diverged": "the diverged column",
    "budget": "the budget column",
    "pruned": "the pruned column",
    "copies": "the copies column",
}
# A Trainer's scalar metric ``m`` also gets the curve ``m`` + CURVE (metrics and PBT's columns).
CURVE = "_curve"


def _names() -> str:
    return ", ".join(RESERVED)


def check_axis(name: str, who: str) -> None:
    """Refuses an axis of ``who``'s space named like a column of the results' to_pandas()."""
    if name in RESERVED:
        raise ValueError(
            f"{who} axis {name!r} is the name of {RESERVED[name]} of the result's to_pandas(); "
            f"rename the axis (reserved column names: {_names()})"
        )


def check_metrics(names: list[str], axes: list[str], who: str, curves: list[str] = ()) -> None:
    """Refuses a metric named like an axis or a reserved column, and (``curves``: the scalar
    metrics of a Trainer) a curve ``<m>_curve`` named like an axis or another metric."""
    for name in names:
        if name in axes:
            what = f"the hyperparameter axis {name!r}"
        elif name in RESERVED:
            what = RESERVED[name]
        else:
            continue
        raise ValueError(
            f"{who} returns a metric named {name!r}, the name of {what} of the result's "
            f"to_pandas(); rename the metric (or the axis; reserved column names: {_names()})"
        )
    for name in curves:
        curve = name + CURVE
        if curve in names or curve in axes:
            what = "metric" if curve in names else "hyperparameter axis"
            raise ValueError(
                f"{who} returns the scalar metric {name!r}, whose per-unit curve {curve!r} is "
                f"also the name of a {what}; rename one of them"
            )

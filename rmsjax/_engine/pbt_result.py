"""`PBTResult`: the result of a population-based search, one row per member, with each member's
schedule (the hyperparameters every unit trained with) and lineage (whose run it continued)."""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np

from rmsjax._engine import checks
from rmsjax._engine.population import PBT
from rmsjax._engine.record import StagedResult
from rmsjax._engine.results import SweepResult


@dataclasses.dataclass(repr=False, eq=False)
class PBTResult(StagedResult):
    """The result of `rmsjax.sweep` with ``pbt=``: one row per member.

    ``space`` holds every member's *final* hyperparameters (`best` returns the best member's);
    ``initial`` is the space the population started from. ``hparams[name]`` is ``(members,
    budget)``: the value member ``m``'s slot trained unit ``u`` with; ``copied_from`` is
    ``(members, budget)``: the member whose carry ``m`` took at the start of unit ``u`` (-1
    where it kept its own). `schedule` follows a member's lineage through those copies.
    ``resumed_units`` is ``(members,)``: the units each member had trained before this call
    (0 when it started fresh, the unit of the saved population it continued from, or the budget
    for a member loaded finished from ``out_dir``); this call trained the rest.
    """

    initial: Any = None
    hparams: dict[str, np.ndarray] = None
    copied_from: np.ndarray = None
    rule: PBT = None
    slots: dict[int, int] = None  # member -> its slot in its group's pool
    devices: int = 1
    resumed_units: np.ndarray = None  # int (members,): units done before this call

    def to_pandas(self):
        """As `SweepResult.to_pandas`, one row per (member, seed) with the member's final
        hyperparameters and metrics, and ``copies`` (how many times the member took another
        member's carry) and ``<name>_curve`` for each scalar metric: the member slot's values
        per unit, as an array in each row (a curve jumps where the member copied)."""
        frame = super().to_pandas()
        frame["copies"] = np.repeat((self.copied_from >= 0).sum(axis=1), self.seeds)
        for name in self.scalar_metrics:
            curve = self.metrics.get(f"{name}_curve")
            if curve is not None:
                frame[f"{name}_curve"] = list(curve.reshape(-1, curve.shape[-1]))
        return frame

    def history(self, metric=None, mode=None, order=None, tiebreak=None):
        """As `SweepResult.history`; ``order`` defaults to ``"rungs"``: a population trains
        every member one unit at a time together, and each point is the best member after that
        unit (the last one `best`'s)."""
        return super().history(metric, mode, "rungs" if order is None else order, tiebreak)

    def lineage(self, member: int) -> np.ndarray:
        """``(budget,)``: the member whose slot (and run keys) trained each unit of ``member``'s
        final state: its ancestors up to each copy, then itself."""
        member = _member(member, len(self.space))
        owner, out = member, np.empty(self.max_budget, np.int64)
        for u in range(self.max_budget - 1, -1, -1):
            out[u] = owner
            if self.copied_from[owner, u] >= 0:
                owner = int(self.copied_from[owner, u])
        return out

    def schedule(self, member: int):
        """``member``'s schedule as a pandas DataFrame, one row per unit.

        Columns: ``unit`` (0-based), ``member`` (whose run trained that unit: the lineage),
        ``copied`` (True where the lineage moved to another member at that unit), one column
        per hyperparameter (the values that unit trained with; static ones included) and the
        searched metric after that unit (mean over seeds, of the member of the lineage).
        ``frame.attrs`` records what `rmsjax.replay` needs (seeds, widths, slots, keys, dtypes).

        Example:
          >>> import jax, jax.numpy as jnp, rmsjax
          >>> trainer = rmsjax.Trainer(
          ...     init=lambda hp, key: jnp.float32(1.0),
          ...     advance=lambda w, hp, key: (w * (1 - hp["lr"]), {"w": w * (1 - hp["lr"])}))
          >>> result = rmsjax.sweep(trainer, rmsjax.grid(lr=[0.1, 0.2, 0.3, 0.4]),
          ...                       key=jax.random.key(0), budget=4, progress=False,
          ...                       pbt=rmsjax.pbt("w", mode="min", interval=2, fraction=0.5))
          >>> frame = result.schedule(0)
          >>> list(frame.columns)
          ['unit', 'member', 'copied', 'lr', 'w']
          >>> frame["member"].tolist()  # member 0 (worst at unit 2) continued a best one's run
          [3, 3, 0, 0]
        """
        import pandas as pd

        member = _member(member, len(self.space))
        lineage = self.lineage(member)
        units = np.arange(self.max_budget)
        columns: dict[str, Any] = {
            "unit": units,
            "member": lineage,
            "copied": np.r_[False, lineage[1:] != lineage[:-1]],
        }
        for name in self.space.names:
            if name in self.hparams:
                columns[name] = self.hparams[name][lineage, units]
            else:
                columns[name] = [self.space[member][name]] * self.max_budget
        metric = self.rule.metric
        curve = self.metrics[f"{metric}_curve"].astype(np.float64).mean(axis=1)
        columns[metric] = curve[lineage, units]
        frame = pd.DataFrame(columns)
        first = _group_first(self.space, member)
        frame.attrs = {
            "rmsjax": "pbt schedule",
            "member": member,
            "budget": self.max_budget,
            "seeds": self.seeds,
            "width": int(self.chunk_sizes[first]),
            "devices": self.devices,
            "slots": {int(m): int(self.slots[int(m)]) for m in set(lineage.tolist())},
            "static": {n: self.space[member][n] for n in self.space.static_axes},
            "dtypes": {n: np.dtype(self.hparams[n].dtype).name for n in self.space.dynamic_axes},
            "traced_dtypes": dict(self._traced_dtypes),
            "keys": self.keys,
        }
        return frame

    _traced_dtypes: dict = dataclasses.field(default_factory=dict)

    def __repr__(self) -> str:
        copies = int((self.copied_from >= 0).sum())
        base = SweepResult.__repr__(self)[len("SweepResult(") : -1]
        base = base.replace("configuration", "member", 1)
        return f"PBTResult({base}; pbt every {self.rule.interval} units: {copies} copies)"

    def plot_schedules(self, metric: str | None = None, *, unit="unit", path=None, axes=None):
        """The classic PBT picture: each hyperparameter against units for every member.

        One panel per dynamic hyperparameter that takes more than one value, then one of
        ``metric``'s curve (mean over seeds); one line per member slot, coloured by its final
        score (the searched metric, mean over seeds; grey where it diverged; the best in
        yellow). Where a member copied another at unit ``u``, its line breaks and a dashed
        segment jumps from the donor's value at ``u - 1`` to the member's new value at ``u``.
        Units are drawn from 1 (the value that trained unit 1; the metric after it). The y axis
        is logarithmic for a ``loguniform`` axis or positive values spanning two decades.

        Args:
          metric: a scalar metric whose curve is recorded; default the searched one.
          unit: what a unit is, for the axis label (e.g. ``"epoch"``).
          path: if given, the figure is saved there (format from the suffix, e.g. ``.png``).
          axes: matplotlib Axes to draw into, one per panel; default a new figure.

        Returns:
          The matplotlib Figure.

        Example:
          >>> import jax, jax.numpy as jnp, rmsjax
          >>> trainer = rmsjax.Trainer(
          ...     init=lambda hp, key: jnp.float32(1.0),
          ...     advance=lambda w, hp, key: (w * (1 - hp["lr"]), {"w": w * (1 - hp["lr"])}))
          >>> result = rmsjax.sweep(trainer, rmsjax.grid(lr=[0.1, 0.2, 0.3, 0.4]),
          ...                       key=jax.random.key(0), budget=4, progress=False,
          ...                       pbt=rmsjax.pbt("w", mode="min", interval=2, fraction=0.5))
          >>> fig = result.plot_schedules()  # path="pbt.png" saves it
          >>> [ax.get_ylabel() for ax in fig.axes]  # the lr panel, the metric, the colour bar
          ['lr', 'w', 'final w']
        """
        from rmsjax._engine.plotting import plot_schedules

        return plot_schedules(self, metric, unit=unit, path=path, axes=axes)


def _member(member, n: int) -> int:
    if isinstance(member, bool) or not isinstance(member, numbers.Integral) or not 0 <= member < n:
        raise ValueError(f"`member` must be an int in [0, {n}), got {member!r}")
    return int(member)


def _group_first(space, member: int) -> int:
    static = tuple(space[member][a] for a in space.static_axes)
    return checks.groups(space)[static][0]

"""Population-based training in the slot pool: schedules found while training, no restarts.

A population (the space: one member per configuration, every member in a slot of one `Pool`)
trains unit by unit. Every ``interval`` units the members are ranked; each member of the bottom
``fraction`` takes the whole carry of a member drawn from the top ``fraction`` (exploit: one
compiled gather between slots, on the devices) and that member's hyperparameters, perturbed or
drawn afresh (explore: new traced inputs on the next unit). Nothing is recompiled and nothing
leaves the devices but the metrics; with ``out_dir`` the population is saved at every interval.
(Jaderberg et al. 2017, "Population Based Training of Neural Networks".)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental import multihost_utils

from rmsjax._engine import checks, driver, program, staged
from rmsjax._engine.halving import score
from rmsjax._engine.pool import Paused, Pool, key_data, trace_trainer
from rmsjax._engine.record import StagedRecord, StagedResult
from rmsjax._engine.results import SweepResult
from rmsjax._engine.spaces import Choice, Configs, IntUniform, LogUniform, Sample, Uniform
from rmsjax._engine.store import open_store

_FROM = "_from"  # the record's column: the member copied at the start of each unit, or -1


def _hp_column(name: str) -> str:
    return f"_hp_{name}"


# The rule.


@dataclasses.dataclass(frozen=True)
class PBT:
    """Population-based training, built by `pbt`."""

    metric: str
    mode: str
    interval: int
    fraction: float = 0.25
    perturb: tuple[float, float] = (0.8, 1.25)
    resample: float = 0.25
    tiebreak: tuple[str, str] | None = None

    def intervals(self, budget: int) -> list[int]:
        """The units after which the population is ranked, exploited and explored."""
        return list(range(self.interval, budget, self.interval))


def pbt(
    metric: str,
    mode: str | None = None,
    *,
    interval: int,
    fraction: float = 0.25,
    perturb: Sequence[float] = (0.8, 1.25),
    resample: float = 0.25,
    tiebreak: tuple[str, str] | None = None,
) -> PBT:
    """Population-based training (Jaderberg et al. 2017) for `rmsjax.sweep` with a `Trainer`.

    The space is the initial population: one member per configuration, all of them trained
    together in the slots of one pool (per combination of static values: each is a population
    of its own). After every ``interval`` units the members are ranked by the mean over seeds
    of ``metric`` at that unit (a NaN or infinite mean ranks last; ties, an equal mean, are
    ordered by ``tiebreak``'s mean at that unit if given, NaN last, then go to the smaller
    member id). Let ``q = floor(fraction * population)``: each of the bottom ``q`` members, in
    increasing id order, copies a member drawn uniformly from the top ``q`` (exploit): its whole
    carry (parameters, optimizer state, everything ``Trainer.init`` returns) and its
    hyperparameters. It then changes those (explore), axis by axis: with probability
    ``resample`` a value drawn afresh from the space, otherwise a perturbation by a factor drawn
    from ``perturb`` (each of the two equally likely):

    - ``uniform`` and ``loguniform`` axes of a `sample`: the value times the factor (for
      ``loguniform``, a step of ``log(factor)`` in log space), clipped to ``[low, high]``;
    - integer axes (Optuna's ``IntDistribution``): times the factor, rounded to the axis's step
      and clipped; at least one step in the factor's direction, so small integers move too;
    - a numeric ``choice`` of a `sample` and every axis of a `grid` (a list of values, as Ray
      Tune treats a list): the next larger value for a factor above 1, the next smaller one
      below 1 (kept at the ends); resampling draws one of the values.

    The member keeps its own run keys: unit ``u`` of member ``m`` gets
    ``fold_in(fold_in(fold_in(key, m), seed), u)`` whichever carry it continues. Every draw
    comes from ``key`` (one NumPy generator per interval, seeded by the key's data, the group
    and the unit), so the same key gives the same run, bit for bit, resumed or not.

    The exploit is one compiled gather over the slots: the carries stay on the devices.
    ``Trainer.init``, ``Trainer.advance`` and that gather are each traced and compiled once per
    static combination, whatever the population, the number of intervals or the copies.

    Args:
      metric: a scalar metric returned by ``Trainer.advance``.
      mode: ``"min"`` (lower is better: a loss) or ``"max"`` (an accuracy); required.
      interval: units between two rankings, an int >= 1 (and < the sweep's budget).
      fraction: the share of the population that is copied (the bottom) and copied from (the
        top), in (0, 0.5].
      perturb: two positive factors, e.g. ``(0.8, 1.25)``.
      resample: probability in [0, 1] of drawing an axis afresh instead of perturbing it.
      tiebreak: None or a ``(metric, mode)`` pair, e.g. ``("val_loss", "min")``: another
        scalar metric of ``Trainer.advance`` ordering members tied on ``metric`` (an accuracy
        on a small validation set ties often; without it the copies follow the id order).

    Returns:
      A `PBT` to pass as ``rmsjax.sweep(trainer, space, pbt=...)``.

    >>> import rmsjax
    >>> rule = rmsjax.pbt("test_accuracy", mode="max", interval=3)
    >>> rule.intervals(budget=10), rule.fraction, rule.perturb
    ([3, 6, 9], 0.25, (0.8, 1.25))
    """
    checks.direction("pbt", metric, mode)
    tiebreak = checks.tiebreak("pbt", tiebreak)
    if isinstance(interval, bool) or not isinstance(interval, numbers.Integral) or interval < 1:
        raise ValueError(f"pbt: `interval` must be an int >= 1, got {interval!r}")
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, numbers.Real)
        or not 0 < fraction <= 0.5
    ):
        raise ValueError(f"pbt: `fraction` must be a number in (0, 0.5], got {fraction!r}")
    if (
        isinstance(perturb, (str, bytes, Mapping))
        or not isinstance(perturb, (Sequence, np.ndarray))
        or len(perturb) != 2
        or not all(_positive(f) for f in perturb)
    ):
        raise ValueError(
            f"pbt: `perturb` must be two positive factors, e.g. (0.8, 1.25), got {perturb!r}"
        )
    if (
        isinstance(resample, bool)
        or not isinstance(resample, numbers.Real)
        or not 0 <= resample <= 1
    ):
        raise ValueError(f"pbt: `resample` must be a probability in [0, 1], got {resample!r}")
    factors = (float(perturb[0]), float(perturb[1]))
    return PBT(metric, mode, int(interval), float(fraction), factors, float(resample), tiebreak)


def _positive(value) -> bool:
    return (
        not isinstance(value, bool)
        and isinstance(value, numbers.Real)
        and math.isfinite(value)
        and value > 0
    )


# Explore: how each axis of the space moves.


class _Axis:
    """How one dynamic axis is perturbed and resampled."""

    def __init__(self, name: str, space):
        self.name = name
        dist = space.distributions.get(name) if isinstance(space, Sample) else None
        if isinstance(dist, (Uniform, LogUniform)):
            self.kind, self.dist = "real", dist
        elif isinstance(dist, IntUniform):
            self.kind, self.dist = "int", dist
        else:  # a grid's list, a sample's choice, explicit configurations: ordered values
            values = (
                dist.values if isinstance(dist, Choice) else checks.distinct(space.column(name))
            )
            self.kind, self.values = "choice", sorted(values)

    def explore(self, value, rng: np.random.Generator, rule: PBT):
        """The new value of this axis for a member that copied ``value``."""
        resample = rng.random() < rule.resample
        factor = rule.perturb[int(rng.integers(2))]
        u = rng.random()  # drawn always, so every axis consumes the same draws
        if self.kind == "choice":
            if resample:
                return self.values[min(int(u * len(self.values)), len(self.values) - 1)]
            i = self.values.index(value)
            i += 1 if factor > 1 else -1 if factor < 1 else 0
            return self.values[min(max(i, 0), len(self.values) - 1)]
        dist = self.dist
        if resample:
            return dist.from_unit(np.asarray([u]))[0]
        if self.kind == "real":
            return float(min(max(value * factor, dist.low), dist.high))
        steps = round((value * factor - dist.low) / dist.step)
        old = (value - dist.low) // dist.step
        if steps == old and factor != 1:  # rounding kept it: one step in the factor's direction
            steps = old + (1 if factor > 1 else -1)
        top = (dist.high - dist.low) // dist.step
        return int(dist.low + dist.step * min(max(steps, 0), top))


# The result.


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


# The driver.


def sweep_pbt(trainer, space, *, key, budget, seeds, chunk_size, devices, out_dir, progress,
              rule: PBT, metadata: dict, keys: str = "per_config") -> PBTResult:  # fmt: skip
    """`rmsjax.sweep` with ``pbt=`` (see `pbt`)."""
    budget = checks.check_budget(budget)
    if not isinstance(rule, PBT):
        raise TypeError(f"`pbt` must come from rmsjax.pbt(...), got {rule!r}")
    if rule.interval >= budget:
        raise ValueError(
            f"pbt: `interval` ({rule.interval}) must be smaller than the budget ({budget} units)"
            ": with no ranking before the end, nothing would be exploited"
        )
    changing = [
        n for n in getattr(space, "static_axes", ()) if len(checks.distinct(space.column(n))) > 1
    ]  # fmt: skip
    if isinstance(space, Sample) and changing:
        raise ValueError(
            f"pbt: the sample's axes {changing} are static (one compiled program per value) and "
            "take several values, and a member that copies another would have to change them; "
            "give them as static axes of a grid (one population per value), or one value each"
        )
    width_arg = checks.check_width(chunk_size, "chunk_size")
    run_key = program.split_key(key, keys)
    devices = program.check_devices(devices)
    groups = checks.groups(space)
    for ids in groups.values():
        _check_population(ids, rule, width_arg, space)
    axes = {name: _Axis(name, space) for name in space.dynamic_axes}
    header = staged.store_header(space, seeds, run_key, budget, None, metadata, pbt=rule)
    store = open_store(out_dir, header)
    record = StagedRecord(len(space), seeds, budget)
    record.load(store)
    dtypes = {n: checks.traced_dtype(space.column(n)) for n in space.dynamic_axes}
    host_dtypes = {n: _host_dtype(axes[n], space.column(n)) for n in space.dynamic_axes}
    extra = {_hp_column(n): ((budget,), host_dtypes[n]) for n in space.dynamic_axes}
    extra[_FROM] = ((budget,), np.int32)
    traced_groups, retraces = {}, {}
    for static_values, ids in groups.items():  # traced even when finished: checked
        static = dict(zip(space.static_axes, static_values, strict=True))
        traced = trace_trainer(trainer, static, dtypes, run_key.aval)
        checks.rule_metrics("pbt", rule, traced)
        spec = record.set_spec(traced, extra)
        retrace = functools.partial(trace_trainer, trainer, static, dtypes)
        if store is not None:
            store.check_program(ids[0], run_key, spec, traced, retrace)
        retraces[static_values] = retrace
        traced_groups[static_values] = traced
    todo = sum(budget for ids in groups.values() if not record.done[ids].all())
    slots = {}
    resumed = np.where(record.done, budget, 0)
    with checks.progress_bar(todo, progress, "pbt", unit="unit") as bar:
        for static_values, ids in groups.items():
            slots.update({m: i for i, m in enumerate(ids)})
            if record.done[ids].all():
                if store is not None:
                    store.drop_state(_state_name(ids[0]))
                continue
            traced = traced_groups[static_values]
            every = functools.partial(checks.round_up, len(ids), len(devices))  # all at once
            width = record.open_group(store, ids[0], run_key, traced, retraces[static_values],
                                      len(devices), every)  # fmt: skip
            pool = Pool(traced, space.dynamic_axes, run_key, seeds, width, devices)
            members = Population(pool, space, ids, axes, rule, record, store, run_key, bar)
            driver.drive(pool, members, record)
            resumed[ids] = members.start
    if store is not None and jax.process_count() > 1:
        multihost_utils.sync_global_devices("rmsjax pbt: out_dir written")
    out = _result(space, record, rule, metadata, key, keys, slots, len(devices), dtypes)
    out.resumed_units = resumed
    return out


def _check_population(ids: list[int], rule: PBT, width, space) -> None:
    n = len(ids)
    where = "" if not space.static_axes else f" (static values {space[ids[0]]})"
    if n < 2:
        raise ValueError(f"pbt: a population needs at least 2 members, got {n}{where}")
    if int(rule.fraction * n) < 1:
        raise ValueError(
            f"pbt: `fraction` {rule.fraction} of a population of {n}{where} copies no member "
            f"(floor({rule.fraction} * {n}) = 0); use a population of at least "
            f"{math.ceil(1 / rule.fraction)} or a larger fraction"
        )
    if isinstance(width, int) and width < n:
        raise ValueError(
            f"pbt trains every member of a population at once: `chunk_size` {width} is smaller "
            f"than the population of {n}{where}; pass chunk_size=None or 'auto'"
        )


def _host_dtype(axis: _Axis, column) -> np.dtype:
    """The dtype a member's value of ``axis`` is kept in on the host (and in out_dir)."""
    if axis.kind == "int" or all(isinstance(v, numbers.Integral) for v in column):
        return np.dtype(np.int64)
    return np.dtype(np.float64)


class Population(driver.Scheduler):
    """PBT's scheduler: one population (a static combination) in one pool, every member in
    its slot from the start to the budget; at each interval the bottom members copy the top
    ones' carries (`Pool.copy`) and explore their hyperparameters."""

    def __init__(self, pool: Pool, space, ids, axes, rule, record, store, run_key, bar):
        self.pool, self.space, self.ids, self.axes = pool, space, list(ids), axes
        self.rule, self.record, self.store, self.key, self.bar = rule, record, store, run_key, bar
        self.members = np.asarray(ids)
        self.budget = record.budget
        # The authoritative values, on the host (float64 / int64); the pool gets them cast.
        self.values = {n: [space[m][n] for m in ids] for n in space.dynamic_axes}
        self.unit = self.start = 0
        self.jobs: list | None = None  # the members' first jobs, made by `next`
        self.left = len(self.ids)  # members not at the budget yet

    def next(self):
        if self.jobs is None:
            self.jobs = self._first_jobs()
        return self.jobs.pop(0) if self.jobs else None

    def _first_jobs(self) -> list:
        """Every member, in slot order: fresh, or where the population was saved."""
        paused = self._resume()
        if paused is None:
            self._note_start(0)
            return [(m, self.space[m], None) for m in self.ids]
        return [(m, {n: v[slot] for n, v in self.values.items()}, paused[slot])
                for slot, m in enumerate(self.ids)]  # fmt: skip

    def before_step(self, pool: Pool) -> None:
        self._set_hp()
        self._note_hparams(self.unit)

    def decide(self, config_id: int, unit: int, metrics: dict) -> str:
        return driver.STOP if unit >= self.budget else driver.CONTINUE

    def finished(self, config_id: int, unit: int, metrics: dict, pruned: bool) -> None:
        self.record.finish(config_id, self.budget, False, None)
        self.left -= 1
        if self.left == 0 and self.store is not None:  # saved at once, as one chunk
            arrays = [a[self.members] for a in self.record.arrays.values()]
            self.store.save(self.members, arrays)
            self.store.drop_state(_state_name(self.ids[0]))

    def boundary(self, pool: Pool) -> None:
        self.unit += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.unit < self.budget and self.unit % self.rule.interval == 0:
            self._exploit_and_explore(self.unit)
            self._save(self.unit)

    # Host bookkeeping.

    def _set_hp(self) -> None:
        for name, values in self.values.items():
            self.pool.hp[name][: len(values)] = values

    def _note_start(self, unit: int) -> None:
        self.record.arrays[_FROM][self.members, :, unit:] = -1

    def _note_hparams(self, unit: int) -> None:
        for name, values in self.values.items():
            self.record.arrays[_hp_column(name)][self.members, :, unit] = np.asarray(values)[
                :, None
            ]

    # Exploit and explore.

    def _ranking(self, unit: int) -> list[int]:
        """Slots best first by the mean over seeds of the metric after ``unit`` units (NaN last,
        ties by the rule's ``tiebreak`` if any, NaN last among the tied, then to the smaller
        member id)."""
        curve = self.record.arrays[f"{self.rule.metric}_curve"]
        scores = [score(curve[m, :, unit - 1], self.rule.mode) for m in self.ids]
        seconds = [0.0] * len(self.ids)
        if self.rule.tiebreak is not None:
            second = self.record.arrays[f"{self.rule.tiebreak[0]}_curve"]
            seconds = [score(second[m, :, unit - 1], self.rule.tiebreak[1]) for m in self.ids]

        def key(s):
            nan, tie_nan = math.isnan(scores[s]), math.isnan(seconds[s])
            return (nan, 0 if nan else -scores[s], tie_nan, 0 if tie_nan else -seconds[s], s)

        return sorted(range(len(self.ids)), key=key)

    def _exploit_and_explore(self, unit: int) -> None:
        order = self._ranking(unit)
        q = int(self.rule.fraction * len(self.ids))
        top, bottom = order[:q], sorted(order[-q:])
        rng = np.random.default_rng(self._seed(unit))
        source = np.arange(self.pool.width, dtype=np.int32)
        for slot in bottom:
            donor = top[int(rng.integers(q))]
            source[slot] = donor
            self.record.arrays[_FROM][self.ids[slot], :, unit] = self.ids[donor]
            for name, axis in self.axes.items():
                values = self.values[name]
                values[slot] = axis.explore(values[donor], rng, self.rule)
        self.pool.copy(source)

    def _seed(self, unit: int) -> list[int]:
        return [*self.key.data.ravel().tolist(), self.ids[0], unit]

    # Saving and resuming.

    def _save(self, unit: int) -> None:
        if self.store is None:
            return
        pool = self.pool
        arrays = {"units": np.asarray(unit), "keys": program.fetch(pool.keys)}
        for i, leaf in enumerate(pool.carry):
            arrays[f"carry_{i}"] = program.fetch(key_data(leaf))
        for i, array in enumerate(self.record.arrays.values()):
            arrays[f"metric_{i}"] = array[self.members]
        for name, values in self.values.items():
            arrays[f"value_{name}"] = np.asarray(values)
        self.store.save_state(_state_name(self.ids[0]), arrays)

    def _resume(self) -> dict[int, Paused] | None:
        """Loads the population saved at the last interval: each slot's `Paused` run (None:
        nothing saved); `start` and `unit` become its unit."""
        store = self.store
        state = store.load_state(_state_name(self.ids[0])) if store is not None else None
        if jax.process_count() > 1 and store is not None:
            multihost_utils.assert_equal(
                np.asarray(-1 if state is None else int(state["units"])),
                f"processes found different pbt states in out_dir {store.path!r}: it must be a "
                "directory every process sees",
            )
        if state is None:
            return None
        unit = self.start = self.unit = int(state["units"])
        for i, name in enumerate(self.record.arrays):
            self.record.arrays[name][self.members] = state[f"metric_{i}"]
        for name in self.values:
            self.values[name] = state[f"value_{name}"].tolist()
        s = self.pool.seeds
        n_carry = sum(k.startswith("carry_") for k in state)
        carry = [state[f"carry_{i}"] for i in range(n_carry)]
        paused = {}
        for slot in range(len(self.ids)):
            leaves = [x[slot * s : (slot + 1) * s] for x in carry]
            paused[slot] = Paused(unit, leaves, state["keys"][slot])
        return paused


def _state_name(first_id: int) -> str:
    return f"pbt_{first_id:05d}.npz"


def _result(space, record: StagedRecord, rule, metadata, key, keys, slots, n_devices, dtypes):
    hparams = {n: record.arrays[_hp_column(n)][:, 0] for n in space.dynamic_axes}
    copied = record.arrays[_FROM][:, 0].astype(np.int64)
    final = {n: [] for n in space.names}
    for m in range(len(space)):
        for n in space.names:
            final[n].append(_python(hparams[n][m, -1]) if n in hparams else space[m][n])
    hidden = {"_units", "_pruned", *record.extra}
    metrics = {k: v for k, v in record.arrays.items() if k not in hidden}
    return PBTResult(
        Configs(final, space.static_axes), record.seeds, metrics,
        dict(sorted(record.widths.items())), metadata, objective=(rule.metric, rule.mode),
        key=key, keys=keys, loaded=record.loaded,
        budget=record.arrays["_units"][:, 0].copy(), pruned=record.arrays["_pruned"][:, 0].copy(),
        max_budget=record.budget, initial=space, hparams=hparams, copied_from=copied, rule=rule,
        slots=slots, devices=n_devices,
        _traced_dtypes={n: np.dtype(d).name for n, d in dtypes.items()},
    )  # fmt: skip


def _python(value):
    return value.item() if isinstance(value, np.generic) else value


# Replay.


def replay(trainer, schedule, *, key, alone: bool = False, devices=None) -> dict[str, np.ndarray]:
    """Trains one lineage of a population-based search again, from its `schedule`.

    ``schedule`` is ``result.schedule(member)`` of `rmsjax.sweep` with ``pbt=`` (a pandas
    DataFrame, with what is needed in ``.attrs``); its hyperparameter columns may be edited to
    try another schedule. The lineage is trained unit by unit: each unit with its row's
    hyperparameters and the run keys of its row's ``member`` (with the sweep's ``key`` these are
    the keys that unit had), the carry passing on from member to member where ``copied`` is set.

    By default it runs in a pool as wide as the sweep's, each unit in the slot its member had,
    on as many devices: the batched program then rounds as it did in the sweep and the result
    equals the member's metrics bit for bit. ``alone=True`` trains it in a pool of one slot on
    one device, which is cheaper but rounds differently: the same schedule then ends close to,
    not exactly at, the sweep's figures (batched matmuls sum in another order; on the digits MLP
    a width-1 replay of a member of a population of 8 ended 16% away in training loss and 0.014
    in test accuracy, as `rmsjax.sweep` differs between widths).

    Args:
      trainer: the `Trainer` of the sweep.
      schedule: a DataFrame from `PBTResult.schedule`.
      key: the sweep's key for the same runs (another key: the same schedule, other draws).
      alone: train in one slot on one device instead of at the sweep's width.
      devices: devices to run on (default ``jax.devices()``); without ``alone`` as many as the
        sweep used are taken from it.

    Returns:
      A dict: each metric of ``Trainer.advance`` after the last unit, ``(seeds, *shape)``, and
      ``<name>_curve`` ``(seeds, budget)`` of each scalar metric.

    Example:
      >>> import jax, jax.numpy as jnp, numpy as np, rmsjax
      >>> trainer = rmsjax.Trainer(
      ...     init=lambda hp, key: jnp.float32(1.0),
      ...     advance=lambda w, hp, key: (w * (1 - hp["lr"]), {"w": w * (1 - hp["lr"])}))
      >>> result = rmsjax.sweep(trainer, rmsjax.grid(lr=[0.1, 0.2, 0.3, 0.4]),
      ...                       key=jax.random.key(0), budget=4, progress=False,
      ...                       pbt=rmsjax.pbt("w", mode="min", interval=2, fraction=0.5))
      >>> again = rmsjax.replay(trainer, result.schedule(0), key=jax.random.key(0))
      >>> bool(np.array_equal(again["w"], result.metrics["w"][0]))
      True
    """
    attrs = getattr(schedule, "attrs", None)
    if not isinstance(attrs, Mapping) or attrs.get("rmsjax") != "pbt schedule":
        raise TypeError(
            "replay: `schedule` must be a DataFrame from result.schedule(member) of a sweep "
            f"with pbt=, got {type(schedule).__name__}"
        )
    if not isinstance(alone, bool):
        raise TypeError(f"replay: `alone` must be True or False, got {alone!r}")
    budget, seeds = int(attrs["budget"]), int(attrs["seeds"])
    if len(schedule) != budget or list(schedule["unit"]) != list(range(budget)):
        raise ValueError(f"replay: `schedule` must have one row per unit 0..{budget - 1}")
    run_key = program.split_key(key, attrs["keys"])
    devices = program.check_devices(devices)
    if alone:
        width, devices = 1, devices[:1]
    else:
        width, n = int(attrs["width"]), int(attrs["devices"])
        if len(devices) < n:
            raise ValueError(
                f"replay: the sweep ran on {n} devices and {len(devices)} are given; pass "
                "alone=True to train the lineage on one"
            )
        devices = devices[:n]
    dtypes = {n: np.dtype(d) for n, d in attrs["traced_dtypes"].items()}
    traced = trace_trainer(trainer, dict(attrs["static"]), dtypes, run_key.aval)
    pool = Pool(traced, list(dtypes), run_key, seeds, width, devices)
    names = traced.metric_names
    members = schedule["member"].to_numpy()
    slots = {int(k): int(v) for k, v in attrs["slots"].items()}
    out: dict[str, np.ndarray] = {}
    curves = {n: np.full((seeds, budget), np.nan) for n in traced.scalar_metrics()}
    slot = None
    for u in range(budget):
        member = int(members[u])
        row = {n: schedule[n].iloc[u] for n in dtypes}
        new_slot = 0 if alone else slots[member]
        if u == 0:
            pool.place(new_slot, member, row)
            fresh = np.zeros(width, bool)
            fresh[new_slot] = True
            pool.start(fresh)
        elif member != members[u - 1]:  # the carry moves on to another member's keys
            taken = pool.take([slot])[slot]
            pool.release(slot)
            pool.place(new_slot, member, row, u)
            pool.restore({new_slot: Paused(u, taken.carry, _run_keys(run_key, member, seeds))})
        else:
            for n, v in row.items():
                pool.hp[n][new_slot] = v
        slot = new_slot
        metrics = pool.step()
        for n, m in zip(names, metrics, strict=True):
            out[n] = m[slot]
            if n in curves:
                curves[n][:, u] = m[slot]
    out.update({f"{n}_curve": c for n, c in curves.items()})
    return out


def _run_keys(run_key: program.RunKey, member: int, seeds: int) -> np.ndarray:
    """The key data of ``member``'s runs, as the pool derives them."""
    base = jax.random.wrap_key_data(jnp.asarray(run_key.data), impl=run_key.impl)
    folded = int(program.config_ids_for_keys(np.asarray([member]), run_key.shared)[0])
    config_key = jax.random.fold_in(base, folded)
    return np.stack(
        [np.asarray(jax.random.key_data(jax.random.fold_in(config_key, s))) for s in range(seeds)]
    )

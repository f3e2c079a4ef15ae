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
from typing import TYPE_CHECKING

import jax
import numpy as np
from jax.experimental import multihost_utils

from rmsjax._engine import checks, driver, program, staged
from rmsjax._engine.distributions import Choice, IntUniform, LogUniform, Uniform
from rmsjax._engine.halving import score
from rmsjax._engine.pool import Paused, Pool, key_data, trace_trainer
from rmsjax._engine.progress import progress_bar
from rmsjax._engine.record import StagedRecord
from rmsjax._engine.spaces import Configs, Sample
from rmsjax._engine.store import open_store

if TYPE_CHECKING:
    from rmsjax._engine.pbt_result import PBTResult

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


# The driver.


def sweep_pbt(trainer, space, *, key, budget, seeds, chunk_size, devices, out_dir, progress,
              rule: PBT, metadata: dict, keys: str = "per_config",
              on_finish=None) -> PBTResult:  # fmt: skip
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
    if on_finish is not None:

        def final(member):  # its hyperparameters after the last unit
            last = {n: _python(record.arrays[_hp_column(n)][member, 0, -1]) for n in axes}
            return {**space[member], **last}

        record.on_finish = (on_finish, final)
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
    with progress_bar(todo, progress, "pbt", unit="unit") as bar:
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
        self.record.finish(config_id, self.budget, False, None, notify=False)
        self.left -= 1
        if self.left > 0:
            return
        if self.store is not None:  # saved at once, as one chunk
            arrays = [a[self.members] for a in self.record.arrays.values()]
            self.store.save(self.members, arrays)
            self.store.drop_state(_state_name(self.ids[0]))
        for m in self.ids:
            self.record.notify(m)

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
    from rmsjax._engine.pbt_result import PBTResult  # here: pbt_result imports this module's PBT

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

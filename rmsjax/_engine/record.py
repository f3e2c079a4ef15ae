"""The record of a staged search (every unit's metrics, units trained, pruned, extra columns
per configuration), its result type, and the runs paused in ``out_dir``."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from rmsjax._engine import checks, columns
from rmsjax._engine.pool import Paused, TracedTrainer
from rmsjax._engine.results import SweepResult
from rmsjax._engine.store import Store, key_kind


@dataclasses.dataclass(frozen=True)
class Finished:
    """One configuration that finished training, as `rmsjax.sweep`'s ``on_finish`` gets it."""

    config_id: int
    hparams: dict[str, Any]  # its hyperparameters (a pbt member's at the end)
    metrics: dict[str, np.ndarray]  # each metric's values over seeds, (seeds, ...); curves too
    units: int | None  # units trained (a Trainer), None for a train_fn
    pruned: bool  # stopped early by its search
    started: float  # when it started training in this call (time.time())
    finished: float  # when it finished (time.time())

    def to_optuna(self, metric: str, space: Mapping[str, Any]):
        """This configuration as the Optuna trial `SweepResult.to_optuna` writes for it (state,
        ``metric``'s mean over seeds, its curve as intermediate values, ``rmsjax_config`` and
        ``rmsjax_units``), with its real start and end times: add it with ``study.add_trial``
        as each configuration finishes and optuna-dashboard shows the search as it runs.
        ``space``: axis name -> its distribution or list of values, as searched (Optuna's
        distributions too). Needs Optuna.

        >>> import jax, jax.numpy as jnp, optuna, rmsjax
        >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
        >>> study = optuna.create_study()
        >>> space = {"lr": [0.1, 0.5]}
        >>> trainer = rmsjax.Trainer(
        ...     init=lambda hp, key: jnp.float32(1.0),
        ...     advance=lambda w, hp, key: (w * (1 - hp["lr"]), {"w": w * (1 - hp["lr"])}))
        >>> _ = rmsjax.sweep(trainer, rmsjax.grid(**space), key=jax.random.key(0), budget=2,
        ...                  progress=False,
        ...                  on_finish=lambda f: study.add_trial(f.to_optuna("w", space)))
        >>> [(t.params["lr"], round(t.value, 2)) for t in study.trials]
        [(0.1, 0.81), (0.5, 0.25)]
        """
        from rmsjax._engine.optuna_export import finished_trial  # imports Optuna when used

        return finished_trial(self, metric, space)


# The record of results.


class StagedRecord:
    """Final metrics, per-unit curves, units trained and pruned flags of every configuration."""

    def __init__(self, n: int, seeds: int, budget: int):
        self.n, self.seeds, self.budget = n, seeds, budget
        self.spec: dict[str, dict] | None = None  # what is stored, in order
        self.arrays: dict[str, np.ndarray] = {}
        self.done = np.zeros(n, bool)
        self.loaded = np.zeros(n, bool)  # finished in an earlier run, read from out_dir
        self.widths: dict[int, int] = {}
        self.extra: list[str] = []  # names of the columns besides metrics, curves, units, pruned
        self.started: dict[int, float] = {}  # config id -> when it first took a slot here
        # Called with a `Finished` after each configuration is saved, with the function that
        # gives its hyperparameters; None: nobody listens.
        self.on_finish: tuple[Callable, Callable] | None = None

    def set_spec(self, traced: TracedTrainer, extra: dict[str, str] | None = None) -> dict:
        """The stored arrays: metrics, ``<name>_curve`` of scalar ones, ``_units``, ``_pruned``."""
        pairs = zip(traced.metric_names, traced.metric_avals, strict=True)
        spec = {n: _spec(a.shape, a.dtype) for n, a in pairs}
        curves = {f"{n}_curve": _spec((self.budget,), np.float64) for n in traced.scalar_metrics()}
        clash = sorted((set(curves) | set(columns.RESERVED)) & set(spec))
        if clash:
            raise ValueError(f"Trainer.advance returns metrics named {clash}, which staged sweeps "
                             "use for curves and columns; rename them")  # fmt: skip
        spec = {**spec, **curves, "_units": _spec((), np.int32), "_pruned": _spec((), np.bool_)}
        for k, dt in (extra or {}).items():  # a dtype (a scalar column) or (shape, dtype)
            spec[k] = _spec(*dt) if isinstance(dt, tuple) else _spec((), dt)
        if self.spec is not None and spec != self.spec:
            raise ValueError(
                f"Trainer.advance returns {spec} here but {self.spec} for other configurations "
                "(or in the out_dir's manifest); every configuration must return the same metrics"
            )
        if self.spec is None:
            self.spec, self.extra = spec, list(extra or {})
            self.arrays = {k: _empty(s, self.n, self.seeds) for k, s in spec.items()}
        return spec

    def unit(self, config_id: int, unit: int, metrics: dict[str, np.ndarray]) -> None:
        for name, value in metrics.items():
            self.arrays[name][config_id] = value
            curve = self.arrays.get(f"{name}_curve")
            if curve is not None:
                curve[config_id, :, unit - 1] = value

    def finish(self, config_id: int, units: int, pruned: bool, store: Store | None,
               notify: bool = True, **extra):  # fmt: skip
        """Records that ``config_id`` stopped after ``units`` units, saves it in ``store`` and
        then (unless ``notify`` is False: the caller saves it and calls `notify`) tells
        ``on_finish``."""
        self.arrays["_units"][config_id] = units
        self.arrays["_pruned"][config_id] = pruned
        for k, v in extra.items():
            self.arrays[k][config_id] = v
        self.done[config_id] = True
        if store is not None:
            store.save(np.asarray([config_id]), [a[[config_id]] for a in self.arrays.values()])
        if notify:
            self.notify(config_id)

    def notify(self, config_id: int) -> None:
        """Tells ``on_finish`` (if any) that ``config_id`` finished (it is saved already)."""
        if self.on_finish is None:
            return
        listener, hparams = self.on_finish
        hidden = {"_units", "_pruned", *self.extra}
        metrics = {k: v[config_id].copy() for k, v in self.arrays.items() if k not in hidden}
        now = time.time()
        listener(Finished(config_id, dict(hparams(config_id)), metrics,
                          int(self.arrays["_units"][config_id, 0]),
                          bool(self.arrays["_pruned"][config_id, 0]),
                          self.started.get(config_id, now), now))  # fmt: skip

    def load(self, store: Store | None) -> None:
        """The configurations ``store`` holds, finished in an earlier run."""
        if store is None or store.metrics is None:
            return
        self.spec = store.metrics
        self.extra = [k for k in self.spec if k.startswith("_") and k not in ("_units", "_pruned")]
        self.arrays = {k: _empty(s, self.n, self.seeds) for k, s in self.spec.items()}
        self.widths = store.widths
        for ids, arrays in store.load():
            keep = ids < self.n
            for array, name in zip(arrays, self.spec, strict=True):
                self.arrays[name][ids[keep]] = array[keep]
            self.done[ids[keep]] = True
        self.loaded = self.done.copy()
        if jax.process_count() > 1:
            multihost_utils.assert_equal(
                self.done, f"processes found different finished configurations in out_dir "
                f"{store.path!r}: it must be a directory every process sees")  # fmt: skip

    def open_group(self, store: Store | None, first_id: int, key, traced, retrace,
                   n_devices: int, choose: Callable[[], int]) -> int:  # fmt: skip
        """The slots of the static combination starting at ``first_id``, about to run: the
        width recorded for it (a resumed search, on ``n_devices``: see `checks.resumed_width`),
        else ``choose()``. Checks ``traced`` against the program that filled ``store``, then
        records both there (``retrace``: a key's abstract value -> the program traced with it,
        see `Store`)."""
        if first_id in self.widths:
            width = checks.resumed_width(self.widths[first_id], n_devices)
        else:
            width = choose()
        self.widths[first_id] = width
        if store is not None:
            store.check_program(first_id, key, self.spec, traced, retrace)
            store.begin_group(first_id, width, key_kind(key), self.spec, traced.fingerprint,
                              traced.text)  # fmt: skip
        return width

    def result(self, space, store: Store | None, metadata: dict, objective=None, key=None,
               keys: str = "per_config", run_order: str = "rungs") -> StagedResult:  # fmt: skip
        if store is not None and jax.process_count() > 1:  # process 0 has written everything
            multihost_utils.sync_global_devices("rmsjax staged sweep: out_dir written")
        hidden = {"_units", "_pruned", *self.extra}
        metrics = {k: v for k, v in self.arrays.items() if k not in hidden}
        units = self.arrays.get("_units", np.zeros((self.n, self.seeds), np.int32))
        pruned = self.arrays.get("_pruned", np.zeros((self.n, self.seeds), bool))
        widths = dict(sorted(self.widths.items()))
        return StagedResult(space, self.seeds, metrics, widths, metadata, objective=objective,
                            key=key, keys=keys, loaded=self.loaded,
                            budget=units[:, 0].copy(), pruned=pruned[:, 0].copy(),
                            max_budget=self.budget, run_order=run_order)  # fmt: skip


def _spec(shape, dtype) -> dict:
    return {"shape": list(shape), "dtype": np.dtype(dtype).name}


def _empty(spec: dict, n: int, seeds: int) -> np.ndarray:
    shape, dtype = (n, seeds, *spec["shape"]), np.dtype(spec["dtype"])
    if np.issubdtype(dtype, np.inexact):
        return np.full(shape, np.nan, dtype)
    return np.zeros(shape, dtype)


@dataclasses.dataclass(repr=False, eq=False)
class StagedResult(SweepResult):
    """A `SweepResult` of a staged sweep, with ``budget`` (units trained per configuration) and
    ``pruned`` (stopped early by halving or an Optuna pruner). `best` considers only
    configurations that trained the full ``max_budget``; `to_pandas` has both columns."""

    budget: np.ndarray = None  # int (n_configs,)
    pruned: np.ndarray = None  # bool (n_configs,)
    max_budget: int = 0
    # The order the run spent its units in, `history`'s default: "rungs" (a staged sweep,
    # halving, pbt) or "trials" (optuna_search).
    run_order: str = "rungs"

    def _eligible(self) -> np.ndarray:
        return self.budget >= self.max_budget

    def best(
        self, metric: str, mode: str | None = None, tiebreak: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        """As `SweepResult.best` (``tiebreak`` included), among configurations trained the full
        ``max_budget``."""
        first = self.rank(metric, mode, tiebreak)[0]
        if not self._eligible()[first] or np.isnan(self._scores(metric)[first]):
            raise ValueError(
                f"no configuration was trained the full budget ({self.max_budget} units) with a "
                f"finite {metric!r}; there is no best one"
            )
        return self.space[first]

    def to_pandas(self):
        frame = super().to_pandas()
        frame["budget"] = np.repeat(self.budget, self.seeds)
        frame["pruned"] = np.repeat(self.pruned, self.seeds)
        return frame

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f"; pruned: {int(self.pruned.sum())})"


# Paused runs in out_dir.


def load_paused(record: StagedRecord, store: Store | None) -> dict[int, Paused]:
    """The runs an earlier call paused in ``store`` and did not finish, their metrics so far put
    back into ``record``."""
    if store is None or record.spec is None:
        return {}
    out = {}
    for config_id, arrays in store.load_paused().items():
        if config_id >= record.n or record.done[config_id]:
            store.drop_paused(config_id)  # finished after it was paused
            continue
        for i, name in enumerate(record.spec):
            record.arrays[name][config_id] = arrays[f"metric_{i}"]
        n_carry = sum(k.startswith("carry_") for k in arrays)
        carry = [arrays[f"carry_{i}"] for i in range(n_carry)]
        out[config_id] = Paused(int(arrays["units"]), carry, arrays["keys"])
    if jax.process_count() > 1:
        found = np.zeros(record.n, bool)
        found[list(out)] = True
        multihost_utils.assert_equal(
            found, f"processes found different paused runs in out_dir {store.path!r}: it must be "
            "a directory every process sees")  # fmt: skip
    return out


def save_paused(record: StagedRecord, store: Store | None, config_id: int, run: Paused) -> None:
    if store is None:
        return
    arrays = {"units": np.asarray(run.units), "keys": run.keys}
    arrays.update({f"carry_{i}": x for i, x in enumerate(run.carry)})
    arrays.update({f"metric_{i}": a[config_id] for i, a in enumerate(record.arrays.values())})
    store.save_paused(config_id, arrays)

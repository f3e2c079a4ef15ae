"""Hyperparameter sweeps: a grid of configurations trained in one compiled program.

`grid` builds the cartesian product of hyperparameter values; `sweep` traces a training function
once, batches it with `jax.vmap` over (configuration, seed) pairs, shards the configurations over
devices, runs them in chunks and (optionally) saves every finished chunk so an interrupted sweep
resumes where it stopped. `SweepResult` holds the metrics with helpers to tabulate, rank and plot.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import itertools
import json
import math
import numbers
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import jaxprs_in_params
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

_MANIFEST = "manifest.json"
_FORMAT = 1
_AXIS = "configs"

# Static (non-vmappable) values an axis may hold; anything else must be a real number.
_STATIC_TYPES = (bool, str, type(None))


def _after_chunk(chunk_index: int) -> None:
    """Called after each chunk is finished (and saved); tests patch it to simulate a crash."""
    del chunk_index


# --------------------------------------------------------------------------------------------
# The grid.


def _python_value(axis: str, value: Any) -> Any:
    """Normalizes one axis value to a plain Python bool, int, float, str or None."""
    if isinstance(value, _STATIC_TYPES):
        return value
    if isinstance(value, (np.ndarray, jax.Array)) and np.ndim(value) == 0:
        value = np.asarray(value).item()
    elif isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(
        f"grid axis `{axis}` holds {value!r} of type {type(value).__name__}; values must be "
        "real numbers (swept with vmap) or bool, str or None (static, one compilation each)"
    )


class Grid:
    """The cartesian product of hyperparameter axes, built by `grid`.

    Configuration ``i`` is the ``i``-th element of ``itertools.product`` over the axes in the order
    they were given (the last axis varies fastest); ``i`` is its stable id.

    Attributes:
      axes: dict mapping each axis name to the tuple of its values.
      static_axes: names of axes swept by compiling once per value (an axis holding any bool, str
        or None).
      dynamic_axes: names of numeric axes, batched with `jax.vmap`.
    """

    def __init__(self, axes: Mapping[str, Sequence[Any]]):
        self.axes = {name: tuple(values) for name, values in axes.items()}
        self.static_axes = tuple(
            n for n, v in self.axes.items() if any(isinstance(x, _STATIC_TYPES) for x in v)
        )
        self.dynamic_axes = tuple(n for n in self.axes if n not in self.static_axes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.axes.values())

    def __len__(self) -> int:
        return math.prod(self.shape)

    def __getitem__(self, config_id: int) -> dict[str, Any]:
        n = len(self)
        if not isinstance(config_id, numbers.Integral) or not -n <= config_id < n:
            raise IndexError(f"configuration id must be an int in [0, {n}), got {config_id!r}")
        index = np.unravel_index(int(config_id) % n, self.shape) if self.shape else ()
        return {name: self.axes[name][int(i)] for name, i in zip(self.axes, index, strict=True)}

    def __iter__(self):
        for values in itertools.product(*self.axes.values()):
            yield dict(zip(self.axes, values, strict=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Grid) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={list(v)!r}" for n, v in self.axes.items())
        return f"grid({inner})"

    def to_json(self) -> dict[str, list[Any]]:
        """The axes as a JSON-compatible dict (used in the sweep manifest)."""
        return {name: list(values) for name, values in self.axes.items()}

    def column(self, name: str) -> list[Any]:
        """The value of axis ``name`` for every configuration, in id order."""
        return [config[name] for config in self]


def grid(**axes: Sequence[Any]) -> Grid:
    """The cartesian product of hyperparameter values, for `sweep`.

    Configurations come in ``itertools.product`` order of the keyword arguments (the last axis
    varies fastest); configuration ``i`` has the stable id ``i``.

    An axis of real numbers (Python or NumPy ints and floats) is *dynamic*: `sweep` passes its
    values to ``train_fn`` as traced scalar arrays (float32, or int32 for an all-int axis; 64-bit
    with ``jax_enable_x64``) and batches them with `jax.vmap`, so they share one compilation.
    An axis holding any bool, str or None is *static*: its values reach ``train_fn`` as Python
    values, and `sweep` traces and compiles one program per distinct combination of static values
    (use it for options such as ``centered`` or ``nesterov``, ``momentum=[None, 0.9]``, or a
    string naming a model or optimizer). To sweep a number that must stay static (a batch size
    that sets shapes), give it as strings and convert inside ``train_fn``.

    Args:
      **axes: axis name -> non-empty sequence of values.

    Returns:
      A `Grid`; ``len(grid)`` is the number of configurations, ``grid[i]`` the ``i``-th as a dict.

    Raises:
      ValueError: an axis is empty.
      TypeError: an axis is not a sequence, or holds a value that is neither a real number nor a
        bool, str or None.

    Example:
      >>> import rmsjax
      >>> space = rmsjax.grid(learning_rate=[0.01, 0.1], centered=[False, True])
      >>> len(space), space[1]
      (4, {'learning_rate': 0.01, 'centered': True})
    """
    normalized = {}
    for name, values in axes.items():
        if isinstance(values, (str, bytes, Mapping)) or not isinstance(
            values, (Sequence, np.ndarray, jax.Array)
        ):
            raise TypeError(
                f"grid axis `{name}` must be a sequence of values, got {type(values).__name__}: "
                f"{values!r}"
            )
        values = list(np.asarray(values)) if isinstance(values, (np.ndarray, jax.Array)) else values
        if len(values) == 0:
            raise ValueError(f"grid axis `{name}` is empty; give it at least one value")
        normalized[name] = [_python_value(name, v) for v in values]
    return Grid(normalized)


# --------------------------------------------------------------------------------------------
# The result.


@dataclasses.dataclass(repr=False, eq=False)
class SweepResult:
    """The metrics of a sweep, one entry per (configuration, seed).

    Attributes:
      space: the `Grid` that was swept.
      seeds: number of seeds per configuration.
      metrics: dict mapping each metric name to a NumPy array shaped
        ``(n_configs, seeds, *metric_shape)``, configurations in id order.
      chunk_sizes: the chunk size used for each static combination, by the first configuration id
        of that combination (informational).
    """

    space: Grid
    seeds: int
    metrics: dict[str, np.ndarray]
    chunk_sizes: dict[int, int] = dataclasses.field(default_factory=dict)

    @property
    def configs(self) -> list[dict[str, Any]]:
        """The hyperparameters of every configuration, in id order."""
        return list(self.space)

    @property
    def scalar_metrics(self) -> tuple[str, ...]:
        return tuple(n for n, v in self.metrics.items() if v.ndim == 2)

    @property
    def diverged(self) -> np.ndarray:
        """Bool array ``(n_configs, seeds)``: True where any scalar metric is NaN or infinite."""
        out = np.zeros((len(self.space), self.seeds), dtype=bool)
        for name in self.scalar_metrics:
            values = self.metrics[name]
            if np.issubdtype(values.dtype, np.inexact):
                out |= ~np.isfinite(values)
        return out

    def to_pandas(self):
        """One row per (configuration, seed), configurations in id order, seeds innermost.

        Columns: one per hyperparameter axis, ``seed``, one per scalar metric, and ``diverged``
        (True where any scalar metric is not finite). Array metrics (curves) are left out; read them
        from `metrics`.
        """
        try:
            import pandas as pd
        except ImportError as e:  # pragma: no cover - pandas is in the `examples` extra
            raise ImportError(
                "SweepResult.to_pandas needs pandas: pip install 'rmsjax[examples]'"
            ) from e
        n, s = len(self.space), self.seeds
        columns: dict[str, Any] = {}
        for name in self.space.names:
            columns[name] = np.repeat(np.asarray(self.space.column(name), dtype=object), s)
            try:  # give numeric and bool axes a proper dtype
                columns[name] = columns[name].astype(np.asarray(self.space.axes[name]).dtype)
            except (TypeError, ValueError):
                pass
        columns["seed"] = np.tile(np.arange(s), n)
        for name in self.scalar_metrics:
            columns[name] = self.metrics[name].reshape(n * s)
        columns["diverged"] = self.diverged.reshape(n * s)
        return pd.DataFrame(columns)

    def _scores(self, metric: str, mode: str) -> np.ndarray:
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max', got {mode!r}")
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; this sweep has {sorted(self.metrics)}")
        if self.metrics[metric].ndim != 2:
            raise ValueError(
                f"metric {metric!r} has shape {self.metrics[metric].shape[2:]} per run; best() and "
                "heatmaps need a scalar metric"
            )
        values = self.metrics[metric].astype(np.float64)
        scores = values.mean(axis=1)
        bad = self.diverged.any(axis=1) | ~np.isfinite(scores)
        return np.where(bad, np.nan, scores)

    def best(self, metric: str, mode: str = "min") -> dict[str, Any]:
        """The hyperparameters of the best configuration by the mean of ``metric`` over seeds.

        A configuration that diverged for any seed (see `diverged`) is never chosen.

        Args:
          metric: name of a scalar metric.
          mode: ``"min"`` (default) or ``"max"``.

        Returns:
          The configuration as a dict of hyperparameter values.

        Raises:
          ValueError: unknown metric or mode, a non-scalar metric, or every configuration diverged.
        """
        scores = self._scores(metric, mode)
        if np.all(np.isnan(scores)):
            raise ValueError(
                f"every configuration diverged (metric {metric!r} is NaN or inf for some seed "
                "of each); there is no best one"
            )
        index = int(np.nanargmin(scores) if mode == "min" else np.nanargmax(scores))
        return self.space[index]

    def plot(
        self,
        metric: str,
        *,
        x: str | None = None,
        y: str | None = None,
        mode: str = "min",
        path: str | os.PathLike | None = None,
        ax=None,
    ):
        """Plots ``metric``: curves per configuration, or a heatmap over two hyperparameter axes.

        An array metric of one dimension (e.g. a loss curve) is drawn as one line per
        configuration (mean over seeds, diverged configurations dashed). A scalar metric is drawn
        as a heatmap of its mean over seeds with axis ``x`` across and ``y`` up (default: the
        first two axes with more than one value), the other axes reduced by ``mode`` (their best
        value); with a single varying axis it is a line against that axis. Diverged cells are
        blank.

        Args:
          metric: the metric to draw.
          x: hyperparameter on the horizontal axis (scalar metrics).
          y: hyperparameter on the vertical axis (scalar metrics).
          mode: ``"min"`` or ``"max"``: how to reduce the axes not drawn.
          path: if given, the figure is saved there (format from the suffix, e.g. ``.png``).
          ax: a matplotlib Axes to draw into; default a new figure.

        Returns:
          The matplotlib Figure.
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError as e:
            raise ImportError(
                "SweepResult.plot needs matplotlib: pip install 'rmsjax[examples]'"
            ) from e
        if metric not in self.metrics:
            raise ValueError(f"unknown metric {metric!r}; this sweep has {sorted(self.metrics)}")
        if ax is None:
            fig, ax = plt.subplots(figsize=(6, 4))
        else:
            fig = ax.figure
        values = self.metrics[metric]
        if values.ndim == 3:
            diverged = self.diverged.any(axis=1)
            curves = values.astype(np.float64).mean(axis=1)
            for i, config in enumerate(self.space):
                label = ", ".join(f"{k}={v}" for k, v in config.items()) or f"config {i}"
                ax.plot(curves[i], linestyle="--" if diverged[i] else "-", label=label)
            ax.set_xlabel("step")
            ax.set_ylabel(metric)
            if len(self.space) <= 12:
                ax.legend(fontsize="small")
        elif values.ndim == 2:
            self._plot_scalar(ax, fig, metric, x, y, mode)
        else:
            raise ValueError(
                f"metric {metric!r} has shape {values.shape[2:]} per run; plot() draws scalars "
                "(heatmap) and 1-D arrays (curves)"
            )
        fig.tight_layout()
        if path is not None:
            fig.savefig(path)
        return fig

    def _plot_scalar(self, ax, fig, metric, x, y, mode):
        scores = self._scores(metric, mode).reshape(self.space.shape)
        names = list(self.space.names)
        varying = [n for n in names if len(self.space.axes[n]) > 1]
        for arg, value in (("x", x), ("y", y)):
            if value is not None and value not in names:
                raise ValueError(f"`{arg}` must be one of the axes {names}, got {value!r}")
        if x is None:
            x = next((n for n in varying if n != y), None)
        if y is None:
            y = next((n for n in varying if n != x), None)
        if x is None:
            ax.bar([0], [scores.ravel()[0]])
            ax.set_ylabel(metric)
            return
        keep = [names.index(x)] + ([names.index(y)] if y is not None else [])
        reduce_axes = tuple(i for i in range(len(names)) if i not in keep)
        reducer = np.nanmin if mode == "min" else np.nanmax
        with np.errstate(all="ignore"), _quiet_all_nan():
            table = reducer(scores, axis=reduce_axes) if reduce_axes else scores
        xs = [str(v) for v in self.space.axes[x]]
        if y is None:
            ax.plot(xs, table, marker="o")
            ax.set_xlabel(x)
            ax.set_ylabel(metric)
            return
        table = np.asarray(table)
        if keep[0] < keep[1]:
            table = table.T  # rows follow y, columns follow x
        image = ax.imshow(np.ma.masked_invalid(table), aspect="auto", origin="lower")
        ax.set_xticks(range(len(xs)), xs, rotation=45)
        ax.set_yticks(range(len(self.space.axes[y])), [str(v) for v in self.space.axes[y]])
        ax.set_xlabel(x)
        ax.set_ylabel(y)
        fig.colorbar(image, ax=ax, label=f"{metric} ({mode} over other axes)")

    def __repr__(self) -> str:
        axes = ", ".join(f"{n}[{len(v)}]" for n, v in self.space.axes.items()) or "none"
        metrics = ", ".join(f"{n}{tuple(v.shape[2:])}" for n, v in self.metrics.items())
        n_div = int(self.diverged.any(axis=1).sum())
        return (
            f"SweepResult({len(self.space)} configurations x {self.seeds} seeds; axes: {axes}; "
            f"metrics: {metrics}; diverged configurations: {n_div})"
        )


@contextlib.contextmanager
def _quiet_all_nan():
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)
        yield


# --------------------------------------------------------------------------------------------
# Keys, devices, the out_dir.


def _split_key(key) -> tuple[np.ndarray, Any, bool]:
    """Returns (key data, key impl, whether the user passed a typed key)."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(
                f"`key` must be a single PRNG key, got a key array of shape {key.shape}"
            )
        return np.asarray(jax.random.key_data(key)), str(jax.random.key_impl(key)), True
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.ndim == 1:
        typed = jax.random.wrap_key_data(key)  # raises for a wrong size
        return np.asarray(key), str(jax.random.key_impl(typed)), False
    raise TypeError(
        "`key` must be a PRNG key from jax.random.key(seed) (or a raw uint32 key from "
        f"jax.random.PRNGKey), got {key!r}"
    )


def _check_devices(devices) -> list:
    if devices is None:
        return list(jax.devices())
    if isinstance(devices, jax.Device):
        devices = [devices]
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise ValueError(f"`devices` must be a non-empty sequence of jax.Device, got {devices!r}")
    return devices


def _put(value, sharding):
    """Places a host value on a (possibly multi-process) sharding; every process passes the same."""
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def _fetch(array) -> np.ndarray:
    if array.is_fully_addressable:
        return np.asarray(array)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rmsjax")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "unknown"


class _Store:
    """The out_dir: a manifest plus one npz per finished chunk, written atomically."""

    def __init__(self, path, header: dict, writer: bool):
        self.path = os.fspath(path)
        self.header = header
        self.writer = writer
        self.manifest: dict | None = None
        manifest_path = os.path.join(self.path, _MANIFEST)
        if os.path.exists(manifest_path):
            with open(manifest_path) as f:
                self.manifest = json.load(f)
            self.compare(self.header)
        elif writer:
            os.makedirs(self.path, exist_ok=True)

    def compare(self, mine: dict) -> None:
        assert self.manifest is not None
        for field, value in mine.items():
            theirs = self.manifest.get(field)
            if json.loads(json.dumps(value)) != theirs:
                raise ValueError(
                    f"out_dir {self.path!r} holds a different sweep: its manifest has "
                    f"{field}={theirs!r}, this call has {field}={value!r}. Use a new out_dir (or "
                    "delete this one) to run this sweep."
                )

    def set_metrics(self, metrics: dict, chunk_sizes: dict) -> None:
        """Checks (or records) the metric names/shapes; writes the manifest on first use."""
        if self.manifest is not None and "metrics" in self.manifest:
            self.compare({"metrics": metrics})
        record = {
            "format": _FORMAT,
            **self.header,
            "metrics": metrics,
            "chunk_sizes": {str(k): v for k, v in chunk_sizes.items()},
            "rmsjax_version": _version(),
            "jax_version": jax.__version__,
        }
        if self.manifest is not None:
            sizes = dict(self.manifest.get("chunk_sizes", {}))
            sizes.update(record["chunk_sizes"])
            record["chunk_sizes"] = sizes
        self.manifest = record
        if self.writer:
            self._atomic_write(_MANIFEST, lambda f: f.write(json.dumps(record, indent=1).encode()))

    def load(self) -> list[tuple[np.ndarray, list[np.ndarray]]]:
        """The finished chunks: (config ids, metric arrays in manifest order) each."""
        if self.manifest is None or "metrics" not in self.manifest:
            return []
        names = list(self.manifest["metrics"])
        chunks = []
        for file in sorted(glob.glob(os.path.join(self.path, "chunk_*.npz"))):
            try:
                with np.load(file, allow_pickle=False) as data:
                    ids = data["config_ids"]
                    arrays = [data[f"metric_{i}"] for i in range(len(names))]
            except (OSError, KeyError, ValueError) as e:
                raise ValueError(f"cannot read finished chunk {file!r} of the sweep: {e}") from e
            chunks.append((ids, arrays))
        return chunks

    def save(self, ids: np.ndarray, arrays: list[np.ndarray]) -> None:
        if not self.writer:
            return
        index = len(glob.glob(os.path.join(self.path, "chunk_*.npz")))
        while os.path.exists(os.path.join(self.path, f"chunk_{index:05d}.npz")):
            index += 1
        payload = {"config_ids": ids, **{f"metric_{i}": a for i, a in enumerate(arrays)}}
        self._atomic_write(f"chunk_{index:05d}.npz", lambda f: np.savez(f, **payload))

    def _atomic_write(self, name: str, write: Callable) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(self.path, name))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)


# --------------------------------------------------------------------------------------------
# Tracing and batching.


@dataclasses.dataclass
class _Traced:
    jaxpr: Any  # jax.extend.core.Jaxpr
    consts: list
    out_names: list[str]
    out_avals: list[jax.ShapeDtypeStruct]
    key_used: bool  # False when train_fn ignores its key: then no keys are derived
    largest: int  # bytes of the largest intermediate array of one run (see _choose_chunk)


def _trace(train_fn, static: dict, dynamic: dict[str, np.dtype], key_aval) -> _Traced:
    """Traces ``train_fn`` once into a jaxpr on abstract dynamic hyperparameters and key."""
    names: list[str] = []

    def flat_fn(hp_values, key):
        hparams = {**dict(zip(dynamic, hp_values, strict=True)), **static}
        out = train_fn(hparams, key)
        if not isinstance(out, Mapping):
            raise TypeError(
                f"train_fn must return a dict of metric name -> array, got {type(out).__name__}"
            )
        for name, value in out.items():
            if not isinstance(name, str):
                raise TypeError(f"train_fn must return a dict with str keys, got key {name!r}")
            if not isinstance(value, (jax.Array, np.ndarray, numbers.Number)):
                raise TypeError(
                    f"train_fn's metric {name!r} must be an array, got {type(value).__name__}"
                )
        names.extend(out)
        return [jnp.asarray(out[n]) for n in out]

    hp_avals = [jax.ShapeDtypeStruct((), dt) for dt in dynamic.values()]
    closed, shapes = jax.make_jaxpr(flat_fn, return_shape=True)(hp_avals, key_aval)
    if not names:
        raise ValueError("train_fn returned an empty dict; return at least one metric")
    avals = [jax.ShapeDtypeStruct(s.shape, s.dtype) for s in shapes]
    jaxpr = closed.jaxpr
    key_var = jaxpr.invars[-1]
    key_used = any(key_var is v for eqn in jaxpr.eqns for v in eqn.invars) or any(
        key_var is v for v in jaxpr.outvars
    )
    return _Traced(jaxpr, list(closed.consts), names, avals, key_used, _largest_array(jaxpr))


def _largest_array(jaxpr) -> int:
    """Bytes of the largest array any equation of ``jaxpr`` (or of its sub-jaxprs) produces."""
    largest = 0
    for eqn in jaxpr.eqns:
        for var in eqn.outvars:
            try:
                size = math.prod(var.aval.shape) * np.dtype(var.aval.dtype).itemsize
            except (AttributeError, TypeError):  # tokens, PRNG key arrays
                size = 0
            largest = max(largest, size)
        for sub in jaxprs_in_params(eqn.params):
            largest = max(largest, _largest_array(sub))
    return largest


@functools.partial(jax.jit, static_argnames=("seeds", "impl"))
def _derive_keys(key_data, config_ids, *, seeds: int, impl: str):
    """Key data of run (c, s): ``fold_in(fold_in(key, config_ids[c]), s)``, shaped (C, seeds, ...).

    A separate, tiny program (compiled once per chunk width and reused across sweeps), so the
    training program does not recompile the key derivation each time.
    """
    base = jax.random.wrap_key_data(key_data, impl=impl)
    seed_ids = jnp.arange(seeds, dtype=jnp.uint32)

    def per_config(config_id):
        config_key = jax.random.fold_in(base, config_id)
        keys = jax.vmap(lambda s: jax.random.fold_in(config_key, s))(seed_ids)
        return jax.random.key_data(keys)

    return jax.vmap(per_config)(config_ids)


def _batched(traced: _Traced, impl: str, typed_key: bool):
    """The program of one chunk: (consts, hp arrays (C,), key data (C, S, ...)) -> metrics.

    One flat `vmap` over the C * S (configuration, seed) pairs: a single batch dimension keeps
    XLA's kernels (e.g. batched matmuls on CPU) on their fast path, where nested vmaps would give
    every operation two batch dimensions (one of size 1 with a single seed).
    """
    jaxpr = traced.jaxpr

    def per_pair(consts, hp, data):
        key = jax.random.wrap_key_data(data, impl=impl) if typed_key else data
        return jax.core.eval_jaxpr(jaxpr, consts, *hp, key)

    def run(consts, hp_values, key_data):
        width, seeds = key_data.shape[:2]
        hp = [jnp.repeat(v, seeds) for v in hp_values]  # configuration-major, seeds innermost
        flat_keys = key_data.reshape(width * seeds, *key_data.shape[2:])
        out = jax.vmap(per_pair, in_axes=(None, 0, 0))(consts, hp, flat_keys)
        return [o.reshape(width, seeds, *o.shape[1:]) for o in out]

    return run


def _memory_budget(device) -> int | None:
    """Bytes one chunk may use on ``device`` (see `sweep`'s chunk_size rule)."""
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(0.6 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
        return None
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None
    return ram // 4


def _program_bytes(compiled) -> int | None:
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - some backends do not implement it
        return None
    if m is None:
        return None
    return int(
        m.argument_size_in_bytes
        + m.output_size_in_bytes
        + m.temp_size_in_bytes
        - m.alias_size_in_bytes
    )


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


# --------------------------------------------------------------------------------------------
# The sweep.


def sweep(
    train_fn: Callable[[dict[str, Any], jax.Array], Mapping[str, jax.Array]],
    space: Grid | Mapping[str, Sequence[Any]],
    *,
    key: jax.Array,
    seeds: int = 1,
    chunk_size: int | str | None = "auto",
    devices: Sequence[jax.Device] | None = None,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
) -> SweepResult:
    """Trains every configuration of a grid, for several seeds, in one compiled program.

    ``train_fn`` is traced once (per combination of static axis values, see `grid`) into a jaxpr;
    that jaxpr is batched with `jax.vmap` over seeds and configurations, sharded over ``devices``
    along the configuration axis, compiled once for the chunk shape and run chunk by chunk. A
    configuration that diverges (NaN or inf) only affects its own results: `vmap` keeps runs
    independent, and `SweepResult.best` never picks it.

    Keys: run ``(c, s)`` (configuration id ``c``, seed index ``s``) gets
    ``fold_in(fold_in(key, c), s)``, so results do not depend on chunking or devices.

    Chunking (``chunk_size``): configurations run in chunks of that many, the last padded (with
    copies of real configurations whose results are dropped) so one compilation serves all; chunk
    sizes are rounded up to a multiple of the number of devices. ``None`` runs each static
    combination in one chunk. ``"auto"`` takes, on GPU/TPU, every remaining configuration of the
    combination; on a CPU, where a wide `vmap` pays only for small models, as many configurations
    per device as keep ``seeds`` x (the largest intermediate array of one run, read from the
    jaxpr) within 256 KiB, at least one (tiny models: all of them, removing per-operation
    overhead; the MNIST MLP of ``bench/sweep.py``: one, about 25% less CPU time than 16). It then
    compiles that width and, if `memory_analysis` of the program exceeds the budget (60% of the
    device memory not in use on GPU/TPU; a quarter of physical RAM, shared by the CPU devices),
    shrinks the chunk in proportion and compiles again. With
    ``out_dir`` set, pass an integer ``chunk_size`` to save progress more often.

    Devices: the chunk is sharded over a 1-D `jax.sharding.Mesh` of ``devices`` (default
    ``jax.devices()``: every GPU of the machine, or of every process of a multi-host job). For
    multi-host, start the same script on every host after
    ``jax.distributed.initialize()`` (e.g. under SLURM, ``srun python script.py``; see JAX's
    multi-process guide); every process passes the same arguments, gets the full result (it is
    gathered with `jax.experimental.multihost_utils.process_allgather`), and only process 0 writes
    ``out_dir``, which must then be on a file system every process sees.

    Resuming: with ``out_dir``, a ``manifest.json`` (space, seeds, key, metric names and shapes,
    chunk sizes, versions) and one ``chunk_XXXXX.npz`` per finished chunk (written to a temporary
    file, then renamed) are saved there. Calling `sweep` again with the same space, seeds and key
    loads the finished configurations and computes only the rest (in chunks of the new chunk size;
    ``train_fn`` is not traced for static combinations already finished). A manifest that differs
    raises ``ValueError``. An interruption (Ctrl-C, a crash) loses at most the chunk in flight.
    ``train_fn`` itself is not recorded: changing it and reusing an ``out_dir`` is on the caller.

    Args:
      train_fn: ``train_fn(hparams, key) -> dict[str, array]``, a pure function of a dict of
        hyperparameters (traced scalars for numeric axes, Python values for static ones) and a PRNG
        key (of the kind passed as ``key``), returning named metrics: scalars or fixed-shape arrays
        such as loss curves.
      space: a `grid` (or a dict of axes, passed to `grid`).
      key: a PRNG key, ``jax.random.key(seed)`` (or a raw ``jax.random.PRNGKey``).
      seeds: number of seeds (independent keys) per configuration, at least 1.
      chunk_size: a positive int, ``None`` or ``"auto"`` (see above).
      devices: devices to shard configurations over; default all of ``jax.devices()``.
      out_dir: directory for resumable results, or None to keep them in memory only.
      progress: show a tqdm progress bar over configurations, updated per chunk, with ETA.

    Returns:
      A `SweepResult`: ``.metrics[name]`` is shaped ``(len(space), seeds, *metric_shape)``.

    Example:
      >>> import jax, jax.numpy as jnp, rmsjax
      >>> def train_fn(hparams, key):
      ...   x0 = jax.random.normal(key, (3,))
      ...   opt = rmsjax.rmsprop(hparams["learning_rate"], decay=hparams["decay"])
      ...   def step(carry, _):
      ...     x, state = carry
      ...     updates, state = opt.update(2 * x, state)  # gradient of sum(x**2)
      ...     return (x + updates, state), jnp.sum(x**2)
      ...   (x, _), curve = jax.lax.scan(step, (x0, opt.init(x0)), length=20)
      ...   return {"loss": jnp.sum(x**2), "curve": curve}
      >>> space = rmsjax.grid(learning_rate=[1e-3, 1e-1], decay=[0.9, 0.99])
      >>> result = rmsjax.sweep(train_fn, space, key=jax.random.key(0), seeds=2, progress=False)
      >>> result.metrics["loss"].shape, result.metrics["curve"].shape
      ((4, 2), (4, 2, 20))
      >>> result.best("loss")
      {'learning_rate': 0.1, 'decay': 0.9}
    """
    # ---- Validate the arguments.
    if not callable(train_fn):
        raise TypeError(f"`train_fn` must be callable, got {train_fn!r}")
    if isinstance(space, Mapping):
        space = grid(**space)
    if not isinstance(space, Grid):
        raise TypeError(f"`space` must come from rmsjax.grid(...), got {type(space).__name__}")
    if isinstance(seeds, bool) or not isinstance(seeds, numbers.Integral) or seeds < 1:
        raise ValueError(f"`seeds` must be an int >= 1, got {seeds!r}")
    seeds = int(seeds)
    if not (
        chunk_size is None
        or chunk_size == "auto"
        or (
            isinstance(chunk_size, numbers.Integral)
            and not isinstance(chunk_size, bool)
            and chunk_size >= 1
        )
    ):
        raise ValueError(f"`chunk_size` must be a positive int, None or 'auto', got {chunk_size!r}")
    key_data, key_impl, typed_key = _split_key(key)
    devices = _check_devices(devices)
    n = len(space)

    mesh = Mesh(np.asarray(devices), (_AXIS,))
    sharded = NamedSharding(mesh, P(_AXIS))
    replicated = NamedSharding(mesh, P())

    header = {
        "space": [[name, list(values)] for name, values in space.axes.items()],  # ordered
        "seeds": seeds,
        "key": {"impl": str(key_impl), "data": key_data.ravel().tolist(), "typed": typed_key},
    }
    store = (
        _Store(out_dir, header, writer=jax.process_index() == 0) if out_dir is not None else None
    )

    # ---- Group configurations by their static values.
    groups: dict[tuple, list[int]] = {}
    for config_id, config in enumerate(space):
        groups.setdefault(tuple(config[a] for a in space.static_axes), []).append(config_id)
    dyn_dtypes = {}
    for name in space.dynamic_axes:
        values = np.asarray(space.axes[name])
        kind = np.float64 if np.issubdtype(values.dtype, np.floating) else np.int64
        dyn_dtypes[name] = jax.dtypes.canonicalize_dtype(kind)
    dyn_columns = {
        name: np.asarray(space.column(name), dtype=dt) for name, dt in dyn_dtypes.items()
    }

    # ---- Load what is finished.
    metric_spec: dict[str, dict] | None = None
    results: dict[str, np.ndarray] = {}
    done = np.zeros(n, dtype=bool)
    if store is not None and store.manifest is not None and "metrics" in store.manifest:
        metric_spec = store.manifest["metrics"]
        results = {
            name: np.zeros((n, seeds, *spec["shape"]), dtype=spec["dtype"])
            for name, spec in metric_spec.items()
        }
        for ids, arrays in store.load():
            for name, array in zip(metric_spec, arrays, strict=True):
                results[name][ids] = array
            done[ids] = True

    key_aval = jax.ShapeDtypeStruct(key.shape, key.dtype)
    chunk_sizes: dict[int, int] = {}
    todo = {g: [i for i in ids if not done[i]] for g, ids in groups.items()}
    total = sum(len(ids) for ids in todo.values())
    if total and progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="config", desc="sweep", disable=not progress)
    else:
        bar = None
    chunk_counter = 0
    try:
        for static_values, ids in todo.items():
            if not ids:
                continue
            static = dict(zip(space.static_axes, static_values, strict=True))
            traced = _trace(train_fn, static, dyn_dtypes, key_aval)
            spec = {
                name: {"shape": list(a.shape), "dtype": np.dtype(a.dtype).name}
                for name, a in zip(traced.out_names, traced.out_avals, strict=True)
            }
            if metric_spec is None:
                metric_spec = spec
                results = {
                    name: np.zeros((n, seeds, *a.shape), dtype=a.dtype)
                    for name, a in zip(traced.out_names, traced.out_avals, strict=True)
                }
            elif spec != metric_spec:
                if store is not None and not chunk_sizes:  # metric_spec came from the manifest
                    store.compare({"metrics": spec})
                raise ValueError(
                    f"train_fn returns metrics {spec} for static values {static}, but "
                    f"{metric_spec} for other configurations; every configuration must return the "
                    "same names and shapes"
                )

            run = jax.jit(
                _batched(traced, key_impl, typed_key),
                in_shardings=(replicated, sharded, sharded),
                out_shardings=sharded,
            )
            consts = [_put(c, replicated) for c in traced.consts]

            def compile_for(width, consts=consts, run=run):
                hp = [
                    jax.ShapeDtypeStruct((width,), dt, sharding=sharded)
                    for dt in dyn_dtypes.values()
                ]
                keys = jax.ShapeDtypeStruct(
                    (width, seeds, *key_data.shape), key_data.dtype, sharding=sharded
                )
                return run.lower(consts, hp, keys).compile()

            width, compiled = _choose_chunk(
                compile_for, chunk_size, len(ids), devices, traced, seeds
            )
            chunk_sizes[ids[0]] = width
            if store is not None:
                store.set_metrics(metric_spec, chunk_sizes)

            for start in range(0, len(ids), width):
                real = np.asarray(ids[start : start + width], dtype=np.int32)
                padded = np.concatenate([real, np.full(width - len(real), real[-1], np.int32)])
                hp = [_put(dyn_columns[name][padded], sharded) for name in dyn_dtypes]
                if traced.key_used:
                    keys = _derive_keys(
                        key_data, padded.astype(np.uint32), seeds=seeds, impl=key_impl
                    )
                else:  # train_fn ignores its key: skip compiling the key derivation
                    keys = np.zeros((width, seeds, *key_data.shape), key_data.dtype)
                out = compiled(consts, hp, _put(np.asarray(keys), sharded))
                arrays = [_fetch(o)[: len(real)] for o in out]
                for name, array in zip(metric_spec, arrays, strict=True):
                    results[name][real] = array
                done[real] = True
                if store is not None:
                    store.save(real, arrays)
                if bar is not None:
                    bar.update(len(real))
                _after_chunk(chunk_counter)
                chunk_counter += 1
    finally:
        if bar is not None:
            bar.close()
    assert metric_spec is not None or n == 0
    return SweepResult(space=space, seeds=seeds, metrics=results, chunk_sizes=chunk_sizes)


# On a CPU, batching runs together pays only while one run's arrays are small: per-operation
# overhead then dominates and a wide vmap removes it. Once one run's largest array reaches this
# size (about an L2 cache), its operations already run at full speed and a wider batch only
# grows the working set (the MNIST MLP of bench/sweep.py, 400 KB per run: 16 runs in one chunk
# took 6.0-6.3 CPU-seconds, one run per chunk 4.3-5.3).
_CPU_BATCH_BYTES = 256 * 1024


def _choose_chunk(compile_for, chunk_size, n_todo: int, devices: list, traced: _Traced, seeds):
    """Returns (chunk width, compiled program) for ``n_todo`` configurations."""
    n_dev = len(devices)
    widest = _round_up(n_todo, n_dev)
    if chunk_size is None:
        return widest, compile_for(widest)
    if chunk_size != "auto":
        width = min(_round_up(int(chunk_size), n_dev), widest)
        return width, compile_for(width)
    width = widest
    if devices[0].platform == "cpu":
        per_device = _CPU_BATCH_BYTES // max(1, seeds * traced.largest)
        width = min(widest, n_dev * max(1, per_device))
    compiled = compile_for(width)
    used, budget = _program_bytes(compiled), _memory_budget(devices[0])
    if used is None or budget is None or width == n_dev:
        return width, compiled
    if devices[0].platform == "cpu":
        budget //= n_dev  # simulated CPU devices share the host's memory
    if used <= budget:
        return width, compiled
    # Memory grows linearly with the configurations per device, on top of the shared constants.
    const_bytes = sum(int(getattr(c, "nbytes", 0)) for c in traced.consts)
    per_config = max(1.0, (used - const_bytes) / (width // n_dev))
    narrower = n_dev * max(1, int((budget - const_bytes) // per_config))
    if narrower >= width:
        return width, compiled
    return narrower, compile_for(narrower)

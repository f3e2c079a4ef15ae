"""The compiled program of a sweep: tracing ``train_fn``, batching it, keys, sharding, chunks.

``train_fn`` is traced once per combination of static values into a jaxpr (`trace`); `batched`
turns the jaxpr into the program of one chunk, a flat `jax.vmap` over (configuration, seed)
pairs; `choose_chunk` picks the chunk width and compiles it; `derive_keys` gives every run its
key; `put` and `fetch` move chunks onto and off a (possibly multi-process) mesh.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import math
import numbers
import os
import re
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import jaxprs_in_params

from rmsjax._engine import checks, columns
from rmsjax._engine.checks import round_up

AXIS = "configs"  # the mesh axis configurations are sharded over

# Keys and devices.


class RunKey(NamedTuple):
    """The sweep's key, split into what the program and the manifest need."""

    data: np.ndarray  # raw key data (uint32)
    impl: str  # the PRNG implementation's name
    typed: bool  # whether the user passed a typed key (then train_fn gets typed keys)
    aval: jax.ShapeDtypeStruct  # the key train_fn is traced with
    shared: bool = False  # keys="shared": every configuration gets configuration 0's keys


KEYS = ("per_config", "shared")


def check_keys(keys: Any) -> bool:
    """Whether ``keys`` (the argument of `sweep` and `optuna_search`) asks for shared keys."""
    if not isinstance(keys, str) or keys not in KEYS:
        raise ValueError(f"`keys` must be 'per_config' or 'shared', got {keys!r}")
    return keys == "shared"


def config_ids_for_keys(ids: np.ndarray, shared: bool) -> np.ndarray:
    """The ids folded into the key per configuration: their own, or 0 for all when shared."""
    return np.zeros_like(ids) if shared else ids


def split_key(key, keys: str = "per_config") -> RunKey:
    """Checks ``key`` (typed ``jax.random.key`` or raw ``PRNGKey``) and ``keys``; splits them."""
    shared = check_keys(keys)
    return _split_key(key)._replace(shared=shared)


def _split_key(key) -> RunKey:
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(
                f"`key` must be a single PRNG key, got a key array of shape {key.shape}"
            )
        data = np.asarray(jax.random.key_data(key))
        return RunKey(data, str(jax.random.key_impl(key)), True, _aval(key))
    if isinstance(key, (jax.Array, np.ndarray)) and key.dtype == np.uint32 and key.ndim == 1:
        typed = jax.random.wrap_key_data(key)  # raises for a wrong size
        return RunKey(np.asarray(key), str(jax.random.key_impl(typed)), False, _aval(key))
    raise TypeError(
        "`key` must be a PRNG key from jax.random.key(seed) (or a raw uint32 key from "
        f"jax.random.PRNGKey), got {key!r}"
    )


def _aval(key) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(key.shape, key.dtype)


def check_devices(devices) -> list:
    if devices is None:
        return list(jax.devices())
    if isinstance(devices, jax.Device):
        devices = [devices]
    devices = list(devices)
    if not devices or not all(isinstance(d, jax.Device) for d in devices):
        raise ValueError(f"`devices` must be a non-empty sequence of jax.Device, got {devices!r}")
    return devices


def put(value, sharding):
    """Places a host value on a (possibly multi-process) sharding; every process passes the same."""
    if jax.process_count() == 1:
        return jax.device_put(value, sharding)
    value = np.asarray(value)
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def fetch(array) -> np.ndarray:
    if array.is_fully_addressable:
        return np.asarray(array)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


# Tracing and batching.


@dataclasses.dataclass
class Traced:
    jaxpr: Any  # jax.extend.core.Jaxpr
    consts: list
    out_names: list[str]
    out_avals: list[jax.ShapeDtypeStruct]
    key_used: bool  # False when train_fn ignores its key: then no keys are derived
    largest: int  # bytes of the largest intermediate array of one run (see choose_chunk)
    text: str  # the program as text: hyperparameter names, static values, jaxpr, metric names

    @property
    def metric_spec(self) -> dict[str, dict]:
        """Metric name -> {"shape": list, "dtype": str}, as the manifest records it."""
        return {
            name: {"shape": list(a.shape), "dtype": np.dtype(a.dtype).name}
            for name, a in zip(self.out_names, self.out_avals, strict=True)
        }

    @functools.cached_property
    def fingerprint(self) -> dict:
        """Hashes of the program text and of each closed-over array's values."""
        return {
            "jaxpr": hashlib.sha256(self.text.encode()).hexdigest(),
            "consts": [digest(c) for c in self.consts],
        }


_TRACED_ERRORS = (
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerArrayConversionError,
    jax.errors.TracerIntegerConversionError,
)


def is_traced_value_error(error: Exception) -> bool:
    """Whether ``error`` comes from using a traced value as a Python value: a branch, int(), a
    NumPy call, or an array shape or slice (JAX's plain TypeError/IndexError name the tracer)."""
    if isinstance(error, _TRACED_ERRORS):
        return True
    text = str(error)  # JAX names the tracer "JitTracer(int32[])" (older: "Traced<ShapedArray")
    return isinstance(error, (TypeError, IndexError)) and ("Tracer(" in text or "Traced<" in text)


@contextlib.contextmanager
def user_code(who: str, names: list[str]):
    """Turns an error of traced-value use inside ``who`` into `checks.traced_value_error`."""
    try:
        yield
    except Exception as e:
        if isinstance(e, UnknownAxisError) or not is_traced_value_error(e):
            raise
        raise checks.traced_value_error(who, names, e) from e


class UnknownAxisError(KeyError):
    """``hparams[name]`` for a name that is not an axis of the space (a typo, usually)."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


class HParams(dict):
    """The hyperparameters a user function gets: a dict whose missing key lists the axes."""

    def __missing__(self, key):
        raise UnknownAxisError(
            f"hparams[{key!r}]: {key!r} is not an axis of the space; its axes are {list(self)}"
        )


jax.tree_util.register_pytree_node(
    HParams,
    lambda d: (list(d[k] for k in sorted(d)), sorted(d)),  # as JAX flattens a dict
    lambda keys, values: HParams(zip(keys, values, strict=True)),
)


def trace(train_fn, static: dict, dynamic: dict[str, np.dtype], key_aval) -> Traced:
    """Traces ``train_fn`` once into a jaxpr on abstract dynamic hyperparameters and key."""
    names: list[str] = []

    def train_fn_on_values(hp_values, key):
        hparams = HParams({**dict(zip(dynamic, hp_values, strict=True)), **static})
        out = train_fn(hparams, key)
        names.extend(check_metrics(out))
        return [jnp.asarray(out[n]) for n in out]

    hp_avals = [jax.ShapeDtypeStruct((), dt) for dt in dynamic.values()]
    with user_code(f"train_fn {_name(train_fn)}", list(dynamic)):
        closed, shapes = jax.make_jaxpr(train_fn_on_values, return_shape=True)(hp_avals, key_aval)
    if not names:
        raise ValueError("train_fn returned an empty dict; return at least one metric")
    check_metric_names(names, [*dynamic, *static], f"train_fn {_name(train_fn)}")
    avals = [jax.ShapeDtypeStruct(s.shape, s.dtype) for s in shapes]
    jaxpr = closed.jaxpr
    key_var = jaxpr.invars[-1]
    key_used = any(key_var is v for eqn in jaxpr.eqns for v in eqn.invars) or any(
        key_var is v for v in jaxpr.outvars
    )
    text = "\n".join(
        [
            f"dynamic hyperparameters: {[(n, np.dtype(d).name) for n, d in dynamic.items()]}",
            f"static hyperparameters: {static!r}",
            f"metrics: {names}",
            re.sub(r" at 0x[0-9a-fA-FX]+", "", str(jaxpr)),  # no memory addresses
        ]
    )
    return Traced(jaxpr, list(closed.consts), names, avals, key_used, largest_array(jaxpr), text)


def check_metrics(out, who: str = "train_fn") -> list[str]:
    """The metric names of ``out``, which ``who`` returned; a clear error unless it is a dict of
    str -> array."""
    if not isinstance(out, Mapping):
        raise TypeError(
            f"{who} must return a dict of metric name -> array, got {type(out).__name__}"
        )
    for name, value in out.items():
        if not isinstance(name, str):
            raise TypeError(f"{who} must return a dict with str keys, got key {name!r}")
        if not isinstance(value, (jax.Array, np.ndarray, numbers.Number)):
            raise TypeError(f"{who}'s metric {name!r} must be an array, got {type(value).__name__}")
    return list(out)


def check_metric_names(names: list[str], axes: list[str], who: str) -> None:
    """Refuses a metric named like an axis or a reserved column of the results' to_pandas()
    (see `columns`), which it would silently replace there."""
    columns.check_metrics(names, axes, who)


def _name(fn) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    module = getattr(fn, "__module__", None)
    return f"`{module}.{name}`" if module else f"`{name}`"


def digest(const) -> str:
    """A hash of one closed-over array's shape, dtype and values (its shape alone if remote)."""
    if isinstance(const, jax.Array) and jnp.issubdtype(const.dtype, jax.dtypes.prng_key):
        const = jax.random.key_data(const)
    h = hashlib.sha256(f"{np.shape(const)} {np.result_type(const)}".encode())
    if not isinstance(const, jax.Array) or const.is_fully_addressable:
        h.update(np.ascontiguousarray(np.asarray(const)).tobytes())
    return h.hexdigest()[:16]


def largest_array(jaxpr) -> int:
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
            largest = max(largest, largest_array(sub))
    return largest


@functools.partial(jax.jit, static_argnames=("seeds", "impl"))
def derive_keys(key_data, config_ids, *, seeds: int, impl: str):
    """Key data of run (c, s): ``fold_in(fold_in(key, config_ids[c]), s)``, shaped (C, seeds, ...)
    (with ``keys="shared"`` the caller passes 0 for every configuration).

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


def batched(traced: Traced, impl: str, typed_key: bool):
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


def memory_budget(devices: list) -> int | None:
    """Bytes one chunk may use per device (see `sweep`'s chunk_size rule), None if unknown."""
    device = devices[0]
    if device.platform != "cpu":
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            return int(0.6 * (stats["bytes_limit"] - stats.get("bytes_in_use", 0)))
        return None
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return None
    return ram // 4 // len(devices)  # simulated CPU devices share the host's memory


def program_bytes(compiled) -> int | None:
    """Bytes the compiled program needs per device, from its memory analysis, None if unknown."""
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


# The chunk plan.


# On a CPU, batching runs together pays only while one run's arrays are small: per-operation
# overhead then dominates and a wide vmap removes it. Once one run's largest array reaches this
# size (about an L2 cache), its operations already run at full speed and a wider batch only
# grows the working set (the MNIST MLP of bench/sweep.py, 400 KB per run: 16 runs in one chunk
# took 6.0-6.3 CPU-seconds, one run per chunk 4.3-5.3).
CPU_BATCH_BYTES = 256 * 1024


def choose_chunk(
    compile_for: Callable[[int], Any],
    chunk_size: int | str | None,
    n_todo: int,
    devices: list,
    *,
    run_bytes: int,
    const_bytes: int,
    budget: int | None = None,
):
    """Returns (chunk width, compiled program) for ``n_todo`` configurations.

    Args:
      compile_for: ``compile_for(width)`` compiles the program of a chunk of that width.
      chunk_size: as `sweep`'s argument.
      n_todo: configurations left to run.
      devices: the devices of the mesh; widths are multiples of their number.
      run_bytes: bytes of the largest intermediate array of one configuration (all its seeds).
      const_bytes: bytes of the constants shared by every configuration.
      budget: bytes one chunk may use per device; default `memory_budget(devices)`.
    """
    n_dev = len(devices)
    widest = round_up(n_todo, n_dev)
    if chunk_size != "auto":
        width = widest if chunk_size is None else min(round_up(int(chunk_size), n_dev), widest)
        return width, compile_for(width)
    width = widest
    if devices[0].platform == "cpu":
        width = min(widest, n_dev * max(1, CPU_BATCH_BYTES // max(1, run_bytes)))
    compiled = compile_for(width)
    budget = memory_budget(devices) if budget is None else budget
    narrower = _fit(width, n_dev, program_bytes(compiled), budget, const_bytes)
    if narrower >= width:
        return width, compiled
    return narrower, compile_for(narrower)


def _fit(width: int, n_dev: int, used: int | None, budget: int | None, const_bytes: int) -> int:
    """The width whose program fits ``budget``, assuming memory linear in the width."""
    if used is None or budget is None or width == n_dev or used <= budget:
        return width
    per_config = max(1.0, (used - const_bytes) / (width // n_dev))
    return n_dev * max(1, int((budget - const_bytes) // per_config))

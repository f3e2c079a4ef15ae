"""The slot pool of staged search: ``width`` runs advanced one budget unit at a time.

A `Trainer`'s ``init`` and ``advance`` are traced once each into jaxprs (`trace_trainer`). A
`Pool` holds ``width`` slots, each training one configuration for ``seeds`` seeds, as one carry
batched over the ``width * seeds`` (slot, seed) pairs and sharded over the devices. Two programs
are compiled once: ``init`` starts new configurations in the slots a mask selects (the others
keep their carry) and ``advance`` trains every slot one unit. Which configuration a slot holds
and when it stops is decided on the host, between units, by a scheduler (see `staged`). A run can
be paused: `Pool.take` copies the carries of some slots to the host (a `Paused` each) and
`Pool.restore` puts them back into free slots later (a third small program, compiled when first
needed), so a run continues exactly where it stopped.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import re
import time
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from rmsjax._engine import columns, compiler_options, program
from rmsjax._engine.interrupts import deferred_sigint
from rmsjax._engine.trainer import Trainer


@dataclasses.dataclass
class TracedTrainer:
    """``init`` and ``advance`` of one run as jaxprs, for one combination of static values."""

    init: Any  # ClosedJaxpr: (*hp, key) -> carry leaves
    advance: Any  # ClosedJaxpr: (*carry leaves, *hp, key) -> (*carry leaves, *metric leaves)
    carry_tree: Any
    carry_avals: list
    metric_names: list[str]
    metric_avals: list
    largest: int  # bytes of the largest intermediate array of one run
    header: str  # hyperparameter names and dtypes, static values, metric names

    @functools.cached_property
    def text(self) -> str:
        """Both programs as text (for `Store`'s fingerprints), without memory addresses."""
        init, advance = (re.sub(r" at 0x[0-9a-fA-FX]+", "", str(j.jaxpr)) for j in
                         (self.init, self.advance))  # fmt: skip
        return f"{self.header}\ninit:\n{init}\nadvance:\n{advance}"

    @property
    def metric_spec(self) -> dict[str, dict]:
        pairs = zip(self.metric_names, self.metric_avals, strict=True)
        return {n: {"shape": list(a.shape), "dtype": np.dtype(a.dtype).name} for n, a in pairs}

    @functools.cached_property
    def fingerprint(self) -> dict:
        """Hashes of the programs' text and of each closed-over array's values (see `Store`)."""
        consts = [*self.init.consts, *self.advance.consts]
        return {
            "jaxpr": hashlib.sha256(self.text.encode()).hexdigest(),
            "consts": [program.digest(c) for c in consts],
        }

    def scalar_metrics(self) -> list[str]:
        return [n for n, a in zip(self.metric_names, self.metric_avals, strict=True) if not a.shape]


def trace_trainer(trainer: Trainer, static: dict, dynamic: dict[str, np.dtype], key_aval):
    """Traces ``trainer.init`` and ``trainer.advance`` once each on abstract values."""
    hp_avals = [jax.ShapeDtypeStruct((), dt) for dt in dynamic.values()]

    def hparams(values):
        return program.HParams({**dict(zip(dynamic, values, strict=True)), **static})

    with program.user_code("Trainer.init", list(dynamic)):
        init_jaxpr, carry_shape = jax.make_jaxpr(
            lambda hp, key: trainer.init(hparams(hp), key), return_shape=True
        )(hp_avals, key_aval)
    carry_avals, carry_tree = jax.tree_util.tree_flatten(carry_shape)
    names: list[str] = []
    advance_flat = _flat_advance(trainer, hparams, carry_tree, carry_avals, names)
    with program.user_code("Trainer.advance", list(dynamic)):
        advance_jaxpr, (_, metric_shapes) = jax.make_jaxpr(advance_flat, return_shape=True)(
            carry_avals, hp_avals, key_aval
        )
    if not names:
        raise ValueError("Trainer.advance returned no metrics; return at least one")
    scalar = [n for n, s in zip(names, metric_shapes, strict=True) if not s.shape]
    columns.check_metrics(names, [*dynamic, *static], "Trainer.advance", curves=scalar)
    largest = max(map(program.largest_array, (init_jaxpr.jaxpr, advance_jaxpr.jaxpr)))
    header = "\n".join(
        [
            f"dynamic hyperparameters: {[(n, np.dtype(d).name) for n, d in dynamic.items()]}",
            f"static hyperparameters: {static!r}",
            f"metrics: {names}",
        ]
    )
    metric_avals = [jax.ShapeDtypeStruct(s.shape, s.dtype) for s in metric_shapes]
    return TracedTrainer(init_jaxpr, advance_jaxpr, carry_tree, list(carry_avals), names,
                         metric_avals, largest, header)  # fmt: skip


def _flat_advance(trainer, hparams, carry_tree, carry_avals, names: list[str]):
    """``advance`` on flat carry leaves; checks that the carry keeps its structure and types."""

    def advance_flat(carry_leaves, hp, key):
        carry = jax.tree_util.tree_unflatten(carry_tree, carry_leaves)
        out = trainer.advance(carry, hparams(hp), key)
        if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], Mapping)):
            raise TypeError("Trainer.advance must return (carry, metrics) with metrics a dict")
        new_carry, metrics = out
        leaves, tree = jax.tree_util.tree_flatten(new_carry)
        types = [(jnp.shape(x), jnp.result_type(x)) for x in leaves]
        if tree != carry_tree or types != [(a.shape, a.dtype) for a in carry_avals]:
            raise TypeError(
                "Trainer.advance must return a carry of the structure, shapes and dtypes init "
                f"returns: init gives {carry_tree} with {[(a.shape, a.dtype) for a in carry_avals]}"
                f", advance {tree} with {types}"
            )
        names.extend(program.check_metrics(metrics, who="Trainer.advance"))
        return leaves, [jnp.asarray(metrics[n]) for n in metrics]

    return advance_flat


def _programs(traced: TracedTrainer, key: program.RunKey, seeds: int):
    """The pure functions of the two programs, over the (slot, seed) pairs.

    ``init_into(consts, base, carry, keys, fresh, hp, ids) -> (carry, keys)`` gives every slot
    where ``fresh`` is True the run keys of configuration ``ids[slot]`` (``fold_in(fold_in(base,
    id), seed)``, as `sweep` derives them) and a new carry; ``advance(consts, carry, keys, hp,
    units) -> (carry, metrics)`` trains every slot one unit with ``fold_in(run_key, unit)``.
    """
    n_carry = len(traced.carry_avals)

    def wrap(data):
        return jax.random.wrap_key_data(data, impl=key.impl) if key.typed else data

    def run_keys(base, config_id):
        config_key = jax.random.fold_in(jax.random.wrap_key_data(base, impl=key.impl), config_id)
        seed_ids = jnp.arange(seeds, dtype=jnp.uint32)
        return jax.random.key_data(jax.vmap(lambda s: jax.random.fold_in(config_key, s))(seed_ids))

    def pairs(hp_values, key_data):
        hp = [jnp.repeat(v, seeds) for v in hp_values]  # slot-major, seeds innermost
        return hp, key_data.reshape(-1, *key_data.shape[2:])

    def select(mask, new, old):
        return jnp.where(mask.reshape(-1, *(1,) * (new.ndim - 1)), new, old)

    def init_one(consts, hp, data):
        return jax.core.eval_jaxpr(traced.init.jaxpr, consts, *hp, wrap(data))

    def init_into(consts, base, carry, keys, fresh, hp_values, ids):
        keys = select(fresh, jax.vmap(run_keys, in_axes=(None, 0))(base, ids), keys)
        hp, flat_keys = pairs(hp_values, keys)
        # A loop, not a vmap: initialization runs once per configuration and costs little, while
        # a batched threefry compiles about twice as slowly (digits MLP on CPU: 5.1 s vs 2.5 s).
        new = jax.lax.map(lambda args: init_one(consts, *args), (hp, flat_keys))
        mask = jnp.repeat(fresh, seeds)
        return [select(mask, n, o) for n, o in zip(new, carry, strict=True)], keys

    def advance_one(consts, carry, hp, data, unit):
        unit_key = jax.random.fold_in(wrap(data), unit)
        out = jax.core.eval_jaxpr(traced.advance.jaxpr, consts, *carry, *hp, unit_key)
        return out[:n_carry], out[n_carry:]

    def advance(consts, carry, keys, hp_values, units):
        hp, flat_keys = pairs(hp_values, keys)
        flat_units = jnp.repeat(units, seeds)
        carry, metrics = jax.vmap(advance_one, in_axes=(None, 0, 0, 0, 0))(
            consts, carry, hp, flat_keys, flat_units
        )
        return carry, [m.reshape(-1, seeds, *m.shape[1:]) for m in metrics]

    return init_into, advance


def auto_width(n_todo: int, devices: list, run_bytes: int, cap: int | None = None) -> int:
    """Slots for ``n_todo`` configurations (``width="auto"``): all of them on GPU/TPU; on a CPU
    as many per device as keep one run's largest array (``run_bytes``, times seeds) within
    `program`'s CPU batch size of 256 KiB, and at least one. ``cap`` bounds the result (early
    stopping needs fewer slots than configurations).

    On a CPU this is 1 or 2 slots per device for the models of `rmsjax.tasks` (1 on the MNIST
    MLP, 2 on the digits MLP). ``bench/width.py`` times a sweep at 1, 9 and 27 slots against
    this choice; what pays depends on what else the machine runs, and the benchmarks page
    (``docs/benchmarks.rst``, generated from ``bench/results/width.json``) gives its figures
    with the machine and its load. Several CPU devices
    (``--xla_force_host_platform_device_count``) each get their own slots. On a GPU or TPU one
    program over every slot is what pays, so all of them are trained together.

    >>> import types
    >>> cpu = [types.SimpleNamespace(platform="cpu")]
    >>> auto_width(27, cpu, run_bytes=400_000), auto_width(27, cpu, run_bytes=100_000)
    (1, 2)
    >>> auto_width(27, [types.SimpleNamespace(platform="gpu")], run_bytes=400_000)
    27
    >>> auto_width(27, [types.SimpleNamespace(platform="gpu")], run_bytes=400_000, cap=9)
    9
    """
    n_dev = len(devices)
    width = program.round_up(n_todo, n_dev)
    if devices[0].platform == "cpu":
        width = min(width, n_dev * max(1, program.CPU_BATCH_BYTES // max(1, run_bytes)))
    if cap is not None:
        width = min(width, program.round_up(max(1, cap), n_dev))
    return width


@contextlib.contextmanager
def compiling():
    """Defers Ctrl-C (SIGINT) in the main thread until the XLA compilation inside returns.

    jaxlib compiles on a thread of its own while the calling thread waits; Ctrl-C ends the wait
    with KeyboardInterrupt but not the compilation, and when the interpreter then exits, that
    thread finishes compiling against a client already torn down and the process dies of a
    segmentation fault (jax 0.10 on CPU: in ``SingleDeviceSharding::Create``, called by
    ``PjRtLoadedExecutable::Create``). So a Ctrl-C here is noted (with a line on stderr) and
    raised as KeyboardInterrupt once compilation has returned; a second Ctrl-C raises at once.
    Elsewhere than in the main thread, or under a SIGINT handler other than Python's default
    one, it does nothing.
    """
    with deferred_sigint(
        "rmsjax: interrupted; stopping as soon as XLA has finished compiling (press Ctrl-C "
        "again to stop at once, which can crash the process)"
    ):
        yield


@dataclasses.dataclass
class Paused:
    """A run taken out of its slot after ``units`` units: its carry and run keys, on the host."""

    units: int
    carry: list[np.ndarray]  # each leaf (seeds, ...); PRNG key leaves as their key data
    keys: np.ndarray  # (seeds, *key data shape)


class Pool:
    """``width`` slots over ``devices`` running one traced trainer; the host decides what runs.

    Both programs are lowered when the pool is built and compiled side by side in two threads
    (XLA releases the GIL), so their compilation overlaps on a multi-core host; on a CPU with
    the options `rmsjax.cpu_compiler_options()` gives when the pool is built.
    """

    def __init__(
        self, traced: TracedTrainer, dyn_names, key: program.RunKey, seeds, width, devices
    ):
        self.traced, self.key, self.seeds, self.width = traced, key, seeds, width
        mesh = Mesh(np.asarray(devices), (program.AXIS,))
        self.sharded = NamedSharding(mesh, P(program.AXIS))
        replicated = NamedSharding(mesh, P())
        self.config = np.full(width, -1, np.int64)  # configuration id per slot, -1 when free
        self.units = np.zeros(width, np.int32)  # units trained per slot
        hp_avals = [v.aval for v in traced.init.jaxpr.invars[:-1]]
        self.hp = {n: np.zeros(width, a.dtype) for n, a in zip(dyn_names, hp_avals, strict=True)}
        self.base = program.put(key.data, replicated)
        self.consts = [program.put(c, replicated) for c in traced.init.consts]
        self.adv_consts = [program.put(c, replicated) for c in traced.advance.consts]
        self.carry = self._zeros()
        self.keys = self.put(np.zeros((width, seeds, *key.data.shape), key.data.dtype))
        self.compile_seconds = 0.0
        self.compiled = collections.Counter()  # programs compiled, by name
        self._compile(*_programs(traced, key, seeds), replicated)
        self._load = None  # compiled by the first `restore`
        self._copy = None  # compiled by the first `copy`

    def _zeros(self) -> list:
        out = []
        for aval in self.traced.carry_avals:
            shape = (self.width * self.seeds, *aval.shape)
            if jnp.issubdtype(aval.dtype, jax.dtypes.prng_key):
                data = jax.eval_shape(jax.random.key_data, jax.ShapeDtypeStruct(shape, aval.dtype))
                zeros = self.put(np.zeros(data.shape, data.dtype))
                out.append(jax.random.wrap_key_data(zeros, impl=self.key.impl))
            else:
                out.append(self.put(np.zeros(shape, aval.dtype)))
        return out

    def _compile(self, init_into, advance, replicated) -> None:
        """Lowers and compiles ``advance`` then ``init``: each compilation starts in a thread as
        soon as its program is lowered, so the longer one overlaps the other's lowering."""
        start = time.perf_counter()
        rep, shard = replicated, self.sharded
        init = jax.jit(init_into, in_shardings=(rep, rep) + (shard,) * 5, out_shardings=shard)
        adv = jax.jit(advance, in_shardings=(rep,) + (shard,) * 4, out_shardings=shard)
        fresh, ids = (
            self.put(np.zeros(self.width, bool)),
            self.put(np.zeros(self.width, np.uint32)),
        )
        cpu = self.sharded.mesh.devices.flat[0].platform == "cpu"

        def options(name):
            return compiler_options.for_program(name) if cpu else None

        units = self.put(self.units)
        with compiling(), concurrent.futures.ThreadPoolExecutor(2) as threads:
            low = adv.lower(self.adv_consts, self.carry, self.keys, self._hp(), units)
            advance_future = threads.submit(low.compile, compiler_options=options("advance"))
            low = init.lower(self.consts, self.base, self.carry, self.keys, fresh, self._hp(), ids)
            init_future = threads.submit(low.compile, compiler_options=options("init"))
            self._init, self._advance = init_future.result(), advance_future.result()
        self.compile_seconds += time.perf_counter() - start
        self.compiled.update(("init", "advance"))

    def free_slots(self) -> list[int]:
        return [int(s) for s in np.flatnonzero(self.config < 0)]

    def active(self) -> bool:
        return bool((self.config >= 0).any())

    def place(self, slot: int, config_id: int, values: Mapping[str, Any], units: int = 0) -> None:
        """Assigns ``slot`` to ``config_id``, ``units`` units trained (then `start` or `restore`
        it)."""
        self.config[slot] = config_id
        self.units[slot] = units
        for name in self.hp:
            self.hp[name][slot] = values[name]

    def release(self, slot: int) -> None:
        self.config[slot] = -1

    def start(self, fresh: np.ndarray) -> None:
        """Runs ``init`` for the slots where ``fresh`` is True."""
        ids = np.where(self.config >= 0, self.config, 0).astype(np.uint32)
        ids = self.put(program.config_ids_for_keys(ids, self.key.shared))
        self.carry, self.keys = self._init(
            self.consts, self.base, self.carry, self.keys, self.put(fresh), self._hp(), ids
        )

    def step(self) -> list[np.ndarray]:
        """Advances every slot one unit; returns the metrics, each ``(width, seeds, ...)``."""
        self.carry, metrics = self._advance(
            self.adv_consts, self.carry, self.keys, self._hp(), self.put(self.units)
        )
        self.units = self.units + (self.config >= 0).astype(np.int32)
        return [program.fetch(m) for m in metrics]

    def take(self, slots: list[int]) -> dict[int, Paused]:
        """The carries and run keys of ``slots`` copied to the host (every process gets all)."""
        leaves = [program.fetch(key_data(c)) for c in self.carry]
        keys, s = program.fetch(self.keys), self.seeds
        return {
            slot: Paused(int(self.units[slot]), [np.array(x[slot * s : (slot + 1) * s])
                                                  for x in leaves], np.array(keys[slot]))
            for slot in slots
        }  # fmt: skip

    def restore(self, paused: Mapping[int, Paused]) -> None:
        """Puts each `Paused` back into its slot (placed before with its ``units``)."""
        mask = np.zeros(self.width, bool)
        carry = [np.zeros(key_data(c).shape, key_data(c).dtype) for c in self.carry]
        keys = np.zeros(self.keys.shape, self.keys.dtype)
        s = self.seeds
        for slot, run in paused.items():
            if run.units != self.units[slot]:
                raise ValueError(f"slot {slot} was placed at {self.units[slot]} units, not "
                                 f"{run.units}")  # fmt: skip
            mask[slot] = True
            for leaf, value in zip(carry, run.carry, strict=True):
                leaf[slot * s : (slot + 1) * s] = value
            keys[slot] = run.keys
        if self._load is None:
            self._load = self._compile_load()
        self.carry, self.keys = self._load(
            self.carry, self.keys, self.put(mask), [self.put(x) for x in carry], self.put(keys)
        )

    def copy(self, source: np.ndarray) -> None:
        """Every slot's carry (all its seeds) becomes that of the slot ``source`` names (an int
        array of ``width`` slots), in one gather on the devices (compiled on first use)."""
        if self._copy is None:
            self._copy = compile_copy(self)
        self.carry = self._copy(self.carry, self.put(source))

    def _compile_load(self):
        impls = [
            jax.random.key_impl(c) if jnp.issubdtype(c.dtype, jax.dtypes.prng_key) else None
            for c in self.carry
        ]
        seeds = self.seeds

        def load(carry, keys, mask, new_carry, new_keys):
            pairs = jnp.repeat(mask, seeds)
            out = []
            for old, new, impl in zip(carry, new_carry, impls, strict=True):
                new = new if impl is None else jax.random.wrap_key_data(new, impl=impl)
                out.append(jnp.where(pairs.reshape(-1, *(1,) * (new.ndim - 1)), new, old))
            where = mask.reshape(-1, *(1,) * (keys.ndim - 1))
            return out, jnp.where(where, new_keys, keys)

        start = time.perf_counter()
        shard = self.sharded
        compiled = jax.jit(load, in_shardings=shard, out_shardings=shard)
        compiled = compiled.lower(
            self.carry, self.keys, self.put(np.zeros(self.width, bool)),
            [self.put(np.zeros(key_data(c).shape, key_data(c).dtype)) for c in self.carry],
            self.put(np.zeros(self.keys.shape, self.keys.dtype)),
        ).compile()  # fmt: skip
        self.compile_seconds += time.perf_counter() - start
        self.compiled["restore"] += 1
        return compiled

    def _hp(self) -> list:
        return [self.put(v) for v in self.hp.values()]

    def put(self, value):
        return program.put(np.asarray(value), self.sharded)


def key_data(x):
    """``x``, or its key data if it is an array of typed PRNG keys."""
    return jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def compile_copy(pool: Pool):
    """The program of `Pool.copy`: every slot's carry from the slot ``source`` names."""
    seeds = pool.seeds

    def copy(carry, source):
        pairs = (source[:, None] * seeds + jnp.arange(seeds, dtype=source.dtype)).reshape(-1)
        return [leaf[pairs] for leaf in carry]

    start = time.perf_counter()
    shard = pool.sharded
    with compiling():
        compiled = (
            jax.jit(copy, in_shardings=shard, out_shardings=shard)
            .lower(pool.carry, pool.put(np.zeros(pool.width, np.int32)))
            .compile()
        )
    pool.compile_seconds += time.perf_counter() - start
    pool.compiled["exploit"] += 1
    return compiled

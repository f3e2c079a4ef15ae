"""`sweep`: trains every configuration of a space, for several seeds, in one compiled program.

The driver only sequences the steps; each lives in its own module: the space (`spaces`), the
traced and batched program with its chunk plan (`program`), the ``out_dir`` (`store`) and the
result (`results`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from rmsjax._engine import checks, population, program, staged
from rmsjax._engine.halving import Halving
from rmsjax._engine.pool import compiling
from rmsjax._engine.population import PBT
from rmsjax._engine.progress import progress_bar
from rmsjax._engine.record import Finished
from rmsjax._engine.results import SweepResult
from rmsjax._engine.spaces import Configs, Grid, grid
from rmsjax._engine.store import Store, check_metadata, open_store, run_fields
from rmsjax._engine.trainer import Trainer

__all__ = ["Grid", "SweepResult", "grid", "sweep"]


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
    metadata: Mapping[str, Any] | None = None,
    budget: int | None = None,
    halving: Halving | None = None,
    keys: str = "per_config",
    pbt: PBT | None = None,
    on_finish: Callable[[Finished], Any] | None = None,
) -> SweepResult:
    """Trains every configuration of a grid, for several seeds, in one compiled program.

    ``train_fn`` is traced once (per combination of static axis values, see `grid`) into a jaxpr;
    that jaxpr is batched with `jax.vmap` over seeds and configurations, sharded over ``devices``
    along the configuration axis, compiled once for the chunk shape and run chunk by chunk. A
    configuration that diverges (NaN or inf) only affects its own results: `vmap` keeps runs
    independent, and `SweepResult.best` never picks it.

    Keys: with ``keys="per_config"`` (the default) run ``(c, s)`` (configuration id ``c``, seed
    index ``s``) gets ``fold_in(fold_in(key, c), s)``, whatever the chunking or devices; with
    ``keys="shared"`` (common random numbers) every configuration gets configuration 0's keys,
    ``fold_in(fold_in(key, 0), s)``, so seed ``s`` means the same initialisation and data order
    for all. `SweepResult.key_of` returns the key of any run. ``jax.random.key(0)`` and
    ``jax.random.PRNGKey(0)`` are the same key (``train_fn`` gets keys of the kind passed).

    Which keys: ``"shared"`` when comparing configurations is the point (ranking, halving,
    heatmaps, few seeds): their differences then come from the hyperparameters alone, not from
    one configuration drawing a luckier initialisation, so fewer seeds tell them apart. Its
    risk is a winner tuned to that one draw; check it on other seeds. ``"per_config"`` when
    each configuration should be an independent trial (the spread over configurations then
    includes the seed's, as in Optuna or Ray Tune, where every trial seeds itself), e.g. to
    report how robust a region of the space is.

    Chunking (``chunk_size``): configurations run in chunks of that many, the last padded (with
    copies of real configurations whose results are dropped) so one compilation serves all; chunk
    sizes are rounded up to a multiple of the number of devices. ``None`` runs each static
    combination in one chunk. ``"auto"`` takes, on GPU/TPU, every configuration of the
    combination; on a CPU, where a wide `vmap` pays only for small models, as many configurations
    per device as keep ``seeds`` x (the largest intermediate array of one run, read from the
    jaxpr) within 256 KiB, at least one (tiny models: all of them, removing per-operation
    overhead; the MNIST MLP: one, which ``bench/sweep.py`` measures against wider chunks). It then
    compiles that width and, if `memory_analysis` of the program exceeds the budget (60% of the
    device memory not in use on GPU/TPU; a quarter of physical RAM, shared by the CPU devices),
    shrinks the chunk in proportion and compiles again. With
    ``out_dir`` set, pass an integer ``chunk_size`` to save progress more often.

    Chunking and rounding: every run computes the same operations with the same key whatever the
    chunk, but XLA may pick other kernels for another batch width (a batched matmul sums in
    another order), so results can differ in the last bits between chunk sizes or device counts;
    training that amplifies rounding (a chaotic, barely stable configuration) can end visibly
    elsewhere. Elementwise training is bitwise identical. For the same reason a resumed sweep
    reuses the chunk width recorded in ``out_dir`` for each static combination (ignoring
    ``chunk_size`` there), so on the same devices it equals an uninterrupted run bit for bit; on
    another number of devices the recorded width is rounded up to a multiple of them (every
    search resumes by this rule), and the rest rounds as that width does.

    Devices: the chunk is sharded over a 1-D `jax.sharding.Mesh` of ``devices`` (default
    ``jax.devices()``: every GPU of the machine, or of every process of a multi-host job). For
    multi-host, start the same script on every host after ``jax.distributed.initialize()`` (e.g.
    under SLURM, ``srun python script.py``; see JAX's multi-process guide); every process passes
    the same arguments and gets the full result (gathered with
    `jax.experimental.multihost_utils.process_allgather`). Only process 0 writes ``out_dir``,
    which must be a directory every process sees: processes that find different finished
    configurations there raise ``AssertionError``, and none returns before process 0 has written.
    The progress bar shows on process 0 only.

    Resuming: with ``out_dir``, a ``manifest.json`` (space, seeds, key, ``metadata``, metric names
    and shapes, chunk widths, a fingerprint of each traced program, versions) and one
    ``chunk_XXXXX.npz`` per finished chunk (written to a temporary file, then renamed) are saved
    there. Calling `sweep` again with the same space, seeds, key and metadata loads the finished
    configurations and computes only the rest. ``train_fn`` is traced again for every static
    combination (cheap: nothing is compiled for a finished one) and refused, with ``ValueError``
    saying what differs, when its metrics or its program differ from the recorded ones: the
    fingerprint hashes the jaxpr (hyperparameter names, static values, every operation and
    literal) and the values of the arrays it closes over. A manifest that differs raises
    ``ValueError`` too. An interruption (Ctrl-C, a crash) loses at most the chunk in flight.

    Staged training: with an `rmsjax.Trainer` in place of ``train_fn``, every configuration is
    trained ``budget`` units (default 9) in a fixed number of vmapped slots (``chunk_size`` of
    them; ``None``: one per configuration; ``"auto"``: as above, without the memory check, and at
    most ``len(space) / eta`` with halving), one unit at a time: ``init`` is traced and compiled
    once (it starts configurations in the slots that are free) and ``advance`` once, per static
    combination, the two compilations side by side. The metrics are those after the last unit
    trained, plus ``<name>_curve`` ``(budget,)`` of each scalar metric per unit (NaN after a
    configuration stopped). With ``halving=rmsjax.halving(metric, mode=...)``, configurations are
    paused at each rung and only the best ``1/eta`` of them continue (synchronous successive
    halving, see `halving`); the result then ranks ``metric`` in that ``mode``
    (`SweepResult.objective`). The result has ``budget`` (units trained) and ``pruned`` per
    configuration; `SweepResult.best` only considers configurations trained the full budget.
    With ``out_dir`` every configuration is saved as it finishes (completed or pruned), and with
    halving every paused run too; a rerun trains only the others, paused runs from where they
    stopped, and gives every bit an uninterrupted sweep gives. Unit ``u`` of
    run ``(c, s)`` gets the key ``fold_in(fold_in(fold_in(key, c), s), u)``.

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
      metadata: JSON-serialisable data about the sweep (data version, task options, ...),
        recorded in ``out_dir``'s manifest (a rerun with other metadata is refused, naming the
        keys that differ) and returned as `SweepResult.metadata`.
      budget: with a `Trainer`: units to train each configuration (default 9).
      halving: with a `Trainer`: `rmsjax.halving(...)` to stop configurations early (or its
        variants `rmsjax.asha(...)`, asynchronous, and `rmsjax.hyperband(...)`, brackets of
        halving side by side).
      pbt: with a `Trainer`: `rmsjax.pbt(...)` for population-based training: the space is the
        initial population, every member in a slot at once; at intervals the worst members
        continue the best ones' runs with perturbed hyperparameters (see `pbt`). The result is
        a `PBTResult` (final hyperparameters per member, `PBTResult.schedule`).
      keys: ``"per_config"`` (each configuration its own keys) or ``"shared"`` (seed ``s`` is
        the same key for every configuration); recorded in ``out_dir``, where a resume with the
        other is refused.
      on_finish: None, or a function called with an `rmsjax.Finished` (configuration id,
        hyperparameters, metrics over seeds, units trained, pruned, start and end times) as
        each configuration finishes in this call (a train_fn's: as its chunk does; a pbt
        population's: at the end), after it is saved in ``out_dir``: e.g. to write it to a
        live dashboard. Configurations loaded from ``out_dir`` are not reported again. It runs
        in every process of a multi-host job; an exception it raises stops the sweep (what
        was saved stays saved).

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
      >>> result.best("loss", mode="min")  # a plain sweep has no direction: say it
      {'learning_rate': 0.1, 'decay': 0.9}
    """
    if isinstance(train_fn, Trainer):
        space, seeds, metadata = _check_arguments(train_fn.init, space, seeds, chunk_size, metadata)
        if pbt is not None:
            if halving is not None:
                raise ValueError("`halving` and `pbt` are two searches; pass one of them, not both")
            return population.sweep_pbt(
                train_fn, space, key=key, budget=9 if budget is None else budget, seeds=seeds,
                chunk_size=chunk_size, devices=devices, out_dir=out_dir, progress=progress,
                rule=pbt, metadata=metadata, keys=keys, on_finish=_listener(on_finish),
            )  # fmt: skip
        return staged.sweep_trainer(
            train_fn, space, key=key, budget=9 if budget is None else budget, seeds=seeds,
            chunk_size=chunk_size, devices=devices, out_dir=out_dir, progress=progress,
            halving_rule=halving, metadata=metadata, keys=keys, on_finish=_listener(on_finish),
        )  # fmt: skip
    if budget is not None or halving is not None or pbt is not None:
        raise ValueError(
            "`budget`, `halving` and `pbt` need training in units: pass an rmsjax.Trainer (e.g. "
            "from rmsjax.training.make_trainer) instead of a train_fn"
        )
    space, seeds, metadata = _check_arguments(train_fn, space, seeds, chunk_size, metadata)
    on_finish = _listener(on_finish)
    run_key = program.split_key(key, keys)
    devices = program.check_devices(devices)
    store = open_store(out_dir, _header(space, seeds, run_key, metadata))
    context = _Context(train_fn, space, seeds, run_key, devices, chunk_size, store, on_finish)
    groups = [_trace_group(context, static, ids) for static, ids in checks.groups(space).items()]
    state = _State.start(context, groups)
    loaded = state.done.copy()
    with progress_bar(int((~state.done).sum()), progress, "sweep") as bar:
        for group in groups:
            if not state.done[group.ids].all():
                _run_group(context, state, group, bar)
    if store is not None and jax.process_count() > 1:  # process 0 has written every chunk
        multihost_utils.sync_global_devices("rmsjax.sweep: out_dir written")
    widths = {**(store.widths if store is not None else {}), **state.widths}
    return SweepResult(
        space=space,
        seeds=seeds,
        metrics=state.results,
        chunk_sizes=dict(sorted(widths.items())),
        metadata=metadata,
        key=key,
        keys=keys,
        loaded=loaded,
    )


def _listener(on_finish):
    if on_finish is not None and not callable(on_finish):
        raise TypeError(f"`on_finish` must be a function or None, got {on_finish!r}")
    return on_finish


def _check_arguments(train_fn, space, seeds, chunk_size, metadata) -> tuple[Grid, int, dict]:
    if not callable(train_fn):
        raise TypeError(f"`train_fn` must be callable, got {train_fn!r}")
    if isinstance(space, Mapping):
        space = grid(**space)
    if not isinstance(space, (Grid, Configs)):
        raise TypeError(
            f"`space` must come from rmsjax.grid(...) or rmsjax.sample(...), got "
            f"{type(space).__name__}"
        )
    checks.check_width(chunk_size, "chunk_size")
    return space, checks.positive_int("seeds", seeds), check_metadata(metadata)


def _header(space: Grid, seeds: int, run_key: program.RunKey, metadata: dict) -> dict:
    return {
        "space": [[name, list(values)] for name, values in space.axes.items()],  # ordered
        **run_fields(seeds, run_key),
        "metadata": metadata,
    }


@dataclasses.dataclass
class _Context:
    """What every static combination of one `sweep` call shares: inputs, devices, shardings."""

    train_fn: Callable
    space: Grid
    seeds: int
    key: program.RunKey
    devices: list
    chunk_size: int | str | None
    store: Store | None
    on_finish: Callable | None = None

    def __post_init__(self):
        mesh = Mesh(np.asarray(self.devices), (program.AXIS,))
        self.sharded = NamedSharding(mesh, P(program.AXIS))
        self.replicated = NamedSharding(mesh, P())
        self.dtypes = {n: checks.traced_dtype(self.space.axes[n]) for n in self.space.dynamic_axes}
        self.columns = {
            name: np.asarray(self.space.column(name), dtype=dt) for name, dt in self.dtypes.items()
        }
        self.key_kind = "typed_key" if self.key.typed else "raw_key"


@dataclasses.dataclass
class _Group:
    """The configurations of one combination of static values, and their traced program."""

    static: dict[str, Any]
    ids: np.ndarray  # int32, in id order
    traced: program.Traced


def _trace_group(context: _Context, static_values: tuple, ids: list[int]) -> _Group:
    """Traces ``train_fn`` for one static combination and checks it against ``out_dir``."""
    static = dict(zip(context.space.static_axes, static_values, strict=True))
    traced = program.trace(context.train_fn, static, context.dtypes, context.key.aval)
    group = _Group(static, np.asarray(ids, dtype=np.int32), traced)
    if context.store is not None:
        retrace = functools.partial(program.trace, context.train_fn, static, context.dtypes)
        context.store.check_program(ids[0], context.key, traced.metric_spec, traced, retrace)
    return group


@dataclasses.dataclass
class _State:
    """The metrics gathered so far (loaded from ``out_dir`` or computed), and what is done."""

    metric_spec: dict[str, dict]  # name -> {"shape", "dtype"}
    results: dict[str, np.ndarray]
    done: np.ndarray  # bool (n_configs,)
    widths: dict[int, int] = dataclasses.field(default_factory=dict)  # first id -> chunk width

    @classmethod
    def start(cls, context: _Context, groups: list[_Group]) -> _State:
        """Checks that the groups agree on their metrics, then loads the finished chunks."""
        spec = groups[0].traced.metric_spec
        for group in groups[1:]:
            if group.traced.metric_spec != spec:
                raise ValueError(
                    f"train_fn returns metrics {group.traced.metric_spec} for static values "
                    f"{group.static}, but {spec} for {groups[0].static}; every configuration "
                    "must return the same names and shapes"
                )
        n, seeds = len(context.space), context.seeds
        results = {
            name: np.zeros((n, seeds, *s["shape"]), dtype=s["dtype"]) for name, s in spec.items()
        }
        state = cls(spec, results, np.zeros(n, dtype=bool))
        for ids, arrays in context.store.load() if context.store is not None else []:
            state.record(ids, arrays)
        if context.store is not None and jax.process_count() > 1:
            multihost_utils.assert_equal(
                state.done,
                f"processes found different finished configurations in out_dir "
                f"{context.store.path!r}: with several processes it must be a directory every "
                "process sees (a shared file system)",
            )
        return state

    def record(self, ids: np.ndarray, arrays: list[np.ndarray]) -> None:
        for name, array in zip(self.metric_spec, arrays, strict=True):
            self.results[name][ids] = array
        self.done[ids] = True


def _run_group(context: _Context, state: _State, group: _Group, bar) -> None:
    """Compiles and runs the unfinished configurations of one static combination."""
    traced, first = group.traced, int(group.ids[0])
    run = jax.jit(
        program.batched(traced, context.key.impl, context.key.typed),
        in_shardings=(context.replicated, context.sharded, context.sharded),
        out_shardings=context.sharded,
    )
    consts = [program.put(c, context.replicated) for c in traced.consts]
    width, compiled = _compile(context, group, run, consts)
    state.widths[first] = width
    if context.store is not None:
        context.store.begin_group(
            first, width, context.key_kind, state.metric_spec, traced.fingerprint, traced.text
        )
    for start in range(0, len(group.ids), width):  # the chunks of an uninterrupted run
        chunk = group.ids[start : start + width]
        real = chunk[~state.done[chunk]]
        if len(real) == 0:
            continue
        started = time.time()
        arrays = _run_chunk(context, traced, compiled, consts, real, width)
        state.record(real, arrays)
        if context.store is not None:
            context.store.save(real, arrays)
        if context.on_finish is not None:
            finished = time.time()
            for i, config_id in enumerate(real.tolist()):
                metrics = {n: a[i] for n, a in zip(state.metric_spec, arrays, strict=True)}
                context.on_finish(Finished(config_id, dict(context.space[config_id]), metrics,
                                           None, False, started, finished))  # fmt: skip
        if bar is not None:
            bar.update(len(real))


def _compile(context: _Context, group: _Group, run, consts) -> tuple[int, Any]:
    """The chunk width (the recorded one when resuming) and the program compiled for it."""

    def compile_for(width):
        hp = [
            jax.ShapeDtypeStruct((width,), dt, sharding=context.sharded)
            for dt in context.dtypes.values()
        ]
        data = context.key.data
        keys = jax.ShapeDtypeStruct(
            (width, context.seeds, *data.shape), data.dtype, sharding=context.sharded
        )
        with compiling():  # a Ctrl-C during compilation would crash jaxlib at exit
            return run.lower(consts, hp, keys).compile()

    recorded = context.store.widths.get(int(group.ids[0])) if context.store else None
    if recorded is not None:
        width = checks.resumed_width(recorded, len(context.devices))
        return width, compile_for(width)
    return program.choose_chunk(
        compile_for,
        context.chunk_size,
        len(group.ids),
        context.devices,
        run_bytes=group.traced.largest * context.seeds,
        const_bytes=sum(int(getattr(c, "nbytes", 0)) for c in group.traced.consts),
    )


def _run_chunk(context: _Context, traced, compiled, consts, real: np.ndarray, width: int):
    """Runs one chunk (``real`` ids padded to ``width``); returns the metrics of ``real``."""
    padded = np.concatenate([real, np.full(width - len(real), real[-1], np.int32)])
    hp = [program.put(context.columns[name][padded], context.sharded) for name in context.dtypes]
    data = context.key.data
    if traced.key_used:
        ids = program.config_ids_for_keys(padded.astype(np.uint32), context.key.shared)
        keys = program.derive_keys(data, ids, seeds=context.seeds, impl=context.key.impl)
    else:  # train_fn ignores its key: skip compiling the key derivation
        keys = np.zeros((width, context.seeds, *data.shape), data.dtype)
    out = compiled(consts, hp, program.put(np.asarray(keys), context.sharded))
    return [program.fetch(o)[: len(real)] for o in out]

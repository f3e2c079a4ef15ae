"""One process of a two-process sweep on this host, started by tests/test_sweep_multihost.py.

Usage: python _sweep_multihost.py MODE PORT PROCESS_ID OUT_DIR

Each process has two simulated CPU devices (XLA_FLAGS set by the caller) and joins the job
through ``jax.distributed.initialize`` with CPU collectives over gloo, so a sweep's mesh spans
the four devices of both processes. MODE picks what to sweep (see MODES); every process saves
what it got to OUT_DIR/process_<id>.npz.
"""

import os
import sys

import jax
import numpy as np

import rmsjax

# Nothing here may touch a JAX backend before jax.distributed.initialize (in main): the helpers
# module builds arrays when imported, so the modes import it.

NUM_PROCESSES = 2
SPACE = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1, 0.3, 1.0], decay=[0.9, 0.99])
KEY = 7
SEEDS = 2


def grid_mode(out_dir: str) -> dict[str, np.ndarray]:
    """A grid over all four devices, in chunks (3 -> 4) and in one; saved, then reloaded."""
    import _sweep_helpers

    arrays = {}
    store = os.path.join(out_dir, "store")
    for label, chunk_size, path in (
        ("chunks", 3, store),
        ("one", None, None),
        ("reloaded", 3, store),
    ):
        result = rmsjax.sweep(
            _sweep_helpers.logistic,
            SPACE,
            key=jax.random.key(KEY),
            seeds=SEEDS,
            chunk_size=chunk_size,
            out_dir=path,
            progress=False,
        )
        for name, value in result.metrics.items():
            arrays[f"{label}/{name}"] = value
        arrays[f"{label}/chunk_sizes"] = np.asarray(sorted(result.chunk_sizes.values()))
    return arrays


def halving_mode(out_dir: str) -> dict[str, np.ndarray]:
    """A staged sweep with synchronous successive halving: 4 slots over all four devices (one
    each), every configuration saved as it finishes; then reloaded."""
    import _staged_helpers

    space = rmsjax.sample(10, seed=4, learning_rate=rmsjax.loguniform(1e-3, 0.3), decay=[0.9, 0.99])
    arrays = {}
    store = os.path.join(out_dir, "halving")
    for label in ("run", "reloaded"):
        result = rmsjax.sweep(
            _staged_helpers.TRAINER,
            space,
            key=jax.random.key(KEY),
            seeds=SEEDS,
            budget=4,
            chunk_size=4,
            halving=rmsjax.halving("score", mode="max", eta=2),
            out_dir=store,
            progress=False,
        )
        arrays[f"{label}/budget"] = result.budget
        for name, value in result.metrics.items():
            arrays[f"{label}/{name}"] = value
    return arrays


def pbt_mode(out_dir: str) -> dict[str, np.ndarray]:
    """Population-based training: 6 members in 8 slots over all four devices (two padded), the
    population saved at every interval; then reloaded."""
    import _staged_helpers

    space = rmsjax.sample(6, seed=4, learning_rate=rmsjax.loguniform(1e-3, 0.3),
                          decay=rmsjax.uniform(0.5, 0.99))  # fmt: skip
    arrays = {}
    store = os.path.join(out_dir, "pbt")
    for label in ("run", "reloaded"):
        result = rmsjax.sweep(
            _staged_helpers.TRAINER,
            space,
            key=jax.random.key(KEY),
            seeds=SEEDS,
            budget=6,
            pbt=rmsjax.pbt("loss", mode="min", interval=2, fraction=0.5),
            out_dir=store,
            progress=False,
        )
        arrays[f"{label}/copied_from"] = result.copied_from
        for name, value in result.hparams.items():
            arrays[f"{label}/hp_{name}"] = value
        for name, value in result.metrics.items():
            arrays[f"{label}/{name}"] = value
        arrays[f"{label}/loaded"] = result.loaded
    return arrays


def unshared_out_dir_mode(out_dir: str) -> dict[str, np.ndarray]:
    """Each process passes its own directory (as on disks that are not shared): only process 0
    writes, so on the rerun the processes disagree on what is finished and must say so."""
    import _sweep_helpers

    path = os.path.join(out_dir, f"private_{jax.process_index()}")
    kwargs = dict(key=jax.random.key(KEY), seeds=SEEDS, chunk_size=4, progress=False)
    rmsjax.sweep(_sweep_helpers.logistic, SPACE, out_dir=path, **kwargs)
    try:
        rmsjax.sweep(_sweep_helpers.logistic, SPACE, out_dir=path, **kwargs)
    except AssertionError as e:
        return {"error": np.asarray(str(e))}
    return {"error": np.asarray("")}


# MODE -> function(out_dir) -> named arrays. The test runs it in two processes and in its own
# (one device) and compares every array (`*chunk_sizes` apart, which depend on the device count):
# add a mode here to test another kind of sweep across processes.
MODES = {"grid": grid_mode, "halving": halving_mode, "pbt": pbt_mode}
# MODE -> function(out_dir) -> {"error": the message the sweep raised}.
ERROR_MODES = {"unshared_out_dir": unshared_out_dir_mode}


def main(mode: str, port: str, process_id: str, out_dir: str) -> None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=f"localhost:{port}",
        num_processes=NUM_PROCESSES,
        process_id=int(process_id),
    )
    assert jax.process_count() == NUM_PROCESSES, jax.process_count()
    assert jax.local_device_count() == 2 and jax.device_count() == 4, jax.devices()
    arrays = {**MODES, **ERROR_MODES}[mode](out_dir)
    np.savez(os.path.join(out_dir, f"process_{process_id}.npz"), **arrays)
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])

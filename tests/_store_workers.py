"""Processes for tests/test_store.py: a sweep that holds its out_dir until told to finish.

``python _store_workers.py sweep OUT_DIR READY GATE``: runs `rmsjax.sweep` (the quadratic of
_sweep_helpers, one configuration per chunk) into OUT_DIR; its first configuration touches
READY, then waits until GATE exists, so the test decides when the process may finish.
"""

import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _sweep_helpers as helpers  # noqa: E402

import rmsjax  # noqa: E402

SPACE = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1], decay=[0.9, 0.99])
KEY = jax.random.key(0)


def gated(ready: str, gate: str):
    def wait(_):
        open(ready, "w").close()
        deadline = time.monotonic() + 120  # a test that died does not leave this process behind
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.02)

    def fn(hparams, key):
        jax.debug.callback(wait, hparams["learning_rate"])
        return helpers.quadratic(hparams, key)

    return fn


def sweep(fn, out_dir):
    return rmsjax.sweep(fn, SPACE, key=KEY, chunk_size=1, out_dir=out_dir, progress=False)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "sweep":
        out_dir, ready, gate = args
        sweep(gated(ready, gate), out_dir)
    else:
        raise SystemExit(f"unknown command {command!r}")

"""A population-based search into OUT_DIR, run by tests/test_pbt.py as a process it kills.

Usage: python _pbt_worker.py OUT_DIR [slow]. With ``slow`` every unit waits 0.2 s, so the test
can kill the process between two intervals. (Patched only when run as a script: pytest imports
this module for its doctests.)
"""

import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _staged_helpers import TRAINER  # noqa: E402

import rmsjax  # noqa: E402


def run(out_dir):
    space = rmsjax.sample(8, seed=2, learning_rate=rmsjax.loguniform(1e-3, 0.3),
                          decay=rmsjax.uniform(0.5, 0.99))  # fmt: skip
    rule = rmsjax.pbt("loss", mode="min", interval=2)
    return rmsjax.sweep(TRAINER, space, key=jax.random.key(4), budget=12, seeds=2, pbt=rule,
                        out_dir=out_dir, progress=False)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[2:] == ["slow"]:
        from rmsjax._engine.pool import Pool

        step = Pool.step

        def slow_step(self):
            time.sleep(0.2)
            return step(self)

        Pool.step = slow_step
    run(sys.argv[1])

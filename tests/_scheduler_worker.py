"""A hyperband or asha search into OUT_DIR, run by tests/test_schedulers.py as a process it kills.

Usage: python _scheduler_worker.py OUT_DIR RULE [slow], RULE ``hyperband`` or ``asha``. With
``slow`` every unit waits 0.2 s, so the test can kill the process mid-search. (Patched only
when run as a script: pytest imports this module for its doctests.)
"""

import os
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _staged_helpers import TRAINER  # noqa: E402

import rmsjax  # noqa: E402

SPACE = rmsjax.sample(17, seed=5, learning_rate=rmsjax.loguniform(1e-3, 0.3),
                      decay=rmsjax.uniform(0.5, 0.99))  # fmt: skip
RULES = {"hyperband": rmsjax.hyperband, "asha": rmsjax.asha}


def run(out_dir, rule: str):
    return rmsjax.sweep(TRAINER, SPACE, key=jax.random.key(6), budget=9, seeds=2, chunk_size=4,
                        halving=RULES[rule]("score", mode="max", eta=3), out_dir=out_dir,
                        progress=False)  # fmt: skip


if __name__ == "__main__":
    if sys.argv[3:] == ["slow"]:
        from rmsjax._engine.pool import Pool

        step = Pool.step

        def slow_step(self):
            time.sleep(0.2)
            return step(self)

        Pool.step = slow_step
    run(sys.argv[1], sys.argv[2])

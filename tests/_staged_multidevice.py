"""Run by tests/test_staged.py with 2 simulated CPU devices: saves staged results to an npz."""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _staged_helpers import TRAINER  # noqa: E402

import rmsjax  # noqa: E402


def run() -> dict[str, np.ndarray]:
    space = rmsjax.sample(10, seed=4, learning_rate=rmsjax.loguniform(1e-3, 0.3), decay=[0.9])
    out = {}
    for label, rule in (("full", None), ("halving", rmsjax.halving("score", mode="max", eta=2))):
        result = rmsjax.sweep(TRAINER, space, key=jax.random.key(5), budget=4, seeds=2,
                              chunk_size=2, halving=rule, progress=False)  # fmt: skip
        out[f"{label}/budget"] = result.budget
        for name, value in result.metrics.items():
            out[f"{label}/{name}"] = value
    return out


if __name__ == "__main__":
    assert jax.device_count() == 2, jax.devices()
    np.savez(sys.argv[1], **run())

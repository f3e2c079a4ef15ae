"""Run by tests/test_sweep.py with 4 simulated CPU devices: saves sweep results to an npz."""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _sweep_helpers  # noqa: E402

import rmsjax  # noqa: E402

DEVICES_USED = []


def logistic(hparams, key):
    """The logistic helper, recording how many devices its configurations are sharded over."""
    jax.debug.inspect_array_sharding(
        hparams["learning_rate"], callback=lambda s: DEVICES_USED.append(len(s.device_set))
    )
    return _sweep_helpers.logistic(hparams, key)


def main(path):
    assert jax.device_count() == 4, jax.devices()
    space = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1, 0.3, 1.0], decay=[0.9, 0.99])
    arrays = {}
    for label, chunk_size in (("auto", "auto"), ("three", 3)):
        result = rmsjax.sweep(
            logistic,
            space,
            key=jax.random.key(7),
            seeds=2,
            chunk_size=chunk_size,
            progress=False,
        )
        for name, value in result.metrics.items():
            arrays[f"{label}/{name}"] = value
        arrays[f"{label}/chunk_sizes"] = np.asarray(sorted(result.chunk_sizes.values()))
    arrays["devices_used"] = np.asarray(DEVICES_USED)
    np.savez(path, **arrays)


if __name__ == "__main__":
    main(sys.argv[1])

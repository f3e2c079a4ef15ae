"""The four searches of tests/test_resume_devices.py, started there and resumed here.

``python _resume_devices.py ROOT RESULTS.npz``, run with another number of CPU devices than the
test process: resumes each search from ROOT/<name> and saves every metric to RESULTS.npz as
``<name>/<metric>``, with ``<name>/width`` the width it resumed at.
"""

import os
import sys

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _staged_helpers  # noqa: E402
import _sweep_helpers  # noqa: E402

import rmsjax  # noqa: E402

KEY = jax.random.key(3)
GRID = rmsjax.grid(learning_rate=[1e-3, 1e-2, 3e-2, 0.1, 0.3], decay=[0.9])
SAMPLE = rmsjax.sample(7, seed=1, learning_rate=rmsjax.loguniform(1e-3, 0.3),
                       decay=rmsjax.uniform(0.5, 0.99))  # fmt: skip
SPACE = {"learning_rate": rmsjax.loguniform(1e-3, 0.3), "decay": rmsjax.uniform(0.5, 0.99)}
NAMES = ("sweep", "halving", "pbt", "optuna")


def run(name: str, out_dir):
    """One search, 3 slots wide (7 or 5 configurations), saving in ``out_dir``."""
    if name == "sweep":  # the plain sweep of a function: chunks of 3
        return rmsjax.sweep(_sweep_helpers.quadratic, GRID, key=KEY, chunk_size=3,
                            out_dir=out_dir, progress=False)  # fmt: skip
    if name == "halving":
        return rmsjax.sweep(_staged_helpers.TRAINER, SAMPLE, key=KEY, budget=4, chunk_size=3,
                            halving=rmsjax.halving("loss", mode="min", eta=2), out_dir=out_dir,
                            progress=False)  # fmt: skip
    if name == "pbt":  # 3 members: 3 slots on one device
        space = rmsjax.sample(3, seed=1, **SPACE)
        return rmsjax.sweep(_staged_helpers.TRAINER, space, key=KEY, budget=6, seeds=2,
                            pbt=rmsjax.pbt("loss", mode="min", interval=2, fraction=0.34),
                            out_dir=out_dir,
                            progress=False)  # fmt: skip
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name="s", storage=f"sqlite:///{os.path.join(out_dir, '..', 'optuna.db')}",
        load_if_exists=True, sampler=optuna.samplers.RandomSampler(seed=0),
    )  # fmt: skip
    return rmsjax.optuna_search(_staged_helpers.TRAINER, study, n_trials=7, space=SPACE, key=KEY,
                                budget=3, metric="loss", width=3, out_dir=out_dir,
                                progress=False)  # fmt: skip


def width(result) -> int:
    sizes = getattr(result, "chunk_sizes", None) or getattr(result, "widths", None)
    return max(sizes.values())


if __name__ == "__main__":
    root, path = sys.argv[1:]
    out = {}
    for name in NAMES:
        result = run(name, os.path.join(root, name))
        out[f"{name}/width"] = np.asarray(width(result))
        for metric, value in result.metrics.items():
            out[f"{name}/{metric}"] = np.asarray(value)
    np.savez(path, **out)

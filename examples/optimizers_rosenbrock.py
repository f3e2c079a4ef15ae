"""SGD, RMSprop and Adam on Rosenbrock's function: paths over its contours.

The tutorial's comparison, with its missing ``from matplotlib.colors import LogNorm`` supplied: the
contour levels are log-spaced and coloured on a log scale. All three start from (-1.5, 2.5) and
take the tutorial's 1,000 steps with its rates: ``optax.sgd(0.001)``, ``rmsjax.rmsprop(0.01)``
(decay 0.9) and ``optax.adam(0.01)``. Each runs through ``rmsjax.tasks.get("rosenbrock").train``
(one compiled ``lax.scan``); the script prints where each ends.

Run::

    python examples/optimizers_rosenbrock.py              # 1,000 steps, as the tutorial
    python examples/optimizers_rosenbrock.py --quick      # 500 steps, for CI
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import optax
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

import rmsjax
from rmsjax import tasks

OUT = Path(__file__).resolve().parent / "out"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000, help="iterations (default: %(default)s)")
    p.add_argument("--sgd-lr", type=float, default=1e-3, help="(default: %(default)s)")
    p.add_argument("--rmsprop-lr", type=float, default=1e-2, help="(default: %(default)s)")
    p.add_argument("--adam-lr", type=float, default=1e-2, help="(default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="500 steps, for CI")
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    steps = 500 if args.quick else args.steps
    task = tasks.get("rosenbrock")
    problem = task.load()
    optimizers = {
        "SGD": (optax.sgd(args.sgd_lr), args.sgd_lr),
        "RMSprop": (rmsjax.rmsprop(args.rmsprop_lr), args.rmsprop_lr),
        "Adam": (optax.adam(args.adam_lr), args.adam_lr),
    }
    runs = {name: task.train(epochs=steps, optimizer=opt) for name, (opt, _) in optimizers.items()}
    print(f"Rosenbrock from {problem.start}, minimum 0 at {problem.minimum}, {steps} steps:")
    for name, run in runs.items():
        x, y = run.trajectory[-1]
        print(
            f"  {name:8s} lr {optimizers[name][1]:<6g} f = {run.metrics['loss']:.4g} "
            f"at ({x:.4f}, {y:.4f}), distance to minimum "
            f"{run.metrics['distance_to_minimum']:.4f}"
        )

    fig = Figure(figsize=(12, 8), layout="constrained")
    ax = fig.subplots()
    X, Y, Z = problem.grid(300)
    # Four levels a decade, so that the colour bar can be labelled at the decades.
    contours = ax.contour(
        X, Y, Z, levels=np.logspace(-1, 3, 17), norm=LogNorm(), cmap="viridis", linewidths=0.8
    )
    for name, run in runs.items():
        ax.plot(run.trajectory[:, 0], run.trajectory[:, 1], label=name, linewidth=2)
    ax.plot(*problem.start, "ro", label="Start")
    ax.plot(*problem.minimum, "k*", ms=12, label="Minimum (1, 1)")
    ax.legend()
    ax.set(title="Optimizer comparison on the Rosenbrock function", xlabel="x", ylabel="y")
    fig.colorbar(contours, ax=ax, label="z (log scale)", ticks=[0.1, 1, 10, 100, 1000], format="%g")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "optimizers_rosenbrock.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    return {
        "figure": path,
        "steps": steps,
        "final_value": {name: run.metrics["loss"] for name, run in runs.items()},
        "distance": {name: run.metrics["distance_to_minimum"] for name, run in runs.items()},
    }


if __name__ == "__main__":
    main()

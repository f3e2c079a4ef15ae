"""Gradient descent against RMSprop in Rosenbrock's curved valley: paths and losses.

Both start from the tutorial's point (-1.5, 2.5) and run the tutorial's 1,000 steps with its rates:
``optax.sgd(0.001)`` and ``rmsjax.rmsprop(0.01)`` (decay 0.9). The objective, start point and
plotting box come from ``rmsjax.tasks.get("rosenbrock")``, whose ``train`` runs each optimizer
in one compiled ``lax.scan`` and returns the trajectory. Left: both paths (dots: where they
end) on filled, log-scaled contours of ``(1 - x)^2 + 100 (y - x^2)^2``; right: the function
value at each step (log scale). In the
curved valley the gradient is steep across it and shallow along it; RMSprop rescales each
coordinate and travels along the valley much faster.

Run::

    python examples/rosenbrock.py                 # 1,000 steps, as the tutorial
    python examples/rosenbrock.py --steps 5000
    python examples/rosenbrock.py --quick         # 500 steps, for CI
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import optax
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from rmsjax import tasks

OUT = Path(__file__).resolve().parent / "out"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000, help="iterations (default: %(default)s)")
    p.add_argument(
        "--gd-lr",
        type=float,
        default=1e-3,
        help="gradient descent's learning rate (default: %(default)s)",
    )
    p.add_argument(
        "--lr", type=float, default=1e-2, help="RMSprop's learning rate (default: %(default)s)"
    )
    p.add_argument("--decay", type=float, default=0.9, help="RMSprop decay (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="500 steps, for CI")
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    steps = 500 if args.quick else args.steps
    task = tasks.get("rosenbrock")
    problem = task.load()
    runs = {
        f"Gradient descent (lr {args.gd_lr:g})": task.train(
            epochs=steps, optimizer=optax.sgd(args.gd_lr)
        ),
        f"RMSprop (lr {args.lr:g}, decay {args.decay:g})": task.train(
            {"learning_rate": args.lr, "decay": args.decay}, epochs=steps
        ),
    }
    print(f"Rosenbrock from {problem.start}, minimum 0 at {problem.minimum}, {steps} steps:")
    for name, run in runs.items():
        x, y = run.trajectory[-1]
        print(
            f"  {name:32s} f = {run.metrics['loss']:.4g} at ({x:.4f}, {y:.4f}), "
            f"distance to minimum {run.metrics['distance_to_minimum']:.4f}"
        )

    fig = Figure(figsize=(12, 5), layout="constrained")
    ax_path, ax_curve = fig.subplots(1, 2)
    X, Y, Z = problem.grid(200)
    # Filled, log-spaced contours: readable, and a PNG a fraction of the size of line contours.
    contours = ax_path.contourf(
        X, Y, Z, levels=np.logspace(-1, 3.5, 19), norm=LogNorm(), cmap="Greys", extend="both"
    )
    fig.colorbar(contours, ax=ax_path, label="Rosenbrock function value")
    styles = [("tab:red", "--", 3), ("tab:green", "-", 2)]  # GD on top: the paths share the valley
    for (name, run), (color, ls, z) in zip(runs.items(), styles, strict=True):
        traj = run.trajectory
        ax_path.plot(traj[:, 0], traj[:, 1], ls, color=color, lw=1.5, zorder=z, label=name)
        ax_path.plot(*traj[-1], "o", color=color, mec="k", zorder=4)
        ax_curve.semilogy(run.history.train_loss, color=color, label=name)
    ax_path.plot(*problem.start, "ko", label="start")
    ax_path.plot(*problem.minimum, "k*", ms=12, label="minimum (1, 1)")
    ax_path.set(title="Optimization trajectories", xlabel="x", ylabel="y")
    ax_path.legend(loc="lower right", fontsize=9)
    ax_curve.set(
        title="Convergence comparison",
        xlabel="Iterations",
        ylabel="Rosenbrock function value (log scale)",
    )
    ax_curve.legend(fontsize=9)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "rosenbrock.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    names = ("gd", "rmsprop")
    return {
        "figure": path,
        "steps": steps,
        "final_value": {k: r.metrics["loss"] for k, r in zip(names, runs.values(), strict=True)},
        "distance": {
            k: r.metrics["distance_to_minimum"] for k, r in zip(names, runs.values(), strict=True)
        },
    }


if __name__ == "__main__":
    main()

"""Gradient descent against RMSprop on x^2, from x = 5 with learning rate 0.1.

Both from ``x = 5`` with learning rate 0.1, as in the tutorial: ``optax.sgd(0.1)`` and
``rmsjax.rmsprop(0.1)`` (decay 0.9), each run by ``rmsjax.training.minimize`` on
``rmsjax.data.quadratic``. Gradient descent's step shrinks with the gradient, so on this
well-scaled problem it converges geometrically. RMSprop divides the gradient by its running RMS,
so its steps stay of the order of the learning rate however large the gradient: from ``x = 5``
it needs some 50 steps of about 0.1, and is the slower of the two here. (Its strength is
badly-scaled problems: see ``rosenbrock.py`` and ``lr_adaptation.py``.) No RMSprop step can exceed
``lr / sqrt(1 - decay)``, since ``nu >= (1 - decay) g^2``; the script prints the largest one.

Run::

    python examples/gd_vs_rmsprop_quadratic.py            # 50 steps, as the tutorial
    python examples/gd_vs_rmsprop_quadratic.py --steps 100
    python examples/gd_vs_rmsprop_quadratic.py --quick    # 20 steps, for CI
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

import rmsjax
from rmsjax.data import quadratic
from rmsjax.training import minimize

OUT = Path(__file__).resolve().parent / "out"
START = 5.0  # the tutorial's starting point


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50, help="iterations (default: %(default)s)")
    p.add_argument(
        "--lr", type=float, default=0.1, help="both learning rates (default: %(default)s)"
    )
    p.add_argument("--decay", type=float, default=0.9, help="RMSprop decay (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="20 steps, for CI")
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    steps = 20 if args.quick else args.steps
    optimizers = {
        "Gradient descent": optax.sgd(args.lr),
        "RMSprop": rmsjax.rmsprop(args.lr, args.decay),
    }
    trajectories = {}
    for name, opt in optimizers.items():
        traj, _ = minimize(quadratic, jnp.array([START]), opt, steps)
        trajectories[name] = np.asarray(traj[:, 0])
    max_step = float(np.max(np.abs(np.diff(trajectories["RMSprop"]))))
    bound = args.lr / np.sqrt(1.0 - args.decay)
    for name, traj in trajectories.items():
        print(f"{name:16s} lr={args.lr:g}: x after {steps} steps = {traj[-1]:.6g}")
    print(f"largest RMSprop step {max_step:.4f} <= lr / sqrt(1 - decay) = {bound:.4f}")

    fig = Figure(figsize=(10, 6), layout="constrained")
    ax = fig.subplots()
    for name, traj in trajectories.items():
        ax.plot(traj, marker=".", label=name)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(
        title=f"Optimization comparison on x^2: gradient descent vs RMSprop (lr = {args.lr:g})",
        xlabel="Iterations",
        ylabel="Parameter value x",
    )
    ax.legend()

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gd_vs_rmsprop_quadratic.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    return {
        "figure": path,
        "steps": steps,
        "final_x": {name: float(traj[-1]) for name, traj in trajectories.items()},
        "rmsprop_max_step": max_step,
        "rmsprop_step_bound": float(bound),
    }


if __name__ == "__main__":
    main()

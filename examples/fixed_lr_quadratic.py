"""Gradient descent on x^2 at fixed learning rates: fast, slow, and one that overshoots.

Gradient descent (``optax.sgd``) on ``f(x) = x^2`` from ``x = 5`` with the tutorial's two fixed
rates, 0.1 (fast) and 0.01 (slow), plus 0.9, a rate high enough to overshoot the minimum on every
step (the "oscillations" the tutorial's text speaks of). Each run is one ``lax.scan`` of
``rmsjax.training.minimize`` on ``rmsjax.data.quadratic``. On x^2 gradient descent multiplies ``x``
by ``1 - 2 lr`` each step, so the printed final values can be checked by hand.

Run::

    python examples/fixed_lr_quadratic.py                  # 50 steps, rates 0.9, 0.1, 0.01
    python examples/fixed_lr_quadratic.py --lrs 0.5,0.05   # other rates
    python examples/fixed_lr_quadratic.py --quick          # 20 steps, for CI
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

from rmsjax.data import quadratic
from rmsjax.training import minimize

OUT = Path(__file__).resolve().parent / "out"
START = 5.0  # the tutorial's starting point


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=50, help="iterations (default: %(default)s)")
    p.add_argument(
        "--lrs",
        type=lambda s: [float(v) for v in s.split(",")],
        default=[0.9, 0.1, 0.01],
        help="comma-separated learning rates (default: 0.9,0.1,0.01)",
    )
    p.add_argument("--quick", action="store_true", help="20 steps, for CI")
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    steps = 20 if args.quick else args.steps
    trajectories = {}
    for lr in args.lrs:
        traj, _ = minimize(quadratic, jnp.array([START]), optax.sgd(lr), steps)
        trajectories[lr] = np.asarray(traj[:, 0])
        print(
            f"gradient descent, lr={lr:g}: x after {steps} steps = {trajectories[lr][-1]:.6g} "
            f"(exact: 5 * (1 - 2 lr)^{steps} = {START * (1 - 2 * lr) ** steps:.6g})"
        )

    fig = Figure(figsize=(10, 6), layout="constrained")
    ax = fig.subplots()
    for lr, traj in trajectories.items():
        ax.plot(traj, marker=".", label=f"lr = {lr:g}: x is multiplied by {1 - 2 * lr:g} per step")
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set(
        title="Gradient descent on x^2 with fixed learning rates",
        xlabel="Iterations",
        ylabel="Parameter value x",
    )
    ax.legend()

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "fixed_lr_quadratic.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    final_x = {lr: float(traj[-1]) for lr, traj in trajectories.items()}
    return {"figure": path, "steps": steps, "final_x": final_x}


if __name__ == "__main__":
    main()

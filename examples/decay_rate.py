"""How the decay rate sets the memory of RMSprop's cache: its response to a constant gradient.

The cache ``nu`` of ``rmsjax.scale_by_rms`` (read from its state with
``optax.tree_utils.tree_get(state, "nu")``, not recomputed by hand) under a constant gradient ``g``,
for decay rates 0.9, 0.99 and 0.999. Starting from zero it follows ``g^2 (1 - decay^t)``: the
cache remembers about ``1 / (1 - decay)`` steps, so a *higher* decay rate means a *longer*
memory and a slower response (the tutorial's text says the opposite; its code and this plot agree
with the formula). The dots mark ``t = 1 / (1 - decay)``, where the cache reaches
``1 - 1/e`` (63%) of ``g^2``.

Run::

    python examples/decay_rate.py            # 1,000 iterations
    python examples/decay_rate.py --quick    # 100 iterations, for CI
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from matplotlib.figure import Figure

import rmsjax

OUT = Path(__file__).resolve().parent / "out"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=1000, help="iterations (default: %(default)s)")
    p.add_argument(
        "--decays",
        type=lambda s: [float(v) for v in s.split(",")],
        default=[0.9, 0.99, 0.999],
        help="comma-separated decay rates (default: 0.9,0.99,0.999)",
    )
    p.add_argument("--grad", type=float, default=1.0, help="the constant gradient g (default: 1)")
    p.add_argument("--quick", action="store_true", help="100 iterations, for CI")
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def cache_curve(decay: float, grad: float, steps: int) -> np.ndarray:
    """``nu`` after each of ``steps`` updates of ``rmsjax.scale_by_rms(decay)`` with gradient
    ``grad``: ``[steps]``."""
    tx = rmsjax.scale_by_rms(decay)
    g = jnp.asarray(grad, jnp.float32)

    def step(state, _):
        _, state = tx.update(g, state)
        return state, optax.tree_utils.tree_get(state, "nu")

    _, nus = jax.lax.scan(step, tx.init(g), None, length=steps)
    return np.asarray(nus)


def main(argv=None) -> dict:
    args = parse_args(argv)
    steps = 100 if args.quick else args.steps
    t = np.arange(1, steps + 1)
    target = args.grad**2
    curves, errors = {}, {}
    for decay in args.decays:
        curves[decay] = cache_curve(decay, args.grad, steps)
        formula = target * (1.0 - decay**t)
        errors[decay] = float(np.max(np.abs(curves[decay] - formula)))
        print(
            f"decay {decay:g}: nu after {steps} steps = {curves[decay][-1]:.4f} "
            f"(g^2 (1 - decay^t) = {formula[-1]:.4f}; largest difference over all steps "
            f"{errors[decay]:.1e}); memory ~ {1 / (1 - decay):g} steps"
        )

    fig = Figure(figsize=(12, 6), layout="constrained")
    ax = fig.subplots()
    for decay, nu in curves.items():
        (line,) = ax.plot(t, nu, label=f"decay rate {decay:g}")
        tau = 1.0 / (1.0 - decay)
        if tau <= steps:
            ax.plot([tau], [nu[round(tau) - 1]], "o", color=line.get_color())
    ax.axhline(target, color="k", ls="--", lw=1, label=f"g^2 = {target:g}")
    ax.set(
        title="Effect of the decay rate on the cache (rmsjax.scale_by_rms, constant gradient)",
        xlabel="Iterations",
        ylabel="Cache value nu",
    )
    ax.set_xscale("log")
    ax.legend()

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "decay_rate.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    return {
        "figure": path,
        "steps": steps,
        "grad": args.grad,
        "curves": curves,
        "max_error": errors,
    }


if __name__ == "__main__":
    main()

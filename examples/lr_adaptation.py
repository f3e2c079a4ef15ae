"""RMSprop's per-parameter step size, read from its state, as gradient scales change.

The tutorial plots a made-up schedule, ``0.01 / sqrt(1 + 0.1 t)``. Here the curve is real: the
effective step size of each parameter, ``lr / (sqrt(nu) + eps)``, read from the state of
``rmsjax.rmsprop`` (``optax.tree_utils.tree_get(state, "nu")``) at every iteration.

The problem: a linear regression ``y = x . w_true + noise`` fitted by minibatches from a data stream
whose scale changes. The two features differ 100x in scale, so their weights get gradients 100x
apart; and the stream's inputs are multiplied by 10 in the middle third of the run and by 0.1 in
the last third. RMSprop's effective step size moves the opposite way to each gradient scale.

Run::

    python examples/lr_adaptation.py            # 900 iterations
    python examples/lr_adaptation.py --quick    # 300 iterations, for CI
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
FEATURE_SCALES = (1.0, 0.01)  # parameter 0 sees large gradients, parameter 1 small ones
PHASE_SCALES = (1.0, 10.0, 0.1)  # the stream's input scale in each third of the run
W_TRUE = (2.0, -3.0)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=900, help="iterations (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate (default: %(default)s)")
    p.add_argument("--decay", type=float, default=0.9, help="RMSprop decay (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=16, help="minibatch (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="300 iterations, for CI")
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def run(steps: int, lr: float, decay: float, batch_size: int, key: jax.Array):
    """Train ``w`` with ``rmsjax.rmsprop`` in one ``lax.scan``; return per-step ``w``, ``nu``
    and the stream's scale."""
    optimizer = rmsjax.rmsprop(lr, decay)
    features = jnp.asarray(FEATURE_SCALES)
    w_true = jnp.asarray(W_TRUE)
    third = steps // 3

    def loss_fn(w, x, y):
        return jnp.mean(jnp.square(x @ w - y))

    def step(carry, t):
        w, state = carry
        phase = jnp.where(t < third, PHASE_SCALES[0], PHASE_SCALES[1])
        phase = jnp.where(t < 2 * third, phase, PHASE_SCALES[2])
        k_x, k_noise = jax.random.split(jax.random.fold_in(key, t))
        x = jax.random.normal(k_x, (batch_size, 2)) * features * phase
        y = x @ w_true + 0.1 * jax.random.normal(k_noise, (batch_size,))
        grads = jax.grad(loss_fn)(w, x, y)
        updates, state = optimizer.update(grads, state, w)
        w = optax.apply_updates(w, updates)
        nu = optax.tree_utils.tree_get(state, "nu")
        return (w, state), (w, nu, phase)

    w0 = jnp.zeros(2)
    _, (ws, nus, phases) = jax.lax.scan(step, (w0, optimizer.init(w0)), jnp.arange(steps))
    return np.asarray(ws), np.asarray(nus), np.asarray(phases)


def main(argv=None) -> dict:
    args = parse_args(argv)
    steps = 300 if args.quick else args.steps
    if steps < 3:
        raise SystemExit("--steps must be at least 3 (three phases)")
    eps = 1e-8  # rmsjax.rmsprop's default, outside the root
    ws, nus, phases = run(steps, args.lr, args.decay, args.batch_size, jax.random.key(args.seed))
    effective = args.lr / (np.sqrt(nus) + eps)  # [steps, 2]

    third = steps // 3
    bounds = [(0, third), (third, 2 * third), (2 * third, steps)]
    # The mean over the second half of each phase, once the running average has caught up.
    phase_means = np.array([effective[(a + b) // 2 : b].mean(axis=0) for a, b in bounds])
    print(f"rmsjax.rmsprop(learning_rate={args.lr}, decay={args.decay}), {steps} iterations")
    print("effective step size lr / (sqrt(nu) + eps), mean over the second half of each phase:")
    for (a, b), scale, (e0, e1) in zip(bounds, PHASE_SCALES, phase_means, strict=True):
        print(
            f"  iterations {a:4d}-{b - 1:4d} (inputs x{scale:<4g}): "
            f"w0 (feature scale {FEATURE_SCALES[0]:g}) {e0:.3g}, "
            f"w1 (feature scale {FEATURE_SCALES[1]:g}) {e1:.3g}"
        )
    print(f"final w = [{ws[-1, 0]:.3f}, {ws[-1, 1]:.3f}], true w = {list(W_TRUE)}")

    fig = Figure(figsize=(12, 5), layout="constrained")
    ax_lr, ax_w = fig.subplots(1, 2)
    iters = np.arange(1, steps + 1)
    for ax in (ax_lr, ax_w):
        for (a, b), scale in zip(bounds, PHASE_SCALES, strict=True):
            ax.axvspan(a + 1, b, alpha=0.08 if scale == 1 else 0.2, color="grey", lw=0)
            ax.text(
                (a + b) / 2,
                1.01,
                f"inputs x{scale:g}",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=9,
            )
    for j, color in enumerate(("tab:blue", "tab:orange")):
        label = f"w{j} (feature scale {FEATURE_SCALES[j]:g})"
        ax_lr.plot(iters, effective[:, j], color=color, label=label)
        ax_w.plot(iters, ws[:, j], color=color, label=label)
        ax_w.axhline(W_TRUE[j], color=color, ls="--", lw=1)
    ax_lr.axhline(args.lr, color="k", ls=":", lw=1, label=f"learning rate {args.lr:g}")
    ax_lr.set_yscale("log")
    ax_lr.set(xlabel="Iterations", ylabel="lr / (sqrt(nu) + eps)  (log scale)")
    ax_lr.set_title("RMSprop learning-rate adaptation (measured from the optimizer state)", pad=18)
    ax_lr.legend(loc="center left", fontsize=9)
    ax_w.set(xlabel="Iterations", ylabel="parameter value")
    ax_w.set_title("The weights (dashed: true values)", pad=18)
    ax_w.legend(fontsize=9)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "lr_adaptation.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    return {
        "figure": path,
        "effective_lr": effective,
        "phase_means": phase_means,
        "final_w": ws[-1],
    }


if __name__ == "__main__":
    main()

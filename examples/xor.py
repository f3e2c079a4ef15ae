"""A small tanh network learning XOR with RMSprop, and the surface it learns.

The tutorial trains a 3-4-1 sigmoid network in NumPy (a constant third input standing in for a
bias). Here the task comes from the library, ``rmsjax.tasks.get("xor")``: a 2-8-1 tanh MLP with
biases and a sigmoid output (``rmsjax.models``), trained full-batch on the four XOR points by
``rmsjax.rmsprop`` through ``rmsjax.training.fit``. The script prints the network's output for
each point and whether all four are right (output > 0.5 exactly for inputs (0, 1) and (1, 0)),
and exits with status 1 if they are not. The figure shows the loss and the learned surface.

Run::

    python examples/xor.py               # 500 epochs (one full-batch step each)
    python examples/xor.py --quick       # 200 epochs, for CI
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from rmsjax import tasks

OUT = Path(__file__).resolve().parent / "out"


def parse_args(argv=None) -> argparse.Namespace:
    task = tasks.get("xor")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=task.epochs, help="(default: %(default)s)")
    p.add_argument(
        "--lr",
        type=float,
        default=task.defaults["learning_rate"],
        help="learning rate (default: %(default)s)",
    )
    p.add_argument(
        "--decay",
        type=float,
        default=task.defaults["decay"],
        help="RMSprop decay (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="200 epochs, for CI")
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    epochs = 200 if args.quick else args.epochs
    task = tasks.get("xor")
    data = task.load()
    result = task.train(
        {"learning_rate": args.lr, "decay": args.decay},
        data=data,
        epochs=epochs,
        seed=args.seed,
        eval_every=epochs,
    )
    _, apply_fn = task.model_fns(data)
    predict = jax.jit(lambda x: jax.nn.sigmoid(apply_fn(result.params, x)[..., 0]))
    outputs = np.asarray(predict(jnp.asarray(data.x_train)))
    right = (outputs > 0.5) == (data.y_train == 1)

    sizes = "-".join(str(n) for n in (2, *task.model["hidden"], 1))
    print(
        f"XOR, MLP {sizes} {task.model['activation']}: rmsjax.rmsprop(lr={args.lr:g}, "
        f"decay={args.decay:g}), {epochs} full-batch epochs"
    )
    for x, y, out, ok in zip(data.x_train, data.y_train, outputs, right, strict=True):
        print(
            f"  input {x.astype(int).tolist()}  target {y}  output {out:.4f}  "
            f"{'right' if ok else 'WRONG'}"
        )
    print(f"final loss {result.metrics['loss']:.3g}; all four right: {bool(right.all())}")

    fig = Figure(figsize=(12, 5), layout="constrained")
    ax_loss, ax_map = fig.subplots(1, 2)
    ax_loss.semilogy(np.arange(1, epochs + 1), result.history.train_loss)
    ax_loss.set(
        title="Training loss (binary cross-entropy)",
        xlabel="Epoch (one step each)",
        ylabel="loss (log scale)",
    )
    grid = np.linspace(-0.5, 1.5, 101, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    surface = np.asarray(predict(jnp.stack([gx.ravel(), gy.ravel()], axis=1))).reshape(gx.shape)
    image = ax_map.contourf(gx, gy, surface, levels=np.linspace(0, 1, 11), cmap="RdBu_r")
    ax_map.contour(gx, gy, surface, levels=[0.5], colors="k", linewidths=1)
    for x, y, out in zip(data.x_train, data.y_train, outputs, strict=True):
        ax_map.scatter(*x, s=150, c="red" if y else "blue", edgecolors="white", zorder=3)
        ax_map.annotate(f"{out:.3f}", x, xytext=(8, 8), textcoords="offset points")
    fig.colorbar(image, ax=ax_map, label="network output")
    ax_map.set(title="Network output (black line: 0.5)", xlabel="input 1", ylabel="input 2")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "xor.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    return {
        "figure": path,
        "outputs": outputs,
        "all_right": bool(right.all()),
        "final_loss": result.metrics["loss"],
    }


if __name__ == "__main__":
    sys.exit(0 if main()["all_right"] else 1)

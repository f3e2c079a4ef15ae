"""A 784-128-10 MLP trained on MNIST with RMSprop, and a figure of its predictions.

A 784-128-10 ReLU network, batch 128, ``rmsjax.rmsprop(0.001)`` as in the tutorial, via
``rmsjax.tasks.get("mnist")`` (model from ``rmsjax.models``, data from ``rmsjax.data.load_mnist``,
one jitted ``lax.scan`` per epoch from ``rmsjax.training``). The figure shows the first ten
held-out images with the predicted and true labels (red title: wrong).

Data: the IDX files in ``--data-dir`` (default ``../shared/data/mnist`` next to the repository).
Offline, that folder holds only the 10,000-image MNIST *test* set; it is split deterministically,
the first 8,000 images to train and the last 2,000 to evaluate, so the accuracy printed is on
those 2,000 images, not on the official test set. The script prints which source it used.

Run::

    python examples/mnist_mlp.py                       # 20 epochs (the project's target: >= 0.95)
    python examples/mnist_mlp.py --data-dir DIR --epochs 5
    python examples/mnist_mlp.py --quick               # 1 epoch, for CI
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from rmsjax import tasks
from rmsjax.data.mnist import OFFLINE_NUM_TRAIN

OUT = Path(__file__).resolve().parent / "out"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared/data/mnist"


def parse_args(argv=None) -> argparse.Namespace:
    task = tasks.get("mnist")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR,
        help="folder with the MNIST IDX files (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=task.epochs, help="(default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=task.batch_size, help="(default: %(default)s)")
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
    p.add_argument("--quick", action="store_true", help="1 epoch, for CI")
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    epochs = 1 if args.quick else args.epochs
    task = tasks.get("mnist")
    if not args.data_dir.is_dir():
        raise SystemExit(f"mnist_mlp.py: MNIST data folder {args.data_dir} not found (--data-dir)")
    data = task.load(args.data_dir)
    print(f"data: {data.source}")
    result = task.train(
        {"learning_rate": args.lr, "decay": args.decay},
        data=data,
        epochs=epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    m = result.metrics
    print(
        f"MLP 784-128-10 ReLU, rmsjax.rmsprop(lr={args.lr:g}, decay={args.decay:g}), "
        f"batch {args.batch_size}, {epochs} epochs"
    )
    for epoch, acc in zip(result.history.eval_epochs, result.history.eval["accuracy"], strict=True):
        print(
            f"  epoch {epoch:2d}: train loss {result.history.train_loss[epoch - 1]:.4f}, "
            f"held-out accuracy {acc:.4f}"
        )
    print(
        f"held-out accuracy {m['test_accuracy']:.4f} on {data.num_test:,} images "
        f"(train accuracy {m['train_accuracy']:.4f}); "
        f"{m['examples_per_second']:,.0f} examples/s; {m['wall_seconds']:.1f} s in all"
    )

    _, apply_fn = task.model_fns(data)
    images, labels = data.x_test[:10], data.y_test[:10]
    predicted = np.asarray(jnp.argmax(apply_fn(result.params, jnp.asarray(images)), axis=-1))
    fig = Figure(figsize=(12, 6), layout="constrained")
    for ax, image, pred, true in zip(
        fig.subplots(2, 5).flat, images, predicted, labels, strict=True
    ):
        ax.imshow(image.reshape(28, 28), cmap="gray")
        ax.set_title(f"Pred: {pred}, True: {true}", color="black" if pred == true else "red")
        ax.axis("off")
    title = (
        f"MNIST MLP after {epochs} epoch(s) of RMSprop: held-out accuracy "
        f"{m['test_accuracy']:.3f} on {data.num_test:,} images"
    )
    if data.num_train == OFFLINE_NUM_TRAIN and data.num_train + data.num_test == 10_000:
        title += "\n(offline: the MNIST test set, first 8,000 trained on, last 2,000 shown here)"
    fig.suptitle(title)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "mnist_predictions.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    return {
        "figure": path,
        "source": data.source,
        "test_accuracy": m["test_accuracy"],
        "train_accuracy": m["train_accuracy"],
        "final_loss": m["loss"],
        "predicted": predicted,
        "labels": labels,
    }


if __name__ == "__main__":
    main()

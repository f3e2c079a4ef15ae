"""A recurrent classifier of movie reviews (GRU or Elman) trained with RMSprop.

The tutorial sketches an Elman RNN over bag-of-words vectors with plain SGD and never trains it.
Here ``rmsjax.tasks.get("reviews")`` supplies the whole pipeline: the polarity corpus (2,000
reviews, one per file in ``pos/`` and ``neg/``) tokenised, a vocabulary from the training split
only, a seeded 1,600 / 400 split, reviews padded or truncated to ``--max-len`` tokens; a recurrent
classifier from ``rmsjax.models.rnn`` (token embedding, an Elman or GRU cell unrolled with
``jax.lax.scan``, padding masked, mean of the states into a linear head); and ``rmsjax.rmsprop``
through ``rmsjax.training``. The figure shows the training loss and the held-out accuracy after each
epoch.

Run::

    python examples/reviews_rnn.py                         # the task's defaults (GRU)
    python examples/reviews_rnn.py --cell elman --epochs 5
    python examples/reviews_rnn.py --data-dir DIR          # a folder with pos/ and neg/
    python examples/reviews_rnn.py --quick                 # 1 epoch, 64 tokens, for CI
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from rmsjax import tasks
from rmsjax.models import rnn

OUT = Path(__file__).resolve().parent / "out"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared/data/movie_reviews/txt_sentoken"


def parse_args(argv=None) -> argparse.Namespace:
    task = tasks.get("reviews")
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--data-dir",
        type=Path,
        default=DATA_DIR,
        help="folder with pos/ and neg/ review files (default: %(default)s)",
    )
    p.add_argument("--epochs", type=int, default=task.epochs, help="(default: %(default)s)")
    p.add_argument(
        "--cell",
        choices=rnn.CELLS,
        default=task.model["cell"],
        help="recurrent cell (default: %(default)s)",
    )
    p.add_argument(
        "--hidden-size", type=int, default=task.model["hidden_size"], help="(default: %(default)s)"
    )
    p.add_argument(
        "--max-len",
        type=int,
        default=task.data_options["max_len"],
        help="tokens per review (default: %(default)s)",
    )
    p.add_argument(
        "--vocab-size",
        type=int,
        default=task.data_options["vocab_size"],
        help="(default: %(default)s)",
    )
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
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 epoch, reviews cut to 64 tokens, vocabulary 2,000: for CI",
    )
    p.add_argument("--out", type=Path, default=OUT, help="PNG folder (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.quick:
        args.epochs, args.max_len, args.vocab_size = 1, 64, 2000
    if not args.data_dir.is_dir():
        raise SystemExit(f"reviews_rnn.py: review folder {args.data_dir} not found (--data-dir)")
    base = tasks.get("reviews")
    task = dataclasses.replace(
        base,
        model={**base.model, "cell": args.cell, "hidden_size": args.hidden_size},
        data_options={**base.data_options, "max_len": args.max_len, "vocab_size": args.vocab_size},
    )
    data = task.load(args.data_dir)
    print(
        f"data: {data.source}; vocabulary {len(data.info['vocab']):,} (from the training "
        f"split), {args.max_len} tokens per review (keeping the {data.info['keep']} ones)"
    )
    result = task.train(
        {"learning_rate": args.lr, "decay": args.decay},
        data=data,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        progress=sys.stderr.isatty(),
    )
    h, m = result.history, result.metrics
    print(
        f"{args.cell} RNN (embedding {task.model['embed_dim']}, hidden {args.hidden_size}, "
        f"{task.model['pooling']} pooling), rmsjax.rmsprop(lr={args.lr:g}, "
        f"decay={args.decay:g}), batch {args.batch_size}, {args.epochs} epochs"
    )
    for epoch, acc in zip(h.eval_epochs, h.eval["accuracy"], strict=True):
        print(
            f"  epoch {epoch:2d}: train loss {h.train_loss[epoch - 1]:.4f}, "
            f"held-out accuracy {acc:.4f}"
        )
    print(
        f"held-out accuracy {m['test_accuracy']:.4f} on {data.num_test} reviews (train "
        f"accuracy {m['train_accuracy']:.4f}); {m['examples_per_second']:,.0f} reviews/s; "
        f"{m['wall_seconds']:.1f} s in all"
    )

    fig = Figure(figsize=(12, 5), layout="constrained")
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = np.arange(1, args.epochs + 1)
    ax_loss.plot(epochs, h.train_loss, marker="o")
    ax_loss.set(title="Training loss (cross-entropy)", xlabel="Epoch", ylabel="loss")
    ax_acc.plot(h.eval_epochs, h.eval["accuracy"], marker="o", label="held out")
    ax_acc.axhline(0.8, color="k", ls="--", lw=1, label="project target 0.80")
    ax_acc.axhline(0.5, color="grey", ls=":", lw=1, label="chance")
    ax_acc.set(
        title=f"Held-out accuracy ({data.num_test} reviews)", xlabel="Epoch", ylabel="accuracy"
    )
    ax_acc.legend()
    fig.suptitle(f"Movie reviews, {args.cell} RNN trained with RMSprop (lr {args.lr:g})")

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"reviews_rnn_{args.cell}.png"
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")
    return {
        "figure": path,
        "source": data.source,
        "test_accuracy": m["test_accuracy"],
        "train_accuracy": m["train_accuracy"],
        "train_loss": h.train_loss,
    }


if __name__ == "__main__":
    main()

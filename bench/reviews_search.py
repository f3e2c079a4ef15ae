"""The search behind the ``reviews`` defaults: an ``rmsjax.sweep`` grid on a validation split.

The task (``rmsjax.tasks`` "reviews": a GRU unrolled with ``jax.lax.scan`` over the polarity
corpus, 1,600 training reviews / 400 held out) takes its model, tokenizer and learning rate from
this search. It never sees the 400 held-out reviews: ``Task.sweep_data`` carves a validation
split (320 reviews, seeded) out of the 1,600 training ones, every configuration trains on the
other 1,280, and each run returns only its training loss and its validation accuracy and loss
(the test metrics are dropped before the sweep records anything). The pick is the configuration
with the best validation accuracy, mean over the seeds (``keys="shared"``: seed ``s`` is the
same initialisation and data order for every configuration), ties settled by the validation
loss (``SweepResult.best`` with the task's ``tiebreak``). ``bench/accuracy.py`` then reports
the chosen defaults on the held-out 400, trained on all 1,600 as ``rmsjax train reviews`` does.

Static axes (one compiled program each): the embedding size, the hidden size, ``max_len``
(the tokens kept of each review, its last ones), the vocabulary size, the pooling and
``pool_inputs`` (the mean embedding beside the GRU's pooled state); the learning rate is a traced
axis, vmapped within each program with the seeds. Everything else (epochs, batch, word
dropout, decay, eps, schedule, tokenizer, vocabulary) is the task's.

    python bench/reviews_search.py             # the full grid (see --help; about 10 min on 2 cores)
    python bench/reviews_search.py --small     # smoke test: tiny sizes, 1 epoch

Results (the grid, every configuration's validation accuracy per seed, the pick, the command,
machine and load) go to ``bench/results/reviews_search.json`` (``--json``).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import time
from pathlib import Path

import _machine  # bench/_machine.py (the script's folder is on sys.path)
import _record
import jax
import numpy as np

import rmsjax
from rmsjax import tasks

DEFAULT_DATA = Path(
    os.environ.get("RMSJAX_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
KEPT = ("loss", "val_accuracy", "val_loss")  # what a run returns: nothing of the test split


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",")]


def fixed(settings: dict, space) -> dict:
    """``settings`` without the grid's axes (those come from the grid)."""
    return {k: v for k, v in settings.items() if k not in space.axes}


def make_train_fn(task: tasks.Task, data_dir: Path, data_options: dict, epochs: int | None):
    """``train_fn(hparams, key)`` of the grid: the static axes pick the variant of ``task``."""

    @functools.cache
    def dataset(max_len: int, vocab_size: int):
        options = {**data_options, "max_len": max_len, "vocab_size": vocab_size}
        variant = dataclasses.replace(task, data_options=options)
        return variant.sweep_data(variant.load(data_dir))

    def train_fn(hp, key):
        data = dataset(hp["max_len"], hp["vocab_size"])
        model = {
            **task.model,
            "embed_dim": hp["embed_dim"],
            "hidden_size": hp["hidden_size"],
            "pooling": hp["pooling"],
            "pool_inputs": bool(hp["pool_inputs"]),
        }
        variant = dataclasses.replace(task, model=model)
        optimizer_hp = {k: hp[k] for k in ("learning_rate", "decay", "eps")}
        out = variant.make_train_fn(data=data, epochs=epochs)(optimizer_hp, key)
        return {k: out[k] for k in KEPT}

    return train_fn, dataset


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embed-dim", type=ints, default=[128])
    parser.add_argument("--hidden-size", type=ints, default=[32])
    parser.add_argument("--max-len", type=ints, default=[600, 800])
    parser.add_argument("--vocab-size", type=ints, default=[20000])
    parser.add_argument("--pooling", type=lambda t: t.split(","), default=["mean"])
    parser.add_argument("--pool-inputs", type=ints, default=[0, 1])
    parser.add_argument("--lr", type=floats, default=[2e-2, 4e-2])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="smoke test: tiny sizes, 1 epoch")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", default=_record.default_path("reviews_search"))
    args = parser.parse_args(argv)
    record = _record.Record("reviews_search", sys.argv[1:] if argv is None else argv)
    task = tasks.get("reviews")
    data_options, epochs = dict(task.data_options), None
    if args.small:
        data_options.update(vocab_size=500)
        epochs = 1
        args.embed_dim, args.hidden_size, args.max_len = [8], [4], [10, 20]
        args.vocab_size, args.pool_inputs = [500], [1]
        args.lr, args.seeds = [1e-2], 1
    space = rmsjax.grid(
        embed_dim=rmsjax.static(args.embed_dim),
        hidden_size=rmsjax.static(args.hidden_size),
        max_len=rmsjax.static(args.max_len),
        vocab_size=rmsjax.static(args.vocab_size),
        pooling=rmsjax.static(args.pooling),
        pool_inputs=rmsjax.static(args.pool_inputs),
        learning_rate=args.lr,
        decay=[task.defaults["decay"]],
        eps=[task.defaults["eps"]],
    )
    train_fn, dataset = make_train_fn(task, args.data_dir, data_options, epochs)
    metric, tiebreak = "val_accuracy", task.tiebreak("val_accuracy")
    with record.printing():
        print("machine:", _machine.describe())
        print(f"data: {dataset(args.max_len[0], args.vocab_size[0]).source}")
        print(
            f"grid: {space} ({len(space)} configurations x {args.seeds} seeds, "
            f"{epochs or task.epochs} epochs each); the rest as the task: model "
            f"{fixed(task.model, space)}, data {fixed(data_options, space)}, "
            f"batch {task.batch_size}, schedule {task.schedule}"
        )
        # Each static combination is one program; its learning rates and seeds run vmapped.
        width = len(args.lr)
        start = time.perf_counter()
        result = rmsjax.sweep(
            train_fn, space, key=jax.random.key(0), seeds=args.seeds, chunk_size=width,
            keys="shared", progress=False,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        acc = np.asarray(result.metrics[metric])
        loss = np.asarray(result.metrics["val_loss"])
        order = result.rank(metric, "max", tiebreak)
        print(f"\nranked by mean {metric} over {args.seeds} seed(s), ties by {tiebreak[0]}:")
        rows = []
        for rank, i in enumerate(order, 1):
            config = result.space[i]
            rows.append(
                {
                    "config": config,
                    "val_accuracy": acc[i].tolist(),
                    "val_accuracy_mean": float(acc[i].mean()),
                    "val_loss_mean": float(loss[i].mean()),
                }
            )
            shown = ", ".join(
                f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in config.items()
            )
            print(
                f"  {rank:2d}. {shown}: val_accuracy {acc[i].mean():.4f} "
                f"[{', '.join(f'{a:.4f}' for a in acc[i])}], val_loss {loss[i].mean():.4f}"
            )
        best = result.best(metric, "max", tiebreak)
        print(f"\npick: {best}")
        print(f"{len(space) * args.seeds} runs in {seconds:.0f} s")
    record.data = {
        "data_dir": str(args.data_dir),
        "data": dataset(args.max_len[0], args.vocab_size[0]).source,
        "space": space.to_json(),
        "seeds": args.seeds,
        "epochs": epochs or task.epochs,
        "metric": metric,
        "tiebreak": list(tiebreak),
        "ranked": rows,
        "pick": best,
        "seconds": seconds,
    }
    record.write(args.json)


if __name__ == "__main__":
    main()

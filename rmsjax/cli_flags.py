"""The ``rmsjax`` command's flags as data: the options every command takes
(:data:`RUN_OPTIONS`), each command's own (:data:`OPTIONS`), each command's summary, description
and examples (:data:`COMMANDS`), the help on tasks and presets, and the argparse types that read
the values (:func:`number`). :func:`rmsjax.cli.build_parser` turns them into the parser.
"""

from __future__ import annotations

import argparse
import math

from rmsjax import tasks
from rmsjax.experiment import PRESETS, SEARCHES


def number(low: int | None = None, *, cast=int, extra: tuple = ()):
    """An argparse type: a finite number (an integer >= ``low``), or one of ``extra``."""

    def parse(text: str):
        if text in extra:
            return None if text == "none" else text
        try:
            value = cast(text)
            if math.isfinite(value) and (low is None or value >= low):
                return value
        except ValueError:
            pass
        what = "a number" if cast is float else f"an integer >= {low}"
        what = "a positive integer" if low == 1 else what
        raise argparse.ArgumentTypeError(
            f"expected {what}{''.join(f', {e!r}' for e in extra)}, got {text!r}"
        )

    return parse


def task_help() -> str:
    return "tasks:\n" + "\n".join(f"  {n:<11} {tasks.get(n).description}" for n in tasks.names())


def _preset_help() -> str:
    """What --preset picks, from the presets' own table (names, and what --decay becomes)."""
    first, *others = PRESETS
    renamed = [f"{p.name}'s {own}" for p in PRESETS.values()
               if (own := p.arguments.get("decay", "decay")) != "decay"]  # fmt: skip
    return (f"which RMSprop: {first} (default), {', '.join(others[:-1])} or {others[-1]}; --decay "
            f"is then {', '.join(renamed)}, and flags a preset lacks are an error")  # fmt: skip


PRESET_HELP = _preset_help()


RUN_OPTIONS = [  # (flag, help, argparse keywords) of every command
    ("--epochs", "epochs (steps for the 2-D tasks); default: the task's",
     {"type": number(1), "metavar": "N"}),
    ("--batch-size", "batch size; default: the task's", {"type": number(1), "metavar": "N"}),
    ("--seed", "seed of initialisation and shuffling (default 0)",
     {"type": number(0), "metavar": "N", "default": 0}),
    ("--data-dir", "folder with the data of mnist (IDX files) or reviews (pos/ and neg/); "
     "default $RMSJAX_DATA_DIR, else downloaded by tensorflow-datasets", {"metavar": "DIR"}),
    ("--out", "output folder (default runs/TASK-COMMAND, for a sweep runs/TASK-sweep "
     "for a grid, else runs/TASK-SEARCH, e.g. runs/digits-optuna, with -halvingETA when "
     "halving); one that holds another run's "
     "results is refused, saying what differs", {"metavar": "DIR"}),
    ("--overwrite", "replace another run's results in --out (everything that run wrote there "
     "is deleted first)", {"action": "store_true"}),
    ("--no-progress", "no progress bars", {"action": "store_true"}),
    ("--compilation-cache", "folder of JAX's persistent compilation cache, where compiled "
     "programs are saved for the next run (default $RMSJAX_COMPILATION_CACHE, else the per-user "
     "cache folder, e.g. ~/.cache/rmsjax/jax)", {"metavar": "DIR"}),
    ("--no-compilation-cache", "compile everything anew, saving nothing (as "
     "RMSJAX_COMPILATION_CACHE=0)", {"action": "store_true"}),
]  # fmt: skip
COMMANDS = {  # summary, description, examples
    "train": (
        "train one configuration, report metrics, save plots",
        "Train one configuration of RMSprop on TASK; print and save its metrics (metrics.json) "
        "and plots (loss.png; trajectory.png for the 2-D tasks).",
        """
  rmsjax train digits --lr 3e-3 --decay 0.99 --momentum 0.9 --out runs/mine
  rmsjax train xor --preset torch --lr 0.01 --momentum 0.9
  rmsjax train reviews --data-dir ../shared/data""",
    ),
    "sweep": (
        "train a grid in parallel with rmsjax.sweep, rank it, save plots",
        "Train every configuration of a grid (or a sample of a space) at once, in one compiled, "
        "vmapped program; print a ranked table and the best configuration; save results.csv, "
        "metrics.json and plots (loss_curves.png; heatmap.png for a grid, <metric>.png for a "
        "sample; trajectories.png for the 2-D tasks). Options not given take the task's "
        "default grid (learning rate x decay).",
        """
  rmsjax sweep digits --lr 1e-4:1e-2:8 --decay 0.9,0.99 --seeds 3 --top 5
  rmsjax sweep xor --momentum none,0.5,0.9 --centered false,true
  rmsjax sweep digits --search sobol --trials 16 --lr 1e-4:1e-1 --decay 0.8:0.999
  rmsjax sweep digits --search random --trials 27 --halving 3 --epochs 27
  rmsjax sweep digits --search pbt --population 8 --interval 3 --epochs 27
  rmsjax sweep digits --search hyperband --trials 49 --epochs 27
  rmsjax sweep mnist --data-dir ../shared/data --epochs 3 --chunk-size 4

Finished configurations are recorded in OUT/chunks as they finish (a pbt population at every
ranking): after Ctrl-C, run the same command again to continue (--fresh starts afresh).""",
    ),
    "compare": (
        "SGD, RMSprop (each preset) and Adam side by side on the same task",
        f"Train TASK with SGD, each RMSprop preset ({', '.join(PRESETS)}) and Adam from the "
        "same initialisation and data order; print a table and save metrics.json and plots. The "
        "RMSprop options apply to every preset that has them.",
        """
  rmsjax compare rosenbrock
  rmsjax compare digits --epochs 10 --sgd-lr 0.05""",
    ),
}


def _sweep_run(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected CONFIG,SEED,WIDTH (three integers >= 0, e.g. 3,0,2), got {text!r}"
        )
    config, seed, width = (int(p) for p in parts)
    if width < 1:
        raise argparse.ArgumentTypeError(f"WIDTH in CONFIG,SEED,WIDTH must be >= 1, got {text!r}")
    return config, seed, width


OPTIONS = {  # command -> its own group: (flag, help, argparse keywords)
    "train": [
        ("--sweep-run", "train as configuration CONFIG, seed SEED of a sweep run with --seed "
         "whose compiled batch held WIDTH runs: same key and same program, so the metrics equal "
         "that sweep's run bit for bit (a sweep prints this line for its best row)",
         {"type": _sweep_run, "metavar": "CONFIG,SEED,WIDTH"}),
    ],
    "sweep": [
        ("--seeds", "seeds per configuration (default 1); ranking uses their mean",
         {"type": number(1), "metavar": "N", "default": 1}),
        ("--search", "how configurations are picked: grid (every one, default); random or "
         "sobol (--trials drawn from the ranges); optuna (--trials asked of Optuna's TPE "
         "sampler, pruned by its median pruner); pbt (population-based training: --population "
         "drawn at random, trained together; every --interval epochs the bottom quarter copies "
         "the weights of the top quarter and perturbs their hyperparameters); asha or "
         "hyperband (--trials drawn at random, stopped early by asynchronous successive "
         "halving or by Hyperband's brackets of halving, with --halving's ETA, 3 unless given)",
         {"choices": SEARCHES, "default": "grid"}),
        ("--trials", "configurations a random, sobol, optuna, asha or hyperband search draws",
         {"type": number(1), "metavar": "N"}),
        ("--population", "members of a pbt search (at least 4)",
         {"type": number(1), "metavar": "N"}),
        ("--interval", "epochs between two rankings of a pbt search (fewer than --epochs)",
         {"type": number(1), "metavar": "K"}),
        ("--halving", "successive halving (classifiers): at each rung keep training only the "
         "best 1/ETA of the configurations", {"type": number(2), "metavar": "ETA"}),
        ("--chunk-size", "configurations per compiled chunk: an integer, auto (default) or none",
         {"type": number(1, extra=("auto", "none")), "metavar": "N", "default": "auto"}),
        ("--metric", "metric to rank by (default val_accuracy for digits, mnist and reviews: "
         "chosen on a validation split held out of the training examples, then reported on "
         "the test split; test_accuracy for xor; loss for the 2-D tasks; loss is the last "
         "epoch's training loss, final_loss also reads as loss)", {"metavar": "NAME"}),
        ("--mode", "best is min or max (default: max for accuracies, else min)",
         {"choices": ("min", "max")}),
        ("--optuna-storage", "also write the result into a study of this Optuna storage "
         "(a URL, e.g. sqlite:///runs/optuna.db), one trial per configuration, to explore it "
         "with optuna-dashboard URL", {"metavar": "URL"}),
        ("--study-name", "the study of --optuna-storage to write to, created by its first "
         "trial, continued by a rerun (default: 'rmsjax TASK SEARCH RUN_ID', the same for a "
         "rerun of this command into the same OUT); trials already there are not written "
         "again", {"metavar": "NAME"}),
        ("--top", "rows of the ranked table (default 10)",
         {"type": number(1), "metavar": "N", "default": 10}),
        ("--fresh", "start afresh: delete the configurations an earlier run of this same "
         "command finished (by default a rerun continues from OUT/chunks, where finished "
         "configurations are always recorded)", {"action": "store_true"}),
        ("--resume", "continue from OUT/chunks (the default; kept for older scripts)",
         {"action": "store_true"}),
    ],
    "compare": [
        ("--sgd-lr", "SGD's learning rate",
         {"type": number(cast=float), "metavar": "X", "dest": "sgd_learning_rate"}),
        ("--adam-lr", "Adam's learning rate",
         {"type": number(cast=float), "metavar": "X", "dest": "adam_learning_rate"}),
    ],
}  # fmt: skip

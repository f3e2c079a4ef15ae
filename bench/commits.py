"""The searches of the main job before and after a change: does the change make them slower?

Each search (a digits grid of a train_fn, halving, optuna_search and pbt over a digits
`Trainer`) runs in a fresh Python process per sample, cold (JAX's persistent compilation cache
off), importing rmsjax from one of two trees: ``--base``'s (a git revision, checked out into a
temporary worktree) or this checkout's. The process times the search call alone (compilation
included, imports and data loading not). A round runs base, head, head again and base (the A/A
pair is head against head), forward then backward (`_harness.abba`), so drift within a round hits
all alike; the ratio head / base is the median over rounds, printed beside the A/A interval
(`_harness.Spread`): a ratio inside it is no change that this run can tell.

    python bench/commits.py --base 8329294             # 3 rounds, every search
    python bench/commits.py --base HEAD~1 --small      # smoke test: 1 round, small searches
    python bench/commits.py --paths                    # this checkout's two paths of a grid

``--paths`` answers another question, in this checkout alone: is a grid faster as a train_fn's
whole budget in chunks (``grid``) than as a `Trainer` in the slot pool (``grid_pool``, the same
configurations, epochs and key)? The round is grid, pool, grid again (the A/A pair), forward
then backward; written to ``bench/results/grid_paths.json`` (or ``--json``).

Writes ``bench/results/commits.json`` (or ``--json``) with the command, machine, versions and
per-round seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import _harness
import _machine
import _record

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEARCHES = ("grid", "halving", "optuna", "pbt")

# One search on digits, timed in the process that runs it; prints the seconds as JSON. Only
# names both trees have: rmsjax.sweep, halving, pbt, optuna_search and the task's trainers.
WORKLOAD = r"""
import json, sys, time
import jax
jax.config.update("jax_enable_compilation_cache", False)
import rmsjax
from rmsjax import tasks
search, n, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
task = tasks.get("digits")
data = task.sweep_data(task.load())  # the validation split the command ranks on
key = jax.random.key(0)
space = rmsjax.sample(n, seed=0, learning_rate=rmsjax.loguniform(1e-4, 1e-1),
                      decay=rmsjax.uniform(0.5, 0.999))
if search == "grid":
    fn = task.make_train_fn(data, epochs=epochs)
else:
    fn = task.make_trainer(data, budget=epochs)
start = time.perf_counter()
if search == "grid":
    rmsjax.sweep(fn, space, key=key, progress=False)
elif search == "grid_pool":  # the same configurations, epochs and key in the slot pool
    rmsjax.sweep(fn, space, key=key, budget=epochs, progress=False)
elif search == "halving":
    rmsjax.sweep(fn, space, key=key, budget=epochs, progress=False,
                 halving=rmsjax.halving("val_accuracy", mode="max", eta=3))
elif search == "pbt":
    rmsjax.sweep(fn, space, key=key, budget=epochs, progress=False,
                 pbt=rmsjax.pbt("val_accuracy", mode="max", interval=max(1, epochs // 9)))
else:
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.SuccessiveHalvingPruner())
    rmsjax.optuna_search(fn, study, n_trials=n, key=key, budget=epochs, metric="val_accuracy",
                         space={"learning_rate": rmsjax.loguniform(1e-4, 1e-1),
                                "decay": rmsjax.uniform(0.5, 0.999)}, progress=False)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def measure(tree: Path, search: str, n: int, epochs: int):
    """A `_harness.Measure`: one fresh process importing rmsjax from ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree), JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS",
                                                                            "cpu"))  # fmt: skip

    def run() -> float:
        done = subprocess.run([sys.executable, "-c", WORKLOAD, search, str(n), str(epochs)],
                              env=env, cwd=tree, capture_output=True, text=True,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{search} in {tree} failed:\n{done.stderr[-2000:]}")
        return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])

    return run


@contextlib.contextmanager
def worktree(revision: str):
    """``revision`` checked out into a temporary git worktree, removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="rmsjax-base-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), revision], cwd=ROOT,
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT,
                       check=False, capture_output=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", help="the git revision to compare with")
    parser.add_argument(
        "--paths",
        action="store_true",
        help="instead: a grid as a train_fn against the same grid in the pool",
    )
    parser.add_argument("--searches", default=",".join(SEARCHES),
                        help=f"comma-separated, of {', '.join(SEARCHES)}")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="1 round, 4 configurations, 2 epochs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    searches = [s.strip() for s in args.searches.split(",")]
    unknown = sorted(set(searches) - set(SEARCHES))
    if unknown:
        parser.error(f"--searches: unknown {unknown}; choose from {list(SEARCHES)}")
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    n, epochs, rounds = (4, 2, 1) if args.small else (27, 9, args.rounds)
    if args.paths:
        return paths(args, n, epochs, rounds)
    if args.base is None:
        parser.error("--base REVISION is required (or --paths)")
    base_commit = subprocess.run(["git", "rev-parse", args.base], cwd=ROOT, capture_output=True,
                                 text=True, check=True).stdout.strip()  # fmt: skip
    record = _record.Record("commits", sys.argv[1:])
    table = {}
    with record.printing(), worktree(base_commit) as base:
        print("machine:", _machine.describe())
        print(f"base {base_commit[:10]} against this checkout; {n} configurations, {epochs} "
              f"epochs, {rounds} round(s), each sample a fresh process (cold)")  # fmt: skip
        for search in searches:
            measures = {"base": measure(base, search, n, epochs),
                        "head": measure(ROOT, search, n, epochs),
                        "head (A/A)": measure(ROOT, search, n, epochs)}  # fmt: skip
            samples = _harness.abba(measures, rounds)
            spread = _harness.Spread.of(_harness.round_ratios(samples, "head (A/A)", "head"))
            value = _harness.ratio(samples, "head", "base")
            table[search] = {"seconds": samples, "head_over_base": value,
                             "aa_low": spread.low, "aa_high": spread.high}  # fmt: skip
            print(f"{search:8} head / base {value:.3f} (A/A interval {spread}): "
                  f"{spread.judge(value)}; seconds base "
                  f"{', '.join(f'{s:.2f}' for s in samples['base'])}, head "
                  f"{', '.join(f'{s:.2f}' for s in samples['head'])}")  # fmt: skip
    record.data = {"base": base_commit, "base_tree": str(base), "configurations": n,
                   "epochs": epochs, "rounds": rounds, "searches": table}  # fmt: skip
    record.write(args.json or _record.default_path("commits"))


def paths(args, n: int, epochs: int, rounds: int) -> None:
    """``--paths``: this checkout's grid as a train_fn against the same grid in the pool."""
    record = _record.Record("grid_paths", sys.argv[1:])
    with record.printing():
        print("machine:", _machine.describe())
        print(f"this checkout; a digits grid of {n} configurations x {epochs} epochs, {rounds} "
              "round(s), each sample a fresh process (cold)")  # fmt: skip
        measures = {"train_fn": measure(ROOT, "grid", n, epochs),
                    "pool": measure(ROOT, "grid_pool", n, epochs),
                    "train_fn (A/A)": measure(ROOT, "grid", n, epochs)}  # fmt: skip
        samples = _harness.abba(measures, rounds)
        spread = _harness.Spread.of(_harness.round_ratios(samples, "train_fn (A/A)", "train_fn"))
        value = _harness.ratio(samples, "pool", "train_fn")
        print(f"pool / train_fn {value:.3f} (A/A interval {spread}): {spread.judge(value)}; "
              f"seconds train_fn {', '.join(f'{s:.2f}' for s in samples['train_fn'])}, pool "
              f"{', '.join(f'{s:.2f}' for s in samples['pool'])}")  # fmt: skip
    record.data = {"configurations": n, "epochs": epochs, "rounds": rounds, "seconds": samples,
                   "pool_over_train_fn": value, "aa_low": spread.low,
                   "aa_high": spread.high}  # fmt: skip
    record.write(args.json or _record.default_path("grid_paths"))


if __name__ == "__main__":
    main()

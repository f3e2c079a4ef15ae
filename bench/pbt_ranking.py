"""PBT's validation-selected pick against the full sweep's, seed by seed, under several rankings.

``bench/search.py --quality`` compares PBT 16's pick with the full sweep's over 5 seeds; this
script asks whether a miss there is PBT's ranking or the noise of the comparison. Per seed, on
the same data, split, sample and keys as ``--quality`` (its ``selection_trainer``, ``pick``
and space): the full sweep of ``--configs`` configurations and PBT with its first 16 as the
population, ranked by each of

- ``val_accuracy, every budget/9 epochs``, ties by ``val_loss`` (what ``--quality`` runs),
- ``val_loss, every budget/9 epochs``,
- ``val_accuracy, every budget/3 epochs``, ties by ``val_loss``,
- ``val_loss, every budget/3 epochs``,

each pick chosen on validation accuracy as ``--quality`` chooses it. The table gives, per
variant, the mean test accuracy of its pick, the mean and standard deviation over seeds of its
difference from the full sweep's pick, and that mean's standard error (sd / sqrt(seeds)):
a difference smaller than about two standard errors is not one the seeds can tell.

    python bench/pbt_ranking.py                         # MNIST, seeds 0-9 (~25 min on 2 cores)
    python bench/pbt_ranking.py --tasks digits --seeds 5
    python bench/pbt_ranking.py --small --seeds 1       # smoke test (the tests run it)

Results go to ``bench/results/pbt_ranking.json``. Not a timing measurement.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

import _machine  # bench/_machine.py (the script's folder is on sys.path)
import _record
import jax
import search  # bench/search.py: the --quality protocol this script reuses

import rmsjax

VARIANTS = {  # name: (ranked by, mode, rankings over the budget, tie-breaker)
    "val_accuracy every budget/9 (--quality)": ("val_accuracy", "max", 9, search.TIEBREAK),
    "val_loss every budget/9": ("val_loss", "min", 9, None),
    "val_accuracy every budget/3": ("val_accuracy", "max", 3, search.TIEBREAK),
    "val_loss every budget/3": ("val_loss", "min", 3, None),
}


def seed_row(trainer, budget: int, n: int, seed: int) -> dict:
    space = {"learning_rate": rmsjax.loguniform(*search.LR), "decay": rmsjax.uniform(*search.DECAY)}
    key = jax.random.key(seed)
    full = rmsjax.sweep(trainer, rmsjax.sample(n, seed=seed, **space), key=key, budget=budget,
                        progress=False)  # fmt: skip
    chosen = search.pick(full, budget)
    row = {"full sweep": float(full.metrics["test_accuracy"][chosen].mean())}
    population = rmsjax.sample(min(search.PBT_QUALITY, n), seed=seed, **space)
    for name, (metric, mode, rankings, tiebreak) in VARIANTS.items():
        rule = rmsjax.pbt(metric, mode=mode, interval=max(1, budget // rankings),
                          tiebreak=tiebreak)  # fmt: skip
        result = rmsjax.sweep(trainer, population, key=key, budget=budget, progress=False,
                              pbt=rule)  # fmt: skip
        row[name] = float(result.metrics["test_accuracy"][search.pick(result, budget)].mean())
    return row


def summary(rows: list[dict]) -> dict:
    out = {}
    for name in ["full sweep", *VARIANTS]:
        gaps = [r[name] - r["full sweep"] for r in rows]
        sd = statistics.stdev(gaps) if len(gaps) > 1 else float("nan")
        out[name] = {"test_accuracy_mean": statistics.mean(r[name] for r in rows),
                     "gap_mean": statistics.mean(gaps), "gap_sd": sd,
                     "gap_standard_error": sd / math.sqrt(len(gaps))}  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="mnist", help="digits, mnist or both, comma-separated")
    parser.add_argument("--seeds", type=int, default=10, help="seeds 0 to N-1")
    parser.add_argument("--configs", type=int, default=81, help="configurations of the sweep")
    parser.add_argument("--small", action="store_true", help="smoke test: 3 epochs, 9 configs")
    parser.add_argument("--data-dir", type=Path, default=search.DEFAULT_DATA_DIR)
    parser.add_argument("--json", default=_record.default_path("pbt_ranking"))
    args = parser.parse_args(argv)
    for flag in ("seeds", "configs"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    if args.small:
        args.configs = min(args.configs, 9)
    record = _record.Record("pbt_ranking", sys.argv[1:] if argv is None else argv)
    with record.printing():
        print(f"machine: {_machine.describe()}")
        for name in (t.strip() for t in args.tasks.split(",")):
            task, data = search.load(name, args.data_dir, args.small)
            if data is None:
                continue
            budget = 3 if args.small else search.BUDGETS[name]
            trainer, n_val = search.selection_trainer(task, data, budget)
            rows = []
            for seed in range(args.seeds):
                rows.append({"seed": seed, **seed_row(trainer, budget, args.configs, seed)})
                print(f"{name} seed {seed}: " + ", ".join(
                    f"{k} {v:.4f}" for k, v in rows[-1].items() if k != "seed"))  # fmt: skip
            table = summary(rows)
            print(f"\n{name}: {data.source}; {len(data.x_train) - n_val} training, {n_val} "
                  f"validation, {len(data.x_test)} test examples; {args.configs} configurations, "
                  f"PBT {min(search.PBT_QUALITY, args.configs)}, budget {budget} epochs, seeds "
                  f"0-{args.seeds - 1}")  # fmt: skip
            print(f"{'way':42} {'test acc':>8} {'vs full':>8} {'sd':>7} {'s.e.':>7}")
            for way, s in table.items():
                print(f"{way:42} {s['test_accuracy_mean']:8.4f} {s['gap_mean']:+8.4f} "
                      f"{s['gap_sd']:7.4f} {s['gap_standard_error']:7.4f}")  # fmt: skip
            record.data[name] = {"budget": budget, "configurations": args.configs,
                                 "rows": rows, "summary": table}  # fmt: skip
        print("test acc: mean over seeds of the pick's test accuracy; vs full: mean difference "
              "from the full sweep's pick; sd: its standard deviation over seeds; s.e.: sd / "
              "sqrt(seeds). Not a timing measurement.")  # fmt: skip
    record.write(args.json)


if __name__ == "__main__":
    main()

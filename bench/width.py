"""How many slots a staged sweep should train together on a CPU: 1, 9 or 27, measured.

27 configurations (learning rate log-uniform in [1e-4, 1e-2], decay uniform in [0.5, 0.999],
``rmsjax.sample(27, seed=0)``) of a task's `Trainer` (``rmsjax.tasks``: the digits MLP 64-64-10
and the MNIST MLP 784-128-10 on the offline split), every configuration trained the full
``--budget`` epochs by ``rmsjax.sweep(trainer, space, chunk_size=W)``, for W = 1, 9 and 27 slots,
and for ``"auto"`` (which the table names with the width it chose). Wall time includes tracing and
compilation, as a user's call does. Rounds run the widths forward then backward (ABBA), and
width 1 runs twice as the A/A pair; each ratio to width 1 is the median of per-round ratios,
judged against the A/A interval (``bench/_harness.py``). Results go to
``bench/results/width.json``.

On one CPU device ``chunk_size="auto"`` keeps one run's largest array within 256 KiB, which
gives 1 slot on the MNIST MLP and 2 on digits; this benchmark says whether wider pools would be
faster. (Spreading the pool over several CPU devices, with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``, needs more cores than the 2 this was
written on.)

    python bench/width.py                         # digits (budget 3) and MNIST (budget 1)
    python bench/width.py --tasks digits --rounds 1 --budget 1   # smoke test
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import _harness  # bench/_harness.py (the script's folder is on sys.path)
import _machine
import _record
import jax

import rmsjax
from rmsjax import tasks

DATA_DIR = Path(
    os.environ.get("RMSJAX_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
WIDTHS = ("1", "9", "27", "auto", "1 again")


def space(n: int):
    return rmsjax.sample(
        n,
        seed=0,
        learning_rate=rmsjax.loguniform(1e-4, 1e-2),
        decay=rmsjax.uniform(0.5, 0.999),
    )


def measure(trainer, configs, budget, width, chosen: dict):
    def run() -> float:
        start = time.perf_counter()
        result = rmsjax.sweep(
            trainer,
            configs,
            key=jax.random.key(0),
            budget=budget,
            chunk_size=width,
            progress=False,
        )
        jax.block_until_ready(result.metrics)
        seconds = time.perf_counter() - start
        chosen[str(width)] = sorted(set(result.chunk_sizes.values()))
        return seconds

    return run


def bench_task(name: str, budget: int, rounds: int, n: int) -> dict | None:
    task = tasks.get(name)
    try:
        data = task.load(DATA_DIR) if name == "mnist" else task.load()
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"\n{name} skipped: no data ({e})")
        return None
    trainer = task.make_trainer(data=data)
    configs = space(n)
    chosen: dict[str, list[int]] = {}
    measures = {
        w: measure(trainer, configs, budget, "auto" if w == "auto" else int(w.split()[0]), chosen)
        for w in WIDTHS
    }
    measures["1"]()  # untimed: the process's one-time costs fall on no width in particular
    samples = _harness.abba(measures, rounds)
    spread = _harness.Spread.of(_harness.round_ratios(samples, "1 again", "1"))
    print(
        f"\n{name}: {data.source}; {n} configurations x {budget} epoch(s), every one the full "
        f"budget; wall s with compilation, {rounds} ABBA round(s), medians"
    )
    print(f"A/A interval (width 1 again / width 1): {spread.describe()}")
    print(f"{'slots':>12} {'wall s':>8} {'/ 1 slot':>9} {'interval':>13}  verdict")
    for w in WIDTHS:
        per_round = _harness.round_ratios(samples, w, "1")
        r = statistics.median(per_round)
        low, high = _harness.median_interval(per_round)
        shown = f"auto = {','.join(map(str, chosen['auto']))}" if w == "auto" else w
        verdict = spread.judge(r) if w not in ("1", "1 again") else ""
        print(
            f"{shown:>12} {statistics.median(samples[w]):8.2f} {r:9.2f} "
            f"{low:6.2f}-{high:<6.2f}  {verdict}"
        )
    return {"budget": budget, "configs": n, "seconds": samples, "auto_width": chosen["auto"]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="digits,mnist", help="comma-separated: digits, mnist")
    parser.add_argument("--budget", type=int, help="epochs per configuration (3 digits, 1 MNIST)")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds")
    parser.add_argument("--configs", type=int, default=27)
    parser.add_argument("--json", default=_record.default_path("width"), help="results as JSON")
    args = parser.parse_args(argv)
    for flag in ("budget", "rounds", "configs"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag} must be >= 1, got {value}")
    record = _record.Record("width", sys.argv[1:] if argv is None else argv)
    with record.printing():
        print(f"machine: {_machine.describe()}")
        for name in args.tasks.split(","):
            name = name.strip()
            budget = args.budget or {"digits": 3, "mnist": 1}[name]
            result = bench_task(name, budget, args.rounds, args.configs)
            if result is not None:
                record.data[name] = result
    record.write(args.json)


if __name__ == "__main__":
    main()

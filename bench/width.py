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
faster. ``--cpu-devices 2`` starts JAX with ``--xla_force_host_platform_device_count=2`` (two
CPU devices sharing the machine's cores and XLA's one thread pool) and adds a row, ``auto, 2
devices``: the same sweep sharded over both devices, ``chunk_size="auto"`` (its slots per
device as on one), judged against width 1 on one device. The other rows then run on the first
device alone, in a process that has two; where JAX already started with one device (the tests),
the row is left out with a line that says so.

    python bench/width.py                         # digits (budget 3) and MNIST (budget 1)
    python bench/width.py --tasks digits --rounds 1 --budget 1   # smoke test
    python bench/width.py --cpu-devices 2        # and the pool spread over 2 CPU devices
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def _cpu_devices(argv: list[str]) -> int:
    """``--cpu-devices N`` from the command line, read before JAX starts (it fixes the number of
    CPU devices when it initialises)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--cpu-devices", type=int, default=1)
    return parser.parse_known_args(argv)[0].cpu_devices


if __name__ == "__main__" and _cpu_devices(sys.argv[1:]) > 1:
    flag = f"--xla_force_host_platform_device_count={_cpu_devices(sys.argv[1:])}"
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()

import _harness  # noqa: E402  (bench/_harness.py; the script's folder is on sys.path)
import _machine  # noqa: E402
import _record  # noqa: E402
import jax  # noqa: E402

import rmsjax  # noqa: E402
from rmsjax import tasks  # noqa: E402

DATA_DIR = Path(
    os.environ.get("RMSJAX_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
WIDTHS = ("1", "9", "27", "auto", "1 again")
SPREAD = "auto, 2 devices"  # the extra row of --cpu-devices 2


def space(n: int):
    return rmsjax.sample(
        n,
        seed=0,
        learning_rate=rmsjax.loguniform(1e-4, 1e-2),
        decay=rmsjax.uniform(0.5, 0.999),
    )


def measure(trainer, configs, budget, width, chosen: dict, devices, name: str):
    def run() -> float:
        start = time.perf_counter()
        result = rmsjax.sweep(
            trainer,
            configs,
            key=jax.random.key(0),
            budget=budget,
            chunk_size=width,
            devices=devices,
            progress=False,
        )
        jax.block_until_ready(result.metrics)
        seconds = time.perf_counter() - start
        chosen[name] = sorted(set(result.chunk_sizes.values()))
        return seconds

    return run


def bench_task(name: str, budget: int, rounds: int, n: int, spread_over: int) -> dict | None:
    task = tasks.get(name)
    try:
        data = task.load(DATA_DIR) if name == "mnist" else task.load()
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"\n{name} skipped: no data ({e})")
        return None
    trainer = task.make_trainer(data=data)
    configs = space(n)
    chosen: dict[str, list[int]] = {}
    one = jax.devices()[:1]
    measures = {
        w: measure(
            trainer, configs, budget, "auto" if w == "auto" else int(w.split()[0]), chosen, one, w
        )
        for w in WIDTHS
    }
    names = list(WIDTHS)
    if spread_over > 1:
        measures[SPREAD] = measure(
            trainer, configs, budget, "auto", chosen, jax.devices()[:spread_over], SPREAD
        )
        names.insert(4, SPREAD)  # the A/A copy stays last
        measures = {w: measures[w] for w in names}
    measures["1"]()  # untimed: the process's one-time costs fall on no width in particular
    samples = _harness.abba(measures, rounds)
    spread = _harness.Spread.of(_harness.round_ratios(samples, "1 again", "1"))
    print(
        f"\n{name}: {data.source}; {n} configurations x {budget} epoch(s), every one the full "
        f"budget; wall s with compilation, {rounds} ABBA round(s), medians"
    )
    print(f"A/A interval (width 1 again / width 1): {spread.describe()}")
    print(f"{'slots':>23} {'wall s':>8} {'/ 1 slot':>9} {'interval':>13}  verdict")
    for w in names:
        per_round = _harness.round_ratios(samples, w, "1")
        r = statistics.median(per_round)
        low, high = _harness.median_interval(per_round)
        shown = w
        if w.startswith("auto"):  # the slots auto chose (over every device of the row)
            shown = f"{w} = {','.join(map(str, chosen[w]))}"
        verdict = spread.judge(r) if w not in ("1", "1 again") else ""
        print(
            f"{shown:>23} {statistics.median(samples[w]):8.2f} {r:9.2f} "
            f"{low:6.2f}-{high:<6.2f}  {verdict}"
        )
    out = {"budget": budget, "configs": n, "seconds": samples, "auto_width": chosen["auto"]}
    if spread_over > 1:
        out |= {"devices": spread_over, "auto_width_devices": chosen[SPREAD]}
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="digits,mnist", help="comma-separated: digits, mnist")
    parser.add_argument("--budget", type=int, help="epochs per configuration (3 digits, 1 MNIST)")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds")
    parser.add_argument("--configs", type=int, default=27)
    parser.add_argument(
        "--cpu-devices",
        type=int,
        default=1,
        help="N > 1: JAX on N CPU devices, and a row with the pool spread over them",
    )
    parser.add_argument("--json", default=_record.default_path("width"), help="results as JSON")
    args = parser.parse_args(argv)
    for flag in ("budget", "rounds", "configs", "cpu_devices"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            parser.error(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    record = _record.Record("width", sys.argv[1:] if argv is None else argv)
    with record.printing():
        print(f"machine: {_machine.describe()}")
        spread_over = min(args.cpu_devices, len(jax.devices()))
        if args.cpu_devices > 1 and spread_over < args.cpu_devices:
            print(
                f"--cpu-devices {args.cpu_devices}: JAX started with {len(jax.devices())} "
                "device(s) before this script could set XLA_FLAGS; the row is left out"
            )
        for name in args.tasks.split(","):
            name = name.strip()
            budget = args.budget or {"digits": 3, "mnist": 1}[name]
            result = bench_task(name, budget, args.rounds, args.configs, spread_over)
            if result is not None:
                record.data[name] = result
    record.write(args.json)


if __name__ == "__main__":
    main()

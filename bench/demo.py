"""``make demo``, measured: ``rmsjax sweep digits`` run as a command, timed as a whole.

Runs exactly what ``make demo`` runs (the ``rmsjax`` command installed beside this Python, else
``python -c 'from rmsjax.cli import main; main()'``), into a fresh temporary ``--out`` folder so
that nothing is resumed, and records the wall seconds of the whole command (Python start, imports,
data, compilation, sweep, plots), what it printed, and the ``metrics.json`` and ``run.json`` it
wrote (the best configuration, its validation and test accuracy, the seconds of the sweep itself).
``bench/tables.py`` makes the ``make demo`` paragraph of the command-line guide from that JSON.

    python bench/demo.py                 # writes bench/results/demo.json
    python bench/demo.py --epochs 2      # a smoke run (the flag is passed on to the command)

Cold and warm: the command caches its compiled programs (JAX's persistent compilation cache,
``RMSJAX_COMPILATION_CACHE``). Each run gets its cache folder explicitly, so no run finds the
user's own cache: in each round a *cold* run starts from an empty folder and a *warm* run reuses
the folder an earlier run filled. The rounds alternate the order (round 1: cold A, warm A;
round 2: warm A again, cold B), so the two colds and the two warms form A/A pairs whose spread
is printed beside the warm/cold ratio. The figures of the page come from the first cold run.

    python bench/demo.py --rounds 1      # one cold and one warm run, no A/A pair

Wall seconds on a shared machine are what one run took under its load (recorded beside them),
not a performance claim.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _machine  # bench/_machine.py (the script's folder is on sys.path)
import _record

import rmsjax

COMMAND = ["sweep", "digits"]  # the Makefile's `demo` target: $(BIN)/rmsjax sweep digits


def _env() -> dict[str, str]:
    """This process's environment, with the ``rmsjax`` it imports first on the path: the command
    runs the same checkout as the rest of the benchmarks."""
    root = str(Path(rmsjax.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": root if not path else os.pathsep.join([root, path])}


def rmsjax_command() -> list[str]:
    """The installed ``rmsjax`` script beside this interpreter, as ``make demo`` calls it."""
    script = Path(sys.executable).parent / "rmsjax"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from rmsjax.cli import main; sys.exit(main())"]


def run_demo(extra: list[str], cache: str | os.PathLike) -> dict:
    """Run the command once into a temporary folder, with the compilation cache folder
    ``cache``; its seconds, output and files."""
    with tempfile.TemporaryDirectory(prefix="rmsjax-demo-") as out:
        argv = [*COMMAND, *extra, "--out", out]
        env = {**_env(), "RMSJAX_COMPILATION_CACHE": str(cache)}
        start = time.perf_counter()
        done = subprocess.run(
            [*rmsjax_command(), *argv], capture_output=True, text=True, check=False, env=env
        )
        seconds = time.perf_counter() - start
        if done.returncode:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"`rmsjax {shlex.join(argv)}` exited with {done.returncode}")
        metrics = json.loads((Path(out) / "metrics.json").read_text())
        run = json.loads((Path(out) / "run.json").read_text())
        printed = [
            line.replace(out, "OUT").replace(str(cache), "CACHE")
            for line in done.stdout.splitlines()
        ]
    return {
        "argv": ["rmsjax", *COMMAND, *extra],
        "wall_seconds": seconds,
        "stdout": printed,
        "metrics": metrics,
        "run": run,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--epochs", type=int, default=None, help="passed on (default: the task's, as make demo)"
    )
    parser.add_argument("--json", default=_record.default_path("demo"), help="results as JSON")
    parser.add_argument(
        "--rounds", type=int, default=2, help="cold/warm rounds (2: an A/A pair of each)"
    )
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    if args.rounds not in (1, 2):
        parser.error(f"--rounds must be 1 or 2, got {args.rounds}")
    extra = [] if args.epochs is None else ["--epochs", str(args.epochs)]
    record = _record.Record("demo", sys.argv[1:] if argv is None else argv)
    with record.printing():
        print("machine:", _machine.describe())
        print(f"$ {shlex.join(['rmsjax', *COMMAND, *extra])}  (into a temporary --out folder)")
        with tempfile.TemporaryDirectory(prefix="rmsjax-demo-cache-") as caches:
            a, b = Path(caches) / "a", Path(caches) / "b"
            order = [("cold", a), ("warm", a)]
            if args.rounds == 2:
                order += [("warm", a), ("cold", b)]
            runs = {"cold": [], "warm": []}
            for kind, folder in order:
                run = run_demo(extra, folder)
                runs[kind].append(run)
                seconds = run["wall_seconds"], run["metrics"]["sweep_seconds"]
                print(f"{kind}: whole command {seconds[0]:.1f} s, sweep {seconds[1]:.1f} s")
        result = runs["cold"][0]
        for line in result["stdout"]:
            print(line)
        result["cache"] = cache_summary(runs)
        print(cache_line(result["cache"]))
    record.data = result
    record.write(args.json)


def cache_summary(runs: dict[str, list[dict]]) -> dict:
    """Seconds of the cold and warm runs (whole command and sweep alone), the warm/cold ratios
    of their medians, and each kind's A/A spread (max/min of its runs; None with one run)."""
    out = {}
    for part, get in (("whole", lambda r: r["wall_seconds"]),
                      ("sweep", lambda r: r["metrics"]["sweep_seconds"])):  # fmt: skip
        cold = [get(r) for r in runs["cold"]]
        warm = [get(r) for r in runs["warm"]]
        out[part] = {
            "cold_seconds": cold,
            "warm_seconds": warm,
            "ratio": statistics.median(warm) / statistics.median(cold),
            "aa_spread": None
            if len(cold) < 2
            else max(max(cold) / min(cold), max(warm) / min(warm)),  # fmt: skip
        }
    return out


def cache_line(cache: dict) -> str:
    """One line: warm / cold for the whole command and for the sweep, with the A/A spread.

    >>> cache_line({"whole": {"ratio": 0.5, "aa_spread": 1.04}, "sweep": {"ratio": 0.2,
    ...             "aa_spread": None}})
    'warm / cold: whole command 0.50x (A/A spread ±4.0%), sweep alone 0.20x (no A/A pair)'
    """

    def spread(s):
        return "no A/A pair" if s is None else f"A/A spread ±{100 * (s - 1):.1f}%"

    whole, sweep = cache["whole"], cache["sweep"]
    return (
        f"warm / cold: whole command {whole['ratio']:.2f}x ({spread(whole['aa_spread'])}), "
        f"sweep alone {sweep['ratio']:.2f}x ({spread(sweep['aa_spread'])})"
    )


if __name__ == "__main__":
    main()

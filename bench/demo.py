"""``make demo``, measured: ``rmsjax sweep digits`` run as a command, timed as a whole.

Runs exactly what ``make demo`` runs (the ``rmsjax`` command installed beside this Python, else
``python -c 'from rmsjax.cli import main; main()'``), into a fresh temporary ``--out`` folder so
that nothing is resumed, and records the wall seconds of the whole command (Python start, imports,
data, compilation, sweep, plots), what it printed, and the ``metrics.json`` and ``run.json`` it
wrote (the best configuration, its validation and test accuracy, the seconds of the sweep itself).
``bench/tables.py`` makes the ``make demo`` paragraph of the command-line guide from that JSON.

    python bench/demo.py                 # writes bench/results/demo.json
    python bench/demo.py --epochs 2      # a smoke run (the flag is passed on to the command)

Wall seconds on a shared machine are what one run took under its load (recorded beside them),
not a performance claim.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
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


def run_demo(extra: list[str]) -> dict:
    """Run the command once into a temporary folder; its seconds, output and files."""
    with tempfile.TemporaryDirectory(prefix="rmsjax-demo-") as out:
        argv = [*COMMAND, *extra, "--out", out]
        start = time.perf_counter()
        done = subprocess.run(
            [*rmsjax_command(), *argv], capture_output=True, text=True, check=False, env=_env()
        )
        seconds = time.perf_counter() - start
        if done.returncode:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"`rmsjax {shlex.join(argv)}` exited with {done.returncode}")
        metrics = json.loads((Path(out) / "metrics.json").read_text())
        run = json.loads((Path(out) / "run.json").read_text())
        printed = [line.replace(out, "OUT") for line in done.stdout.splitlines()]
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
    args = parser.parse_args(argv)
    if args.epochs is not None and args.epochs < 1:
        parser.error(f"--epochs must be >= 1, got {args.epochs}")
    extra = [] if args.epochs is None else ["--epochs", str(args.epochs)]
    record = _record.Record("demo", sys.argv[1:] if argv is None else argv)
    with record.printing():
        print("machine:", _machine.describe())
        print(f"$ {shlex.join(['rmsjax', *COMMAND, *extra])}  (into a temporary --out folder)")
        result = run_demo(extra)
        for line in result["stdout"]:
            print(line)
        m = result["metrics"]
        print(f"whole command {result['wall_seconds']:.1f} s, sweep {m['sweep_seconds']:.1f} s")
    record.data = result
    record.write(args.json)


if __name__ == "__main__":
    main()

"""What one run of a benchmark measured, written as JSON: the command, the machine, the versions,
the per-round figures and the table it printed.

``bench/tables.py`` turns these files into the tables of the documentation (and the README's
headline table), so that no figure there is typed by hand.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import platform
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import _machine

RESULTS = Path(__file__).resolve().parent / "results"
# A run that starts with more runnable jobs than cores (1-minute load average) shares them:
# its timings say little, and bench/tables.py keeps a wide A/A interval out of the README.
BUSY_LOAD = os.cpu_count() or 1
_VERSIONED = ("jax", "jaxlib", "optax", "numpy", "torch", "optuna", "rmsjax")


def versions() -> dict[str, str]:
    """Python and every measured library that this process has imported."""
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        module = sys.modules.get(name)
        version = getattr(module, "__version__", None)
        if version is not None:
            out[name] = str(version)
    return out


class _Tee(io.TextIOBase):
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()


class Record:
    """One benchmark run. ``data`` holds the per-round figures each benchmark adds; ``printing``
    keeps what the run prints, so the JSON carries the very table the run printed."""

    def __init__(self, benchmark: str, argv: Sequence[str]):
        self.benchmark = benchmark
        self.data: dict[str, Any] = {}
        self._argv = list(argv)
        self._printed = io.StringIO()
        self._load_at_start = _load()
        if self._load_at_start is not None and self._load_at_start > BUSY_LOAD:
            print(
                f"warning: load average {self._load_at_start} at the start, more than the "
                f"{BUSY_LOAD} cores: other jobs share the machine, so timings are noisy (the "
                "A/A interval says how much); rerun on a quiet machine for figures to quote",
                file=sys.stderr,
            )

    @contextlib.contextmanager
    def printing(self) -> Iterator[None]:
        with contextlib.redirect_stdout(_Tee(sys.stdout, self._printed)):
            yield

    def begin(self) -> None:
        """Start keeping what is printed, until :meth:`write` (for a script's whole ``main``)."""
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(self.printing())

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "command": shlex.join(["python", f"bench/{self.benchmark}.py", *self._argv]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": _machine.describe(),
            "versions": versions(),
            # 1-minute load averages when the run began and ended (other jobs on the machine)
            "load_average": {"start": self._load_at_start, "end": _load()},
            "printed": self._printed.getvalue().splitlines(),
            "data": self.data,
        }

    def write(self, path: str | Path) -> Path:
        if getattr(self, "_stack", None) is not None:
            self._stack.close()
            self._stack = None
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        print(f"results written to {path}")
        return path


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not on every platform
        return None


def default_path(benchmark: str) -> str:
    return str(RESULTS / f"{benchmark}.json")

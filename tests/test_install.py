"""The front door: ``python -m rmsjax``, every install line the repository prints, and the
notebooks' install cell run in a fresh virtual environment against a wheel of this checkout."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_module(*argv, cwd=None) -> subprocess.CompletedProcess:
    """``python -m rmsjax ARGV`` in a subprocess, importing this checkout's rmsjax."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "rmsjax", *map(str, argv)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
        env={**os.environ, "PYTHONPATH": path, "RMSJAX_DEBUG": "", "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# python -m rmsjax: the `rmsjax` command under its own name.


def test_python_m_rmsjax_help_names_the_command_rmsjax():
    proc = _run_module("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: rmsjax "), proc.stdout[:200]
    assert "__main__" not in proc.stdout


def test_python_m_rmsjax_trains(tmp_path):
    proc = _run_module("train", "quadratic", "--epochs", 2, "--no-progress", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["epochs"] == 2


def test_python_m_rmsjax_errors_and_exit_codes_are_the_commands(tmp_path):
    bad_value = _run_module("train", "quadratic", "--decay", 1.5, "--out", tmp_path)
    assert bad_value.returncode == 1
    expected = "rmsjax: error: `decay` must be in [0, 1), got 1.5 (option --decay)"
    assert bad_value.stderr.strip() == expected
    usage = _run_module("nonsense")
    assert usage.returncode == 2
    assert usage.stderr.startswith("rmsjax: error: argument COMMAND: invalid choice: 'nonsense'")

"""The benchmarks still run (at smoke-test size). Their timings are never asserted here."""

import runpy
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def run_bench(name: str, argv: list[str], monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", [name, *argv])
    monkeypatch.syspath_prepend(str(BENCH))  # as `python bench/NAME` would: for bench/_harness.py
    runpy.run_path(str(BENCH / name), run_name="__main__")


def test_update_bench_runs(monkeypatch, capsys):
    pytest.importorskip("torch")
    run_bench("update.py", ["--quick"], monkeypatch)
    out = capsys.readouterr().out
    assert "machine:" in out
    assert "triad bandwidth" in out
    rows = [line for line in out.splitlines() if "|" in line and line.strip()[0].isdigit()]
    assert len(rows) == 2  # --quick: one size, two leaf counts
    assert all("%" in row for row in rows)  # the A/A spread beside each row's ratios


def test_sweep_bench_runs(monkeypatch, capsys, shared_data):
    run_bench(
        "sweep.py",
        ["--data-dir", str(shared_data / "mnist"), "--configs", "2", "--epochs", "1",
         "--repeats", "1"],
        monkeypatch,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "(d) rmsjax.sweep" in out and "(d)/(a)" in out
    assert "A/A spread" in out


def test_search_bench_runs(monkeypatch, capsys, tmp_path):
    pytest.importorskip("optuna")
    # digits at smoke-test size; MNIST is skipped with a message (no data in tmp_path)
    run_bench("search.py", ["--small", "--tasks", "digits,mnist", "--data-dir", str(tmp_path)],
              monkeypatch)  # fmt: skip
    out = capsys.readouterr().out
    assert "MNIST skipped" in out
    for way in ("(1) rmsjax.sweep, full", "(2) rmsjax.sweep, halving", "(3) rmsjax.optuna_search",
                "(4) Optuna alone", "(5) Optuna alone, XLA defaults"):  # fmt: skip
        assert way in out
    assert "digits: (2)/(4) = " in out and "digits: (3)/(4) = " in out


def test_train_bench_runs(monkeypatch, capsys):
    pytest.importorskip("torch")
    # The MLP half on 256 examples (the RNN half compiles two recurrent models: too slow here).
    run_bench("train.py", ["--quick", "--only", "mlp", "--examples", "256"], monkeypatch)
    out = capsys.readouterr().out
    assert "machine:" in out and "A/A spread" in out
    assert "hand-written optax lax.scan" in out and "rmsjax.training.fit again (A/A)" in out


def test_search_bench_quality_runs(monkeypatch, capsys, tmp_path):
    pytest.importorskip("optuna")
    out_json = tmp_path / "quality.json"
    run_bench("search.py", ["--quality", "--small", "--seeds", "1", "--tasks", "digits",
                            "--json", str(out_json)], monkeypatch)  # fmt: skip
    out = capsys.readouterr().out
    for way in ("full sweep", "halving", "Optuna TPE + SHP"):
        assert way in out
    assert "median rank <= 3:" in out and "not a timing measurement" in out
    import json

    record = json.loads(out_json.read_text())
    assert {"command", "machine", "versions", "tasks", "targets"} <= set(record)
    rows = record["tasks"]["digits"]["rows"]
    assert [r["way"] for r in rows] == ["full sweep", "halving", "Optuna TPE + SHP"]
    assert rows[0]["rank"] == 1 and rows[0]["epochs_ratio"] == 1.0  # the full sweep's own pick
    assert all(1 <= r["rank"] <= 9 and 0 < r["epochs_ratio"] <= 1 for r in rows)

"""The `rmsjax` command: outputs, ranking, presets, value parsing and one-line errors.

Most tests call `rmsjax.cli.main` in-process with small sizes; `test_console_script_*` run the
installed console script in a subprocess.
"""

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from _sigint import interruptible_popen

import rmsjax
from rmsjax import cli, experiment, tasks

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(argv, capsys):
    """``main(argv)`` -> (exit status, stdout, stderr); argparse's exits are caught."""
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_png(path: Path):
    assert path.is_file(), path
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    assert len(data) > 1000, f"{path} is suspiciously small ({len(data)} bytes)"


def assert_one_line_error(err: str):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0]
    assert "Traceback" not in err


# --------------------------------------------------------------------------------------------
# Parsing values.


def test_parse_single_and_list():
    assert cli.parse_values("3e-3", "--lr") == [0.003]
    assert cli.parse_values("0.9, 0.99,0.999", "--decay") == [0.9, 0.99, 0.999]


def test_parse_log_range():
    values = cli.parse_values("1e-4:1e-2:8", "--lr")
    assert len(values) == 8
    assert values[0] == 1e-4 and values[-1] == 1e-2
    ratios = np.diff(np.log10(values))
    # Evenly spaced in log10 up to the rounding to 3 significant digits (< 0.002 in log10).
    np.testing.assert_allclose(ratios, 2 / 7, atol=2e-3)
    assert cli.parse_values("1e-2:1e-4:3", "--lr") == [0.01, 0.001, 0.0001]


@pytest.mark.parametrize(
    "text, match",
    [
        ("1e-2:1e-4:0", "at least 2"),
        ("1e-2:1e-4:1", "at least 2"),
        ("1e-2:1e-4:2.5", "integer"),
        ("0:1:3", "positive ends"),
        ("1:2", "LO:HI:N"),
        ("abc", "not a number"),
        ("0.1,,0.2", "empty value"),
        ("nan", "finite"),
    ],
)
def test_parse_errors(text, match):
    with pytest.raises(cli.UsageError, match=match):
        cli.parse_values(text, "--lr")


# --------------------------------------------------------------------------------------------
# rmsjax train.


def test_train_2d_task_writes_metrics_and_plots(tmp_path, capsys):
    code, out, err = run(
        ["train", "rosenbrock", "--epochs", 50, "--out", tmp_path, "--no-progress"], capsys
    )
    assert code == 0, err
    assert re.search(r"^  loss +[0-9]", out, re.M) and str(tmp_path) in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    for key in ("loss", "distance_to_minimum", "steps_per_second", "wall_seconds"):
        assert isinstance(metrics[key], float), key
    assert "examples_per_second" not in metrics  # a 2-D function has no examples
    assert "examples_per_second" not in metrics["history"]
    assert metrics["config"]["hparams"] == tasks.get("rosenbrock").defaults
    assert metrics["config"]["epochs"] == 50
    assert metrics["config"]["preset"] == "rmsjax"
    assert "rosenbrock" in metrics["source"]
    assert np.asarray(metrics["trajectory"]).shape == (51, 2)
    assert_png(tmp_path / "loss.png")
    assert_png(tmp_path / "trajectory.png")


def test_train_classifier_reports_test_accuracy(tmp_path, capsys):
    code, out, err = run(
        ["train", "xor", "--epochs", 5, "--lr", 0.05, "--out", tmp_path, "--no-progress"], capsys
    )
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert {"loss", "examples_per_second", "wall_seconds", "source"} <= set(metrics)
    assert metrics["config"]["hparams"]["learning_rate"] == 0.05
    assert metrics["config"]["batch_size"] == tasks.get("xor").batch_size
    assert len(metrics["history"]["train_loss"]) == 5
    assert "test_accuracy" in out
    assert_png(tmp_path / "loss.png")


def test_default_out_dir_is_announced(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(["train", "quadratic", "--epochs", 10, "--no-progress"], capsys)
    assert code == 0
    assert (tmp_path / "runs" / "quadratic-train" / "metrics.json").is_file()
    assert f"saved to {Path('runs') / 'quadratic-train'}" in out


# Each preset through the command computes exactly what the preset built directly computes:
# the same jitted program on the same inputs, so the trajectories agree to float32 rounding.
@pytest.mark.parametrize(
    "preset, make",
    [
        ("rmsjax", lambda: rmsjax.rmsprop(0.05, decay=0.99, momentum=0.9)),
        ("torch", lambda: rmsjax.torch_rmsprop(lr=0.05, alpha=0.99, momentum=0.9)),
        ("keras", lambda: rmsjax.keras_rmsprop(learning_rate=0.05, rho=0.99, momentum=0.9)),
        ("tf1", lambda: rmsjax.tf1_rmsprop(0.05, decay=0.99, momentum=0.9)),
    ],
)
def test_preset_trains_the_same_numbers_as_the_preset(preset, make, tmp_path, capsys):
    argv = ["train", "quadratic", "--preset", preset, "--lr", 0.05, "--decay", 0.99]
    argv += ["--momentum", 0.9, "--epochs", 40, "--out", tmp_path, "--no-progress"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    direct = tasks.get("quadratic").train(epochs=40, optimizer=make())
    np.testing.assert_allclose(metrics["trajectory"], direct.trajectory, rtol=1e-6, atol=0)
    assert metrics["loss"] == pytest.approx(direct.metrics["loss"], rel=1e-6)


def test_presets_differ_in_convention(tmp_path, capsys):
    """tf1 starts its accumulator at one: the same options then give another trajectory."""
    finals = {}
    for preset in ("torch", "tf1"):
        out_dir = tmp_path / preset
        code, _, _ = run(
            ["train", "quadratic", "--preset", preset, "--epochs", 20, "--out", out_dir]
            + ["--no-progress"],
            capsys,
        )
        assert code == 0
        finals[preset] = json.loads((out_dir / "metrics.json").read_text())["loss"]
    assert finals["torch"] != finals["tf1"]


def test_preset_on_a_classifier_matches_direct_training(tmp_path, capsys):
    argv = ["train", "xor", "--preset", "torch", "--momentum", 0.9, "--epochs", 5]
    code, _, err = run(argv + ["--out", tmp_path, "--no-progress"], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    task = tasks.get("xor")
    lr, decay = task.defaults["learning_rate"], task.defaults["decay"]
    assert metrics["config"]["optimizer"] == (
        f"rmsjax.torch_rmsprop(lr={lr:.4g}, alpha={decay:.4g}, momentum=0.9)"
    )
    direct = task.train(epochs=5, optimizer=rmsjax.torch_rmsprop(lr, alpha=decay, momentum=0.9))
    np.testing.assert_allclose(
        metrics["history"]["train_loss"], direct.history.train_loss, rtol=1e-6
    )


# --------------------------------------------------------------------------------------------
# rmsjax sweep.


def test_sweep_ranks_writes_csv_and_plots(tmp_path, capsys):
    argv = ["sweep", "quadratic", "--lr", "0.01:1:4", "--decay", "0.9,0.99", "--seeds", 2]
    argv += ["--epochs", 30, "--top", 3, "--out", tmp_path, "--no-progress"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "top 3 by loss (min)" in out
    table = out.split("top 3 by loss (min):")[1].splitlines()[1:]
    assert table[0].split()[:4] == ["rank", "config_id", "learning_rate", "decay"]
    assert [line.split()[0] for line in table[1:4]] == ["1", "2", "3"]
    assert "best: " in out

    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 * 2 * 2  # configurations x seeds
    assert {"config_id", "learning_rate", "decay", "seed", "loss", "diverged"} <= set(rows[0])
    assert sorted({float(r["learning_rate"]) for r in rows}) == [0.01, 0.0464, 0.215, 1.0]

    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["configurations"] == 8 and metrics["seeds"] == 2
    ranking = metrics["ranking"]
    finals = [r["loss"] for r in ranking]
    assert finals == sorted(finals)
    assert metrics["best"] == {
        "learning_rate": ranking[0]["learning_rate"],
        "decay": ranking[0]["decay"],
    }
    assert metrics["loss"] == pytest.approx(finals[0])
    assert {"steps_per_second", "wall_seconds", "source", "config"} <= set(metrics)
    assert "examples_per_second" not in metrics and metrics["loaded_configurations"] == 0
    for name in ("loss_curves.png", "heatmap.png", "trajectories.png"):
        assert_png(tmp_path / name)


def test_sweep_static_axis_and_preset(tmp_path, capsys):
    argv = ["sweep", "quadratic", "--preset", "torch", "--lr", "0.01,0.1", "--decay", 0.9]
    argv += ["--centered", "false,true", "--epochs", 20, "--out", tmp_path, "--no-progress"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "top 4 by loss (min)" in out
    assert "fixed: decay=0.9" in out
    assert "rmsjax.torch_rmsprop(lr=" in out
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["learning_rate"], r["centered"]) for r in rows] == [
        ("0.01", "False"),
        ("0.01", "True"),
        ("0.1", "False"),
        ("0.1", "True"),
    ]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["preset"] == "torch"
    assert metrics["config"]["grid"]["centered"] == [False, True]
    assert_png(tmp_path / "heatmap.png")


def test_sweep_rerun_reuses_finished_chunks(tmp_path, capsys):
    # Without --resume (recorded always); --resume is still accepted and changes nothing.
    argv = ["sweep", "quadratic", "--epochs", 10, "--chunk-size", 2]
    argv += ["--out", tmp_path, "--no-progress"]
    assert run(argv, capsys)[0] == 0
    first = (tmp_path / "results.csv").read_text()
    assert list((tmp_path / "chunks").glob("*.npz"))
    code, out, err = run([*argv, "--resume"], capsys)
    assert code == 0, err
    assert "resumed: 10 of 10 configurations loaded" in out
    assert (tmp_path / "results.csv").read_text() == first
    # Chunks trained for 10 steps are never reused for a 20-step sweep: one clear line instead,
    # naming what differs, and the folder is left as it was.
    argv[3] = 20
    code, _, err = run(argv, capsys)
    assert code != 0
    assert_one_line_error(err)
    assert "holds the results of another run (epochs 10 there, 20 now)" in err
    assert "--overwrite" in err
    assert (tmp_path / "results.csv").read_text() == first
    manifest = json.loads((tmp_path / "chunks" / "manifest.json").read_text())
    assert manifest["metadata"]["task"] == "quadratic" and manifest["metadata"]["epochs"] == 10
    assert not (tmp_path / "chunks" / "cli-options.json").exists()  # no second options file


def test_sweep_digits_default_is_the_main_job(tmp_path, capsys):
    """`rmsjax sweep digits` with its defaults: the best configuration reaches 0.97."""
    code, out, err = run(["sweep", "digits", "--out", tmp_path, "--no-progress"], capsys)
    assert code == 0, err
    assert "best: " in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["test_accuracy"] >= 0.97
    # Chosen on the validation split, reported on the test split.
    assert metrics["metric"] == "val_accuracy" and metrics["mode"] == "max"
    assert "load_digits" in metrics["source"] and "validation" in metrics["source"]
    assert "chosen by val_accuracy on the validation split; on the test split: " in out


# --------------------------------------------------------------------------------------------
# rmsjax compare.


def test_compare_2d_task(tmp_path, capsys):
    code, out, err = run(
        ["compare", "rosenbrock", "--epochs", 100, "--out", tmp_path, "--no-progress"], capsys
    )
    assert code == 0, err
    names = ["sgd", "rmsjax", "torch", "keras", "tf1", "adam"]
    table = out.split("results:")[1].splitlines()[2:]
    assert [line.split()[0] for line in table[: len(names)]] == names
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert list(metrics["results"]) == names
    assert metrics["results"]["sgd"]["optimizer"] == "optax.sgd(0.001)"
    for result in metrics["results"].values():
        assert len(result["train_loss"]) == 101
    assert_png(tmp_path / "loss_curves.png")
    assert_png(tmp_path / "trajectories.png")


# --------------------------------------------------------------------------------------------
# Errors: one line on stderr, a non-zero exit, never a traceback.


@pytest.mark.parametrize(
    "argv, code, match",
    [
        (["train", "nope"], 2, "invalid choice: 'nope'"),
        (["train", "quadratic", "--bogus"], 2, "unrecognized arguments: --bogus"),
        (["train", "quadratic", "--lr", "-1"], 1, "`learning_rate` must be >= 0"),
        (["train", "quadratic", "--decay", "1.5"], 1, "`decay` must be in [0, 1), got 1.5"),
        (["sweep", "quadratic", "--lr", "1e-2:1e-4:0"], 2, "at least 2"),
        (["sweep", "quadratic", "--lr", "-1,0.1"], 1, "`learning_rate` must be >= 0"),
        (["sweep", "quadratic", "--metric", "accuracy"], 2, "not a metric of task"),
        (["sweep", "quadratic", "--centered", "maybe"], 2, "expected true or false"),
        (["train", "quadratic", "--lr", "0.1,0.2"], 2, "lists and ranges are for"),
        (["train", "quadratic", "--epochs", "0"], 2, "positive integer"),
        (["train", "quadratic", "--nesterov"], 1, "needs `momentum`"),
        (["train", "quadratic", "--preset", "torch", "--nesterov"], 2, "has no --nesterov"),
        (["train", "quadratic", "--preset", "tf1", "--alpha", "0.9"], 2, "unrecognized"),
        (["train", "mnist", "--data-dir", "/no/such/folder"], 1, "is not a directory"),
        (["compare", "quadratic", "--sgd-lr", "-1"], 1, "`sgd_learning_rate` must be >= 0"),
        ([], 2, "required"),
    ],
)
def test_errors_are_one_line(argv, code, match, tmp_path, capsys):
    got, _, err = run([*argv, "--out", tmp_path] if argv else argv, capsys)
    assert got == code
    assert_one_line_error(err)
    assert match in err


def test_missing_data_files_are_one_line(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    for task in ("mnist", "reviews"):
        got, _, err = run(["train", task, "--data-dir", empty, "--out", tmp_path], capsys)
        assert got == 1
        assert_one_line_error(err)
        assert str(empty) in err


def test_debug_env_reraises(monkeypatch, capsys):
    monkeypatch.setenv("RMSJAX_DEBUG", "1")
    with pytest.raises(ValueError, match="learning_rate"):
        cli.main(["train", "quadratic", "--lr", "-1", "--no-progress"])


@pytest.mark.parametrize("argv", [[], ["train"], ["sweep"], ["compare"]])
def test_help_has_examples(argv, capsys):
    code, out, _ = run([*argv, "--help"], capsys)
    assert code == 0
    assert "examples:" in out and "rmsjax " in out
    assert "digits" in out


# --------------------------------------------------------------------------------------------
# Real data (skipped without ../shared/data).


def test_train_mnist_offline_split(shared_data, tmp_path, capsys):
    argv = ["train", "mnist", "--data-dir", shared_data, "--epochs", 1, "--out", tmp_path]
    code, out, err = run(argv + ["--no-progress"], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert "8,000" in metrics["source"] and "2,000" in metrics["source"]
    assert metrics["source"] in out
    assert metrics["test_accuracy"] > 0.8  # one epoch of the seed's MLP


# --------------------------------------------------------------------------------------------
# The installed console script, in a subprocess.


def _run_script(*argv) -> subprocess.CompletedProcess:
    return subprocess.run(
        [_console_script(), *(str(a) for a in argv)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RMSJAX_DEBUG": ""},
    )


def _console_script() -> str:
    script = Path(sys.executable).parent / "rmsjax"
    if not script.exists():
        pytest.skip(f"console script not installed at {script} (pip install -e .)")
    return str(script)


def test_console_script_trains(tmp_path):
    proc = _run_script("train", "quadratic", "--epochs", 20, "--out", tmp_path, "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^  loss +[0-9]", proc.stdout, re.M)
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["epochs"] == 20
    assert_png(tmp_path / "trajectory.png")


def test_console_script_error_is_one_line(tmp_path):
    proc = _run_script("train", "quadratic", "--decay", "1.5", "--out", tmp_path)
    assert proc.returncode == 1
    expected = "rmsjax: error: `decay` must be in [0, 1), got 1.5 (option --decay)"
    assert proc.stderr.strip() == expected


# --------------------------------------------------------------------------------------------
# A first hour without surprises.


def test_missing_matplotlib_is_reported_before_training(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    code, out, err = run(["sweep", "quadratic", "--out", tmp_path, "--no-progress"], capsys)
    assert code == 1
    assert_one_line_error(err)
    assert "pip install matplotlib" in err
    assert out == "" and list(tmp_path.iterdir()) == []  # nothing trained, nothing half-saved


@pytest.mark.parametrize("command", ["train", "sweep", "compare"])
def test_unwritable_out_is_found_before_training(command, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err = run([command, "quadratic", "--out", blocker / "sub"], capsys)
    assert code == 1
    assert_one_line_error(err)
    assert out == ""  # the plan line is printed only once the folder is known to be writable


def test_offline_tfds_fails_fast_and_leaves_nothing(tmp_path, monkeypatch):
    import socket
    import time

    pytest.importorskip("tensorflow_datasets")
    try:
        socket.create_connection(("storage.googleapis.com", 443), timeout=3).close()
        pytest.skip("online: this test checks the offline behaviour")
    except OSError:
        pass
    monkeypatch.delenv("RMSJAX_DATA_DIR", raising=False)
    cache = tmp_path / "tfds"
    monkeypatch.setenv("TFDS_DATA_DIR", str(cache))
    start = time.perf_counter()
    proc = _run_script("train", "mnist", "--out", tmp_path / "out", "--no-progress")
    seconds = time.perf_counter() - start
    assert proc.returncode == 1, proc.stderr
    assert "tensorflow-datasets could not load 'mnist'" in proc.stderr
    assert "--data-dir DIR" in proc.stderr
    # The bound: tfds's own retries took 3.5 minutes; the check gives up in seconds
    # (process start-up and imports included, on a loaded machine).
    assert seconds < 10
    assert not cache.exists()


def test_resumed_sweep_counts_only_computed_work(tmp_path, capsys):
    argv = ["sweep", "quadratic", "--epochs", 10, "--chunk-size", 2]
    argv += ["--out", tmp_path, "--no-progress"]
    assert run(argv, capsys)[0] == 0
    chunks = sorted((tmp_path / "chunks").glob("chunk_*.npz"))
    assert len(chunks) == 5  # 10 configurations of the default grid, 2 per chunk
    for chunk in chunks[:2]:
        chunk.unlink()
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "resumed: 6 of 10 configurations loaded" in out and "4 computed now" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["loaded_configurations"] == 6
    steps = metrics["steps_per_second"] * metrics["sweep_seconds"]
    assert steps == pytest.approx(4 * 10)  # 4 configurations x 10 steps, not 10 x 10


def test_old_resume_folder_gets_a_clear_message(tmp_path, capsys):
    (tmp_path / "chunks").mkdir()
    (tmp_path / "chunks" / "cli-options.json").write_text("{}")
    argv = ["sweep", "quadratic", "--resume", "--out", tmp_path, "--no-progress"]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert_one_line_error(err)
    assert "holds results of another run (chunks; no run.json" in err and "older rmsjax" in err
    # The library says what the folder is, for callers of run_sweep.
    with pytest.raises(ValueError, match="older rmsjax .*cli-options.json"):
        rmsjax.experiment.run_sweep(
            rmsjax.experiment.SweepConfig("quadratic", resume_dir=tmp_path / "chunks")
        )


def test_sweep_momentum_none_against_momentum(tmp_path, capsys):
    argv = ["sweep", "quadratic", "--lr", 0.1, "--decay", 0.9, "--momentum", "none,0.9"]
    code, out, err = run(argv + ["--epochs", 20, "--out", tmp_path, "--no-progress"], capsys)
    assert code == 0, err
    with open(tmp_path / "results.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["momentum"] for r in rows] == ["", "0.9"]  # None, as pandas wrote it
    direct = tasks.get("quadratic").train(epochs=20, optimizer=rmsjax.rmsprop(0.1, decay=0.9))
    assert float(rows[0]["loss"]) == pytest.approx(direct.metrics["loss"], rel=1e-5)
    code, _, err = run(
        ["train", "quadratic", "--momentum", "none", "--out", tmp_path / "t"], capsys
    )
    assert code == 0, err


def test_compare_2d_has_no_examples_per_second(tmp_path, capsys):
    code, out, err = run(["compare", "quadratic", "--epochs", 10, "--out", tmp_path], capsys)
    assert code == 0, err
    assert "examples_per_second" not in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert all("examples_per_second" not in r for r in metrics["results"].values())


@pytest.mark.parametrize("argv", [[], ["train"], ["sweep"], ["compare"]])
def test_help_speaks_the_users_words(argv, capsys):
    _, out, _ = run([*argv, "--help"], capsys)
    assert "seed's" not in out
    assert "Rosenbrock's banana-shaped valley" in out


# --------------------------------------------------------------------------------------------
# Sampled searches and successive halving (rmsjax.sample, rmsjax.halving, rmsjax.optuna_search).


def _rows(path):
    with open(path / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_sweep_random_search_draws_from_the_default_range(tmp_path, capsys):
    argv = ["sweep", "xor", "--search", "random", "--trials", 5, "--epochs", 3]
    code, out, err = run(argv + ["--out", tmp_path, "--no-progress"], capsys)
    assert code == 0, err
    assert "5 configurations by random search over learning_rate log-uniform" in out
    rates = [float(r["learning_rate"]) for r in _rows(tmp_path)]
    low, high = min(tasks.get("xor").sweep_space["learning_rate"]), 0.1
    assert len(set(rates)) == 5 and all(low <= r <= high for r in rates)
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["grid"]["sample"]


def test_sweep_sobol_search_over_ranges(tmp_path, capsys):
    argv = ["sweep", "xor", "--search", "sobol", "--trials", 4, "--lr", "1e-3:1e-1"]
    argv += ["--decay", "0.8:0.99", "--epochs", 3, "--out", tmp_path, "--no-progress"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    rows = _rows(tmp_path)
    assert len(rows) == 4
    assert all(1e-3 <= float(r["learning_rate"]) <= 0.1 for r in rows)
    assert all(0.8 <= float(r["decay"]) <= 0.99 for r in rows)


def test_sweep_halving_stops_configurations_early(tmp_path, capsys):
    argv = ["sweep", "digits", "--search", "random", "--trials", 9, "--halving", 3]
    code, out, err = run(argv + ["--epochs", 9, "--out", tmp_path, "--no-progress"], capsys)
    assert code == 0, err
    assert "successive halving (eta 3)" in out
    rows = _rows(tmp_path)
    pruned = [r for r in rows if r["pruned"] == "True"]
    assert pruned and all(int(r["budget"]) < 9 for r in pruned)
    assert all(int(r["budget"]) == 9 for r in rows if r["pruned"] == "False")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    best = metrics["ranking"][0]
    assert best["epochs"] == 9 and not best["pruned"]  # only full runs can be best
    assert_png(tmp_path / "val_accuracy.png")  # points of a sampled space, not a heatmap
    assert not (tmp_path / "heatmap.png").exists()


@pytest.mark.parametrize("search, says", [
    ("asha", "asynchronous successive halving (eta 3)"),
    ("hyperband", "Hyperband's brackets of successive halving (eta 3)"),
])  # fmt: skip
def test_sweep_asha_and_hyperband_stop_trials_early(search, says, tmp_path, capsys):
    argv = ["sweep", "digits", "--search", search, "--trials", 9, "--epochs", 9]
    code, out, err = run(argv + ["--out", tmp_path, "--no-progress"], capsys)
    assert code == 0, err
    assert says in out and "9 configurations by random search" in out
    rows = _rows(tmp_path)
    assert len(rows) == 9 and any(r["pruned"] == "True" for r in rows)
    assert all(int(r["budget"]) == 9 for r in rows if r["pruned"] == "False")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["config"]["search"] == search and metrics["config"]["halving"] == 3
    best = metrics["ranking"][0]
    assert best["epochs"] == 9 and not best["pruned"]
    code, out, err = run(argv + ["--out", tmp_path, "--no-progress"], capsys)  # resumed
    assert code == 0, err
    assert json.loads((tmp_path / "metrics.json").read_text())["loaded_configurations"] == 9


def test_sweep_optuna_search_resumes(tmp_path, capsys):
    pytest.importorskip("optuna")
    argv = ["sweep", "xor", "--search", "optuna", "--trials", 4, "--epochs", 3]
    argv += ["--out", tmp_path, "--no-progress"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    first = json.loads((tmp_path / "metrics.json").read_text())
    assert len(first["ranking"]) == 4 and first["loaded_configurations"] == 0
    code, out, err = run(argv, capsys)
    assert code == 0, err
    again = json.loads((tmp_path / "metrics.json").read_text())
    assert again["loaded_configurations"] == 4 and again["best"] == first["best"]


def test_sweep_optuna_resume_refuses_other_options(tmp_path, capsys):
    pytest.importorskip("optuna")
    argv = ["sweep", "xor", "--search", "optuna", "--trials", 2, "--epochs", 2]
    argv += ["--out", tmp_path, "--no-progress"]
    assert run(argv, capsys)[0] == 0
    manifest = json.loads((tmp_path / "chunks" / "manifest.json").read_text())
    assert manifest["metadata"]["task"] == "xor" and manifest["metadata"]["batch_size"] == 4
    # Another batch size: the options recorded in the manifest name what differs, in one line.
    code, _, err = run([*argv, "--batch-size", 2], capsys)
    assert code == 1
    assert_one_line_error(err)
    assert "another run (batch_size 4 there, 2 now)" in err


@pytest.mark.parametrize(
    "argv, code, match",
    [
        (["sweep", "xor", "--lr", "1e-3:1e-1"], 1, "are ranges, which a grid cannot list"),
        (["sweep", "xor", "--search", "random"], 1, "needs --trials N >= 1, got None (not given)"),
        (["sweep", "quadratic", "--halving", 3], 1, "`halving` needs epochs"),
        (
            ["sweep", "quadratic", "--search", "asha", "--trials", 3],
            1,
            "search 'asha' needs epochs to stop at",
        ),
        (["sweep", "xor", "--search", "hyperband"], 1, "needs --trials N >= 1"),
        (["sweep", "xor", "--halving", 1], 2, "expected an integer >= 2"),
        (["sweep", "xor", "--lr", "0.1:0.01", "--search", "random"], 2, "needs LO < HI"),
        (["train", "xor", "--lr", "1e-3:1e-1"], 2, "a range is LO:HI:N"),
    ],
)
def test_search_errors_are_one_line(argv, code, match, tmp_path, capsys):
    got, _, err = run([*argv, "--out", tmp_path], capsys)
    assert got == code, err
    assert_one_line_error(err)
    assert match in err


# --------------------------------------------------------------------------------------------
# The output folder: nothing finished is lost, nothing is overwritten.


def test_fresh_starts_afresh_and_overwrite_leaves_no_stale_files(tmp_path, capsys):
    grid = ["sweep", "quadratic", "--epochs", 10, "--out", tmp_path, "--no-progress"]
    assert run(grid, capsys)[0] == 0
    assert_png(tmp_path / "heatmap.png")
    (tmp_path / "notes.txt").write_text("mine")  # not written by rmsjax: never deleted
    code, out, err = run([*grid, "--fresh"], capsys)
    assert code == 0, err
    assert "resumed" not in out
    assert json.loads((tmp_path / "metrics.json").read_text())["loaded_configurations"] == 0
    # Another command in the same folder is refused, naming what differs...
    train = ["train", "quadratic", "--epochs", 10, "--out", tmp_path, "--no-progress"]
    code, _, err = run(train, capsys)
    assert code == 1
    assert_one_line_error(err)
    assert 'command "sweep" there, "train" now' in err
    # ...and replaces the sweep's results with --overwrite: no heatmap, no chunks, no CSV left.
    code, _, err = run([*train, "--overwrite"], capsys)
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["loss.png", "metrics.json", "notes.txt", "run.json", "trajectory.png"]
    assert json.loads((tmp_path / "metrics.json").read_text())["command"] == "train"


def test_a_folder_of_an_older_rmsjax_is_refused_then_overwritten(tmp_path, capsys):
    for name in ("metrics.json", "heatmap.png", "test_accuracy.png"):
        (tmp_path / name).write_text("old")
    argv = ["sweep", "quadratic", "--epochs", 5, "--lr", 0.1, "--out", tmp_path, "--no-progress"]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert "heatmap.png" in err and "no run.json" in err
    assert (tmp_path / "metrics.json").read_text() == "old"
    code, _, err = run([*argv, "--overwrite"], capsys)
    assert code == 0, err
    assert not (tmp_path / "heatmap.png").exists() and not (tmp_path / "test_accuracy.png").exists()
    assert json.loads((tmp_path / "metrics.json").read_text())["command"] == "sweep"


def interrupt_when(argv, out, ready) -> str:
    """Runs ``rmsjax ARGV --out OUT`` as a process, sends it SIGINT once ``ready()`` holds (or
    after 300 s), checks that it stopped with status 130; returns its stderr."""
    root = str(Path(__file__).parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    proc = interruptible_popen(  # SIGINT at its default in the child, even if ignored here
        [sys.executable, "-m", "rmsjax.cli", *map(str, [*argv, "--out", out])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline and not ready():
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    return err


def test_sigint_keeps_finished_configurations_and_the_same_command_continues(tmp_path, capsys):
    # A real Ctrl-C (SIGINT) of a subprocess running `rmsjax sweep`, once some configurations
    # are recorded; the same command then continues, and ends with the results of an
    # uninterrupted run, bit for bit (results.csv holds every configuration's metrics).
    out = tmp_path / "out"
    argv = ["sweep", "quadratic", "--lr", "1e-3:1:40", "--decay", 0.9, "--epochs", 30000]
    argv += ["--chunk-size", 1, "--no-progress"]
    err = interrupt_when(argv, out, lambda: len(list((out / "chunks").glob("*.npz"))) >= 2)
    assert f"kept in {out}/chunks: run the same command again to continue" in err
    assert "Traceback" not in err
    code, text, err = run([*argv, "--out", out], capsys)
    assert code == 0, err
    loaded = json.loads((out / "metrics.json").read_text())["loaded_configurations"]
    assert 2 <= loaded < 40, loaded
    assert f"resumed: {loaded} of 40 configurations loaded" in text
    code, _, err = run([*argv, "--out", tmp_path / "whole"], capsys)
    assert code == 0, err
    assert (out / "results.csv").read_text() == (tmp_path / "whole" / "results.csv").read_text()


# --------------------------------------------------------------------------------------------
# The best row again: the printed `rmsjax train` line reproduces it bit for bit.


@pytest.mark.parametrize(
    "argv",
    [
        ["digits", "--lr", "1e-3,3e-3", "--decay", "0.9,0.99", "--epochs", 2, "--seeds", 2],
        ["quadratic", "--lr", "0.01:0.3:3", "--momentum", "0.5", "--chunk-size", 1],
    ],
)
def test_the_printed_train_line_reproduces_the_best_row_bit_for_bit(argv, tmp_path, capsys):
    code, out, err = run(["sweep", *argv, "--out", tmp_path / "sweep", "--no-progress"], capsys)
    assert code == 0, err
    line = re.search(r"bit for bit: (rmsjax train .*)$", out, re.M).group(1)
    metrics = json.loads((tmp_path / "sweep" / "metrics.json").read_text())
    assert metrics["best_train_command"] == line
    words = shlex.split(line)[1:]
    code, _, err = run([*words, "--out", tmp_path / "train", "--no-progress"], capsys)
    assert code == 0, err
    again = json.loads((tmp_path / "train" / "metrics.json").read_text())
    with open(tmp_path / "sweep" / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["seed"] == "0"]
    row = next(r for r in rows if int(r["config_id"]) == metrics["best_config_id"])
    task = tasks.get(argv[0])
    for name in task.scalar_metrics:  # float32 values, compared exactly
        assert np.float32(again[name]) == np.float32(row[name]), (name, again[name], row[name])
    if "--seeds" not in argv:  # one seed: the row is that run, in metrics.json too
        assert all(again[n] == metrics[n] for n in task.scalar_metrics)


@pytest.mark.parametrize(
    "argv, printed",
    [
        (["quadratic", "--lr", "0.1", "--momentum", "none,0.9"], True),  # best: momentum none
        (["quadratic", "--lr", "0.05,0.1", "--centered", "false,true"], True),  # a flag
        (["quadratic", "--lr", "0.1", "--nu-dtype", "float32,bfloat16"], True),  # a choice
        (["quadratic", "--lr", "0.1:0.3:2", "--momentum", "0.5,0.9"], True),  # numbers, traced
        # best: momentum 0.9 on an axis holding none too, which the sweep compiled as a constant
        # and `rmsjax train` traced: the printed line trained another program than the row
        # (issue 22), so no line is printed for that row.
        (["digits", "--lr", "0.3", "--decay", "0.9", "--momentum", "none,0.9", "--epochs", 1],
         False),
    ],
)  # fmt: skip
def test_the_train_line_of_every_kind_of_axis_is_true_or_absent(argv, printed, tmp_path, capsys):
    code, out, err = run(["sweep", *argv, "--out", tmp_path / "sweep", "--no-progress"], capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "sweep" / "metrics.json").read_text())
    with open(tmp_path / "sweep" / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["seed"] == "0"]
    row = next(r for r in rows if int(r["config_id"]) == metrics["best_config_id"])
    task = tasks.get(argv[0])
    found = re.search(r"bit for bit: (rmsjax train .*)$", out, re.M)
    if found is not None:  # the line must be true, whatever the kind of axis
        code, _, err = run([*shlex.split(found.group(1))[1:], "--out", tmp_path / "train",
                            "--no-progress"], capsys)  # fmt: skip
        assert code == 0, err
        again = json.loads((tmp_path / "train" / "metrics.json").read_text())
        for name in task.scalar_metrics:  # float32 values, compared exactly
            assert np.float32(again[name]) == np.float32(row[name]), (name, again[name], row)
    assert (found is not None) == printed
    if not printed:
        assert metrics["best_train_command"] is None
        assert (
            "no `rmsjax train` line reproduces the best row bit for bit: the sweep compiled "
            "momentum=0.9 as a constant (its axis holds none too)"
        ) in out


def test_a_resumed_optuna_study_does_not_propose_its_trials_again(tmp_path):
    optuna = pytest.importorskip("optuna")
    from rmsjax.experiment import studies

    config = experiment.resolve(experiment.SweepConfig(task="xor", search="optuna", trials=3))
    space = {"x": optuna.distributions.FloatDistribution(0.0, 1.0)}
    study = studies.optuna_study(config, tmp_path)
    for _ in range(3):  # TPE's first trials are random draws from its seeded generator
        trial = study.ask(space)
        study.tell(trial, trial.params["x"])
    first = [t.params["x"] for t in study.trials]
    resumed = studies.optuna_study(config, tmp_path)
    assert resumed.ask(space).params["x"] not in first


def test_two_runs_in_the_same_second_write_two_studies(tmp_path, monkeypatch):
    optuna = pytest.importorskip("optuna")
    from rmsjax.experiment import studies

    second = time.gmtime(0)
    monkeypatch.setattr(studies.time, "gmtime", lambda *a: second)  # both in one second
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = experiment.resolve(experiment.SweepConfig(
        task="xor", search="random", trials=2, optuna_storage=url))  # fmt: skip
    # A result over the config's own axes (the study is written with the config's space).
    space = rmsjax.grid(learning_rate=[0.01], decay=[0.9])
    result = rmsjax.SweepResult(space=space, seeds=1,
                                metrics={"test_accuracy": np.array([[0.5]])})  # fmt: skip
    # No resume folder (no run id): each run writes its own, time-stamped study.
    names = {studies.write_storage(config, tasks.get("xor"), result, None) for _ in range(2)}
    assert len(names) == 2 and len(optuna.get_all_study_summaries(url)) == 2


def test_a_rerun_continues_its_study_and_writes_no_trial_twice(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    argv = ["sweep", "xor", "--search", "random", "--trials", 3, "--epochs", 1]
    argv += ["--optuna-storage", url, "--out", tmp_path / "out", "--no-progress"]
    for _ in range(2):  # the rerun only loads the finished configurations
        code, out, err = run(argv, capsys)
        assert code == 0, err
    (summary,) = optuna.get_all_study_summaries(url)
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    assert sorted(t.user_attrs["rmsjax_config"] for t in study.trials) == [0, 1, 2]
    assert len({t.user_attrs["rmsjax_run"] for t in study.trials}) == 1
    code, out, err = run([*argv, "--study-name", "mine"], capsys)
    assert code == 0, err
    assert "written to the Optuna storage as study 'mine'" in out
    assert len(optuna.load_study(study_name="mine", storage=url).trials) == 3


def test_a_study_name_needs_a_storage(tmp_path, capsys):
    argv = ["sweep", "xor", "--study-name", "mine", "--out", tmp_path, "--no-progress"]
    code, out, err = run(argv, capsys)
    assert code != 0 and "`study_name` 'mine' needs `optuna_storage`" in err


def test_sweep_writes_its_result_to_an_optuna_storage(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    argv = ["sweep", "xor", "--search", "random", "--trials", 6, "--halving", 3, "--epochs", 3]
    argv += ["--optuna-storage", url, "--out", tmp_path / "out", "--no-progress"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    (summary,) = optuna.get_all_study_summaries(url)
    assert f"written to the Optuna storage as study {summary.study_name!r}" in out
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    rows = _rows(tmp_path / "out")
    assert len(study.trials) == len(rows) == 6
    # Written as they finished (pruned ones at their rung first), so in id order by their tag.
    trials = sorted(study.trials, key=lambda t: t.user_attrs["rmsjax_config"])
    states = [t.state.name for t in trials]
    assert states == ["PRUNED" if r["pruned"] == "True" else "COMPLETE" for r in rows]
    assert study.direction.name == "MAXIMIZE" and study.metric_names == ["test_accuracy"]
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    # Optuna's best trial is the smallest id among ties; the command's pick breaks ties by
    # test_loss (issue 22): the same value, and the pick's trial among the best trials.
    assert study.best_value == metrics["test_accuracy"]
    best_ids = {t.user_attrs["rmsjax_config"] for t in study.trials
                if t.state.name == "COMPLETE" and t.value == study.best_value}  # fmt: skip
    assert metrics["best_config_id"] in best_ids
    assert metrics["optuna_study"] == summary.study_name
    assert_png(tmp_path / "out" / "history.png")


def test_the_optuna_storage_shows_each_configuration_as_it_finishes(tmp_path, capsys, monkeypatch):
    """Issue 23: each configuration is in the storage when it finishes, with its own start and
    end times; after a Ctrl-C the rerun adds only what is missing, nothing twice."""
    optuna = pytest.importorskip("optuna")
    from rmsjax._engine.pool import Pool

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    argv = ["sweep", "digits", "--search", "random", "--trials", 9, "--halving", 3, "--epochs", 9]
    argv += ["--optuna-storage", url, "--out", tmp_path / "out", "--no-progress"]
    seen, step = [], Pool.step

    def counted(pool):  # the trials another reader of the storage sees before each unit
        summaries = optuna.get_all_study_summaries(url)
        seen.append(summaries[0].n_trials if summaries else 0)
        if stop[0] is not None and len(seen) > stop[0]:
            raise KeyboardInterrupt
        return step(pool)

    stop = [6]  # Ctrl-C at the 7th step of the pool: rung 1 is over (9 runs, 2 slots), 3 is not
    monkeypatch.setattr(Pool, "step", counted)
    code, out, err = run(argv, capsys)
    assert code != 0 and "KeyboardInterrupt" not in err  # the command's own message
    (summary,) = optuna.get_all_study_summaries(url)
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    before = {t.user_attrs["rmsjax_config"]: t for t in study.trials}
    assert 0 < len(before) < 9 and seen[-1] == len(before)  # written while it ran
    assert all(t.state.name == "PRUNED" for t in before.values())  # those that stopped at 1
    stop[0] = None
    code, out, err = run(argv, capsys)
    assert code == 0, err
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    configs = [t.user_attrs["rmsjax_config"] for t in study.trials]
    assert sorted(configs) == list(range(9))  # none lost, none twice
    for t in study.trials:
        assert t.datetime_start < t.datetime_complete
        if t.user_attrs["rmsjax_config"] in before:  # kept as the first run wrote it
            assert t.datetime_complete == before[t.user_attrs["rmsjax_config"]].datetime_complete
    assert len({t.datetime_complete for t in study.trials}) > 1


def test_sweep_refuses_an_optuna_storage_that_is_not_a_url(tmp_path, capsys):
    argv = ["sweep", "xor", "--optuna-storage", "optuna.db", "--out", tmp_path, "--no-progress"]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert_one_line_error(err)
    assert (
        "`optuna_storage` must be a storage URL such as 'sqlite:///optuna.db', got 'optuna.db'"
        in err
    )


# --------------------------------------------------------------------------------------------
# Population-based training (rmsjax.pbt): --search pbt --population N --interval K.

PBT = ["sweep", "digits", "--search", "pbt", "--population", 4, "--interval", 1]


def test_sweep_pbt_reports_saves_its_picture_and_its_best_member_replays(tmp_path, capsys):
    argv = [*PBT, "--epochs", 3, "--out", tmp_path, "--no-progress"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert "a population of 4 drawn at random over learning_rate log-uniform" in out
    assert "population-based training (every 1 epoch by val_accuracy" in out
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    best = metrics["best_config_id"]
    assert metrics["best_train_command"] is None  # `rmsjax train` cannot follow a schedule
    assert "--sweep-run" not in out
    assert f"rmsjax.replay(experiment.make_trainer(config), result.schedule({best}), " in out
    assert metrics["pbt"]["population"] == 4 and metrics["pbt"]["interval"] == 1
    assert metrics["pbt"]["copies"] >= 2  # one copy at each of the two rankings
    ranking = metrics["ranking"]
    assert len(ranking) == 4 and sum(r["copies"] for r in ranking) == metrics["pbt"]["copies"]
    with open(tmp_path / "best_schedule.csv", newline="") as f:
        schedule = list(csv.DictReader(f))
    assert [int(r["unit"]) for r in schedule] == [0, 1, 2]
    assert float(schedule[-1]["learning_rate"]) == metrics["best"]["learning_rate"]
    assert_png(tmp_path / "pbt_schedules.png")
    files = json.loads((tmp_path / "run.json").read_text())["files"]  # --overwrite removes them
    assert "pbt_schedules.png" in files and "best_schedule.csv" in files
    # The replay the report prints: the result read back from OUT/chunks (nothing trains),
    # the sweep's trainer, the best member's schedule: its metrics again, bit for bit.
    config = rmsjax.experiment.SweepConfig(
        "digits", search="pbt", population=4, interval=1, epochs=3, resume_dir=tmp_path / "chunks"
    )
    result = rmsjax.experiment.run_sweep(config).sweep
    assert result.loaded.all() and result.rank("val_accuracy")[0] == best
    again = rmsjax.replay(rmsjax.experiment.make_trainer(config), result.schedule(best),
                          key=jax.random.key(0))  # fmt: skip
    for name in ("val_accuracy", "test_accuracy", "loss"):
        np.testing.assert_array_equal(again[name], result.metrics[name][best])


@pytest.mark.parametrize(
    "argv, match",
    [
        ([*PBT[:4], "--interval", 1], "needs --population N, an int >= 4"),
        ([*PBT[:5], 3, "--interval", 1], "needs `population`, an int >= 4 (the bottom quarter"),
        ([*PBT[:6]], "--search pbt needs --interval K, the epochs between two rankings"),
        ([*PBT, "--epochs", 1], "`interval` (1) must be smaller than `epochs` (1)"),
        ([*PBT, "--trials", 4], "`trials` is not for search 'pbt': give the size of its "
                                "population as `population`"),
        ([*PBT, "--halving", 3], "`halving` is not for search 'pbt'"),
        ([*PBT, "--chunk-size", 2], "`chunk_size` 2 is smaller than `population` 4"),
        ([*PBT, "--momentum", "none,0.9"], "numeric ones only; `momentum` [None, 0.9] is "
                                           "compiled into"),
        (["sweep", "digits", "--population", 4], "`population` is for search 'pbt', not 'grid'"),
        (["sweep", "digits", "--search", "random", "--trials", 4, "--interval", 2],
         "`interval` is for search 'pbt', not 'random'"),
        (["sweep", "quadratic", *PBT[2:]], "task 'quadratic' has no epochs"),
    ],
)  # fmt: skip
def test_pbt_errors_are_one_line(argv, match, tmp_path, capsys):
    code, _, err = run([*argv, "--out", tmp_path, "--no-progress"], capsys)
    assert code == 1, err
    assert_one_line_error(err)
    assert match in err


def test_sigint_keeps_the_pbt_population_and_the_same_command_continues(tmp_path, capsys):
    # A real Ctrl-C once the population is saved at a ranking; the same command continues from
    # there and ends as an uninterrupted run, bit for bit.
    out = tmp_path / "out"
    argv = [*PBT, "--epochs", 20, "--no-progress"]
    err = interrupt_when(argv, out, lambda: bool(list((out / "chunks").glob("pbt_*.npz"))))
    assert f"the population as it was at its last ranking is kept in {out}/chunks" in err
    assert "Traceback" not in err
    code, resumed, err = run([*argv, "--out", out], capsys)
    assert code == 0, err
    assert "resumed: the population continued from epoch" in resumed
    code, _, err = run([*argv, "--out", tmp_path / "whole"], capsys)
    assert code == 0, err
    assert (out / "results.csv").read_text() == (tmp_path / "whole" / "results.csv").read_text()


# --------------------------------------------------------------------------------------------
# Errors in flags (issue 23 §1): a missing flag, an --out that cannot be made, the plan's plural.


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--search", "optuna"], "rmsjax: error: --search optuna needs --trials N >= 1, got None"),
        (["--search", "pbt", "--population", 4, "--epochs", 3],
         "rmsjax: error: --search pbt needs --interval K, the epochs between two rankings"),
    ],
)  # fmt: skip
def test_a_missing_search_flag_is_named_as_the_flag(argv, match, tmp_path, capsys):
    code, out, err = run(["sweep", "digits", *argv, "--out", tmp_path], capsys)
    assert code == 1 and out == ""
    assert_one_line_error(err)
    assert err.startswith(match) and "`" not in err, err


def test_out_that_cannot_be_made_names_the_flag(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    code, out, err = run(["train", "quadratic", "--out", tmp_path / "file" / "x"], capsys)
    assert code == 1 and out == ""
    assert_one_line_error(err)
    assert err.startswith(f"rmsjax: error: --out '{tmp_path / 'file' / 'x'}': [Errno"), err


def test_plan_of_one_configuration_is_singular(tmp_path, capsys):
    argv = ["sweep", "quadratic", "--lr", "0.01", "--decay", "0.9", "--epochs", 2]
    code, out, err = run([*argv, "--no-progress", "--out", tmp_path], capsys)
    assert code == 0, err
    assert "1 configuration (" in out and "1 configurations" not in out, out


def test_each_kind_of_search_has_its_own_default_folder(tmp_path, capsys, monkeypatch):
    """The main job, then a halving random search: before, both wrote runs/digits-sweep and
    the second was refused as another run."""
    monkeypatch.chdir(tmp_path)
    small = ["--epochs", 3, "--no-progress", "--lr", "1e-3,1e-2", "--decay", "0.9"]
    code, out, err = run(["sweep", "xor", *small], capsys)
    assert code == 0, err
    assert f"saved to {Path('runs') / 'xor-sweep'}" in out
    sampled = ["--search", "random", "--trials", 4, "--halving", 2, "--lr", "1e-3:1e-1"]
    code, out, err = run(["sweep", "xor", *small[:3], *sampled], capsys)
    assert code == 0, err
    assert f"saved to {Path('runs') / 'xor-random-halving2'}" in out
    code, out, err = run(["sweep", "xor", *small[:3], *sampled[:4], "--lr", "1e-3:1e-1"], capsys)
    assert code == 0, err
    assert f"saved to {Path('runs') / 'xor-random'}" in out


def test_an_optuna_search_writes_its_space_to_the_optuna_storage(tmp_path, capsys):
    optuna = pytest.importorskip("optuna")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    argv = ["sweep", "xor", "--search", "optuna", "--trials", 2, "--epochs", 1]
    argv += ["--optuna-storage", url, "--out", tmp_path / "out", "--no-progress"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    (summary,) = optuna.get_all_study_summaries(url)
    study = optuna.load_study(study_name=summary.study_name, storage=url)
    from rmsjax._engine.distributions import distribution

    config = experiment.resolve(experiment.SweepConfig(task="xor", search="optuna", trials=2))
    # The distributions of the space searched, not the range of the two values it drew.
    expected = {n: distribution(n, v).to_optuna() for n, v in config.space.items()}
    assert any(not isinstance(d, optuna.distributions.FloatDistribution) or d.log
               for d in expected.values())  # fmt: skip
    assert [t.distributions for t in study.trials] == [expected] * 2


def test_a_batch_size_larger_than_the_data_fails_before_the_plan(tmp_path, capsys):
    argv = ["sweep", "digits", "--batch-size", 100000, "--epochs", 1, "--out", tmp_path / "o"]
    code, out, err = run([*argv, "--no-progress"], capsys)
    assert code == 2 and out == "", out  # nothing printed first: no plan, no training
    assert err.strip().splitlines() == [
        "rmsjax sweep: error: --batch-size 100000 exceeds the 1,150 training examples this sweep "
        "trains on"
    ]


def test_a_rerun_that_loaded_everything_reports_no_throughput(tmp_path, capsys):
    argv = ["sweep", "xor", "--lr", "0.1,0.3", "--decay", "0.9", "--epochs", 2, "--out", tmp_path]
    argv += ["--no-progress"]
    assert run(argv, capsys)[0] == 0
    assert json.loads((tmp_path / "metrics.json").read_text())["examples_per_second"] > 0
    code, out, err = run(argv, capsys)
    assert code == 0, err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["loaded_configurations"] == 2
    assert "examples_per_second" not in metrics  # not 0: nothing was trained to measure
    assert "0 computed now (no throughput: none trained)" in out


@pytest.mark.parametrize("finished", [False, True])
def test_ctrl_c_says_what_was_kept(tmp_path, capsys, monkeypatch, finished):
    chunks = tmp_path / "chunks"

    def interrupted(config, data, progress):
        if finished:  # a chunk written before the Ctrl-C
            (chunks / "chunk_00000.npz").write_bytes(b"saved")
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "run_sweep", interrupted)
    argv = ["sweep", "xor", "--epochs", 2, "--out", tmp_path, "--no-progress"]
    code, out, err = run(argv, capsys)
    assert code == 130
    if finished:
        assert "the configurations finished so far are kept in" in err
    else:  # e.g. interrupted while compiling
        assert err.strip().endswith("interrupted; no configuration had finished, nothing was kept")

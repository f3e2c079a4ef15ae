"""optuna-dashboard on a storage the command wrote: the study, its trials and their parameters
over the dashboard's JSON API, served as docs/pictures/make.py serves it for the pictures page's
screenshot; the page itself in headless Chromium where one is installed."""

import csv
import importlib.util
import json
import urllib.request
from pathlib import Path

import pytest

from rmsjax import cli, experiment

pytest.importorskip(
    "optuna_dashboard",
    reason="optuna-dashboard is not installed (pip install optuna-dashboard==0.21.0, in the docs "
    "extra)",
)
optuna = pytest.importorskip("optuna")
Image = pytest.importorskip("PIL.Image")

MAKE = Path(__file__).resolve().parents[1] / "docs" / "pictures" / "make.py"
SWEEP = ["sweep", "digits", "--search", "random", "--trials", "6", "--halving", "3",
         "--epochs", "3"]  # fmt: skip
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def make():
    """docs/pictures/make.py as a module: the server and screenshot code the pictures use."""
    spec = importlib.util.spec_from_file_location("pictures_make", MAKE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """The pictures page's dashboard command at small size: (storage URL, output folder)."""
    tmp = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{tmp / 'optuna.db'}"
    code = cli.main([*SWEEP, "--optuna-storage", url, "--out", str(tmp / "out"), "--no-progress"])
    assert code == 0
    return url, tmp / "out"


def get(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return json.load(response)


def test_the_dashboard_lists_the_commands_study_and_trials(make, written):
    storage, out = written
    metrics = json.loads((out / "metrics.json").read_text())
    with open(out / "results.csv", newline="") as f:
        rows = {row["config_id"]: row for row in csv.DictReader(f)}
    assert len(rows) == 6
    with make.dashboard_server(storage) as url:
        (study,) = get(f"{url}/api/studies")["study_summaries"]
        assert study["study_name"] == metrics["optuna_study"]
        assert study["directions"] == ["maximize"]
        detail = get(f"{url}/api/studies/{study['study_id']}")
    assert detail["objective_names"] == ["val_accuracy"]
    trials = detail["trials"]
    assert len(trials) == len(rows)
    config = experiment.resolve(experiment.SweepConfig("digits", search="random", trials=6))
    from rmsjax._engine.distributions import distribution

    space = {name: distribution(name, v).to_optuna() for name, v in config.space.items()}
    seen = set()
    for trial in trials:
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        row = rows[attrs["rmsjax_config"]]
        seen.add(attrs["rmsjax_config"])
        assert trial["state"] == ("Pruned" if row["pruned"] == "True" else "Complete")
        params = {p["name"]: p for p in trial["params"]}
        assert set(params) == set(space) == {"learning_rate", "decay"}
        for name, param in params.items():
            assert float(param["param_external_value"]) == float(row[name]), (name, row)
            # The space searched, as the dashboard reads it (its own serialization).
            expected = space[name]
            got = param["distribution"]
            assert got["type"] == type(expected).__name__
            if isinstance(expected, optuna.distributions.FloatDistribution):
                assert (got["low"], got["high"], got["log"]) == (expected.low, expected.high,
                                                                 expected.log)  # fmt: skip
            else:
                assert [float(c["value"]) for c in got["choices"]] == list(expected.choices)
        # Each epoch it trained is an intermediate value; the last one is the row's metric.
        steps = {v["step"]: v["value"] for v in trial["intermediate_values"]}
        assert len(steps) == int(row["budget"])
        assert steps[max(steps)] == pytest.approx(float(row["val_accuracy"]), rel=1e-6)
        if trial["state"] == "Complete":
            assert trial["values"] == [pytest.approx(float(row["val_accuracy"]), rel=1e-6)]
    assert seen == set(rows)  # every configuration once
    assert any(t["state"] == "Pruned" for t in trials)
    assert any(t["state"] == "Complete" for t in trials)


def test_the_dashboard_page_draws_every_trial_in_chromium(make, written, tmp_path):
    if make.browser() is None:
        pytest.skip(
            f"no Chromium on PATH (any of {', '.join(make.BROWSERS)}): apt-get install chromium"
        )
    storage, _ = written
    shot, missing = tmp_path / "shot.png", tmp_path / "missing.png"
    with make.dashboard_server(storage) as url:
        (study,) = get(f"{url}/api/studies")["study_summaries"]
        make.screenshot_study(url, study["study_id"], 6, shot)  # its History plot drew all 6
        # A study the storage lacks draws no History plot: the check fails, no picture is saved.
        with pytest.raises(RuntimeError, match="drew 0 of the study's 6 trials"):
            make.screenshot_study(url, 999, 6, missing)
        assert not missing.exists()
        make.chromium(f"{url}/dashboard/studies/999", f"--screenshot={missing}")
    assert shot.read_bytes()[:8] == PNG_MAGIC
    with Image.open(shot) as image, Image.open(missing) as empty:
        assert image.size == empty.size == make.WINDOW
        # The picture is the study's page drawn, not a page that would look the same without it.
        assert image.convert("RGB").tobytes() != empty.convert("RGB").tobytes()

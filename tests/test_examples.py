"""Every script in examples/ runs small, saves a valid PNG and reports numbers that make sense.

Each example is imported from its file and its ``main(argv)`` called in-process (one script also
runs as a subprocess, the way a user runs it). The checks are on the numbers each ``main``
returns: closed forms where there are some (gradient descent on x^2, the cache under a constant
gradient), otherwise the comparison the example exists to show, with margins stated below.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL = sorted(p.stem for p in EXAMPLES.glob("*.py") if not p.stem.startswith("_"))


def load(name: str):
    """The example ``examples/<name>.py`` as a module (examples/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"rmsjax_example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_png(path: Path, out: Path) -> None:
    assert path.parent == out and path.is_file(), path
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        image.verify()  # raises on a truncated or corrupt file
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= 300, image.size


def test_every_example_is_listed_and_documented():
    assert set(ALL) == {
        "decay_rate",
        "fixed_lr_quadratic",
        "gd_vs_rmsprop_quadratic",
        "lr_adaptation",
        "mnist_mlp",
        "optimizers_rosenbrock",
        "reviews_rnn",
        "rosenbrock",
        "xor",
    }
    page = (Path(__file__).resolve().parents[1] / "docs" / "guide" / "examples.rst").read_text()
    for name in ALL:
        doc = load(name).__doc__
        assert doc and f"python examples/{name}.py" in doc, name
        # The first line is the script's --help: the experiment in its own words.
        assert not any(word in doc.splitlines()[0] for word in ("slide", "seed")), name
        assert f"``{name}.py``" in page, name


def test_lr_adaptation(tmp_path):
    res = load("lr_adaptation").main(["--quick", "--out", str(tmp_path)])
    assert_png(res["figure"], tmp_path)
    e = res["phase_means"]  # [phase, parameter]: inputs x1, then x10, then x0.1
    assert e.shape == (3, 2) and np.all(np.isfinite(e)) and np.all(e > 0)
    # Gradients 10x larger in phase 2 and 100x smaller in phase 3 than there: the effective step
    # must move the other way. Margins of 3x and 10x leave room for the noisy gradients.
    assert np.all(e[1] < e[0] / 3)
    assert np.all(e[2] > 10 * e[1])
    # The weight whose feature is 100x smaller gets a much larger step in every phase.
    assert np.all(e[:, 1] > 10 * e[:, 0])


def test_fixed_lr_quadratic(tmp_path):
    res = load("fixed_lr_quadratic").main(["--quick", "--out", str(tmp_path)])
    assert_png(res["figure"], tmp_path)
    assert set(res["final_x"]) == {0.9, 0.1, 0.01}
    for lr, x in res["final_x"].items():
        # Gradient descent on x^2 multiplies x by (1 - 2 lr) exactly; float32 rounding only.
        assert x == pytest.approx(5.0 * (1 - 2 * lr) ** res["steps"], rel=1e-4, abs=1e-7)
    assert abs(res["final_x"][0.01]) > 1.0  # the low rate is still far away


@pytest.mark.parametrize("grad", [1.0, 3.0])
def test_decay_rate_cache_follows_closed_form(tmp_path, grad):
    res = load("decay_rate").main(["--quick", "--grad", str(grad), "--out", str(tmp_path)])
    assert_png(res["figure"], tmp_path)
    t = np.arange(1, res["steps"] + 1)
    assert set(res["curves"]) == {0.9, 0.99, 0.999}
    for decay, nu in res["curves"].items():
        # nu_t = g^2 (1 - decay^t) from nu_0 = 0; float32 over 100 steps: 1e-5 relative to g^2.
        np.testing.assert_allclose(nu, grad**2 * (1 - decay**t), rtol=0, atol=1e-5 * grad**2)
    # A higher decay rate is a longer memory: slower to approach g^2.
    last = [res["curves"][d][-1] for d in (0.9, 0.99, 0.999)]
    assert last[0] > last[1] > last[2]


def test_gd_vs_rmsprop_quadratic(tmp_path):
    res = load("gd_vs_rmsprop_quadratic").main(["--quick", "--out", str(tmp_path)])
    assert_png(res["figure"], tmp_path)
    x = res["final_x"]
    assert x["Gradient descent"] == pytest.approx(5.0 * 0.8 ** res["steps"], rel=1e-4)
    # RMSprop's steps are about lr: after 20 steps from 5 it is on its way, not there.
    assert 0.5 < x["RMSprop"] < 5.0
    # nu >= (1 - decay) g^2 bounds every step by lr / sqrt(1 - decay) (reached on the first).
    assert res["rmsprop_max_step"] <= res["rmsprop_step_bound"] * (1 + 1e-5)
    assert res["rmsprop_max_step"] == pytest.approx(res["rmsprop_step_bound"], rel=1e-4)


def test_xor_all_four_right(tmp_path, capsys):
    res = load("xor").main(["--quick", "--out", str(tmp_path)])
    assert_png(res["figure"], tmp_path)
    assert res["all_right"], res["outputs"]
    np.testing.assert_array_equal(res["outputs"] > 0.5, [False, True, True, False])
    assert "all four right: True" in capsys.readouterr().out


def test_rosenbrock_rmsprop_beats_gradient_descent(tmp_path):
    res = load("rosenbrock").main(["--quick", "--out", str(tmp_path)])
    assert_png(res["figure"], tmp_path)
    # Measured at 500 steps: RMSprop f = 3.4 at distance 1.87, GD f = 4.9 at distance 2.26.
    assert res["distance"]["rmsprop"] < res["distance"]["gd"] - 0.2
    assert res["final_value"]["rmsprop"] < res["final_value"]["gd"]


def test_optimizers_rosenbrock(tmp_path):
    res = load("optimizers_rosenbrock").main(["--quick", "--out", str(tmp_path)])
    assert_png(res["figure"], tmp_path)
    values = res["final_value"]
    assert set(values) == {"SGD", "RMSprop", "Adam"}
    assert all(np.isfinite(v) and 0 <= v < 24.5 for v in values.values())  # f(start) = 24.5
    assert values["RMSprop"] < values["SGD"]


def test_mnist_mlp(tmp_path, shared_data, capsys):
    data_dir = shared_data / "mnist"
    if not data_dir.is_dir():
        pytest.skip(f"MNIST IDX files not found at {data_dir}")
    res = load("mnist_mlp").main(["--quick", "--data-dir", str(data_dir), "--out", str(tmp_path)])
    assert_png(res["figure"], tmp_path)
    # One epoch of the seed's MLP reaches about 0.92 on the 2,000 held-out images; chance is 0.1.
    assert res["test_accuracy"] > 0.85
    assert len(res["predicted"]) == len(res["labels"]) == 10
    out = capsys.readouterr().out
    assert "8,000 train / last 2,000 eval" in out  # the offline split is said in the output


def test_reviews_rnn(tmp_path, shared_data):
    data_dir = shared_data / "movie_reviews" / "txt_sentoken"
    if not data_dir.is_dir():
        pytest.skip(f"movie reviews not found at {data_dir}")
    res = load("reviews_rnn").main(
        ["--quick", "--cell", "gru", "--data-dir", str(data_dir), "--out", str(tmp_path)]
    )
    assert_png(res["figure"], tmp_path)
    assert res["figure"].name == "reviews_rnn_gru.png"
    # One epoch on 64-token reviews: measured 0.655 held out (0.63 with embedding 32). Chance on
    # 400 balanced-ish reviews is 0.5 with a standard deviation of 0.025, so 0.55 is well above
    # chance and below the measure.
    assert res["test_accuracy"] > 0.55
    assert np.isfinite(res["train_loss"]).all()


@pytest.mark.parametrize("name", ["mnist_mlp", "reviews_rnn"])
def test_missing_data_dir_is_one_clear_line(tmp_path, name):
    missing = tmp_path / "nowhere"
    with pytest.raises(SystemExit) as info:
        load(name).main(["--quick", "--data-dir", str(missing), "--out", str(tmp_path)])
    assert str(missing) in str(info.value) and "--data-dir" in str(info.value)
    assert not list(tmp_path.glob("*.png"))


def test_runs_as_a_script(tmp_path):
    out = tmp_path / "figures"
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "decay_rate.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # not the repository: paths must not depend on the working directory
    )
    assert proc.returncode == 0, proc.stderr
    assert "decay 0.999: nu after 100 steps" in proc.stdout
    assert_png(out / "decay_rate.png", out)

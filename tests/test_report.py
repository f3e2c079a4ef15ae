"""rmsjax.report: printing and saving a Report; results are saved before any plot can fail."""

import io
import json
import sys

import numpy as np
import pytest

import rmsjax
from rmsjax import experiment, report, report_plots


@pytest.fixture(scope="module")
def sweep_report():
    space = {"learning_rate": [0.01, 0.1], "decay": [0.9, 0.99], "centered": [False, True]}
    config = experiment.SweepConfig("quadratic", space=space, epochs=10, seeds=2)
    return experiment.run_sweep(config)


def test_results_csv_has_the_format_pandas_wrote(sweep_report, tmp_path):
    # The command used to write results.csv with pandas; it now needs no pandas, same bytes.
    saved = report.save_report(sweep_report, tmp_path, plots=False)
    assert saved == ["metrics.json", "results.csv"]
    frame = sweep_report.sweep.to_pandas()  # its config_id column included
    assert (tmp_path / "results.csv").read_text() == frame.to_csv(index=False)


def test_results_are_saved_before_a_plot_fails(sweep_report, tmp_path):
    (tmp_path / "loss_curves.png").mkdir()  # the first plot cannot be written
    with pytest.raises(RuntimeError, match="the results are saved in .*metrics.json, results.csv"):
        report.save_report(sweep_report, tmp_path)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["best"] == sweep_report.json["best"]
    assert len((tmp_path / "results.csv").read_text().splitlines()) == 1 + 8 * 2


def test_missing_matplotlib_is_found_before_a_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"not installed: pip install matplotlib"):
        report.check_can_save(tmp_path / "out")
    assert report.check_can_save(tmp_path / "out", plots=False).is_dir()


def test_unwritable_output_is_found_before_a_run(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="file"):
        report.check_can_save(tmp_path / "file")
    with pytest.raises(OSError):
        report.check_can_save(tmp_path / "file" / "sub")


def test_print_report_sweep(sweep_report):
    out = io.StringIO()
    report.print_report(sweep_report, top=3, file=out)
    text = out.getvalue()
    assert text.startswith("top 3 by loss (min):\n")
    header = text.splitlines()[1].split()
    assert header[:5] == ["rank", "config_id", "learning_rate", "decay", "centered"]
    assert "best: learning_rate=" in text and "rmsjax.rmsprop(learning_rate=" in text
    assert "steps_per_second" in text and "examples_per_second" not in text


def test_to_json_has_no_nan():
    payload = report.to_json({"x": np.array([1.0, np.nan]), "y": np.inf})
    assert json.dumps(payload, allow_nan=False) == '{"x": [1.0, null], "y": null}'


@pytest.mark.parametrize("halving", [None, 2])
def test_results_csv_of_a_sampled_search(halving, tmp_path):
    import rmsjax

    space = {"learning_rate": rmsjax.loguniform(1e-4, 1e-2), "decay": [0.9, 0.99]}
    config = experiment.SweepConfig(
        "xor", search="sobol", trials=4, space=space, epochs=4, halving=halving
    )
    result = experiment.run_sweep(config)
    report.save_report(result, tmp_path, plots=False)
    frame = result.sweep.to_pandas()
    assert (tmp_path / "results.csv").read_text() == frame.to_csv(index=False)
    if halving:
        assert {"budget", "pruned"} <= set(frame.columns)


def test_a_halving_report_draws_the_optimization_history(tmp_path):
    pytest.importorskip("matplotlib")
    space = {"learning_rate": [0.003, 0.01, 0.03, 0.1, 0.3], "decay": [0.9, 0.99]}
    config = experiment.SweepConfig("xor", space=space, epochs=9, halving=3)
    result = experiment.run_sweep(config)
    saved = report.save_report(result, tmp_path)
    assert "history.png" in saved and (tmp_path / "history.png").stat().st_size > 0
    sweep = result.sweep
    spent, best = sweep.history()
    # Units spent end at every configuration's epochs; the last point is the pick's value
    # (history() shows the search's answer, not the best value of any unit: issue 22).
    assert spent[-1] == sweep.budget.sum() and np.all(np.diff(spent) > 0)
    metric = sweep.objective[0]
    pick = list(sweep.space).index(sweep.best(metric))
    assert (
        sweep.objective[1] == "max"
        and best[-1] == sweep.metrics[metric][pick].astype(np.float64).mean()
    )
    line = sweep.plot_history(unit="epoch").axes[0].lines[0]
    np.testing.assert_array_equal(line.get_xdata(), spent)
    np.testing.assert_array_equal(line.get_ydata(), best)


def test_loss_curves_of_one_epoch_show_as_markers(tmp_path):
    pytest.importorskip("matplotlib")
    curves = {"stopped": np.array([0.5, np.nan, np.nan]), "full": np.array([0.6, 0.4, 0.3])}
    fig = report_plots._plot_curves(tmp_path / "c.png", curves, "epoch", "t", [], x0=1,
                                    highlight=["full"])  # fmt: skip
    stopped, full = fig.axes[0].lines
    assert np.isfinite(stopped.get_ydata()).sum() == 1 and stopped.get_marker() == "o"
    assert full.get_marker() in (None, "None", "")


def test_pbt_curves_are_labelled_by_member_and_none_hides_another(tmp_path):
    pytest.importorskip("matplotlib")
    space = {"learning_rate": rmsjax.loguniform(0.01, 0.3), "decay": [0.9]}
    config = experiment.SweepConfig("xor", space=space, search="pbt", population=4, interval=2,
                                    epochs=4)  # fmt: skip
    result = experiment.run_sweep(config)
    # Each curve was trained under a schedule of values: labelled by member, one per member
    # (final values as labels repeated and so dropped members whose copies ended alike).
    assert list(result.curves) == [f"member {i}" for i in range(4)]
    report.save_report(result, tmp_path)


def test_a_sweeps_curve_legend_covers_no_curve(tmp_path):
    pytest.importorskip("matplotlib")
    curves = {f"lr={i}": np.linspace(1.0, 0.1 * (i + 1), 5) for i in range(6)}
    fig = report_plots._plot_curves(tmp_path / "c.png", curves, "epoch", "t", [], x0=1,
                                    highlight=list(curves))  # fmt: skip
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    legend, frame = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
    assert legend.x0 >= frame.x1  # beside the axes
    assert legend.x1 <= fig.bbox.x1  # and inside the picture

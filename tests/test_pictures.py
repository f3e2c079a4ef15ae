"""Pictures read back from the saved figure: colour scales, every configuration drawn."""

import jax
import numpy as np
import pytest

import rmsjax

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


def _curves(n, units, seed=0):
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.uniform(-1.0, 0.0, (n, 1, units)), axis=-1)


def test_curves_of_a_sampled_space_use_a_sorted_log_colour_scale(tmp_path):
    space = rmsjax.sample(20, seed=0, lr=rmsjax.loguniform(1e-4, 1e-1), decay=rmsjax.uniform(0, 1))
    result = rmsjax.SweepResult(space=space, seeds=1, metrics={"loss_curve": _curves(20, 5)})
    fig = result.plot("loss_curve", path=tmp_path / "curves.png")
    ax, bar = fig.axes
    assert bar.get_yscale() == "log"  # the loguniform axis on a log scale
    ticks = [t for t in bar.get_yticks() if bar.get_ylim()[0] <= t <= bar.get_ylim()[1]]
    assert len(ticks) >= 2 and ticks == sorted(ticks)
    assert all(float(f"{t:.2g}") == pytest.approx(t) for t in ticks), ticks  # round values
    # Each curve's colour is the scale's colour of its own value, on a log scale of lr.
    lrs = space.column("lr")
    norm = matplotlib.colors.LogNorm(min(lrs), max(lrs))
    assert bar.get_ylim() == pytest.approx((min(lrs), max(lrs)))
    cmap = matplotlib.colormaps["viridis"]
    for line, lr in zip(ax.lines, lrs, strict=True):
        np.testing.assert_allclose(matplotlib.colors.to_rgba(line.get_color()), cmap(norm(lr)))


def test_a_sampled_uniform_axis_gets_a_linear_sorted_scale():
    space = rmsjax.sample(16, seed=1, decay=rmsjax.uniform(0.5, 1.0))
    result = rmsjax.SweepResult(space=space, seeds=1, metrics={"loss_curve": _curves(16, 4)})
    fig = result.plot("loss_curve")
    bar = fig.axes[1]
    assert bar.get_yscale() == "linear"
    ticks = [t for t in bar.get_yticks() if bar.get_ylim()[0] <= t <= bar.get_ylim()[1]]
    assert len(ticks) >= 2 and ticks == sorted(ticks)
    assert all(float(f"{t:.2g}") == pytest.approx(t) for t in ticks), ticks  # round values
    values = space.column("decay")
    assert bar.get_ylim() == pytest.approx((min(values), max(values)))


def test_a_grid_spanning_decades_gets_a_log_scale_and_few_values_a_sorted_legend():
    rates = [float(v) for v in np.geomspace(1e-4, 1e-1, 13)][::-1]  # listed high to low
    result = rmsjax.SweepResult(space=rmsjax.grid(lr=rates), seeds=1,
                                metrics={"loss_curve": _curves(13, 3)})  # fmt: skip
    assert result.plot("loss_curve").axes[1].get_yscale() == "log"
    few = rmsjax.grid(lr=[0.3, 0.1, 0.2], decay=[0.9, 0.99, 0.999, 0.9999])
    result = rmsjax.SweepResult(space=few, seeds=1, metrics={"loss_curve": _curves(12, 3)})
    legend = result.plot("loss_curve").axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "decay=0.9", "decay=0.99", "decay=0.999", "decay=0.9999"
    ]  # fmt: skip


def _halving_result():
    from tests._staged_helpers import TRAINER

    space = rmsjax.grid(learning_rate=list(np.geomspace(1e-3, 0.3, 9)), decay=[0.9, 0.99, 0.999])
    return rmsjax.sweep(TRAINER, space, key=jax.random.key(0), budget=9, progress=False,
                        halving=rmsjax.halving("loss", mode="min"))  # fmt: skip


def test_every_halving_configuration_is_drawn_and_stopped_ones_stand_apart(tmp_path):
    result = _halving_result()
    assert (result.budget == 1).sum() > 0  # some stopped after one unit
    fig = result.plot("loss_curve", path=tmp_path / "curves.png")
    ax = fig.axes[0]
    lines = [line for line in ax.lines if np.isfinite(line.get_ydata()).any()]
    assert len(lines) == len(result.space)
    for line, units, stopped in zip(lines, result.budget, result.pruned, strict=True):
        finite = int(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).sum())
        assert finite == units
        visible = finite >= 2 or line.get_marker() not in (None, "None", "", " ")
        assert visible, f"a curve of {finite} point(s) has no marker"
        # Stopped configurations are marked with an x, those trained the full budget are not.
        assert (line.get_marker() == "x") == bool(stopped)
    assert "stopped early" in ax.get_title()

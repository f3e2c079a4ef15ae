"""PBTResult.plot_schedules: one panel per varying hyperparameter and one for the metric, one
line per member between copies, each copy drawn as a dashed jump from the donor."""

import jax
import numpy as np
import pytest

import rmsjax
from tests._staged_helpers import TRAINER

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")


@pytest.fixture(scope="module")
def sampled():
    space = rmsjax.sample(8, seed=0, learning_rate=rmsjax.loguniform(1e-3, 0.3),
                          decay=rmsjax.uniform(0.8, 0.999))  # fmt: skip
    return rmsjax.sweep(TRAINER, space, key=jax.random.key(0), budget=9, progress=False,
                        pbt=rmsjax.pbt("loss", "min", interval=3))  # fmt: skip


def _dashed(ax):
    return [line for line in ax.lines if line.get_linestyle() == "--"]


def _solid(ax):
    return [line for line in ax.lines if line.get_linestyle() == "-"]


def test_panels_jumps_and_file(sampled, tmp_path):
    result = sampled
    copies = np.argwhere(result.copied_from >= 0)
    assert len(copies) > 0  # the picture has jumps to draw
    path = tmp_path / "pbt.png"
    fig = result.plot_schedules(path=path)
    assert path.stat().st_size > 1000
    *panels, bar = fig.axes
    assert [ax.get_ylabel() for ax in panels] == ["learning_rate", "decay", "loss"]
    assert bar.get_ylabel() == "final loss"
    assert panels[0].get_yscale() == "log" and panels[1].get_yscale() == "linear"
    curve = result.metrics["loss_curve"].mean(axis=1)
    values = [result.hparams["learning_rate"], result.hparams["decay"], curve]
    for ax, value in zip(panels, values, strict=True):
        # One dashed jump per copy; a member's solid line breaks once at each of its copies.
        assert len(_dashed(ax)) == len(copies)
        assert len(_solid(ax)) == len(result.space) + len(copies)
        jumps = {tuple(np.asarray(line.get_xdata(), float)) + tuple(line.get_ydata())
                 for line in _dashed(ax)}  # fmt: skip
        for m, u in copies:  # unit u (0-based) is drawn at x = u + 1
            donor = result.copied_from[m, u]
            expected = (float(u), float(u + 1), value[donor, u - 1], value[m, u])
            assert any(np.allclose(j, expected) for j in jumps), (m, u)


def test_lines_are_coloured_by_final_score(sampled):
    result = sampled
    fig = result.plot_schedules()
    scores = result.metrics["loss"].mean(axis=1)
    bar = fig.axes[-1]
    assert bar.get_ylim() == pytest.approx((scores.max(), scores.min()))  # min: the best on top
    best = int(np.argmin(scores))
    # The best member's first segment (unit 1 onwards) has the colour map's best colour.
    first = [line for line in _solid(fig.axes[0]) if line.get_xdata()[0] == 1]
    colours = {tuple(matplotlib.colors.to_rgba(line.get_color())) for line in first}
    norm = matplotlib.colors.Normalize(scores.min(), scores.max())
    wanted = matplotlib.colormaps["viridis_r"](norm(scores[best]))
    assert any(np.allclose(c, wanted) for c in colours)


def test_another_metric_given_axes_and_bad_input(sampled):
    result = sampled
    fig = matplotlib.figure.Figure()
    axes = fig.subplots(3, 1)
    assert result.plot_schedules("score", axes=list(axes)) is fig
    assert axes[-1].get_ylabel() == "score"
    with pytest.raises(ValueError, match="unknown metric 'nope'"):
        result.plot_schedules("nope")
    with pytest.raises(ValueError, match="`axes` must be a sequence of 3"):
        result.plot_schedules(axes=list(axes[:2]))


def test_constant_axes_are_left_out_and_decades_get_a_log_scale():
    space = rmsjax.grid(learning_rate=[1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1], decay=[0.9])
    result = rmsjax.sweep(TRAINER, space, key=jax.random.key(1), budget=4, progress=False,
                          pbt=rmsjax.pbt("loss", "min", interval=2, fraction=0.5))  # fmt: skip
    fig = result.plot_schedules()
    *panels, _ = fig.axes
    assert [ax.get_ylabel() for ax in panels] == ["learning_rate", "loss"]
    assert panels[0].get_yscale() == "log"  # a grid spanning three decades


def test_a_tied_population_gets_one_colour_and_says_so():
    trainer = rmsjax.Trainer(
        init=lambda hp, key: jax.numpy.float32(1.0),
        advance=lambda w, hp, key: (w * (1 - hp["lr"]), {"c": 0 * w + 1, "w": w}),
    )
    result = rmsjax.sweep(trainer, rmsjax.grid(lr=[0.1, 0.2, 0.3, 0.4]), key=jax.random.key(0),
                          budget=4, progress=False,
                          pbt=rmsjax.pbt("c", mode="max", interval=2, fraction=0.5))  # fmt: skip
    fig = result.plot_schedules("w", unit="epoch")
    *panels, bar = fig.axes
    assert bar.get_ylabel() == "final c (every member ties)"
    assert panels[-1].get_xlabel() == "epoch"
    colours = {matplotlib.colors.to_rgba(line.get_color()) for ax in panels for line in ax.lines}
    assert len(colours) == 1


def test_the_title_names_the_ranking_and_its_tiebreak():
    trainer = rmsjax.Trainer(
        init=lambda hp, key: jax.numpy.float32(1.0),
        advance=lambda w, hp, key: (w * (1 - hp["lr"]), {"c": 0 * w + 1, "w": w}),
    )
    space = rmsjax.grid(lr=[0.1, 0.2, 0.3, 0.4])
    titles = []
    for tiebreak in (None, ("w", "min")):
        result = rmsjax.sweep(trainer, space, key=jax.random.key(0), budget=4, progress=False,
                              pbt=rmsjax.pbt("c", mode="max", interval=2, fraction=0.5,
                                             tiebreak=tiebreak))  # fmt: skip
        titles.append(result.plot_schedules("w", unit="epoch").axes[0].get_title())
    assert titles[0].endswith("ranked every 2 epochs by c (max)")
    assert titles[1].endswith("ranked every 2 epochs by c (max), ties by w (min)")

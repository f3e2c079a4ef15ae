"""Sampled spaces: `uniform`, `loguniform`, `choice` and `sample`, usable wherever a grid is."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsjax

AXES = dict(
    learning_rate=rmsjax.loguniform(1e-5, 1e-1),
    decay=rmsjax.uniform(0.5, 0.999),
    batch=[16, 32, 64],
)


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_sample_is_deterministic_in_range_and_prefix_stable(method):
    space = rmsjax.sample(40, seed=3, method=method, **AXES)
    assert space == rmsjax.sample(40, seed=3, method=method, **AXES)
    assert space != rmsjax.sample(40, seed=4, method=method, **AXES)
    assert list(rmsjax.sample(8, seed=3, method=method, **AXES)) == list(space)[:8]
    lr, decay = np.asarray(space.column("learning_rate")), np.asarray(space.column("decay"))
    assert ((1e-5 <= lr) & (lr <= 1e-1)).all() and ((0.5 <= decay) & (decay < 0.999)).all()
    # log-uniform: about as many draws in each decade
    decades = np.histogram(np.log10(lr), bins=4, range=(-5, -1))[0]
    assert decades.min() >= 4, decades
    assert set(space.column("batch")) == {16, 32, 64}
    assert all(isinstance(v, float) for v in lr.tolist())


def test_sobol_covers_the_unit_square_evenly():
    space = rmsjax.sample(64, method="sobol", a=rmsjax.uniform(0, 1), b=rmsjax.uniform(0, 1))
    a, b = np.asarray(space.column("a")), np.asarray(space.column("b"))
    counts = np.histogram2d(a, b, bins=4, range=[[0, 1], [0, 1]])[0]
    assert (counts == 4).all()  # a (t, m, s)-net in base 2: every 1/4 x 1/4 cell holds 4


def test_sample_has_a_grids_interface():
    space = rmsjax.sample(5, seed=0, lr=rmsjax.loguniform(1e-3, 1e-1), centered=[False, True])
    assert space.names == ("lr", "centered") and len(space) == 5 and space.shape == (5,)
    assert space.static_axes == ("centered",) and space.dynamic_axes == ("lr",)
    assert space[4] == list(space)[4] == space[-1]
    assert space.column("lr") == [c["lr"] for c in space]
    assert space.to_json()["sample"]["axes"]["lr"] == {"loguniform": [1e-3, 1e-1]}
    with pytest.raises(IndexError, match="configuration id"):
        space[5]
    # a static choice stays static even where the draws happen to hold only numbers
    assert rmsjax.sample(1, m=[None, 0.9]).static_axes == ("m",)


def test_sweep_over_a_sample_resumes_like_a_grid(tmp_path):
    def train_fn(hp, key):
        return {"loss": (hp["lr"] - 0.01) ** 2 + 0.0 * jax.random.normal(key)}

    space = rmsjax.sample(6, seed=1, lr=rmsjax.loguniform(1e-3, 1e-1))
    first = rmsjax.sweep(train_fn, space, key=jax.random.key(0), out_dir=tmp_path, progress=False)
    again = rmsjax.sweep(train_fn, space, key=jax.random.key(0), out_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(first.metrics["loss"], again.metrics["loss"])
    best = min(space.column("lr"), key=lambda v: abs(v - 0.01))
    assert first.best("loss", mode="min") == {"lr": best}
    other = rmsjax.sample(6, seed=2, lr=rmsjax.loguniform(1e-3, 1e-1))
    with pytest.raises(ValueError, match="different sweep"):
        rmsjax.sweep(train_fn, other, key=jax.random.key(0), out_dir=tmp_path, progress=False)


def test_plot_of_a_sampled_space(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    space = rmsjax.sample(6, seed=1, lr=rmsjax.loguniform(1e-3, 1e-1), decay=[0.9, 0.99])
    result = rmsjax.sweep(lambda hp, key: {"loss": hp["lr"] * hp["decay"]}, space,
                          key=jax.random.key(0), progress=False)  # fmt: skip
    fig = result.plot("loss", x="lr", path=tmp_path / "p.png")
    assert fig.axes[0].get_xscale() == "log" and (tmp_path / "p.png").exists()


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: rmsjax.uniform(1.0, 1.0), ValueError, "`low` must be < `high`, got low=1.0"),
        (lambda: rmsjax.uniform(0, math.inf), ValueError, "`high` must be a finite real"),
        (lambda: rmsjax.loguniform(0.0, 1.0), ValueError, "`low` must be > 0, got 0.0"),
        (lambda: rmsjax.choice([]), ValueError, "`values` is empty"),
        (lambda: rmsjax.choice([1, 1]), ValueError, "duplicates"),
        (lambda: rmsjax.choice("abc"), TypeError, "must be a sequence"),
        (lambda: rmsjax.sample(0, a=[1]), ValueError, "`n` must be an int >= 1, got 0"),
        (lambda: rmsjax.sample(2, method="grid", a=[1]), ValueError, "`method` must be one of"),
        (lambda: rmsjax.sample(2), ValueError, "at least one axis"),
        (lambda: rmsjax.sample(2, a=0.5), TypeError, "sample axis `a` must be"),
        (lambda: rmsjax.sample(2, a=[object()]), TypeError, "holds <object"),
    ],
)
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_tuple_is_refused_as_ambiguous():
    # Issue 14: space={"learning_rate": (0.0, 0.5)} was a two-value choice, read as a range.
    message = (
        r"sample axis `learning_rate` is a tuple \(0.0, 0.5\), which is ambiguous: use "
        r"rmsjax.uniform\(0.0, 0.5\) or rmsjax.loguniform\(0.0, 0.5\) for a range, or a list "
        r"\[0.0, 0.5\] for a choice"
    )
    with pytest.raises(TypeError, match=message):
        rmsjax.sample(4, learning_rate=(0.0, 0.5))
    # A list is a choice, and a grid (which has no ranges) takes a tuple as a list of values.
    assert set(rmsjax.sample(8, learning_rate=[0.0, 0.5]).column("learning_rate")) == {0.0, 0.5}
    assert rmsjax.grid(learning_rate=(0.0, 0.5)) == rmsjax.grid(learning_rate=[0.0, 0.5])


def test_an_int_range_draws_its_values_evenly():
    from rmsjax._engine.distributions import IntUniform

    draws = IntUniform(1, 7, step=2).from_unit(np.linspace(0, 0.999, 400))
    assert sorted(set(draws)) == [1, 3, 5, 7] and draws.count(1) == draws.count(7) == 100
    logs = IntUniform(1, 100, log=True).from_unit(np.random.default_rng(0).random(2000))
    assert min(logs) >= 1 and max(logs) <= 100 and np.median(logs) < 20  # log-uniform: low-heavy


@pytest.mark.parametrize(
    "values, error, message",
    [
        ([0.9, 0.9], ValueError, r"sample axis `decay` holds duplicates: \[0.9, 0.9\]"),
        ([], ValueError, "sample axis `decay` is empty; give at least one value"),
        ([object()], TypeError, "sample axis `decay` holds <object"),
    ],
)
def test_errors_about_a_list_axis_name_it(values, error, message):
    # Issue 14: they spoke of `choice` and `values`, which the user never wrote.
    with pytest.raises(error, match=message):
        rmsjax.sample(2, decay=values)


def test_static_axis_in_a_sample_passes_python_values():
    space = rmsjax.sample(6, seed=0, width=rmsjax.static([2, 3]), lr=rmsjax.uniform(0.1, 0.2))
    assert space.static_axes == ("width",) and set(space.column("width")) == {2, 3}
    result = rmsjax.sweep(lambda h, k: {"loss": h["lr"] * jnp.ones((h["width"],)).sum()}, space,
                          key=jax.random.key(0), progress=False)  # fmt: skip
    widths = np.asarray(space.column("width"))
    np.testing.assert_allclose(result.metrics["loss"][:, 0], widths * space.column("lr"))
    assert repr(space).startswith("sample(6, seed=0, method='random', width=static([2, 3])")

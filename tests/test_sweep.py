"""Tests for rmsjax.sweep / rmsjax.grid / rmsjax.SweepResult (issue 4)."""

import functools
import json
import os
import shutil
import subprocess
import sys
import types

import _sweep_helpers as helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsjax
from rmsjax._engine.program import choose_chunk

KEY = jax.random.key(0)
SPACE = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1, 0.5, 1.0], decay=[0.9, 0.99])


def counting(fn):
    """Wraps ``fn`` so that ``wrapper.traces`` counts how often it is traced (called)."""

    def wrapper(hparams, key):
        wrapper.traces += 1
        return fn(hparams, key)

    wrapper.traces = 0
    return wrapper


def run(fn=helpers.quadratic, space=SPACE, **kwargs):
    kwargs.setdefault("key", KEY)
    kwargs.setdefault("progress", False)
    return rmsjax.sweep(fn, space, **kwargs)


@functools.cache
def quadratic_reference():
    """The quadratic over SPACE, 2 seeds, one chunk (shared by several tests)."""
    fn = counting(helpers.quadratic)
    result = run(fn, seeds=2, chunk_size=None)
    assert fn.traces == 1
    return result


@functools.cache
def diverging_result():
    space = rmsjax.grid(learning_rate=[0.001, 0.01, 5.0, 0.05], decay=[0.9, 0.99], tag=["a"])
    return run(helpers.sgd_quadratic, space, seeds=2)


def loop_reference(fn, space, key, seeds):
    """A plain per-(configuration, seed) loop with the documented key derivation."""
    steps = {}  # one jitted function per combination of static values
    out = {}
    for c, config in enumerate(space):
        static = {k: config[k] for k in space.static_axes}
        hparams = {k: jnp.asarray(config[k]) for k in space.dynamic_axes}  # float32 / int32
        step = steps.setdefault(
            tuple(static.items()), jax.jit(lambda h, k, static=static: fn({**h, **static}, k))
        )
        for s in range(seeds):
            metrics = step(hparams, jax.random.fold_in(jax.random.fold_in(key, c), s))
            for name, value in metrics.items():
                out.setdefault(name, []).append(np.asarray(value))
    n = len(space)
    return {k: np.stack(v).reshape(n, seeds, *v[0].shape) for k, v in out.items()}


# ------------------------------------------------------------------------------------------
# grid


def test_grid_order_and_ids():
    space = rmsjax.grid(a=[1.0, 2.0, 3.0], b=[10, 20], c=["x"])
    assert len(space) == 6
    assert space.shape == (3, 2, 1)
    assert list(space) == [
        {"a": a, "b": b, "c": "x"} for a in (1.0, 2.0, 3.0) for b in (10, 20)
    ]  # itertools.product order: the last axis varies fastest
    assert space[3] == {"a": 2.0, "b": 20, "c": "x"}
    assert space.static_axes == ("c",) and space.dynamic_axes == ("a", "b")
    assert rmsjax.grid(a=np.array([0.5, 1.5]))[1] == {"a": 1.5}
    assert "grid(a=[1.0, 2.0, 3.0]" in repr(space)
    assert list(rmsjax.grid()) == [{}]  # no axes: one configuration (a sweep over seeds only)
    mixed = rmsjax.grid(momentum=[None, 0.9])  # None makes the axis static
    assert mixed.static_axes == ("momentum",) and mixed[1] == {"momentum": 0.9}


@pytest.mark.parametrize(
    "axes, error, match",
    [
        ({"learning_rate": []}, ValueError, "`learning_rate` is empty"),
        ({"learning_rate": 0.1}, TypeError, "`learning_rate` must be a sequence"),
        ({"learning_rate": "0.1"}, TypeError, "`learning_rate` must be a sequence"),
        ({"opt": [object()]}, TypeError, "`opt` holds"),
    ],
)
def test_grid_rejects_bad_axes(axes, error, match):
    with pytest.raises(error, match=match):
        rmsjax.grid(**axes)


# ------------------------------------------------------------------------------------------
# Tracing, correctness, chunking


def test_matches_per_configuration_loop():
    fn = counting(helpers.logistic)
    result = run(fn, seeds=2, chunk_size=None)
    assert fn.traces == 1
    expected = loop_reference(helpers.logistic, SPACE, KEY, seeds=2)
    assert set(result.metrics) == {"loss", "accuracy", "curve"}
    for name, value in expected.items():
        assert result.metrics[name].shape == value.shape
        assert result.metrics[name].dtype == value.dtype
        # float32; vmap may batch the matmuls differently from the unbatched loop (another
        # summation order), so allow float32 rounding accumulated over 20 steps.
        np.testing.assert_allclose(result.metrics[name], value, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("chunk_size", ["auto", 1, 3])
def test_one_trace_and_identical_results_for_any_chunk_size(chunk_size):
    # Elementwise training (the quadratic): bitwise identical to chunk_size=None.
    reference = quadratic_reference()
    fn = counting(helpers.quadratic)
    result = run(fn, seeds=2, chunk_size=chunk_size)
    assert fn.traces == 1  # whatever the chunking and padding (3 -> 4 chunks, the last padded)
    for name, value in reference.metrics.items():
        np.testing.assert_array_equal(result.metrics[name], value)
    assert result.chunk_sizes == {0: len(SPACE) if chunk_size == "auto" else chunk_size}
    assert reference.chunk_sizes == {0: len(SPACE)}


def test_seeds_differ_and_do_not_depend_on_seed_count():
    two = quadratic_reference().metrics["loss"]
    three = run(seeds=3, chunk_size=None).metrics["loss"]
    np.testing.assert_array_equal(two, three[:, :2])
    assert not np.array_equal(three[:, 0], three[:, 1])


def test_raw_prng_key_and_int_axis():
    def fn(hparams, key):
        assert key.dtype == jnp.uint32  # a raw key in, raw keys to train_fn
        assert hparams["steps"].dtype == jnp.int32
        return {"value": jax.random.uniform(key) + hparams["steps"]}

    result = run(fn, rmsjax.grid(steps=[1, 2]), key=jax.random.PRNGKey(3))
    expected = [
        jax.random.uniform(jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(3), c), 0)) + s
        for c, s in enumerate([1, 2])
    ]
    np.testing.assert_allclose(result.metrics["value"][:, 0], expected, rtol=0)


def test_auto_chunk_on_cpu_follows_the_size_of_one_run():
    def big(hparams, key):  # one run makes a 360 KB array: more than 256 KiB, so one per chunk
        x = jnp.full((300, 300), hparams["learning_rate"]) + jax.random.uniform(key)
        return {"loss": jnp.sum(x * x)}

    assert run(big, chunk_size="auto").chunk_sizes == {0: 1}
    assert run(big, chunk_size=None).chunk_sizes == {0: len(SPACE)}
    # Tiny runs (the quadratic) all go in one chunk: see the chunk-size test above.


class _Measured:
    """Stands for a compiled program whose memory analysis reports ``nbytes``."""

    def __init__(self, nbytes):
        self.nbytes = nbytes

    def memory_analysis(self):
        return types.SimpleNamespace(
            argument_size_in_bytes=self.nbytes,
            output_size_in_bytes=0,
            temp_size_in_bytes=0,
            alias_size_in_bytes=0,
        )


@pytest.mark.parametrize(
    "budget, widths",
    [
        (None, [10]),  # a quarter of this machine's RAM: 10 tiny runs fit
        (10_000, [10]),  # exactly fits
        (4_500, [10, 4]),  # measured at 10 (1000 B each over 500 B of constants), shrunk to 4
        (1, [10, 1]),  # nothing fits: one configuration per device
    ],
)
def test_auto_chunk_shrinks_to_the_memory_budget(budget, widths):
    compiled = []

    def compile_for(width):
        compiled.append(width)
        return _Measured(500 + 950 * width)  # memory linear in the width, 500 B shared

    width, program = choose_chunk(
        compile_for, "auto", 10, jax.devices()[:1], run_bytes=8, const_bytes=500, budget=budget
    )
    assert compiled == widths
    assert width == widths[-1] and program.nbytes == 500 + 950 * width


def test_chunk_plan_rounds_to_devices():
    cpus = [jax.devices()[0]] * 4  # the plan only counts devices
    assert choose_chunk(lambda w: w, 3, 10, cpus, run_bytes=8, const_bytes=0)[0] == 4
    assert choose_chunk(lambda w: w, None, 10, cpus, run_bytes=8, const_bytes=0)[0] == 12
    assert choose_chunk(lambda w: w, 50, 10, cpus, run_bytes=8, const_bytes=0)[0] == 12


# ------------------------------------------------------------------------------------------
# Static axes


def test_static_axes_one_trace_per_combination_and_match_loop():
    space = rmsjax.grid(learning_rate=[0.01, 0.1], centered=[False, True], decay=[0.9])
    seen = []

    def fn(hparams, key):
        seen.append(hparams["centered"])
        assert isinstance(hparams["centered"], bool)  # a Python value, not traced
        return helpers.quadratic(hparams, key)

    result = run(fn, space, seeds=2, chunk_size=1)
    assert seen == [False, True]  # one trace per static combination
    expected = loop_reference(helpers.quadratic, space, KEY, seeds=2)
    for name, value in expected.items():
        np.testing.assert_allclose(result.metrics[name], value, rtol=1e-5, atol=1e-7)
    assert not np.array_equal(result.metrics["loss"][0], result.metrics["loss"][1])
    assert set(result.chunk_sizes) == {0, 1}  # keyed by each combination's first id


def test_static_combinations_must_agree_on_metrics():
    def fn(hparams, key):
        out = {"loss": jnp.float32(0.0)}
        if hparams["centered"]:
            out["extra"] = jnp.float32(1.0)
        return out

    with pytest.raises(ValueError, match="same names and shapes"):
        run(fn, rmsjax.grid(centered=[False, True]))


# ------------------------------------------------------------------------------------------
# Divergence


def test_diverging_configuration_is_isolated_and_never_best():
    result = diverging_result()
    space = result.space
    expected = loop_reference(helpers.sgd_quadratic, space, KEY, seeds=2)
    finite = [0, 1, 2, 3, 6, 7]
    for name in ("loss", "curve"):
        np.testing.assert_allclose(result.metrics[name][finite], expected[name][finite], rtol=1e-6)
    assert np.isfinite(result.metrics["loss"][finite]).all()
    assert not np.isfinite(result.metrics["loss"][4:6]).any()
    assert result.diverged.any(axis=1).tolist() == [False] * 4 + [True] * 2 + [False] * 2
    assert result.best("loss", mode="min")["learning_rate"] == 0.05
    # Its loss is inf or NaN: never the max either.
    assert result.best("loss", mode="max")["learning_rate"] == 0.001
    assert result.best("accuracy", mode="max")["learning_rate"] == 0.05
    frame = result.to_pandas()
    assert frame["diverged"].tolist() == [False] * 8 + [True] * 4 + [False] * 4
    assert "diverged configurations: 2" in repr(result)


def test_best_when_everything_diverged():
    result = run(helpers.sgd_quadratic, rmsjax.grid(learning_rate=[3.0, 5.0]))
    with pytest.raises(ValueError, match="every configuration diverged"):
        result.best("loss", mode="min")


# ------------------------------------------------------------------------------------------
# Result helpers


def test_to_pandas_rows_and_columns():
    result = quadratic_reference()
    frame = result.to_pandas()
    # Issue 14: the configuration id that rank() returns is a column.
    columns = ["config_id", "learning_rate", "decay", "seed", "loss", "diverged"]
    assert list(frame.columns) == columns
    assert frame["config_id"].tolist() == [c for c in range(len(SPACE)) for _ in "ab"]
    rows = frame[frame["config_id"] == result.rank("loss", mode="min")[0]]
    best = result.best("loss", mode="min")
    assert rows[["learning_rate", "decay"]].drop_duplicates().to_dict("records") == [best]
    assert len(frame) == len(SPACE) * 2
    assert frame["seed"].tolist() == [0, 1] * len(SPACE)
    assert frame["learning_rate"].tolist() == [c["learning_rate"] for c in SPACE for _ in "ab"]
    assert frame["decay"].tolist() == [c["decay"] for c in SPACE for _ in "ab"]
    np.testing.assert_array_equal(frame["loss"], result.metrics["loss"].ravel())
    assert frame["decay"].dtype == np.float64


def test_best_and_errors():
    result = quadratic_reference()
    mean = result.metrics["loss"].mean(axis=1)
    assert result.best("loss", mode="min") == SPACE[int(np.argmin(mean))]
    assert result.best("loss", mode="max") == SPACE[int(np.argmax(mean))]
    with pytest.raises(
        ValueError,
        match="`mode` is required to rank metric 'loss' \\(this sweep "
        "ran no search\\): pass mode='min'",
    ):
        result.best("loss")  # a plain sweep has no direction: no silent default
    with pytest.raises(ValueError, match="`mode` is required"):
        result.rank("loss")
    with pytest.raises(ValueError, match="`mode` must be 'min', 'max' or None, got 'median'"):
        result.best("loss", mode="median")
    with pytest.raises(ValueError, match="unknown metric 'acc'"):
        result.best("acc", mode="min")
    with pytest.raises(ValueError, match="scalar metric"):
        result.best("curve", mode="min")
    assert result.configs == list(SPACE)
    assert repr(result).startswith("SweepResult(10 configurations x 2 seeds")


def test_plot_writes_png(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = diverging_result()
    for metric, kwargs in [
        ("curve", {}),
        ("loss", {}),
        ("loss", {"x": "decay", "y": "learning_rate"}),
        ("loss", {"x": "learning_rate", "y": "tag", "mode": "min"}),
    ]:
        path = tmp_path / f"{metric}_{len(kwargs)}_{kwargs.get('y')}.png"
        fig = result.plot(metric, path=path, **kwargs)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        plt.close(fig)
    with pytest.raises(ValueError, match="`x` must be one of the axes"):
        result.plot("loss", x="momentum")
    with pytest.raises(ValueError, match="`mode` is required to rank metric 'loss'"):
        result.plot("loss", x="learning_rate", y="tag")  # the best over `decay`: which way?


@pytest.mark.parametrize(
    "axes, mode, label",
    [
        ({"a": [1.0, 2.0], "b": [3.0, 4.0]}, None, "loss (mean over seeds)"),  # was "None over"
        ({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0]}, "max", "loss (mean over seeds)"),
        ({"a": [1.0, 2.0], "b": [3.0, 4.0], "c": [5.0, 6.0]}, "min",
         "loss (mean over seeds, min over c)"),
    ],
)  # fmt: skip
def test_the_heatmaps_colour_bar_says_what_each_cell_shows(axes, mode, label):
    # Issue 23: the bar said "max over other axes" with no other axis, "None" without a mode.
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    space = rmsjax.grid(**axes)
    loss = np.arange(2 * len(space), dtype=np.float32).reshape(len(space), 2)
    result = rmsjax.SweepResult(space=space, seeds=2, metrics={"loss": loss})
    fig = result.plot("loss", x="a", y="b", mode=mode)
    assert [a.get_ylabel() for a in fig.axes] == ["b", label]  # the heatmap, its colour bar
    plt.close(fig)


# ------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"seeds": 0}, ValueError, "`seeds` must be an int >= 1, got 0"),
        ({"seeds": True}, ValueError, "`seeds`"),
        ({"chunk_size": 0}, ValueError, "`chunk_size` must be a positive int, None or 'auto'"),
        ({"chunk_size": "big"}, ValueError, "got 'big'"),
        ({"chunk_size": 1.5}, ValueError, "got 1.5"),
        ({"devices": []}, ValueError, "`devices` must be a non-empty sequence"),
        ({"key": 0}, TypeError, "`key` must be a PRNG key"),
        ({"key": jax.random.split(KEY)}, ValueError, "a single PRNG key"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        run(**kwargs)


def test_bad_train_fn_and_space():
    with pytest.raises(TypeError, match="train_fn must return a dict"):
        run(lambda h, k: h["learning_rate"] * 2)
    with pytest.raises(TypeError, match="metric 'loss' must be an array"):
        run(lambda h, k: {"loss": [1.0]})
    with pytest.raises(ValueError, match="empty dict"):
        run(lambda h, k: {})
    with pytest.raises(TypeError, match="`space` must come from rmsjax.grid"):
        run(space=[0.1, 0.2])
    with pytest.raises(TypeError, match="`train_fn` must be callable"):
        run(fn=None)
    # A plain dict of axes is accepted and passed to grid.
    assert run(space={"learning_rate": [0.1], "decay": [0.9]}).metrics["loss"].shape == (1, 1)


@pytest.mark.parametrize(
    "name, what",
    [
        ("decay", "the hyperparameter axis 'decay'"),
        ("tag", "the hyperparameter axis 'tag'"),  # a static axis too
        ("seed", "the seed column"),
        ("config_id", "the configuration id column"),
        ("diverged", "the diverged column"),
    ],
)
def test_a_metric_named_like_a_column_is_refused(name, what):
    # Issue 14: the metric silently replaced that column in to_pandas().
    space = rmsjax.grid(learning_rate=[0.1], decay=[0.9], tag=["a"])
    with pytest.raises(ValueError, match=f"train_fn .* returns a metric named '{name}', the name "
                       f"of {what} of the result's to_pandas\\(\\); rename"):  # fmt: skip
        run(lambda h, k: {"loss": h["learning_rate"], name: h["decay"]}, space)


# ------------------------------------------------------------------------------------------
# out_dir: saving, resuming, manifests


class Interrupt(Exception):
    pass


class Monitored:
    """``fn`` run under a debug callback that records the learning rates actually executed and
    fails (as a crash would) on any learning rate >= ``crash_from`` or after ``crash_after``
    runs; ``traces`` counts traces. Changing either does not change the traced program."""

    def __init__(self, fn=helpers.quadratic, crash_from=np.inf, crash_after=np.inf):
        self.fn, self.crash_from, self.crash_after = fn, crash_from, crash_after
        self.executed, self.traces = [], 0

    def _check(self, lr):
        self.executed.append(float(lr))
        if lr >= np.float32(self.crash_from) or len(self.executed) > self.crash_after:
            raise Interrupt(f"learning rate {lr}, run {len(self.executed)}")

    def __call__(self, hparams, key):
        self.traces += 1
        jax.debug.callback(self._check, hparams["learning_rate"])
        return self.fn(hparams, key)


def test_out_dir_files_and_manifest(tmp_path, capsys):
    result = run(seeds=2, chunk_size=4, out_dir=tmp_path, progress=True)
    assert "10/10" in capsys.readouterr().err  # the tqdm bar, over configurations
    files = sorted(os.listdir(tmp_path))
    assert files == [
        "chunk_00000.npz",
        "chunk_00001.npz",
        "chunk_00002.npz",
        "manifest.json",
        "program_0_typed_key.txt",  # the jaxpr, to say what changed if train_fn changes
    ]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["space"] == [[n, list(v)] for n, v in SPACE.axes.items()]
    assert manifest["seeds"] == 2
    assert manifest["key"]["data"] == np.asarray(jax.random.key_data(KEY)).tolist()
    assert manifest["metrics"] == {
        "loss": {"shape": [], "dtype": "float32"},
        "curve": {"shape": [helpers.STEPS], "dtype": "float32"},
    }
    assert manifest["chunk_sizes"] == {"0": 4}
    assert manifest["metadata"] == {}
    fingerprint = manifest["programs"]["0"]["typed_key"]
    assert len(fingerprint["jaxpr"]) == 64 and len(fingerprint["consts"]) == 1  # `a` of quadratic
    assert "rmsjax_version" in manifest
    with np.load(tmp_path / "chunk_00002.npz", allow_pickle=False) as chunk:
        np.testing.assert_array_equal(chunk["config_ids"], [8, 9])
        np.testing.assert_array_equal(chunk["metric_0"], result.metrics["loss"][8:])


def test_interrupted_sweep_resumes_without_recomputing(tmp_path):
    reference = quadratic_reference()
    fn = Monitored(crash_from=0.5)  # fails in the third chunk (configurations 6, 7, 8)
    with pytest.raises(jax.errors.JaxRuntimeError, match="Interrupt"):
        run(fn, seeds=2, chunk_size=3, out_dir=tmp_path)
    assert len([f for f in os.listdir(tmp_path) if f.startswith("chunk_")]) == 2
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]

    # Resume (asking for another chunk size: the recorded one is kept): only 6..9 run.
    fn.crash_from, fn.executed, fn.traces = np.inf, [], 0
    mtimes = {f: os.stat(tmp_path / f).st_mtime_ns for f in os.listdir(tmp_path)}
    result = run(fn, seeds=2, chunk_size=2, out_dir=tmp_path)
    jax.effects_barrier()
    assert fn.traces == 1
    remaining = {np.float32(c["learning_rate"]).item() for c in list(SPACE)[6:]}
    assert set(fn.executed) == remaining
    for name, value in reference.metrics.items():
        np.testing.assert_array_equal(result.metrics[name], value)
    for f in ("chunk_00000.npz", "chunk_00001.npz"):  # finished chunks are never rewritten
        assert os.stat(tmp_path / f).st_mtime_ns == mtimes[f]
    assert result.chunk_sizes == {0: 3}

    # Everything finished: train_fn is traced (to check it) but nothing runs.
    fn.executed, fn.traces = [], 0
    again = run(fn, seeds=2, chunk_size="auto", out_dir=tmp_path)
    jax.effects_barrier()
    assert fn.traces == 1 and fn.executed == []
    for name, value in reference.metrics.items():
        np.testing.assert_array_equal(again.metrics[name], value)
    assert again.chunk_sizes == {0: 3}  # the recorded widths, not {}


@pytest.fixture(scope="module")
def partial_out_dir(tmp_path_factory):
    """An out_dir of the quadratic sweep (2 seeds, chunks of 4) stopped after its first chunk."""
    path = tmp_path_factory.mktemp("partial")
    with pytest.raises(jax.errors.JaxRuntimeError, match="Interrupt"):
        run(Monitored(crash_from=SPACE[4]["learning_rate"]), seeds=2, chunk_size=4, out_dir=path)
    return path


@pytest.mark.parametrize(
    "change, field",
    [
        ({"seeds": 3}, "seeds"),
        ({"key": jax.random.key(1)}, "key"),
        ({"space": rmsjax.grid(learning_rate=[1e-3, 1e-2], decay=[0.9, 0.99])}, "space"),
        ({"space": rmsjax.grid(decay=[0.9, 0.99], learning_rate=[1e-3, 1e-2])}, "space"),
        ({"fn": helpers.logistic}, "metrics"),  # another train_fn: its metrics differ
    ],
)
def test_mismatched_manifest_is_rejected(partial_out_dir, change, field):
    before = sorted(os.listdir(partial_out_dir))
    kwargs = {"seeds": 2, **change}
    with pytest.raises(ValueError, match=f"different sweep: its manifest has {field}="):
        run(out_dir=partial_out_dir, **kwargs)
    assert sorted(os.listdir(partial_out_dir)) == before


# ------------------------------------------------------------------------------------------
# Devices


@pytest.fixture(scope="module", autouse=True)
def four_device_process(tmp_path_factory):
    """Starts tests/_sweep_multidevice.py (4 simulated CPU devices) when this module starts, so
    it runs alongside the other tests; test_four_simulated_devices_match_one collects it."""
    out = tmp_path_factory.mktemp("four") / "four.npz"
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4")
    env["JAX_PLATFORMS"] = "cpu"
    script = os.path.join(os.path.dirname(__file__), "_sweep_multidevice.py")
    proc = subprocess.Popen(
        [sys.executable, script, str(out)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield proc, out
    if proc.poll() is None:  # the collecting test did not run (e.g. deselected)
        proc.kill()
    proc.wait()
    for pipe in (proc.stdout, proc.stderr):  # unread when the collecting test did not run:
        pipe.close()  # left open, they raise a ResourceWarning whenever they are collected


def test_four_simulated_devices_match_one(four_device_process):
    proc, out = four_device_process
    try:
        _, stderr = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    space = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1, 0.3, 1.0], decay=[0.9, 0.99])
    one = run(helpers.logistic, space, key=jax.random.key(7), seeds=2, chunk_size=None)
    with np.load(out, allow_pickle=False) as four:
        for label in ("auto", "three"):
            for name, value in one.metrics.items():
                # Same float32 rounding allowance as for other chunkings (matmul kernels may
                # differ with the per-device batch width).
                np.testing.assert_allclose(
                    four[f"{label}/{name}"], value, rtol=2e-6, atol=1e-7, err_msg=label
                )
        # 10 configurations: padded to 12 (auto), or chunks of 3 rounded up to 4.
        np.testing.assert_array_equal(four["auto/chunk_sizes"], [12])
        np.testing.assert_array_equal(four["three/chunk_sizes"], [4])
        assert set(four["devices_used"].tolist()) == {4}  # outputs were sharded over 4 devices


def test_resumed_sweep_equals_an_uninterrupted_one_bit_for_bit(tmp_path):
    # Logistic regression batches its matmuls, so on this CPU chunks of 1 and of 10 round
    # differently; two static combinations of 10 configurations each.
    space = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1, 0.5, 1.0], decay=[0.9, 0.99])
    space = rmsjax.grid(**space.axes, centered=[False, True])
    fn = Monitored(helpers.logistic)
    uninterrupted = run(fn, space, seeds=2, chunk_size=None)
    fn.crash_after, fn.executed = 2 * 10, []  # fails in the second combination
    with pytest.raises(jax.errors.JaxRuntimeError, match="Interrupt"):
        run(fn, space, seeds=2, chunk_size=None, out_dir=tmp_path)
    fn.crash_after = np.inf
    resumed = run(fn, space, seeds=2, chunk_size=1, out_dir=tmp_path)  # widths come from disk
    assert resumed.chunk_sizes == uninterrupted.chunk_sizes == {0: 10, 1: 10}
    for name, value in uninterrupted.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], value, err_msg=name)


@pytest.fixture(scope="module")
def finished_out_dir(tmp_path_factory):
    """A finished out_dir of the quadratic sweep (1 seed, one chunk)."""
    path = tmp_path_factory.mktemp("finished")
    run(out_dir=path, metadata={"data": "v1", "epochs": 3})
    return path


def quadratic_with(a=(1.0, 2.0, 3.0), scale=2.0):
    """The quadratic helper with other constants: same metrics, another program."""

    def fn(hparams, key):
        x0 = jax.random.normal(key, (3,))
        opt = rmsjax.rmsprop(hparams["learning_rate"], decay=hparams["decay"])
        coef = jnp.asarray(a)

        def step(carry, _):
            x, state = carry
            updates, state = opt.update(scale * coef * x, state)
            return (x + updates, state), jnp.sum(coef * x**2)

        (x, _), curve = jax.lax.scan(step, (x0, opt.init(x0)), length=helpers.STEPS)
        return {"loss": jnp.sum(coef * x**2), "curve": curve}

    return fn


@pytest.mark.parametrize(
    "fn, match",
    [
        # Other metric names: refused before anything old is returned.
        (lambda h, k: {"final": helpers.quadratic(h, k)["loss"]}, "its manifest has metrics="),
        (quadratic_with(), None),  # the same program: accepted
        (quadratic_with(a=(1.0, 2.0, 4.0)), r"closes over \(constants \[0\] of 1\) changed"),
        (quadratic_with(scale=3.0), r"jaxpr differs; first changed lines:\n-.* 2\.0.*\n\+.* 3\.0"),
    ],
)
def test_changed_train_fn_is_refused(finished_out_dir, fn, match):
    metadata = {"data": "v1", "epochs": 3}
    before = (finished_out_dir / "manifest.json").read_text()
    if match is None:
        np.testing.assert_array_equal(
            run(fn, out_dir=finished_out_dir, metadata=metadata).metrics["loss"],
            run(helpers.quadratic).metrics["loss"],
        )
        return
    with pytest.raises(ValueError, match=match):
        run(fn, out_dir=finished_out_dir, metadata=metadata)
    assert (finished_out_dir / "manifest.json").read_text() == before


def test_metadata_is_recorded_checked_and_returned(finished_out_dir):
    manifest = json.loads((finished_out_dir / "manifest.json").read_text())
    assert manifest["metadata"] == {"data": "v1", "epochs": 3}
    result = run(out_dir=finished_out_dir, metadata={"epochs": 3, "data": "v1"})
    assert result.metadata == {"data": "v1", "epochs": 3}
    with pytest.raises(ValueError, match=r"other metadata: keys \['data'\] differ"):
        run(out_dir=finished_out_dir, metadata={"data": "v2", "epochs": 3})
    with pytest.raises(ValueError, match=r"keys \['data', 'epochs'\] differ"):
        run(out_dir=finished_out_dir)  # none given
    assert run(metadata={"shape": (2, 3)}).metadata == {"shape": [2, 3]}  # as JSON reads back
    assert run().metadata == {}
    with pytest.raises(TypeError, match="`metadata` must be JSON-serialisable"):
        run(metadata={"fn": print})
    with pytest.raises(TypeError, match="`metadata` must be a dict with str keys"):
        run(metadata={1: "a"})


def test_prng_key_and_typed_key_share_an_out_dir(partial_out_dir_copy):
    path = partial_out_dir_copy
    # The folder was filled by `Monitored` (with KEY, jax.random.key(0)): the same program with
    # the raw key loads it (another program with the other kind of key is refused).
    raw = run(Monitored(), seeds=2, key=jax.random.PRNGKey(0), out_dir=path)
    for name, value in quadratic_reference().metrics.items():
        np.testing.assert_array_equal(raw.metrics[name], value)
    assert sorted(json.loads((path / "manifest.json").read_text())["programs"]["0"]) == [
        "raw_key",
        "typed_key",
    ]
    with pytest.raises(ValueError, match="its manifest has key="):
        run(seeds=2, key=jax.random.PRNGKey(1), out_dir=path)


@pytest.fixture
def partial_out_dir_copy(partial_out_dir, tmp_path):
    shutil.copytree(partial_out_dir, tmp_path / "copy")
    return tmp_path / "copy"


def test_out_dir_errors(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    with pytest.raises(ValueError, match="`out_dir` .*file.* is a file, not a directory"):
        run(out_dir=file)
    with pytest.raises(ValueError, match="`out_dir` .*file/sub.* cannot be created"):
        run(out_dir=file / "sub")  # below a file: no directory can be made there
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{")
    with pytest.raises(ValueError, match="cannot read the sweep manifest .*bad/manifest.json"):
        run(out_dir=tmp_path / "bad")
    (tmp_path / "bad" / "manifest.json").write_text("[]")
    with pytest.raises(ValueError, match="manifest .*bad/manifest.json.* is not one rmsjax"):
        run(out_dir=tmp_path / "bad")


def test_python_branch_on_a_traced_hyperparameter():
    def train_fn(hparams, key):
        if hparams["learning_rate"] > 0.1:
            return {"loss": jnp.float32(1.0)}
        return {"loss": jnp.float32(0.0)}

    with pytest.raises(TypeError, match=r"train_fn `.*train_fn` used a traced value") as info:
        run(train_fn)
    assert "['learning_rate', 'decay'] reach train_fn as traced" in str(info.value)
    assert "static" in str(info.value)


@pytest.mark.parametrize(
    "axes, error, match",
    [
        (
            {"learning_rate": [0.1, 0.2, 0.1]},
            ValueError,
            "`learning_rate` holds 0.1 more than once",
        ),
        ({"steps": [1, 1.0]}, ValueError, "`steps` holds 1.0 more than once"),
        ({"opt": ["adam", "sgd", "adam"]}, ValueError, "`opt` holds 'adam' more than once"),
    ],
)
def test_grid_rejects_duplicate_values(axes, error, match):
    with pytest.raises(error, match=match):
        rmsjax.grid(**axes)
    assert len(rmsjax.grid(flag=[True, 1])) == 2  # a bool is not the number 1


def test_grid_class_rejects_bad_axes():
    with pytest.raises(TypeError, match="Grid\\(axes\\): `axes` must be a dict .* got list"):
        rmsjax.Grid([])
    with pytest.raises(TypeError, match="`lr` must be a sequence"):
        rmsjax.Grid({"lr": 0.1})
    assert rmsjax.Grid({"lr": np.array([0.1, 0.2])}) == rmsjax.grid(lr=[0.1, 0.2])


def test_rank_orders_best_first_with_diverged_last_and_stable_ties():
    result = rmsjax.SweepResult(
        space=rmsjax.grid(lr=[0.1, 0.2, 0.3, 0.4, 0.5]),
        seeds=2,
        metrics={
            "loss": np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 1.0], [np.nan, 0.0], [0.5, -0.5]]),
            "curve": np.zeros((5, 2, 3)),
        },
    )
    # 4 ties 1 on the mean; 3 has a NaN seed
    assert result.rank("loss", mode="min") == [1, 4, 0, 2, 3]
    assert result.rank("loss", mode="max") == [0, 2, 1, 4, 3]
    assert result.best("loss", "min") == {"lr": 0.2} and result.best("loss", "max") == {"lr": 0.1}
    with pytest.raises(ValueError, match="unknown metric 'acc'; this sweep has"):
        result.rank("acc", mode="min")
    with pytest.raises(ValueError, match="metric 'curve' has shape \\(3,\\) per run; rank\\(\\)"):
        result.rank("curve", mode="min")
    with pytest.raises(ValueError, match="`mode` must be 'min', 'max' or None"):
        result.rank("loss", mode="best")
    diverging = diverging_result()
    order = diverging.rank("loss", mode="min")
    assert order[-2:] == [4, 5] and diverging.space[order[0]] == diverging.best("loss", "min")


def test_repr_counts_and_plot_errors():
    result = run(space=rmsjax.grid(learning_rate=[0.1], decay=[0.9]))
    assert repr(result).startswith("SweepResult(1 configuration x 1 seed;")
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="`x` and `y` must be different axes, got 'decay'"):
        quadratic_reference().plot("loss", x="decay", y="decay")


def test_curve_plot_of_many_configurations_is_coloured_by_an_axis():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    space = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1, 0.5], decay=[0.5, 0.9, 0.99, 0.999])
    result = run(space=space)
    fig = result.plot("curve")
    ax = fig.axes[0]
    assert len(ax.get_lines()) == 16
    assert ax.get_lines()[5].get_label() == "learning_rate=0.01, decay=0.9"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [
        "learning_rate=0.001",
        "learning_rate=0.01",
        "learning_rate=0.1",
        "learning_rate=0.5",
    ]
    colours = {line.get_color() for line in ax.get_lines()[:4]}
    assert len(colours) == 1 and ax.get_lines()[4].get_color() not in colours
    plt.close(fig)
    few = quadratic_reference().plot("curve")  # 10 curves: one legend entry each
    assert len(few.axes[0].get_legend().get_texts()) == 10
    plt.close(few)


def test_a_key_typo_lists_the_axes():
    # Issue 14: a bare KeyError('learnig_rate').
    with pytest.raises(KeyError, match=r"hparams\['learnig_rate'\]: 'learnig_rate' is not an axis "
                       r"of the space; its axes are \['learning_rate', 'decay'\]"):  # fmt: skip
        run(lambda h, k: {"loss": h["learnig_rate"]})


def test_static_integer_axis_sets_a_shape():
    def train_fn(hparams, key):
        x = jax.random.normal(key, (hparams["width"], 3))  # a shape: needs a Python int
        return {"loss": hparams["learning_rate"] * jnp.sum(x**2) / hparams["width"]}

    space = rmsjax.grid(width=rmsjax.static([2, 4]), learning_rate=[0.1, 0.2])
    assert space.static_axes == ("width",) and repr(space).startswith("grid(width=static([2, 4])")
    result = run(train_fn, space, seeds=2)
    for config_id, config in enumerate(space):
        for seed in range(2):
            key = jax.random.fold_in(jax.random.fold_in(KEY, config_id), seed)
            expected = train_fn(config, key)["loss"]
            np.testing.assert_allclose(result.metrics["loss"][config_id, seed], expected, 1e-6)
    assert result.to_pandas()["width"].tolist() == [2, 2, 2, 2, 4, 4, 4, 4]
    # Traced (the default for numbers), the same axis is an error that points at rmsjax.static.
    with pytest.raises(TypeError, match=r"an array shape or slice\).* give its axis as "
                       r"rmsjax.static\(\[64, 128\]\)"):  # fmt: skip
        run(train_fn, rmsjax.grid(width=[2, 4], learning_rate=[0.1]))
    with pytest.raises(TypeError, match=r"rmsjax.static"):  # a slice too
        run(lambda h, k: {"loss": jnp.ones(5)[: h["width"]].sum()}, rmsjax.grid(width=[2, 4]))


def draw(hparams, key):
    """A metric that is a function of the run's key alone (times the learning rate)."""
    return {"u": jax.random.uniform(key) * hparams["learning_rate"]}


@pytest.mark.parametrize("raw", [False, True])
def test_shared_keys_give_every_configuration_the_same_key(raw):
    # Issue 14 §3: common random numbers as an option.
    key = jax.random.PRNGKey(5) if raw else jax.random.key(5)
    space = rmsjax.grid(learning_rate=[1.0, 2.0, 4.0])
    shared = run(draw, space, key=key, seeds=3, keys="shared")
    own = run(draw, space, key=key, seeds=3)
    u = shared.metrics["u"] / np.asarray(space.column("learning_rate"))[:, None]
    np.testing.assert_array_equal(u, np.broadcast_to(u[0], u.shape))  # same draw per seed
    assert len(set(u[0].tolist())) == 3  # and different draws across seeds
    np.testing.assert_array_equal(shared.metrics["u"][0], own.metrics["u"][0])  # config 0's keys
    assert len(set((own.metrics["u"][:, 0] / [1.0, 2.0, 4.0]).tolist())) == 3
    for result in (shared, own):
        for config_id in range(3):
            for seed in range(3):
                k = result.key_of(config_id, seed)
                assert isinstance(k, jax.Array) and (k.dtype == jnp.uint32) == raw
                expected = draw(space[config_id], k)["u"]
                assert result.metrics["u"][config_id, seed] == expected
    with pytest.raises(ValueError, match="`keys` must be 'per_config' or 'shared', got 'same'"):
        run(draw, space, keys="same")
    with pytest.raises(ValueError, match=r"`config_id` must be an int in \[0, 3\), got 3"):
        own.key_of(3)


def test_keys_are_recorded_in_out_dir(tmp_path):
    space = rmsjax.grid(learning_rate=[1.0, 2.0])
    first = run(draw, space, out_dir=tmp_path, keys="shared")
    again = run(draw, space, out_dir=tmp_path, keys="shared")
    np.testing.assert_array_equal(first.metrics["u"], again.metrics["u"])
    with pytest.raises(ValueError, match="different sweep: its manifest has keys='shared'"):
        run(draw, space, out_dir=tmp_path)  # the default, per-configuration keys
    own = tmp_path / "own"
    run(draw, space, out_dir=own)
    manifest = json.loads((own / "manifest.json").read_text())
    assert manifest["keys"] == "per_config"
    del manifest["keys"]  # as written before the option existed: per-configuration keys
    (own / "manifest.json").write_text(json.dumps(manifest))
    run(draw, space, out_dir=own)
    with pytest.raises(ValueError, match="keys='per_config', this call has keys='shared'"):
        run(draw, space, out_dir=own, keys="shared")

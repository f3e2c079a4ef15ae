"""Hyperband and asynchronous successive halving (`rmsjax.hyperband`, `rmsjax.asha`): each rule
against a reference written here from the full runs' curves, and a search killed mid-way."""

import importlib.util
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

import rmsjax
from rmsjax._engine.pool import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _staged_helpers import TRAINER  # noqa: E402

KEY = jax.random.key(3)
SPACE = rmsjax.sample(
    17, seed=1, learning_rate=rmsjax.loguniform(1e-3, 0.3), decay=rmsjax.uniform(0.5, 0.99)
)
WORKER = os.path.join(os.path.dirname(__file__), "_scheduler_worker.py")


def full_scores(chunk_size, space=SPACE, budget=9):
    """Every configuration trained the whole budget (same width: the same batched program)."""
    full = rmsjax.sweep(TRAINER, space, key=KEY, budget=budget, seeds=2, chunk_size=chunk_size,
                        progress=False)  # fmt: skip

    def at(c, unit):
        return float(np.mean(full.metrics["score_curve"][c, :, unit - 1]))

    return full, at


def assert_curves_follow(result, full):
    """Each run's curve equals the uninterrupted run's, bit for bit, up to where it stopped."""
    for c in range(len(result.budget)):
        u = result.budget[c]
        np.testing.assert_array_equal(result.metrics["score_curve"][c, :, :u],
                                      full.metrics["score_curve"][c, :, :u])  # fmt: skip
        assert np.isnan(result.metrics["score_curve"][c, :, u:]).all()


# Hyperband.


def hyperband_reference(n, at, budget, eta):
    """Li et al. 2018, Algorithm 1, on ``n`` configurations: s_max = floor(log_eta(budget)),
    bracket s (s_max down to 0) has ceil((s_max + 1) / (s + 1) * eta**s) configurations starting
    at budget / eta**s units; each bracket halves as synchronous halving does. Here the sizes
    are those of the formula exactly (the test passes n equal to their sum), taken in id order."""
    s_max = int(math.floor(math.log(budget, eta) + 1e-9))
    units, start = np.zeros(n, int), 0
    for s in range(s_max, -1, -1):
        size = math.ceil((s_max + 1) / (s + 1) * eta**s)
        members, rung = list(range(start, start + size)), budget // eta**s
        start += size
        while rung < budget:
            units[members] = rung
            ranked = sorted(members, key=lambda c, r=rung: (-at(c, r), c))
            members = sorted(ranked[: max(1, len(members) // eta)])
            rung *= eta
        units[members] = budget
    assert start == n
    return units


@pytest.mark.parametrize("chunk_size", [1, 5])
def test_hyperband_runs_li_et_als_brackets(chunk_size):
    full, at = full_scores(chunk_size)
    rule = rmsjax.hyperband("score", mode="max", eta=3)
    assert rule.brackets(9) == [(9, 1), (5, 3), (3, 9)]  # 17 configurations, as SPACE has
    result = rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=9, seeds=2, chunk_size=chunk_size,
                          halving=rule, progress=False)  # fmt: skip
    expected = hyperband_reference(17, at, budget=9, eta=3)
    np.testing.assert_array_equal(result.budget, expected)
    np.testing.assert_array_equal(result.pruned, expected < 9)
    assert_curves_follow(result, full)
    assert result.objective == ("score", "max")
    finished = np.flatnonzero(~result.pruned)
    best = finished[np.argmax(full.metrics["score"][finished].mean(axis=1))]
    assert result.best("score") == SPACE[int(best)]


def test_hyperband_splits_another_space_size_in_proportion():
    rule = rmsjax.hyperband("score", mode="max", eta=3)
    assert [len(ids) for ids in rule.split(17, 9)] == [9, 5, 3]
    assert [len(ids) for ids in rule.split(34, 9)] == [18, 10, 6]
    assert [len(ids) for ids in rule.split(3, 9)] == [1, 1, 1]
    split = rule.split(10, 9)
    assert sum(map(len, split)) == 10 and [ids[0] for ids in split] == [0, 5, 8]
    with pytest.raises(ValueError, match="makes 3 brackets, and the space has 2 configurations"):
        rule.split(2, 9)


# Asynchronous successive halving.


def asha_reference(n, at, budget, eta, min_budget=1):
    """ASHA (Li et al. 2020, Algorithm 2) with one worker: a run that reaches a rung continues
    if it is in the top floor(m / eta) of the m runs there so far, and waits otherwise; the
    free worker takes first a waiting run that has become one of its rung's top (highest rung
    first, best first), then a new configuration; with none left, a rung keeps its top
    max(1, m // eta). Returns the units each configuration trains."""
    rungs, rung = [], min_budget
    while rung < budget:
        rungs.append(rung)
        rung *= eta
    reached = {r: [] for r in rungs}
    promoted = {r: set() for r in rungs}
    waiting, units, new = set(), np.zeros(n, int), list(range(n))

    def top(r, k):
        return sorted(reached[r], key=lambda c: (-at(c, r), c))[:k]

    def promotion(count):
        for r in reversed(rungs):
            for c in top(r, count(len(reached[r]))):
                if c in waiting and c not in promoted[r]:
                    promoted[r].add(c)
                    waiting.discard(c)
                    return c
        return None

    while True:
        c = promotion(lambda m: m // eta)
        if c is None and new:
            c = new.pop(0)
        if c is None:
            c = promotion(lambda m: max(1, m // eta))
        if c is None:
            return units
        while True:  # train to the next rung, or the budget
            units[c] = next((r for r in rungs if r > units[c]), budget)
            if units[c] >= budget:
                break
            r = units[c]
            reached[r].append(c)
            if c in top(r, len(reached[r]) // eta):
                promoted[r].add(c)
                continue
            waiting.add(c)
            break


def test_asha_with_one_slot_follows_the_reference():
    full, at = full_scores(chunk_size=1)
    rule = rmsjax.asha("score", mode="max", eta=3)
    result = rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=9, seeds=2, chunk_size=1,
                          halving=rule, progress=False)  # fmt: skip
    expected = asha_reference(17, at, budget=9, eta=3)
    np.testing.assert_array_equal(result.budget, expected)
    np.testing.assert_array_equal(result.pruned, expected < 9)
    assert (expected == 9).sum() >= 1 and (expected == 1).sum() > 8
    assert_curves_follow(result, full)


def test_asha_keeps_slots_busy_where_synchronous_halving_waits(monkeypatch):
    """Five slots, 17 configurations: synchronous halving idles slots while a rung fills;
    asha starts or resumes a run in every free slot, so it takes fewer steps of the pool."""
    steps = {}
    step = Pool.step

    def counted(pool):
        steps[name] = steps.get(name, 0) + 1
        steps[name + " idle"] = steps.get(name + " idle", 0) + int((pool.config < 0).sum())
        return step(pool)

    monkeypatch.setattr(Pool, "step", counted)
    results = {}
    for name, make in (("halving", rmsjax.halving), ("asha", rmsjax.asha)):
        results[name] = rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=9, chunk_size=5,
                                     halving=make("score", mode="max", eta=3),
                                     progress=False)  # fmt: skip
    assert steps["asha idle"] < steps["halving idle"], steps
    asha = results["asha"]
    assert (asha.budget == 9).sum() >= 1 and asha.pruned.sum() == (asha.budget < 9).sum()


# A search killed mid-way.


def kill_when_paused(out, rule: str, paused_at_least: int):
    """Runs the worker, SIGKILLs it once it has paused ``paused_at_least`` runs in ``out``."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    proc = subprocess.Popen([sys.executable, WORKER, str(out), rule, "slow"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            if len(list(out.glob("paused_*.npz"))) >= paused_at_least:
                break
            assert proc.poll() is None, proc.communicate()[0].decode()[-3000:]
            time.sleep(0.05)
        else:
            pytest.fail(f"the worker paused no {paused_at_least} runs within 120 s")
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def load_worker():
    sys.path.insert(0, os.path.dirname(WORKER))
    import _scheduler_worker

    return _scheduler_worker


def test_hyperband_killed_mid_search_resumes_bit_for_bit(tmp_path, monkeypatch):
    out = tmp_path / "run"
    kill_when_paused(out, "hyperband", paused_at_least=6)
    worker = load_worker()
    whole = worker.run(None, "hyperband")
    units = []
    step = Pool.step

    def counted(pool):
        units.append(int((pool.config >= 0).sum()))
        return step(pool)

    monkeypatch.setattr(Pool, "step", counted)
    resumed = worker.run(str(out), "hyperband")
    assert 0 < sum(units) < whole.budget.sum()  # it went on from what the killed run saved
    np.testing.assert_array_equal(resumed.budget, whole.budget)
    for name, value in whole.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], value, err_msg=name)
    assert not list(out.glob("paused_*.npz"))


def test_asha_killed_mid_search_loses_nothing_it_finished(tmp_path):
    """Not bit for bit (asha's promotions follow the order of arrival, which a restart
    changes, see `rmsjax.asha`), but what was finished before the kill is kept as it was, and
    the rerun finishes every configuration, at least one of them at the budget."""
    out = tmp_path / "run"
    kill_when_paused(out, "asha", paused_at_least=4)
    worker = load_worker()
    before = {}
    for file in out.glob("chunk_*.npz"):
        with np.load(file) as data:
            names = data["config_ids"].tolist()
            before.update({c: data["metric_0"][i] for i, c in enumerate(names)})
    resumed = worker.run(str(out), "asha")
    assert (resumed.budget >= 1).all() and (resumed.budget == 9).sum() >= 1
    for c, value in before.items():
        assert resumed.loaded[c]
        np.testing.assert_array_equal(resumed.metrics["loss"][c], value)
    assert not list(out.glob("paused_*.npz"))


# Errors.


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="asha: `eta` must be an int >= 2, got 1"):
        rmsjax.asha("score", mode="max", eta=1)
    with pytest.raises(ValueError, match="hyperband: `min_budget` must be an int >= 1, got 0"):
        rmsjax.hyperband("score", mode="max", min_budget=0)
    with pytest.raises(ValueError, match="hyperband: `mode` is required"):
        rmsjax.hyperband("score")
    with pytest.raises(TypeError, match=r"rmsjax.asha\(...\) or rmsjax.hyperband"):
        rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=3, halving=3, progress=False)
    space = rmsjax.grid(learning_rate=[0.01, 0.1], decay=[0.9], centered=[False, True])
    with pytest.raises(ValueError, match=r"asha: the space's static axes \['centered'\]"):
        rmsjax.sweep(TRAINER, space, key=KEY, budget=3, progress=False,
                     halving=rmsjax.asha("score", mode="max"))  # fmt: skip
    with pytest.raises(ValueError, match="asha metric 'nope' is not a scalar metric"):
        rmsjax.sweep(TRAINER, SPACE, key=KEY, budget=3, progress=False,
                     halving=rmsjax.asha("nope", mode="max"))  # fmt: skip


def test_an_out_dir_of_one_rule_refuses_another(tmp_path):
    kwargs = dict(key=KEY, budget=3, chunk_size=4, progress=False, out_dir=tmp_path)
    rmsjax.sweep(TRAINER, SPACE, halving=rmsjax.halving("score", mode="max"), **kwargs)
    with pytest.raises(ValueError, match="holds a different sweep"):
        rmsjax.sweep(TRAINER, SPACE, halving=rmsjax.asha("score", mode="max"), **kwargs)


# CONTRIBUTING.md's "Adding a scheduler" example.


def _contributing_scheduler(tmp_path):
    text = (Path(__file__).parents[1] / "CONTRIBUTING.md").read_text()
    block = text.split("## Adding a scheduler")[1].split("\n## ")[0]
    (tmp_path / "median.py").write_text(block.split("```python\n")[1].split("```")[0])
    spec = importlib.util.spec_from_file_location("median", tmp_path / "median.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_contributing_scheduler_runs_and_resumes(tmp_path):
    median = _contributing_scheduler(tmp_path)
    full, at = full_scores(chunk_size=3, budget=6)
    rule = median.MedianStopping("score", mode="max")
    kwargs = dict(key=KEY, budget=6, seeds=2, chunk_size=3, progress=False)
    result = rmsjax.sweep(TRAINER, SPACE, halving=rule, **kwargs)
    # The rule, from the full runs: in id order, a run stops at the first unit >= 2 where its
    # mean so far is below the median of the earlier runs' means at that unit.
    means, expected = {}, []
    for c in range(len(SPACE)):
        for u in range(1, 7):
            if u == 6:
                expected.append(6)
                break
            mine = float(np.mean(full.metrics["score_curve"][c, :, :u]))
            earlier = means.setdefault(u, [])
            stop = u >= 2 and len(earlier) > 0 and mine < np.median(earlier)
            earlier.append(mine)
            if stop:
                expected.append(u)
                break
    np.testing.assert_array_equal(result.budget, expected)
    assert 0 < result.pruned.sum() < len(SPACE) and result.objective == ("score", "max")
    assert_curves_follow(result, full)
    # Saved and resumed from out_dir like every search.
    rmsjax.sweep(TRAINER, SPACE, halving=rule, out_dir=tmp_path / "run", **kwargs)
    again = rmsjax.sweep(TRAINER, SPACE, halving=rule, out_dir=tmp_path / "run", **kwargs)
    assert again.loaded.all()
    np.testing.assert_array_equal(again.budget, result.budget)

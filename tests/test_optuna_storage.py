"""`optuna_search` with a persistent storage: killed, interrupted, and shared by processes.

The tests run `optuna_search` in real subprocesses (tests/_store_workers.py): one killed by
SIGKILL between saving a trial and telling the study, one interrupted by SIGINT, and two
processes searching one study at once; and one interrupted in this process while telling. The
study must end with every trial told exactly once: none RUNNING or WAITING, none lost, none
duplicated.
"""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _store_workers as workers  # noqa: E402

WORKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_store_workers.py")
STATES = optuna.trial.TrialState


@pytest.fixture(autouse=True)
def quiet_optuna():
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


def start(*args):
    return subprocess.Popen(
        [sys.executable, WORKERS, "optuna", *map(str, args)],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )


def finish(proc, returncode):
    _, stderr = proc.communicate(timeout=180)
    assert proc.returncode == returncode, stderr[-3000:]
    return stderr


def wait_for(path, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        assert time.monotonic() < deadline, f"the worker did not create {path}"
        time.sleep(0.05)


def by_state(trials):
    out = {}
    for t in trials:
        out.setdefault(t.state.name, []).append(t)
    return out


def check_told_once(study, run_id, result, n_trials, interrupted=()):
    """The run's trials: ``n_trials`` told (COMPLETE or PRUNED), one per configuration, with the
    parameters and outcome the result holds; each interrupted trial FAIL and retried with its
    parameters in its configuration."""
    mine = [t for t in study.trials if t.user_attrs.get("rmsjax_run") == run_id]
    states = by_state(mine)
    assert set(states) <= {"COMPLETE", "PRUNED", "FAIL"}, {k: len(v) for k, v in states.items()}
    told = states.get("COMPLETE", []) + states.get("PRUNED", [])
    assert sorted(t.user_attrs["rmsjax_config"] for t in told) == list(range(n_trials))
    for t in told:
        config_id = t.user_attrs["rmsjax_config"]
        assert t.params == result.space[config_id]
        assert result.pruned[config_id] == (t.state == STATES.PRUNED)
        if t.state == STATES.COMPLETE:
            assert t.value == np.mean(result.metrics["loss"][config_id], dtype=np.float64)
    failed = {t.number: t for t in states.get("FAIL", [])}
    assert sorted(failed) == sorted(interrupted)
    retries = {
        t.user_attrs["rmsjax_retry_of"]: t for t in told if "rmsjax_retry_of" in t.user_attrs
    }
    assert sorted(retries) == sorted(failed)
    for number, retry in retries.items():
        assert retry.params == failed[number].params
        assert retry.user_attrs["rmsjax_config"] == failed[number].user_attrs["rmsjax_config"]


def run_id(out_dir):
    import json

    return json.loads((out_dir / "manifest.json").read_text())["run_id"]


def test_sigkill_between_saving_and_telling_then_resume(tmp_path):
    storage, out = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "run"
    # Two slots, three units each: trials 0 and 1 are told, then trial 2 is saved and the
    # process is killed as it tells it; trial 3 has trained but is neither saved nor told.
    finish(start(storage, out, 6, 3), -signal.SIGKILL)
    assert len([f for f in os.listdir(out) if f.startswith("chunk_")]) == 3  # saved, then told
    running = by_state(workers.study(storage).trials)["RUNNING"]
    assert len(running) == 2

    result = workers.optuna_search(storage, out, 6)
    study = workers.study(storage)
    states = by_state(study.trials)
    assert {k: len(v) for k, v in states.items()} == {"COMPLETE": 6, "FAIL": 1}
    [saved] = [t for t in running if t.user_attrs["rmsjax_config"] == 2]
    assert study.trials[saved.number].state == STATES.COMPLETE  # told what was saved
    [in_flight] = [t.number for t in running if t.user_attrs["rmsjax_config"] == 3]
    check_told_once(study, run_id(out), result, 6, interrupted=[in_flight])


@pytest.mark.parametrize("storage_kind", ["sqlite", "journal"])
def test_sigkill_inside_ask_leaves_a_trial_the_rerun_knows_then_resume(tmp_path, storage_kind):
    """Killed as `study.ask` creates the third trial, before it has parameters: that trial is
    already tagged with the run (the tags were enqueued first), so the rerun settles it."""
    storage = {
        "sqlite": f"sqlite:///{tmp_path / 'study.db'}",
        "journal": f"journal:{tmp_path / 'journal.log'}",
    }[storage_kind]
    out = tmp_path / "run"
    finish(start(storage, out, 5, "ask3"), -signal.SIGKILL)
    trials = workers.study(storage).trials
    [killed] = [t for t in trials if t.number == 2]
    assert killed.state == STATES.RUNNING and killed.params == {}
    assert killed.user_attrs["rmsjax_run"] == run_id(out)  # the rerun can tell it is its own

    result = workers.optuna_search(storage, out, 5)
    study = workers.study(storage)
    states = by_state(study.trials)
    assert "RUNNING" not in states and "WAITING" not in states, states
    assert study.trials[2].state == STATES.FAIL  # settled, and retried in its configuration
    told = states["COMPLETE"]
    assert sorted(t.user_attrs["rmsjax_config"] for t in told) == list(range(5))
    [retry] = [t for t in told if t.user_attrs.get("rmsjax_retry_of") == 2]
    assert retry.user_attrs["rmsjax_config"] == killed.user_attrs["rmsjax_config"]
    for t in told:
        assert t.params == result.space[t.user_attrs["rmsjax_config"]]


def test_sigint_settles_trials_in_flight_then_resume(tmp_path):
    storage, out = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "run"
    ready, gate = tmp_path / "ready", tmp_path / "gate"
    proc = start(storage, out, 4, 0, ready, gate)
    try:
        wait_for(ready, proc)  # trials 0 and 1 have trained their first unit
        proc.send_signal(signal.SIGINT)
    finally:
        gate.touch()
    stderr = finish(proc, -signal.SIGINT)
    assert "KeyboardInterrupt" in stderr
    study = workers.study(storage)
    states = by_state(study.trials)
    assert set(states) == {"FAIL", "WAITING"}, stderr[-3000:]  # nothing left RUNNING; retries
    interrupted = [t.number for t in states["FAIL"]]
    assert len(interrupted) == 2

    result = workers.optuna_search(storage, out, 4)
    check_told_once(workers.study(storage), run_id(out), result, 4, interrupted)


def test_two_processes_share_a_study_and_one_is_killed(tmp_path, monkeypatch):
    """Process A is killed, then resumed (here) while process B has trials RUNNING: A settles
    only its own trials; then both go on searching (B resumes when A first asks a trial). The
    study ends with the sum of their trials."""
    storage = f"journal:{tmp_path / 'journal.log'}"
    ready, gate = tmp_path / "ready", tmp_path / "gate"
    a, b = start(storage, tmp_path / "a", 6, 3), start(storage, tmp_path / "b", 5, 0, ready, gate)
    try:
        finish(a, -signal.SIGKILL)
        wait_for(ready, b)  # B's first two trials are RUNNING, B waits for the gate
        with pytest.raises(ValueError, match="is being written by another process"):
            workers.optuna_search(storage, tmp_path / "b", 5)  # one out_dir per process
        ask = optuna.Study.ask

        def ask_then_open_the_gate(self, *args, **kwargs):  # A has settled its trials by now
            gate.touch()
            return ask(self, *args, **kwargs)

        monkeypatch.setattr(optuna.Study, "ask", ask_then_open_the_gate)
        result_a = workers.optuna_search(storage, tmp_path / "a", 6)  # while B searches too
    finally:
        gate.touch()
    finish(b, 0)
    study = workers.study(storage)
    states = by_state(study.trials)
    # A's six and its retried trial, B's five; B's trials were never failed.
    assert {k: len(v) for k, v in states.items()} == {"COMPLETE": 11, "FAIL": 1}
    assert len({t.number for t in study.trials}) == 12
    monkeypatch.undo()
    result_b = workers.optuna_search(storage, tmp_path / "b", 5)  # nothing left to run
    assert len(workers.study(storage).trials) == 12
    [failed] = states["FAIL"]
    check_told_once(study, run_id(tmp_path / "a"), result_a, 6, interrupted=[failed.number])
    check_told_once(study, run_id(tmp_path / "b"), result_b, 5)


def test_interrupted_while_telling_a_pruned_trial(tmp_path, monkeypatch):
    """An interruption inside ``study.tell`` (here of the first pruned trial) in this process:
    that trial, saved, is told PRUNED; those in flight FAIL and are retried on resume."""
    from _staged_helpers import TRAINER

    import rmsjax

    space = {"learning_rate": rmsjax.loguniform(1e-3, 0.3), "decay": rmsjax.uniform(0.5, 0.99)}

    def search(study):
        return rmsjax.optuna_search(
            TRAINER, study, n_trials=8, width=3, key=workers.KEY, budget=9, metric="loss",
            out_dir=tmp_path / "run", progress=False,
            space=space,
        )  # fmt: skip

    def new_study():
        return optuna.create_study(
            study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}", load_if_exists=True,
            sampler=optuna.samplers.TPESampler(n_startup_trials=4),
            pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        )  # fmt: skip

    tell, interrupts = optuna.Study.tell, []

    def interrupted_tell(self, trial, *args, state=None, **kwargs):
        if state == STATES.PRUNED and not interrupts:
            interrupts.append(trial)
            raise KeyboardInterrupt
        return tell(self, trial, *args, state=state, **kwargs)

    monkeypatch.setattr(optuna.Study, "tell", interrupted_tell)
    with pytest.raises(KeyboardInterrupt):
        search(new_study())
    monkeypatch.undo()
    states = by_state(new_study().trials)
    assert "RUNNING" not in states and len(states["PRUNED"]) == 1
    interrupted = [t.number for t in states["FAIL"]]
    assert len(interrupted) == len(states["WAITING"]) == 2  # the other two slots' trials
    result = search(new_study())
    check_told_once(new_study(), run_id(tmp_path / "run"), result, 8, interrupted)

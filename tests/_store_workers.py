"""Processes for tests/test_store.py and tests/test_optuna_storage.py.

``python _store_workers.py sweep OUT_DIR READY GATE``: runs `rmsjax.sweep` (the quadratic of
_sweep_helpers, one configuration per chunk) into OUT_DIR; its first configuration touches
READY, then waits until GATE exists, so the test decides when the process may finish.

``python _store_workers.py optuna STORAGE OUT_DIR N_TRIALS KILL_AT [READY GATE]``: runs
`rmsjax.optuna_search` (the toy trainer of _staged_helpers, two slots) on the study "shared" of
STORAGE (an RDB URL, or ``journal:PATH`` for a JournalStorage file), saving in OUT_DIR. With
KILL_AT > 0 the process kills itself (SIGKILL) when it is about to tell the study its KILL_AT-th
finished trial; with KILL_AT ``askN``, when `study.ask` has created its N-th trial (RUNNING),
before the trial has any parameter or attribute of its own. With READY and GATE, its first
report to the study (after the first unit of its first two trials) touches READY and waits for
GATE.

``python _store_workers.py command READY GATE ARGV...``: runs the ``rmsjax`` command ARGV; once it
has saved its first chunk it touches READY and waits until GATE exists; exits with its status.
"""

import os
import signal
import sys
import time

import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _sweep_helpers as helpers  # noqa: E402

import rmsjax  # noqa: E402

SPACE = rmsjax.grid(learning_rate=[1e-3, 1e-2, 0.1], decay=[0.9, 0.99])
KEY = jax.random.key(0)


def gated(ready: str, gate: str):
    def wait(_):
        open(ready, "w").close()
        deadline = time.monotonic() + 120  # a test that died does not leave this process behind
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.02)

    def fn(hparams, key):
        jax.debug.callback(wait, hparams["learning_rate"])
        return helpers.quadratic(hparams, key)

    return fn


def sweep(fn, out_dir):
    return rmsjax.sweep(fn, SPACE, key=KEY, chunk_size=1, out_dir=out_dir, progress=False)


def study(storage: str):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if storage.startswith("journal:"):
        backend = optuna.storages.journal.JournalFileBackend(storage[len("journal:") :])
        storage = optuna.storages.JournalStorage(backend)
    return optuna.create_study(
        study_name="shared", storage=storage, load_if_exists=True, direction="minimize",
        sampler=optuna.samplers.RandomSampler(), pruner=optuna.pruners.NopPruner(),
    )  # fmt: skip


def optuna_search(storage, out_dir, n_trials, key=KEY):
    from _staged_helpers import TRAINER

    return rmsjax.optuna_search(
        TRAINER, study(storage), n_trials=n_trials, key=key, budget=3,
        metric="loss", width=2, out_dir=out_dir, progress=False,
        space={"learning_rate": rmsjax.loguniform(1e-3, 0.3), "decay": rmsjax.uniform(0.5, 0.99)},
    )  # fmt: skip


def kill_at_tell(n: int) -> None:
    """SIGKILLs this process when the study is about to be told its ``n``-th finished trial."""
    import optuna

    tell, calls = optuna.Study.tell, []

    def killing_tell(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return tell(self, *args, **kwargs)

    optuna.Study.tell = killing_tell


def kill_at_ask(n: int) -> None:
    """SIGKILLs this process inside `study.ask` of its ``n``-th trial, as the trial is created."""
    import optuna

    init, calls = optuna.trial.Trial.__init__, []

    def killing_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == n:
            os.kill(os.getpid(), signal.SIGKILL)

    optuna.trial.Trial.__init__ = killing_init


def gate_report(ready: str, gate: str) -> None:
    """Makes the first report of a trial to the study touch ``ready`` and wait for ``gate``."""
    import optuna

    report, calls = optuna.trial.Trial.report, []

    def gated_report(self, *args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            open(ready, "w").close()
            deadline = time.monotonic() + 120
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.02)
        return report(self, *args, **kwargs)

    optuna.trial.Trial.report = gated_report


def gated_command(ready: str, gate: str, argv: list[str]) -> int:
    """``rmsjax ARGV``, held after its first saved chunk until ``gate`` exists."""
    from rmsjax import cli
    from rmsjax._engine.store import Store

    save = Store.save

    def gated_save(self, *args, **kwargs):
        save(self, *args, **kwargs)
        if not os.path.exists(ready):
            open(ready, "w").close()
            deadline = time.monotonic() + 120
            while not os.path.exists(gate) and time.monotonic() < deadline:
                time.sleep(0.02)

    Store.save = gated_save
    return cli.main(argv)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    command, *args = sys.argv[1:]
    if command == "sweep":
        out_dir, ready, gate = args
        sweep(gated(ready, gate), out_dir)
    elif command == "command":
        ready, gate, *argv = args
        sys.exit(gated_command(ready, gate, argv))
    elif command == "optuna":
        storage, out_dir, n_trials, kill_at, *gate = args
        if kill_at.startswith("ask"):
            kill_at_ask(int(kill_at[3:]))
        elif int(kill_at):
            kill_at_tell(int(kill_at))
        if gate:
            gate_report(*gate)
        optuna_search(storage, out_dir, int(n_trials))
    else:
        raise SystemExit(f"unknown command {command!r}")

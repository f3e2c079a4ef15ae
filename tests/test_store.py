"""The out_dir store: one writer at a time, chunks created exclusively, saves of constant cost."""

import gc
import glob
import os
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import rmsjax
from rmsjax._engine.store import Store

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _store_workers as workers  # noqa: E402
from _sweep_helpers import quadratic  # noqa: E402

WORKERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_store_workers.py")
HEADER = {"space": [["learning_rate", [0.1]]], "seeds": 1, "metadata": {}}


def wait_for(path, proc, seconds=120):
    deadline = time.monotonic() + seconds
    while not os.path.exists(path):
        if proc.poll() is not None:
            raise AssertionError(f"the worker exited ({proc.returncode}): {proc.stderr.read()}")
        assert time.monotonic() < deadline, f"the worker did not create {path}"
        time.sleep(0.05)


def test_a_second_process_writing_the_same_out_dir_is_refused(tmp_path):
    out, ready, gate = tmp_path / "run", tmp_path / "ready", tmp_path / "gate"
    proc = subprocess.Popen(
        [sys.executable, WORKERS, "sweep", str(out), str(ready), str(gate)],
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
    try:
        wait_for(ready, proc)  # the worker is training its first configuration
        busy = f"out_dir '{out}' is being written by another process"
        with pytest.raises(ValueError, match=busy):
            workers.sweep(quadratic, out)
    finally:
        gate.touch()
        _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    # The refused call wrote nothing: the worker's six chunks are all there, each once.
    assert sorted(os.listdir(out)) == [f"chunk_{i:05d}.npz" for i in range(6)] + [
        "manifest.json",
        "program_0_typed_key.txt",
    ]
    # Once the worker has ended, the folder can be written again: nothing is left to run (the
    # same program would touch `again` if it ran a configuration).
    resumed = workers.sweep(workers.gated(str(tmp_path / "again"), str(gate)), out)
    jax.effects_barrier()
    assert not (tmp_path / "again").exists()
    fresh = workers.sweep(quadratic, None)
    for name, value in fresh.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], value)


def test_a_save_does_not_list_the_folder(tmp_path, monkeypatch):
    """The cost of a save does not depend on how many chunks the folder holds: the folder is
    listed a fixed number of times per call, however many chunks it writes."""
    listings = []
    for module, name in ((os, "scandir"), (os, "listdir"), (glob, "glob"), (glob, "iglob")):
        original = getattr(module, name)

        def counted(path=".", *args, _original=original, **kwargs):
            if str(tmp_path) in os.fspath(path):
                listings.append(path)
            return _original(path, *args, **kwargs)

        monkeypatch.setattr(module, name, counted)
    counts = []
    for n in (2, 6):
        listings.clear()
        space = rmsjax.grid(learning_rate=list(np.linspace(0.01, 0.1, n)), decay=[0.9])
        rmsjax.sweep(quadratic, space, key=jax.random.key(0), chunk_size=1, progress=False,
                     out_dir=tmp_path / f"n{n}")  # fmt: skip
        counts.append(len(listings))
    assert counts[0] == counts[1] <= 2, counts


def test_chunks_are_created_exclusively(tmp_path):
    """A chunk name taken by another writer (one whose lock this process cannot see, as on a file
    system without locks) is an error naming the folder; the other writer's file is kept."""
    store = Store(tmp_path, HEADER, writer=True)
    store.save(np.asarray([0]), [np.zeros((1, 1))])
    theirs = tmp_path / "chunk_00001.npz"
    theirs.write_bytes(b"another writer's chunk")
    with pytest.raises(ValueError, match=f"out_dir '{tmp_path}': chunk_00001.npz was written by "
                       "another writer"):  # fmt: skip
        store.save(np.asarray([1]), [np.ones((1, 1))])
    assert theirs.read_bytes() == b"another writer's chunk"
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_a_ctrl_c_while_a_chunk_is_written_waits_for_the_whole_file(tmp_path, monkeypatch):
    """SIGINT inside np.savez used to leave the zip half open (the command then ended with a
    zipfile ValueError and status 1); the chunk is now written and named, then it raises."""
    import signal

    real = np.savez

    def interrupted_savez(file, **arrays):
        os.kill(os.getpid(), signal.SIGINT)  # handled at the next bytecode, inside the write
        real(file, **arrays)

    store = Store(tmp_path, HEADER, writer=True)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # even if inherited off
    try:
        monkeypatch.setattr(np, "savez", interrupted_savez)
        with pytest.raises(KeyboardInterrupt):
            store.save(np.asarray([0]), [np.full((1, 1), 7.0)])
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    with np.load(tmp_path / "chunk_00000.npz") as chunk:
        assert 7.0 in [float(chunk[k].ravel()[0]) for k in chunk.files if chunk[k].size == 1]
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_a_later_call_in_the_same_process_takes_the_folder_over(tmp_path):
    """An abandoned writer (e.g. kept alive by a traceback in a notebook) does not block the
    next call in the same process, and may no longer write once that call has the folder."""
    first = Store(tmp_path, HEADER, writer=True)
    second = Store(tmp_path, HEADER, writer=True)
    with pytest.raises(ValueError, match="opened for writing again by a later call"):
        first.save(np.asarray([0]), [np.zeros((1, 1))])
    second.save(np.asarray([0]), [np.zeros((1, 1))])
    del first
    gc.collect()
    second.save(np.asarray([1]), [np.zeros((1, 1))])  # the first one's collection did not unlock
    assert sorted(os.listdir(tmp_path)) == ["chunk_00000.npz", "chunk_00001.npz"]
    second.close()
    with pytest.raises(ValueError, match="opened for writing again"):
        second.save(np.asarray([2]), [np.zeros((1, 1))])


def test_a_refused_call_does_not_take_the_folder_over(tmp_path):
    """A call refused because the folder holds another sweep (same process) leaves the folder
    to the call that has it, and a refused call on a free folder does not keep it locked."""
    first = Store(tmp_path, HEADER, writer=True)
    first.save(np.asarray([0]), [np.zeros((1, 1))])
    first.begin_group(0, 1, "typed_key", {"loss": {"shape": [], "dtype": "float64"}}, {}, "")
    other = {**HEADER, "seeds": 2}
    with pytest.raises(ValueError, match="holds a different sweep"):
        Store(tmp_path, other, writer=True)
    first.save(np.asarray([1]), [np.zeros((1, 1))])  # still the owner
    first.close()
    with pytest.raises(ValueError, match="holds a different sweep"):
        Store(tmp_path, other, writer=True)
    script = f"from rmsjax._engine.store import Store; Store({str(tmp_path)!r}, {HEADER!r}, True)"
    subprocess.run([sys.executable, "-c", script], check=True)  # not locked by the refused call


def test_an_interrupted_claim_is_skipped(tmp_path):
    """On a file system without hard links a chunk name is claimed (an empty file) before the
    finished file is renamed onto it; an interruption in between leaves an empty file that
    loading skips and the next save does not reuse."""
    Store(tmp_path, HEADER, writer=True).close()
    (tmp_path / "chunk_00000.npz").touch()
    store = Store(tmp_path, HEADER, writer=True)
    store.manifest = {"metrics": {"loss": {"shape": [], "dtype": "float64"}}}
    store.save(np.asarray([3]), [np.ones((1, 1))])
    assert (tmp_path / "chunk_00001.npz").exists()
    [(ids, arrays)] = store.load()
    assert ids.tolist() == [3] and arrays[0].tolist() == [[1.0]]


@pytest.mark.parametrize("flag", ["--fresh", "--overwrite"])
def test_a_second_command_on_a_folder_in_use_is_refused_and_deletes_nothing(tmp_path, capsys, flag):
    """`rmsjax sweep --fresh` (or --overwrite) while another command runs in the same folder is
    refused in one line naming the folder, before it deletes anything; the first finishes."""
    from rmsjax import cli

    out, ready, gate = tmp_path / "run", tmp_path / "ready", tmp_path / "gate"
    argv = ["sweep", "quadratic", "--lr", "0.01,0.1,0.3", "--decay", "0.9", "--epochs", "5",
            "--chunk-size", "1", "--out", str(out), "--no-progress"]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, WORKERS, "command", str(ready), str(gate), *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, JAX_PLATFORMS="cpu"),
    )
    try:
        wait_for(ready, proc)  # the first command has saved its first chunk
        chunks = sorted(os.listdir(out / "chunks"))
        assert "chunk_00000.npz" in chunks
        capsys.readouterr()
        assert cli.main([*argv, flag]) == 1
        err = capsys.readouterr().err
        assert err == (
            f"rmsjax: error: output folder '{out}' is in use: another rmsjax command is writing "
            "its chunks/; wait for it to finish, or choose another folder (--out)\n"
        )
        assert sorted(os.listdir(out / "chunks")) == chunks  # nothing deleted
    finally:
        gate.touch()
        stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 0, stderr[-3000:]
    assert "saved to" in stdout
    names = sorted(os.listdir(out / "chunks"))
    assert [n for n in names if n.startswith("chunk_")] == [f"chunk_{i:05d}.npz" for i in range(3)]
    # Once the first has finished, the same command with the flag runs (and starts afresh).
    assert cli.main([*argv, flag]) == 0

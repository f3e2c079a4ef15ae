"""Two processes on this host sweep over the four devices of both, as a multi-host job would.

tests/_sweep_multihost.py is one process (two simulated CPU devices, gloo collectives,
coordinator on localhost); both must return what one process with one device returns.
"""

import os
import socket
import subprocess
import sys

import _sweep_multihost as worker
import numpy as np
import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def run_two_processes(mode: str, out_dir) -> list[dict[str, np.ndarray]]:
    """Runs MODE in two processes; returns what each saved."""
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    script = os.path.join(os.path.dirname(__file__), "_sweep_multihost.py")
    port = str(_free_port())
    procs = [
        subprocess.Popen(
            [sys.executable, script, mode, port, str(i), str(out_dir)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(worker.NUM_PROCESSES)
    ]
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=120)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    for i, proc in enumerate(procs):
        assert proc.returncode == 0, f"process {i}:\n{outputs[i][-3000:]}"
    arrays = []
    for i in range(worker.NUM_PROCESSES):
        with np.load(out_dir / f"process_{i}.npz", allow_pickle=False) as data:
            arrays.append(dict(data))
    return arrays


@pytest.mark.parametrize("mode", sorted(worker.MODES))
def test_two_processes_agree_with_one(tmp_path, mode):
    first, second = run_two_processes(mode, tmp_path)
    assert first.keys() == second.keys()
    for name in first:  # every process gets the whole result
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    (tmp_path / "single").mkdir()
    one = worker.MODES[mode](str(tmp_path / "single"))  # this process: one device
    assert one.keys() == first.keys()
    for name, value in one.items():
        if not name.endswith("chunk_sizes"):
            # float32 rounding of matmuls batched at another width (see test_sweep.py).
            np.testing.assert_allclose(first[name], value, rtol=2e-6, atol=1e-7, err_msg=name)
    if mode == "grid":
        # 10 configurations over 4 devices: chunks of 3 round up to 4; one chunk pads to 12.
        np.testing.assert_array_equal(first["chunks/chunk_sizes"], [4])
        np.testing.assert_array_equal(first["one/chunk_sizes"], [12])
        np.testing.assert_array_equal(first["reloaded/chunk_sizes"], [4])
        files = sorted(os.listdir(tmp_path / "store"))
        assert files[:3] == ["chunk_00000.npz", "chunk_00001.npz", "chunk_00002.npz"]
        assert "chunk_00003.npz" not in files  # the reload ran nothing, wrote nothing
    if mode == "halving":
        np.testing.assert_array_equal(first["run/budget"], one["run/budget"])  # same decisions
        assert 0 < (first["run/budget"] < 4).sum() < 10  # some pruned, some trained in full
        # one file per configuration as it finished; the reload ran nothing, wrote nothing
        assert len(list((tmp_path / "halving").glob("chunk_*.npz"))) == 10
    if mode == "pbt":
        np.testing.assert_array_equal(first["run/copied_from"], one["run/copied_from"])
        assert (first["run/copied_from"] >= 0).sum() == 3 * 2  # 3 copies at units 2 and 4
        assert first["reloaded/loaded"].all() and not first["run/loaded"].any()
        assert not list((tmp_path / "pbt").glob("pbt_*.npz"))  # finished: no state left


def test_out_dir_must_be_shared_by_the_processes(tmp_path):
    first, second = run_two_processes("unshared_out_dir", tmp_path)
    for result in (first, second):
        assert "must be a directory every process sees" in str(result["error"])

"""One rule for every search resumed on another number of devices (issue 22 §2, last item).

Each search starts here, on this process's one CPU device, 3 slots wide, and is interrupted;
a subprocess with 2 simulated devices resumes it: the recorded width (3) is rounded up to a
multiple of the devices (4), and the run finishes as the uninterrupted one does, to the float
rounding of the other batch width.
"""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _resume_devices as searches  # noqa: E402

from rmsjax._engine import sweep as sweep_module  # noqa: E402
from rmsjax._engine.pool import Pool  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_resume_devices.py")


class Interrupted(Exception):
    pass


def interrupt(monkeypatch, name):
    """Stops the search mid-way: after the first chunk (plain sweep) or the fourth pool step."""
    if name == "sweep":
        target, attr = sweep_module, "_run_chunk"
    else:
        target, attr = Pool, "step"
    original, calls = getattr(target, attr), []

    def stopping(*args, **kwargs):
        calls.append(1)
        if len(calls) > (1 if name == "sweep" else 4):
            raise Interrupted
        return original(*args, **kwargs)

    monkeypatch.setattr(target, attr, stopping)


@pytest.mark.skipif(jax.device_count() != 1, reason="the test process must have one device")
def test_every_search_resumes_on_another_number_of_devices(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    whole = {name: searches.run(name, None) for name in ("sweep", "halving", "pbt")}
    for name in searches.NAMES:
        with monkeypatch.context() as patch:
            interrupt(patch, name)
            with pytest.raises(Interrupted):
                searches.run(name, tmp_path / name)
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        assert set(manifest["chunk_sizes"].values()) == {3}, (name, manifest["chunk_sizes"])
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")  # fmt: skip
    results = tmp_path / "resumed.npz"
    done = subprocess.run([sys.executable, SCRIPT, str(tmp_path), str(results)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = np.load(results)
    for name in searches.NAMES:
        assert int(resumed[f"{name}/width"]) == 4, name  # 3 slots rounded up to 2 devices
    for name, result in whole.items():
        for metric, value in result.metrics.items():
            # 4 slots over 2 devices instead of 3 on one change the batch shape of XLA's kernels
            # and so the last float32 bits (as in test_staged's two-device test: about 1e-6).
            np.testing.assert_allclose(resumed[f"{name}/{metric}"], value, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name}/{metric}")  # fmt: skip
    # Optuna's trials depend on the order they were asked in: 7 finished, none lost.
    assert np.isfinite(resumed["optuna/loss"]).all() and len(resumed["optuna/loss"]) == 7

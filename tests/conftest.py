"""Shared test setup: Keras on the JAX backend, and where the shared real data lives."""

import os
from pathlib import Path

# Keras reads its backend once, at import; the parity tests need the JAX backend.
os.environ.setdefault("KERAS_BACKEND", "jax")
# The tests never write into the user's compilation cache, and a cache hit would hide a
# compilation from the tests that count them: the command runs without it here (subprocesses
# inherit this); the cache's own tests give it a tmp folder.
os.environ["RMSJAX_COMPILATION_CACHE"] = "0"

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RMSJAX_DATA_DIR", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets in ../shared/data; tests that need them skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set RMSJAX_DATA_DIR to its folder)")
    return SHARED_DATA

"""The ``out_dir`` of a sweep: a manifest plus one file per finished chunk.

``manifest.json`` records what identifies the sweep (space, seeds, key, metric names and shapes)
and the chunk widths used; ``chunk_XXXXX.npz`` holds the metrics of one finished chunk with its
configuration ids. Every file is written to a temporary name and renamed, so an interruption
never leaves a half-written file, and a finished chunk is never rewritten.
"""

from __future__ import annotations

import glob
import json
import os
import tempfile
from collections.abc import Callable

import jax
import numpy as np

_MANIFEST = "manifest.json"
_FORMAT = 1


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rmsjax")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "unknown"


class Store:
    """The out_dir: a manifest plus one npz per finished chunk, written atomically."""

    def __init__(self, path, header: dict, writer: bool):
        self.path = os.fspath(path)
        self.header = header
        self.writer = writer
        self.manifest: dict | None = None
        manifest_path = os.path.join(self.path, _MANIFEST)
        if os.path.exists(manifest_path):
            with open(manifest_path) as f:
                self.manifest = json.load(f)
            self.compare(self.header)
        elif writer:
            os.makedirs(self.path, exist_ok=True)

    def compare(self, mine: dict) -> None:
        assert self.manifest is not None
        for field, value in mine.items():
            theirs = self.manifest.get(field)
            if json.loads(json.dumps(value)) != theirs:
                raise ValueError(
                    f"out_dir {self.path!r} holds a different sweep: its manifest has "
                    f"{field}={theirs!r}, this call has {field}={value!r}. Use a new out_dir (or "
                    "delete this one) to run this sweep."
                )

    def set_metrics(self, metrics: dict, chunk_sizes: dict) -> None:
        """Checks (or records) the metric names/shapes; writes the manifest on first use."""
        if self.manifest is not None and "metrics" in self.manifest:
            self.compare({"metrics": metrics})
        record = {
            "format": _FORMAT,
            **self.header,
            "metrics": metrics,
            "chunk_sizes": {str(k): v for k, v in chunk_sizes.items()},
            "rmsjax_version": _version(),
            "jax_version": jax.__version__,
        }
        if self.manifest is not None:
            sizes = dict(self.manifest.get("chunk_sizes", {}))
            sizes.update(record["chunk_sizes"])
            record["chunk_sizes"] = sizes
        self.manifest = record
        if self.writer:
            self._atomic_write(_MANIFEST, lambda f: f.write(json.dumps(record, indent=1).encode()))

    def load(self) -> list[tuple[np.ndarray, list[np.ndarray]]]:
        """The finished chunks: (config ids, metric arrays in manifest order) each."""
        if self.manifest is None or "metrics" not in self.manifest:
            return []
        names = list(self.manifest["metrics"])
        chunks = []
        for file in sorted(glob.glob(os.path.join(self.path, "chunk_*.npz"))):
            try:
                with np.load(file, allow_pickle=False) as data:
                    ids = data["config_ids"]
                    arrays = [data[f"metric_{i}"] for i in range(len(names))]
            except (OSError, KeyError, ValueError) as e:
                raise ValueError(f"cannot read finished chunk {file!r} of the sweep: {e}") from e
            chunks.append((ids, arrays))
        return chunks

    def save(self, ids: np.ndarray, arrays: list[np.ndarray]) -> None:
        if not self.writer:
            return
        index = len(glob.glob(os.path.join(self.path, "chunk_*.npz")))
        while os.path.exists(os.path.join(self.path, f"chunk_{index:05d}.npz")):
            index += 1
        payload = {"config_ids": ids, **{f"metric_{i}": a for i, a in enumerate(arrays)}}
        self._atomic_write(f"chunk_{index:05d}.npz", lambda f: np.savez(f, **payload))

    def _atomic_write(self, name: str, write: Callable) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, os.path.join(self.path, name))
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)

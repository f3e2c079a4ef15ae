"""The ``out_dir`` of a sweep: a manifest plus one file per finished chunk.

``manifest.json`` records what identifies the sweep (space, seeds, key, metadata), the metric
names and shapes, and for every static combination (by its first configuration id) the chunk
width it runs with and the fingerprint of its traced program; ``program_<id>_<key kind>.txt``
holds that program's text (to say what changed when a fingerprint differs);
``chunk_XXXXX.npz`` holds the metrics of one finished chunk with its configuration ids;
``paused_XXXXX.npz`` a run that halving paused at a rung (carry, run keys, metrics so far). Every
file is written to a temporary name and renamed, so an interruption never leaves a half-written
file, and a finished chunk is never rewritten.
"""

from __future__ import annotations

import difflib
import glob
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

_MANIFEST = "manifest.json"
_FORMAT = 1
_FIX = "Use a new out_dir (or delete this one) to run this sweep."


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("rmsjax")
    except Exception:  # noqa: BLE001 - not installed as a distribution
        return "unknown"


def _json(value):
    """``value`` as it reads back from JSON (tuples become lists, int keys strings)."""
    return json.loads(json.dumps(value))


def check_metadata(metadata) -> dict[str, Any]:
    """``metadata`` as it reads back from the manifest (JSON types), or {} for None."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping) or not all(isinstance(k, str) for k in metadata):
        raise TypeError(f"`metadata` must be a dict with str keys, got {metadata!r}")
    try:
        text = json.dumps(dict(metadata), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"`metadata` must be JSON-serialisable: {e}; got {metadata!r}") from e
    return json.loads(text)


class Store:
    """The out_dir: a manifest plus one npz per finished chunk, written atomically.

    Only the ``writer`` (process 0 of a multi-process job) writes; every process reads.
    """

    def __init__(self, path, header: dict, writer: bool):
        self.path = os.fspath(path)
        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(
                f"`out_dir` {self.path!r} is a file, not a directory; pass a directory (it is "
                "created if missing)"
            )
        self.header = _json(header)
        self.writer = writer
        self.manifest: dict | None = self._read_manifest()
        if self.manifest is not None:
            self._compare_header()
        elif writer:
            try:
                os.makedirs(self.path, exist_ok=True)
            except OSError as e:
                raise ValueError(f"`out_dir` {self.path!r} cannot be created: {e.strerror}") from e

    def _read_manifest(self) -> dict | None:
        path = os.path.join(self.path, _MANIFEST)
        if not os.path.exists(path):
            return None
        try:
            with open(path, encoding="utf-8") as f:
                manifest = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(
                f"cannot read the sweep manifest {path!r}: {e}. It is damaged or not written by "
                f"rmsjax.sweep. {_FIX}"
            ) from e
        if not isinstance(manifest, dict) or "space" not in manifest:
            raise ValueError(
                f"the sweep manifest {path!r} is not one rmsjax.sweep writes (no `space`). {_FIX}"
            )
        return manifest

    def _compare_header(self) -> None:
        for field, mine in self.header.items():
            theirs = self.manifest.get(field, {} if field == "metadata" else None)
            if field == "key":  # a raw PRNGKey and a typed key with the same data are one key
                mine = {k: mine[k] for k in ("impl", "data")}
                theirs = {k: theirs.get(k) for k in ("impl", "data")} if theirs else theirs
            if field == "metadata" and mine != theirs:
                keys = sorted(k for k in {*mine, *theirs} if mine.get(k) != theirs.get(k))
                raise ValueError(
                    f"out_dir {self.path!r} holds a sweep with other metadata: keys {keys} "
                    f"differ (its manifest has { {k: theirs.get(k) for k in keys} }, this call "
                    f"has { {k: mine.get(k) for k in keys} }). {_FIX}"
                )
            self._require_equal(field, mine, theirs)

    def _require_equal(self, field: str, mine, theirs) -> None:
        if _json(mine) != theirs:
            raise ValueError(
                f"out_dir {self.path!r} holds a different sweep: its manifest has "
                f"{field}={theirs!r}, this call has {field}={mine!r}. {_FIX}"
            )

    @property
    def metrics(self) -> dict | None:
        """Metric name -> {"shape", "dtype"} recorded by an earlier call, or None."""
        return None if self.manifest is None else self.manifest.get("metrics")

    @property
    def widths(self) -> dict[int, int]:
        """The chunk width of every static combination started so far, by its first id."""
        sizes = {} if self.manifest is None else self.manifest.get("chunk_sizes", {})
        return {int(k): int(v) for k, v in sizes.items()}

    def check_program(self, first_id: int, kind: str, metrics: dict, fingerprint: dict, text):
        """Refuses a traced program that differs from the one that filled this out_dir.

        ``metrics`` (names, shapes, dtypes) must match the manifest's; ``fingerprint`` must match
        the one recorded for this static combination with the same ``kind`` of key (a raw and a
        typed key trace differently, so each kind is compared with its own record).
        """
        if self.metrics is not None:
            self._require_equal("metrics", metrics, self.metrics)
        programs = {} if self.manifest is None else self.manifest.get("programs", {})
        theirs = programs.get(str(first_id), {}).get(kind)
        if theirs is None or theirs == fingerprint:
            return
        what = self._diff(first_id, kind, fingerprint, theirs, text)
        raise ValueError(
            f"out_dir {self.path!r} holds results of another train_fn: the program traced for "
            f"configuration {first_id} differs from the recorded one: {what}. {_FIX}"
        )

    def _diff(self, first_id: int, kind: str, mine: dict, theirs: dict, text: str) -> str:
        if mine["jaxpr"] == theirs.get("jaxpr"):
            changed = [
                i
                for i, (a, b) in enumerate(zip(mine["consts"], theirs["consts"], strict=True))
                if a != b
            ]
            return (
                f"the values of the arrays it closes over (constants {changed} of "
                f"{len(mine['consts'])}) changed"
            )
        recorded = self.manifest.get("jax_version")
        where = "" if recorded == jax.__version__ else f" (recorded with jax {recorded})"
        try:
            with open(os.path.join(self.path, _program_file(first_id, kind))) as f:
                old = f.read()
        except OSError:
            return f"its jaxpr differs{where}"
        lines = [
            line
            for line in difflib.unified_diff(old.splitlines(), text.splitlines(), lineterm="", n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")
        ]
        return f"its jaxpr differs{where}; first changed lines:\n" + "\n".join(lines[:6])

    def begin_group(
        self, first_id: int, width: int, kind: str, metrics: dict, fingerprint: dict, text: str
    ) -> None:
        """Records a static combination about to run: its width, metrics and program."""
        record = {
            "format": _FORMAT,
            **self.header,
            "metrics": metrics,
            "chunk_sizes": {str(k): v for k, v in {**self.widths, first_id: width}.items()},
            "programs": dict(self.manifest.get("programs", {})) if self.manifest else {},
            "rmsjax_version": _version(),
            "jax_version": jax.__version__,
        }
        entry = dict(record["programs"].get(str(first_id), {}))
        if kind not in entry:
            entry[kind] = fingerprint
            record["programs"][str(first_id)] = entry
            if self.writer:
                self._atomic_write(_program_file(first_id, kind), lambda f: f.write(text.encode()))
        self.manifest = record
        if self.writer:
            self._atomic_write(_MANIFEST, lambda f: f.write(json.dumps(record, indent=1).encode()))

    def load(self) -> list[tuple[np.ndarray, list[np.ndarray]]]:
        """The finished chunks: (config ids, metric arrays in manifest order) each."""
        if self.metrics is None:
            return []
        names = list(self.metrics)
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

    def save_paused(self, config_id: int, arrays: dict[str, np.ndarray]) -> None:
        """Writes (or replaces) ``paused_<id>.npz``: a run paused by halving, to resume from."""
        if self.writer:
            name = f"paused_{config_id:05d}.npz"
            self._atomic_write(name, lambda f: np.savez(f, **arrays))

    def load_paused(self) -> dict[int, dict[str, np.ndarray]]:
        """The paused runs, by configuration id."""
        out = {}
        for file in sorted(glob.glob(os.path.join(self.path, "paused_*.npz"))):
            try:
                with np.load(file, allow_pickle=False) as data:
                    out[int(os.path.basename(file)[7:12])] = dict(data)
            except (OSError, ValueError) as e:
                raise ValueError(f"cannot read paused run {file!r} of the sweep: {e}") from e
        return out

    def drop_paused(self, config_id: int) -> None:
        """Removes the paused run of ``config_id`` (it has finished), if any."""
        path = os.path.join(self.path, f"paused_{config_id:05d}.npz")
        if self.writer and os.path.exists(path):
            os.remove(path)

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


def _program_file(first_id: int, kind: str) -> str:
    return f"program_{first_id}_{kind}.txt"

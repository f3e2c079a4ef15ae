"""The ``out_dir`` of a sweep: a manifest plus one file per finished chunk.

``manifest.json`` records what identifies the sweep (space, seeds, key, metadata), the metric
names and shapes, and for every static combination (by its first configuration id) the chunk
width it runs with and the fingerprint of its traced program; ``program_<id>_<key kind>.txt``
holds that program's text (to say what changed when a fingerprint differs), and ``run_id`` a
random name of the run that fills the folder (`optuna_search` tags its trials with it, to know
its own trials in a study that other processes share);
``chunk_XXXXX.npz`` holds the metrics of one finished chunk with its configuration ids;
``paused_XXXXX.npz`` a run that halving paused at a rung (carry, run keys, metrics so far);
``pbt_XXXXX.npz`` a population of `pbt` at its last interval (carries, keys, values, lineage). Every
file is written to a temporary name and renamed, so an interruption never leaves a half-written
file, and a finished chunk is never rewritten: it is linked into place, which fails if the name
exists, so two writers can never overwrite each other's chunks.

One writer at a time: the writing process holds an exclusive ``flock`` on the folder (which the
system releases when the process ends, even by SIGKILL) for as long as its `Store` lives; a second
process opening the folder to write is refused with an error naming the folder. A save costs the
same however many chunks the folder holds: the next chunk number is found once, when the folder
is opened.
"""

from __future__ import annotations

import difflib
import glob
import json
import os
import tempfile
import uuid
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from rmsjax._engine import locks
from rmsjax._engine.interrupts import deferred_sigint

_MANIFEST = "manifest.json"
_FORMAT = 1
_ABSENT = {"metadata": {}, "keys": "per_config"}  # what a manifest without the field means
_FIX = "Use a new out_dir (or delete this one) to run this sweep."
_CHUNK = "chunk_{:05d}.npz"


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


def open_store(out_dir, header: dict) -> Store | None:
    """The out_dir of any search (None without one): its write lock taken by process 0 before
    anything is read, its manifest compared with ``header`` (field by field, in order: the
    first that differs is named). Every search opens its folder here; its ``header`` holds what
    identifies its runs, with `run_fields` for the part every search shares."""
    if out_dir is None:
        return None
    return Store(out_dir, header, writer=jax.process_index() == 0)


def run_fields(seeds: int, run_key) -> dict:
    """What every search's header records of its runs: seeds, the run key and its kind."""
    return {
        "seeds": seeds,
        "key": {
            "impl": run_key.impl,
            "data": run_key.data.ravel().tolist(),
            "typed": run_key.typed,
        },  # fmt: skip
        "keys": "shared" if run_key.shared else "per_config",
    }


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
        self._lock: str | None = None  # the key of the write lock in locks.HELD, for a writer
        if writer:
            try:
                os.makedirs(self.path, exist_ok=True)
            except OSError as e:
                raise ValueError(f"`out_dir` {self.path!r} cannot be created: {e.strerror}") from e
        key = locks.lock(self.path) if writer else None
        try:
            self.manifest: dict | None = self._read_manifest()
            if self.manifest is not None:
                self._compare_header()
        except Exception:
            locks.unlock(key, None)  # a refused call keeps no lock (nor takes one over)
            raise
        if key is not None:
            self._lock = key
            locks.own(key, self)
        self.run_id: str = (self.manifest or {}).get("run_id") or uuid.uuid4().hex
        self._checked: set = set()  # programs found equal to the other key kind's record
        self._next_chunk = _next_chunk(self.path) if writer else 0

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
            # A manifest written before `keys` existed used per-configuration keys.
            theirs = self.manifest.get(field, _ABSENT.get(field))
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

    def check_program(
        self,
        first_id: int,
        key,
        metrics: dict,
        traced,
        retrace: Callable[[jax.ShapeDtypeStruct], Any],
    ) -> None:
        """Refuses a traced program that differs from the one that filled this out_dir.

        ``metrics`` (names, shapes, dtypes) must match the manifest's; ``traced`` (its
        ``fingerprint`` and ``text``), traced with ``key`` (a `program.RunKey`), must match the
        program recorded for this static combination. A raw and a typed key trace differently,
        so each kind has its own record; where only the other kind's is recorded, ``retrace``
        (a key's abstract value -> the program traced with it) traces this call's program with
        the other kind of key, and that is compared: a program change is refused whatever the
        key's kind.
        """
        if self.metrics is not None:
            self._require_equal("metrics", metrics, self.metrics)
        programs = {} if self.manifest is None else self.manifest.get("programs", {})
        recorded = programs.get(str(first_id), {})
        kind = key_kind(key)
        if kind in recorded or not recorded:
            theirs = recorded.get(kind)
            self._compare_program(first_id, kind, traced.fingerprint, theirs, traced.text)
            return
        checked = (first_id, kind, json.dumps(traced.fingerprint))
        if checked in self._checked:
            return
        other, aval = other_key(key)
        if other not in recorded:  # a kind this version does not know: nothing to compare with
            raise ValueError(
                f"out_dir {self.path!r} holds results of a program traced with keys of kind "
                f"{sorted(recorded)} for configuration {first_id}, which this rmsjax cannot "
                f"compare with. {_FIX}"
            )
        try:
            again = retrace(aval)
        except Exception as e:  # noqa: BLE001 - the recorded program traced with this kind
            raise ValueError(
                f"out_dir {self.path!r} holds results traced with a {other.replace('_', ' ')} "
                f"(this call passes a {kind.replace('_', ' ')}), and this call's program cannot "
                f"be traced with one to compare it ({type(e).__name__}: {e}): it is another "
                f"program. Pass the kind of key the first run passed, or: {_FIX}"
            ) from e
        self._compare_program(first_id, other, again.fingerprint, recorded[other], again.text)
        self._checked.add(checked)

    def _compare_program(self, first_id: int, kind: str, mine: dict, theirs, text: str) -> None:
        if theirs is None or theirs == mine:
            return
        what = self._diff(first_id, kind, mine, theirs, text)
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
            "run_id": self.run_id,
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
        for name in sorted(_chunk_files(self.path)):
            file = os.path.join(self.path, name)
            if os.path.getsize(file) == 0:  # a name claimed by a save that was interrupted
                continue
            data = _read_npz(file, "finished chunk", "only its configurations again")
            try:
                ids = data["config_ids"]
                arrays = [data[f"metric_{i}"] for i in range(len(names))]
            except KeyError as e:
                raise _damaged(file, "finished chunk", "only its configurations again", e) from e
            chunks.append((ids, arrays))
        return chunks

    def save(self, ids: np.ndarray, arrays: list[np.ndarray]) -> None:
        """Writes one finished chunk to a new file (never one that exists)."""
        if not self.writer:
            return
        payload = {"config_ids": ids, **{f"metric_{i}": a for i, a in enumerate(arrays)}}
        name = _CHUNK.format(self._next_chunk)
        self._atomic_write(name, lambda f: np.savez(f, **payload), exclusive=True)
        self._next_chunk += 1

    def save_paused(self, config_id: int, arrays: dict[str, np.ndarray]) -> None:
        """Writes (or replaces) ``paused_<id>.npz``: a run paused by halving, to resume from."""
        if self.writer:
            name = f"paused_{config_id:05d}.npz"
            self._atomic_write(name, lambda f: np.savez(f, **arrays))

    def load_paused(self) -> dict[int, dict[str, np.ndarray]]:
        """The paused runs, by configuration id."""
        out = {}
        for file in sorted(glob.glob(os.path.join(self.path, "paused_*.npz"))):
            way = "only that configuration again, from its start"
            out[int(os.path.basename(file)[7:12])] = _read_npz(file, "paused run", way)
        return out

    def drop_paused(self, config_id: int) -> None:
        """Removes the paused run of ``config_id`` (it has finished), if any."""
        path = os.path.join(self.path, f"paused_{config_id:05d}.npz")
        if self.writer and os.path.exists(path):
            self._check_owner()
            os.remove(path)

    def save_state(self, name: str, arrays: dict[str, np.ndarray]) -> None:
        """Writes (or replaces) the state file ``name`` (e.g. a population of `pbt` at its last
        interval), atomically."""
        if self.writer:
            self._atomic_write(name, lambda f: np.savez(f, **arrays))

    def load_state(self, name: str) -> dict[str, np.ndarray] | None:
        """The arrays of state file ``name``, or None if there is none."""
        path = os.path.join(self.path, name)
        if not os.path.exists(path):
            return None
        return _read_npz(path, "saved state", "only that pbt population again, from its start")

    def drop_state(self, name: str) -> None:
        """Removes state file ``name`` (what it saved has finished), if any."""
        path = os.path.join(self.path, name)
        if self.writer and os.path.exists(path):
            self._check_owner()
            os.remove(path)

    def _atomic_write(self, name: str, write: Callable, exclusive: bool = False) -> None:
        """Writes ``name`` through a temporary file; ``exclusive``: fails if ``name`` exists."""
        self._check_owner()
        target = os.path.join(self.path, name)
        # A Ctrl-C waits until the file is written and named: raised inside np.savez, it left
        # the zip half open, and the error that replaced it ended the command with status 1.
        with deferred_sigint():
            fd, tmp = tempfile.mkstemp(dir=self.path, prefix=f".{name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    write(f)
                    f.flush()
                    os.fsync(f.fileno())
                if exclusive:
                    _link_exclusive(tmp, target, self.path)
                else:
                    os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)

    def close(self) -> None:
        """Releases the write lock now (it is released anyway when the Store is collected);
        the Store may not write after it."""
        held = locks.HELD.get(self._lock) if self._lock else None
        if held is not None and held[1]() is self:
            locks.unlock(self._lock, held[1])

    def _check_owner(self) -> None:
        held = locks.HELD.get(self._lock) if self._lock else None
        if self._lock and (held is None or held[1]() is not self):
            raise ValueError(
                f"out_dir {self.path!r} was opened for writing again by a later call in this "
                "process, which now owns it (or this call closed it); this call may no longer "
                "write there"
            )


# What np.load raises for a truncated or damaged .npz: a bad zip, a short read, bad data.
_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


def _damaged(file: str, what: str, again: str, error: Exception) -> ValueError:
    return ValueError(
        f"cannot read the {what} {file!r} of the sweep ({type(error).__name__}: {error}): it is "
        f"truncated or damaged; move it out of the folder and the rerun trains {again}"
    )


def _read_npz(file: str, what: str, again: str) -> dict[str, np.ndarray]:
    """The arrays of ``file``, or one error naming it and what moving it aside retrains."""
    try:  # opened here: np.load leaves a file it opened open when it is not a zip
        with open(file, "rb") as f, np.load(f, allow_pickle=False) as data:
            return dict(data)
    except _NPZ_ERRORS as e:
        raise _damaged(file, what, again, e) from e


def _chunk_files(path: str) -> list[str]:
    with os.scandir(path) as entries:
        return [e.name for e in entries if e.name.startswith("chunk_") and e.name.endswith(".npz")]


def _next_chunk(path: str) -> int:
    """One more than the largest chunk number in ``path`` (read once, when a writer opens it)."""
    numbers = [int(n[6:-4]) for n in _chunk_files(path) if n[6:-4].isdigit()]
    return max(numbers, default=-1) + 1


def _link_exclusive(tmp: str, target: str, folder: str) -> None:
    """Gives the finished file ``tmp`` the name ``target``, failing if that name exists."""
    try:
        try:
            os.link(tmp, target)  # atomic, and fails on an existing name
        except OSError as e:
            if isinstance(e, FileExistsError):
                raise
            # A file system without hard links: claim the name, then rename onto it (an
            # interruption in between leaves an empty file, which `Store.load` skips).
            os.close(os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            os.replace(tmp, target)
    except FileExistsError as e:
        raise ValueError(
            f"out_dir {folder!r}: {os.path.basename(target)} was written by another writer while "
            "this sweep ran; two writers on one out_dir would overwrite each other's results. "
            "Give each process its own out_dir"
        ) from e


def key_kind(key) -> str:
    """The kind of a `program.RunKey`, as the manifest records programs by it."""
    return "typed_key" if key.typed else "raw_key"


def other_key(key) -> tuple[str, jax.ShapeDtypeStruct]:
    """The other kind of key than `program.RunKey` ``key``: its name and abstract value."""
    if key.typed:
        return "raw_key", jax.ShapeDtypeStruct(np.shape(key.data), np.uint32)
    typed = jax.random.wrap_key_data(np.asarray(key.data), impl=key.impl)
    return "typed_key", jax.ShapeDtypeStruct(typed.shape, typed.dtype)


def _program_file(first_id: int, kind: str) -> str:
    return f"program_{first_id}_{kind}.txt"

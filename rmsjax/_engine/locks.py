"""The write lock of a sweep's folder (``out_dir``) and what manages the folder around a sweep.

The writing process holds an exclusive ``flock`` on the folder itself, which the system releases
when the process ends (even by SIGKILL); the writing `Store` of store.py owns it, and `claim`
takes it before anything there is deleted or written. `clear` deletes a sweep's files and
`holds_results` says whether a rerun would continue from them (``rmsjax.store`` re-exports these
three and `BusyError`).
"""

from __future__ import annotations

import os
import shutil
import weakref
from typing import TYPE_CHECKING

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; exclusive file creation still protects chunks
    fcntl = None

if TYPE_CHECKING:
    from rmsjax._engine.store import Store

# The write locks this process holds: real path of a lock file -> [file descriptor, owner], the
# owner being the `Store` that may write (a later Store of the same folder in this process takes
# the lock over: the earlier one was abandoned, e.g. by an exception kept alive in a traceback).
HELD: dict[str, list] = {}


class BusyError(ValueError):
    """The folder is being written by another process (its write lock is held)."""


def claim(path) -> None:
    """Takes the write lock of the folder ``path`` (created if missing) for this process, before
    anything there is deleted or written, and holds it: the next `Store` of ``path`` in this
    process takes it over, without a moment unlocked; else it lasts as long as the process.

    Raises `BusyError` naming the folder while another process writes it.

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> claim(folder)
    >>> claim(folder)  # held by this process already: nothing to do
    """
    path = os.fspath(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise ValueError(f"`out_dir` {path!r} cannot be created: {e.strerror}") from e
    lock(path)


def holds_results(path) -> bool:
    """Whether the folder ``path`` holds anything a rerun continues from: a finished chunk, a
    paused run (halving) or a saved population (pbt).

    >>> import tempfile
    >>> holds_results(tempfile.mkdtemp()), holds_results("/no/such/folder")
    (False, False)
    """
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    for name in os.listdir(path):
        if name.startswith(("chunk_", "paused_", "pbt_")) and name.endswith(".npz"):
            if os.path.getsize(os.path.join(path, name)) > 0:  # not a name claimed, then left
                return True
    return False


def clear(path, keep: bool = True) -> None:
    """Deletes what a sweep wrote in the folder ``path`` (all of it: the folder is the sweep's),
    first taking its write lock (`claim`), which this process keeps; the folder stays unless
    not ``keep`` (for a run that writes no sweep there: then the folder and its lock go).

    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> open(os.path.join(folder, "chunk_00000.npz"), "w").close()
    >>> clear(folder)
    >>> os.listdir(folder)
    []
    """
    path = os.fspath(path)
    claim(path)
    with os.scandir(path) as entries:
        names = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
    for name, is_dir in names:
        if is_dir:
            shutil.rmtree(os.path.join(path, name))
        else:
            os.remove(os.path.join(path, name))
    if not keep:
        os.rmdir(path)
        key = os.path.realpath(path)
        if key in HELD and HELD[key][1] is None:  # not (yet) owned by a Store
            unlock(key, None)


def lock(path: str) -> str | None:
    """Takes the write lock of ``path`` unless this process holds it; returns its key in HELD.

    The lock is an exclusive ``flock`` on the directory itself (no file is added to it). Where
    the file system refuses such a lock (some network file systems may), there is none, and
    only the exclusive creation of chunk files detects a second writer, at its first save.
    """
    if fcntl is None:
        return None
    key = os.path.realpath(path)
    if key in HELD:  # held by an earlier Store of this process: `own` takes it over
        return key
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
        os.close(fd)
        raise BusyError(
            f"out_dir {path!r} is being written by another process; two writers would "
            "overwrite each other's results. Wait for it to finish, or give each process its "
            "own out_dir"
        ) from e
    except OSError:
        os.close(fd)
        return None
    HELD[key] = [fd, None]
    return key


def own(key: str, store: Store) -> None:
    """Makes ``store`` the only Store of this process that may write with the lock ``key``."""
    held = HELD[key]
    held[1] = weakref.ref(store)
    weakref.finalize(store, unlock, key, held[1])


def unlock(key: str | None, owner) -> None:
    """Releases the lock ``key`` if ``owner`` (a weak reference, or None: nobody) owns it."""
    held = HELD.get(key) if key is not None else None
    if held is not None and held[1] is owner:  # not owned (or taken over) by another Store
        del HELD[key]
        os.close(held[0])  # releases the flock

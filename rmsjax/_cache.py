"""JAX's persistent compilation cache in a per-user folder: compiled programs saved to disk.

A search compiles its programs anew in every process; with the cache, a rerun of the same
program (same HLO, same compiler options, same jax/jaxlib version, backend and device kind: the
parts of JAX's cache key) loads the executable instead. :func:`enable_compilation_cache` is the
one call that turns it on (the ``rmsjax`` command makes it for you, see ``docs/guide/cli.rst``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import warnings
from pathlib import Path

__all__ = [
    "ENV",
    "default_cache_dir",
    "disable_compilation_cache",
    "enable_compilation_cache",
    "from_environment",
]

ENV = "RMSJAX_COMPILATION_CACHE"  # a folder, or 0/off/false/no to disable
_OFF = ("0", "off", "false", "no", "none")

# Programs that compile faster than this are not saved: jax.numpy's one-operation programs
# (about a millisecond each) would only add files; the search's programs take 0.1 s and more.
MIN_COMPILE_TIME_SECS = 0.05


def default_cache_dir() -> Path:
    """The platform's per-user cache folder for rmsjax's compiled programs.

    ``$XDG_CACHE_HOME/rmsjax/jax`` (else ``~/.cache/rmsjax/jax``) on Linux and other Unixes,
    ``~/Library/Caches/rmsjax/jax`` on macOS, ``%LOCALAPPDATA%\\rmsjax\\jax`` on Windows.

    >>> default_cache_dir().parts[-2:]
    ('rmsjax', 'jax')
    """
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rmsjax" / "jax"


def from_environment() -> Path | None:
    """The folder ``$RMSJAX_COMPILATION_CACHE`` names: unset or empty is the default folder,
    ``0``/``off``/``false``/``no`` is None (disabled).

    >>> import os
    >>> before = os.environ.get(ENV)
    >>> os.environ[ENV] = "off"; from_environment() is None
    True
    >>> os.environ[ENV] = "/tmp/c"; from_environment().name
    'c'
    >>> _ = os.environ.pop(ENV) if before is None else os.environ.update({ENV: before})
    """
    text = os.environ.get(ENV, "").strip()
    if text.lower() in _OFF:
        return None
    return Path(text).expanduser() if text else default_cache_dir()


def _unwritable(path: Path) -> str | None:
    """Why ``path`` cannot hold the cache (None when it can): created, then written to."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".rmsjax-write-test-"):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def enable_compilation_cache(
    path: str | os.PathLike | None = None,
    *,
    min_compile_time_secs: float = MIN_COMPILE_TIME_SECS,
) -> Path | None:
    """Save compiled programs in ``path`` and load them from there in later processes.

    Turns JAX's cache on (``jax_enable_compilation_cache``) and sets ``jax_compilation_cache_dir``
    and ``jax_persistent_cache_min_compile_time_secs`` (programs that compiled in less are not
    saved; JAX's own default is 1 s, which would skip most of a search's programs on a CPU).
    Call it before the first compilation, or JAX keeps the cache it chose then: this call also
    resets JAX's cache so that the new folder is used from the next compilation on. In a
    notebook (Colab included) call it once at the top.

    Args:
      path: the folder (created if missing). None: ``$RMSJAX_COMPILATION_CACHE`` when set, else
        the platform's per-user cache folder (:func:`default_cache_dir`); the variable set to
        ``0`` or ``off`` disables the cache and this returns None.
      min_compile_time_secs: programs compiled in less time are not saved (>= 0).

    Returns:
      The folder in use, or None when disabled or when the folder cannot be written: then a
      one-line ``RuntimeWarning`` says why and JAX compiles as without a cache.

    The cache is trusted code: never point it at a folder others may write to.

    >>> import tempfile, rmsjax
    >>> folder = rmsjax.enable_compilation_cache(tempfile.mkdtemp())
    >>> folder.is_dir()
    True
    >>> rmsjax.disable_compilation_cache()
    """
    if isinstance(min_compile_time_secs, bool) or not min_compile_time_secs >= 0:
        raise ValueError(f"min_compile_time_secs must be >= 0, got {min_compile_time_secs!r}")
    folder = from_environment() if path is None else Path(path).expanduser()
    if folder is None:
        disable_compilation_cache()
        return None
    why = _unwritable(folder)
    if why is not None:
        disable_compilation_cache()
        warnings.warn(
            f"compilation cache {str(folder)!r} cannot be written ({why}): compiling without it",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    # jax_enable_compilation_cache may have been turned off (a benchmark measuring cold
    # compiles does): this call is the user asking for the cache, so it turns it back on.
    jax.config.update("jax_enable_compilation_cache", True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_time_secs))
    jax.config.update("jax_compilation_cache_dir", str(folder))
    compilation_cache.reset_cache()  # JAX opens its cache once: the next compilation reopens it
    return folder


def disable_compilation_cache() -> None:
    """Stop saving and loading compiled programs (JAX's cache folder unset).

    >>> import rmsjax
    >>> rmsjax.disable_compilation_cache()
    """
    if "jax" not in sys.modules:  # nothing to undo: JAX has not even been imported
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    jax.config.update("jax_compilation_cache_dir", None)
    compilation_cache.reset_cache()

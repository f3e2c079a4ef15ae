"""JAX's persistent compilation cache: rmsjax.enable_compilation_cache and the command's flags.

Every test gives the cache a tmp folder (conftest.py disables it for the rest of the suite) and
puts JAX back without a cache afterwards, so no other test sees a cache hit.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import rmsjax
from rmsjax import cli

HITS, MISSES = "/jax/compilation_cache/cache_hits", "/jax/compilation_cache/cache_misses"


@pytest.fixture
def events():
    """The cache's hit and miss events (a miss is recorded as the executable is saved)."""
    seen = []

    def listen(event, **kwargs):
        if event in (HITS, MISSES):
            seen.append(event)

    min_time = jax.config.jax_persistent_cache_min_compile_time_secs
    jax.clear_caches()  # programs earlier tests compiled in this process are compiled again here
    jax.monitoring.register_event_listener(listen)
    yield seen
    jax.monitoring.unregister_event_listener(listen)
    rmsjax.disable_compilation_cache()
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_time)
    jax.clear_caches()


def _files(folder):
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def test_unchanged_program_hits_and_changed_program_misses(tmp_path, events):
    folder = rmsjax.enable_compilation_cache(tmp_path / "c", min_compile_time_secs=0)
    assert folder == tmp_path / "c"
    x = np.arange(7.0, dtype=np.float32)  # a NumPy array: no program of its own to compile
    first = jax.jit(lambda v: jnp.sin(v) * 3.0 + 1.0)(x)
    assert events == [MISSES]
    saved = _files(folder)
    assert saved, "nothing was written"
    jax.clear_caches()  # as in a new process: only the folder remembers the program
    again = jax.jit(lambda v: jnp.sin(v) * 3.0 + 1.0)(x)
    assert events == [MISSES, HITS]
    np.testing.assert_array_equal(first, again)  # the loaded executable computes the same
    assert _files(folder) == saved
    jax.jit(lambda v: jnp.sin(v) * 4.0 + 1.0)(x)  # another constant: another HLO, a miss
    assert events == [MISSES, HITS, MISSES]
    assert len(_files(folder)) > len(saved)


def test_a_folder_that_cannot_be_written_is_a_warning_not_a_failure(tmp_path, events):
    (tmp_path / "file").write_text("not a folder")
    with pytest.warns(RuntimeWarning, match=r"compilation cache .*file/c.* cannot be written"):
        assert rmsjax.enable_compilation_cache(tmp_path / "file" / "c") is None
    assert float(jax.jit(lambda v: v + 1.0)(1.0)) == 2.0  # compiled without a cache
    assert HITS not in events and MISSES not in events


def test_environment_variable_off_disables(monkeypatch, events):
    monkeypatch.setenv("RMSJAX_COMPILATION_CACHE", "off")
    assert rmsjax.enable_compilation_cache() is None
    assert jax.config.jax_compilation_cache_dir is None


def test_bad_min_compile_time_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match=r"min_compile_time_secs must be >= 0, got -1"):
        rmsjax.enable_compilation_cache(tmp_path, min_compile_time_secs=-1)


@pytest.fixture
def save_every_program(monkeypatch):
    """The command's cache with no compile-time threshold.

    The command keeps only programs that compiled in 0.05 s or more (``MIN_COMPILE_TIME_SECS``).
    The quadratic's programs sit around that line: its largest took 0.09 s here and less than
    0.05 s on CI's machine, which then saved nothing. These tests check the folder the command
    uses and that a rerun loads what was saved, not the threshold, so they lower it to 0.
    """
    monkeypatch.setattr(
        rmsjax,
        "enable_compilation_cache",
        functools.partial(rmsjax.enable_compilation_cache, min_compile_time_secs=0),
    )


def _command(argv, capsys):
    try:
        code = cli.main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


TRAIN = ["train", "quadratic", "--epochs", "3", "--no-progress"]


def test_command_uses_the_variable_says_so_once_and_hits_when_rerun(
    tmp_path, capsys, monkeypatch, events, save_every_program
):
    monkeypatch.setenv("RMSJAX_COMPILATION_CACHE", str(tmp_path / "c"))
    code, out, err = _command([*TRAIN, "--out", tmp_path / "a"], capsys)
    assert code == 0, err
    assert out.count("compilation cache:") == 1
    assert f"compilation cache: {tmp_path / 'c'}" in out
    assert _files(tmp_path / "c") and MISSES in events and HITS not in events
    saved = events.count(MISSES)
    jax.clear_caches()
    events.clear()
    code, out, err = _command([*TRAIN, "--out", tmp_path / "b"], capsys)
    assert code == 0, err
    assert events.count(HITS) >= saved > 0  # every program the first run saved is loaded


def test_command_flags_move_or_disable_the_cache(tmp_path, capsys, events, save_every_program):
    code, out, err = _command(
        [*TRAIN, "--out", tmp_path / "a", "--compilation-cache", tmp_path / "moved"], capsys
    )
    assert code == 0, err
    assert f"compilation cache: {tmp_path / 'moved'}" in out and _files(tmp_path / "moved")
    code, out, err = _command([*TRAIN, "--out", tmp_path / "b", "--no-compilation-cache"], capsys)
    assert code == 0, err
    assert "compilation cache" not in out and jax.config.jax_compilation_cache_dir is None


def test_command_unwritable_cache_is_one_warning_line(tmp_path, capsys, events):
    (tmp_path / "file").write_text("")
    bad = tmp_path / "file" / "c"
    code, out, err = _command([*TRAIN, "--out", tmp_path / "a", "--compilation-cache", bad], capsys)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rmsjax: warning: compilation cache"), err
    assert "--compilation-cache" in lines[0] and "compilation cache:" not in out


def test_command_both_cache_flags_is_a_usage_error(tmp_path, capsys):
    argv = [*TRAIN, "--compilation-cache", tmp_path, "--no-compilation-cache"]
    code, out, err = _command(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "--no-compilation-cache" in err

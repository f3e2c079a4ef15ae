"""The front door: ``python -m rmsjax``, every install line the repository prints, and the
notebooks' install cell run in a fresh virtual environment against a wheel of this checkout."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_module(*argv, cwd=None) -> subprocess.CompletedProcess:
    """``python -m rmsjax ARGV`` in a subprocess, importing this checkout's rmsjax."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "rmsjax", *map(str, argv)],
        capture_output=True, text=True, timeout=120, cwd=cwd,
        env={**os.environ, "PYTHONPATH": path, "RMSJAX_DEBUG": "", "JAX_PLATFORMS": "cpu"},
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# python -m rmsjax: the `rmsjax` command under its own name.


def test_python_m_rmsjax_help_names_the_command_rmsjax():
    proc = _run_module("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: rmsjax "), proc.stdout[:200]
    assert "__main__" not in proc.stdout


def test_python_m_rmsjax_trains(tmp_path):
    proc = _run_module("train", "quadratic", "--epochs", 2, "--no-progress", "--out", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "metrics.json").read_text())["config"]["epochs"] == 2


def test_python_m_rmsjax_errors_and_exit_codes_are_the_commands(tmp_path):
    bad_value = _run_module("train", "quadratic", "--decay", 1.5, "--out", tmp_path)
    assert bad_value.returncode == 1
    expected = "rmsjax: error: `decay` must be in [0, 1), got 1.5 (option --decay)"
    assert bad_value.stderr.strip() == expected
    usage = _run_module("nonsense")
    assert usage.returncode == 2
    assert usage.stderr.startswith("rmsjax: error: argument COMMAND: invalid choice: 'nonsense'")


# --------------------------------------------------------------------------------------------
# Every install line the repository shows a reader works: the extras it names exist, and none
# installs rmsjax from an index or a URL (rmsjax is on neither) unless the line says it is the
# future ("not yet on PyPI").

FUTURE = re.compile(r"not yet on PyPI", re.I)
# The words that end the requirements of a `pip install` in prose ("pip install torch to run").
PROSE = {"to", "in", "then", "and", "or", "for", "with", "from", "the", "if", "when", "once"}
# A concrete URL of a git repository or an index (a placeholder such as "git+https://..." is not).
URL = re.compile(r"(git\+)?https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+\S*")


def extras() -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["optional-dependencies"])


def text_files() -> list[Path]:
    """What a reader or a user sees: the pages, the notebooks, the scripts, the messages."""
    patterns = ["README.md", "CONTRIBUTING.md", "Makefile", "pyproject.toml", "docs/**/*.rst",
                "docs/**/*.md", "docs/**/*.py", "notebooks/*.ipynb", "notebooks/*.py",
                "examples/**/*.py", "bench/**/*.py", "bench/**/*.md", "rmsjax/**/*.py"]  # fmt: skip
    files = {p for pattern in patterns for p in ROOT.glob(pattern)}
    return sorted(p for p in files if "_build" not in p.parts)


def lines_of(path: Path) -> list[str]:
    if path.suffix == ".ipynb":  # the cells' source, as the reader sees it
        cells = json.loads(path.read_text())["cells"]
        return [line for cell in cells for line in "".join(cell["source"]).splitlines()]
    return path.read_text().splitlines()


def requirements(line: str) -> list[list[str]]:
    """The requirement arguments of each ``pip install`` on ``line``, options dropped, quotes
    stripped: ``pip install -e '.[test]'`` gives ``[[".[test]"]]``."""
    found = []
    for match in re.finditer(r"pip install\b([^`\n]*)", line):
        rest = re.split(r"\s#|;|&&|\|", match.group(1))[0]
        args = []
        for token in re.findall(r"""'[^']*'|"[^"]*"|[^\s'"]+""", rest):
            if token.startswith("(") or token.lower() in PROSE:
                break
            token = token.strip("'\"").rstrip(".,:)")
            if token and not token.startswith("-"):
                args.append(token)
        found.append(args)
    return found


def problems(line: str, known: set[str]) -> list[str]:
    """What is wrong with ``line`` as an install line, as readable strings (none: it works)."""
    wrong = []
    future = bool(FUTURE.search(line))
    for args in requirements(line):
        for arg in args:
            name = re.match(r"[^\[<>=!~ @]*", arg).group(0)
            named = set(re.findall(r"\[([^\]]*)\]", arg)[0].split(",")) if "[" in arg else set()
            local = name in (".", "") or ".whl" in arg or name.startswith(("./", "/", "$("))
            if name == "rmsjax" or local:
                wrong += [f"extra {e.strip()!r} is not in pyproject.toml" for e in named
                          if e.strip() not in known]  # fmt: skip
            if name.lower() == "rmsjax" and not future:
                wrong.append(f"{arg!r} installs rmsjax from an index or a URL")
    for url in URL.finditer(line):
        if "rmsjax" in url.group(0) and url.group(0).startswith("git+") and not future:
            wrong.append(f"{url.group(0)!r}: rmsjax has no public repository")
    if (
        re.search(r"rmsjax(\[[^\]]*\])?\s*@\s*(git\+)?https?://[A-Za-z0-9-]+\.", line)
        and not future
    ):
        wrong.append("installs rmsjax from a URL")
    return wrong


def test_the_install_line_checker_catches_what_fails():
    known = {"optuna", "tfds", "test", "bench"}
    assert problems("pip install 'rmsjax[examples]'", known) == [
        "extra 'examples' is not in pyproject.toml",
        "'rmsjax[examples]' installs rmsjax from an index or a URL",
    ]
    assert problems("pip install rmsjax                 # the optimizers", known)
    assert problems("raise ImportError(\"needs Optuna: pip install 'rmsjax[optuna]'\")", known)
    assert problems('REPO = "git+https://github.com/rmsjax/rmsjax.git"', known)
    assert problems("pip install 'rmsjax[tfds] @ git+https://github.com/rmsjax/rmsjax.git'", known)
    assert problems("`pip install -e '.[test,docs]'`", known) == [
        "extra 'docs' is not in pyproject.toml"
    ]
    assert problems('pip install "$(ls dist/rmsjax-*.whl)[nope]"', known)
    # What works: a clone, a wheel, other packages, prose after the command, the marked future.
    for line in ["pip install .", "pip install -e '.[test]'", "pip install '.[optuna,tfds]'",
                 "pip install dist/rmsjax-*.whl", 'pip install "$(ls dist/rmsjax-*.whl)[optuna]"',
                 "pip install optuna", "pip install torch to run the parity check",
                 "`pip install jupyterlab` in the venv", "(``pip install \"jax[k8s]\"``)",
                 "Not yet on PyPI: once it is there, `pip install rmsjax` will work",
                 '"git+https://..." (your copy of the repository)']:  # fmt: skip
        assert problems(line, known) == [], line


def test_every_install_line_in_the_repository_works():
    known = extras()
    seen, wrong = 0, []
    for path in text_files():
        for number, line in enumerate(lines_of(path), 1):
            seen += len(requirements(line))
            wrong += [f"{path.relative_to(ROOT)}:{number}: {p}" for p in problems(line, known)]
    assert seen >= 20, f"only {seen} install lines found: the scan lost its files"
    assert not wrong, "\n".join(wrong)


def test_no_page_links_a_repository_the_project_does_not_have():
    # github.com/rmsjax/rmsjax does not exist: an "Open in Colab" badge or a link to it is a 404.
    made_up = re.compile(r"github\.com/rmsjax/rmsjax|colab\.research\.google\.com/github/")
    found = [f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
             for path in text_files() for number, line in enumerate(lines_of(path), 1)
             if made_up.search(line)]  # fmt: skip
    assert not found, "\n".join(found)


def test_the_readme_installs_from_a_clone_and_from_a_wheel():
    readme = (ROOT / "README.md").read_text()
    install = readme[readme.index("## Install") : readme.index("## The two commands")]
    for line in ["pip install .", "pip install '.[optuna]'", "pip install '.[tfds]'",
                 "make dist", "pip install dist/rmsjax-*.whl"]:  # fmt: skip
        assert line in install, line


# --------------------------------------------------------------------------------------------
# The notebooks' install cell on a runtime without rmsjax, as on a fresh Colab runtime: a fresh
# virtual environment, a wheel built from this checkout, the cell's own code run as a script.
# Offline and about 10 s on 2 cores: pip installs the wheel with --no-deps (PIP_NO_DEPS, from the
# environment: the cell's code is run unchanged) and the venv sees this interpreter's
# site-packages for jax & co; each step has a timeout so that a hung pip fails within a minute.

STEP_TIMEOUT_S = 60


def install_cell() -> str:
    cells = [
        json.loads(path.read_text())["cells"][1] for path in sorted(ROOT.glob("notebooks/*.ipynb"))
    ]
    sources = {"".join(cell["source"]) for cell in cells}
    assert len(cells) >= 4 and len(sources) == 1, "the notebooks' install cells differ"
    return sources.pop()


def test_the_install_cell_installs_rmsjax_from_a_wheel_in_a_fresh_venv(tmp_path):
    import sysconfig

    cell = install_cell()
    setting = 'RMSJAX_SOURCE = ""'
    assert cell.splitlines().count(setting) == 1, "one visible setting, empty as committed"
    base = Path(sys.base_prefix) / "bin" / "python3"
    if not base.exists():
        pytest.skip(f"no base interpreter at {base}")
    deps = sysconfig.get_paths()["purelib"]  # this interpreter's jax, optax, numpy, ...
    if (Path(deps) / "rmsjax").is_dir():
        pytest.skip(f"rmsjax is installed (not editable) in {deps}: the venv would see it")

    # A wheel of this checkout, built from a copy so that the checkout gets no build/ folder.
    src = tmp_path / "src"
    src.mkdir()
    for name in ["pyproject.toml", "README.md", "LICENSE"]:
        (src / name).write_bytes((ROOT / name).read_bytes())
    shutil.copytree(ROOT / "rmsjax", src / "rmsjax", ignore=shutil.ignore_patterns("__pycache__"))
    run = dict(capture_output=True, text=True, timeout=STEP_TIMEOUT_S, cwd=tmp_path)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", "wheels", "src"],
        **run, env=env,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    [wheel] = (tmp_path / "wheels").glob("rmsjax-*.whl")

    # The fresh venv: the base interpreter's site-packages (pip), plus this interpreter's as a
    # plain path. A path line runs none of that folder's .pth files, so the editable install of
    # the checkout (a .pth finder) stays out: before the cell, rmsjax is not importable.
    venv = tmp_path / "venv"
    made = subprocess.run(
        [str(base), "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], **run
    )
    assert made.returncode == 0, made.stderr
    python = str(venv / "bin" / "python")
    [site] = (venv / "lib").glob("python*/site-packages")
    (site / "_test_deps.pth").write_text(deps + "\n")
    env = {**env, "PIP_NO_DEPS": "1", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def run_cell(source: str) -> subprocess.CompletedProcess:
        script = tmp_path / "cell.py"
        script.write_text(cell.replace(setting, f"RMSJAX_SOURCE = {source!r}"))
        return subprocess.run([python, str(script)], **run, env=env)

    where = [python, "-c", "import rmsjax; print(rmsjax.__file__)"]
    assert subprocess.run(where, **run, env=env).returncode == 1, "rmsjax importable before"

    unset = run_cell("")
    assert unset.returncode == 1
    message = unset.stderr.strip()
    assert message.count("\n") == 0, message  # one line
    for words in ["RMSJAX_SOURCE", "git URL", "wheel", "folder holding a clone"]:
        assert words in message, (words, message)

    missing = run_cell(str(tmp_path / "nowhere.whl"))
    assert missing.returncode == 1
    assert missing.stderr.strip().startswith("RMSJAX_SOURCE must be a git URL"), missing.stderr
    assert repr(str(tmp_path / "nowhere.whl")) in missing.stderr

    installed = run_cell(str(wheel))
    assert installed.returncode == 0, installed.stderr[-3000:]
    found = subprocess.run(where, **run, env=env)
    assert found.returncode == 0, found.stderr[-3000:]
    assert Path(found.stdout.strip()).resolve().is_relative_to(site.resolve()), found.stdout
    again = run_cell("")  # rmsjax importable now: the cell does nothing, even unset
    assert again.returncode == 0 and again.stderr == "", again.stderr

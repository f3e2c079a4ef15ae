"""The README's and the documentation pages' Python examples run as written.

Each page's blocks run in order in one namespace, as a reader would run them (later blocks may
use names from earlier ones). README.md has Markdown fences; the pages under docs/ have reST
``.. code-block:: python`` directives.
"""

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def markdown_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def rst_blocks(text: str) -> list[str]:
    """The bodies of ``.. code-block:: python`` directives: the indented lines that follow
    (after the directive's options and one blank line), dedented."""
    blocks = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not re.match(r"\s*\.\. code-block:: python\s*$", line):
            continue
        indent = len(line) - len(line.lstrip())
        body = []
        for next_line in lines[i + 1 :]:
            if next_line.strip() and len(next_line) - len(next_line.lstrip()) <= indent:
                break
            body.append(next_line)
        code = textwrap.dedent("\n".join(body))
        code = re.sub(r"\A(\s*:[\w-]+:.*\n)+", "", code)  # directive options
        blocks.append(code.strip("\n") + "\n")
    return blocks


def run_blocks(blocks: list[str], path: Path) -> dict:
    namespace: dict = {"__name__": f"page:{path.name}"}
    for block in blocks:
        exec(compile(block, str(path), "exec"), namespace)
    return namespace


def test_rst_blocks_are_found_with_their_indentation():
    page = ".. code-block:: python\n   :caption: x\n\n   a = 1\n   if a:\n       b = 2\n\nText\n"
    assert rst_blocks(page) == ["a = 1\nif a:\n    b = 2\n"]
    assert rst_blocks("::\n\n   not python\n") == []


def test_readme_python_blocks_run():
    blocks = markdown_blocks(README.read_text())
    assert len(blocks) >= 3, "the README lost its quick example"
    namespace = run_blocks(blocks, README)
    assert float(namespace["loss"](namespace["params"])) < 0.5  # it starts at 1.0
    # The sweep example's printed claim.
    assert namespace["result"].best("final_loss", mode="min") == {
        "learning_rate": 0.1,
        "decay": 0.99,
    }


def pages_with_python() -> list[str]:
    return sorted(
        str(p.relative_to(DOCS)) for p in DOCS.rglob("*.rst") if rst_blocks(p.read_text())
    )


def test_the_guides_have_examples():
    expected = {"index.rst", "guide/conventions.rst", "guide/sweeps.rst", "guide/cli.rst"}
    expected |= {"guide/flax_equinox.rst"}
    assert expected <= set(pages_with_python())


@pytest.mark.parametrize("page", pages_with_python())
def test_doc_page_python_blocks_run(page):
    namespace = run_blocks(rst_blocks((DOCS / page).read_text()), DOCS / page)
    if page == "index.rst":  # the front page's printed claims
        assert float(namespace["loss"](namespace["params"])) < 0.5  # it starts at 1.0
        assert namespace["result"].best("final_loss", mode="min") == {
            "learning_rate": 0.1,
            "decay": 0.99,
        }
    if page == "guide/flax_equinox.rst":
        check_flax_equinox_page(namespace)
    if page == "guide/sweeps.rst":  # the printed claims
        assert namespace["result"].best("final_loss", mode="min") == {
            "learning_rate": 0.1,
            "decay": 0.99,
        }
        assert namespace["halved"].budget.sum() < 27 * 9
        assert (namespace["found"].copied_from >= 0).sum() == 2 * 2  # 2 copies at units 3, 6


def check_flax_equinox_page(namespace):
    """The Flax and Equinox page's claims: both models train through the three searches, and
    ``advance`` gets ``fold_in(run_key, unit)`` in a plain sweep and across halving's pauses."""
    assert set(namespace["found"]) == {"flax", "equinox"}
    for name, (full, halved, pbt) in namespace["found"].items():
        curve = full.metrics["loss_curve"]  # (configurations, seeds, units)
        assert curve.shape == (9, 1, 9) and np.isfinite(curve).all(), name
        # Training, not just running: the best configuration's loss falls by more than half
        # from its first unit (measured: about 0.37 -> 0.08 for both models).
        best = full.rank("loss", mode="min")[0]
        assert curve[best, 0, -1] < 0.5 * curve[best, 0, 0], name
        assert halved.pruned.sum() > 0 and halved.budget.sum() < 9 * 9, name
        assert (pbt.copied_from >= 0).sum() == 1, name  # 1 of 4 members copies, at unit 3
    assert (namespace["checked"].metrics["as_documented_curve"] == 1.0).all()
    rmsjax = namespace["rmsjax"]
    paused = rmsjax.sweep(
        namespace["key_trainer"],
        namespace["space"],
        key=namespace["jax"].random.key(1),
        budget=9,
        progress=False,
        chunk_size=2,  # fewer slots than configurations: runs pause at rungs and resume later
        halving=rmsjax.halving("as_documented", mode="max", eta=3),
    )
    assert paused.budget.max() == 9 and (paused.metrics["as_documented"] == 1.0).all()


def test_the_front_page_stands_alone():
    # The site's front page says what rmsjax is, how to install it and shows an example (run
    # above), without sending the reader to the README for them; and links every other page.
    page = (DOCS / "index.rst").read_text()
    # The install lines are the ones that work (from the source; see tests/test_install.py).
    assert "pip install ." in page and "README" not in page
    linked = set(re.findall(r":doc:`([^`]+)`", page))
    pages = {str(p.relative_to(DOCS).with_suffix("")) for p in DOCS.rglob("*.rst")} - {"index"}
    assert pages <= linked, sorted(pages - linked)


def test_the_docs_theme_is_installed_by_the_docs_extra():
    # `make docs` builds with the theme conf.py names: the `docs` extra installs it (and Sphinx),
    # and the `test` extra, which `make test` installs, includes the `docs` extra.
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = extras["optional-dependencies"]
    theme = re.search(r'^html_theme = "(\w+)"', (DOCS / "conf.py").read_text(), flags=re.M)[1]
    names = {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in extras["docs"]}
    assert {"sphinx", theme} <= names
    assert any(re.fullmatch(r"rmsjax\[.*\bdocs\b.*\]", d) for d in extras["test"])


def test_readme_links_to_pages_that_exist():
    for target in re.findall(r"\]\(((?:docs/|CONTRIBUTING)[^)#]*)\)", README.read_text()):
        assert (ROOT / target).exists(), target


# The install table's promise: `pip install .` runs the command and the README's examples,
# and installs nothing that rmsjax does not import.


def base_dependencies() -> set[str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in project["dependencies"]}


def test_base_install_has_what_the_command_and_the_readme_use():
    # matplotlib: the command's plots; pandas: `to_pandas()` in the README; scikit-learn: the
    # digits data of the main job (`rmsjax sweep digits`).
    assert {"matplotlib", "pandas", "scikit-learn"} <= base_dependencies()


def test_every_base_dependency_is_imported():
    source = "\n".join(p.read_text() for p in (ROOT / "rmsjax").rglob("*.py"))
    import_names = {"scikit-learn": "sklearn"}
    for dist in base_dependencies() - {"jaxlib"}:  # jaxlib is imported through jax
        module = import_names.get(dist, dist)
        assert re.search(rf"^\s*(import|from) {module}\b", source, flags=re.M), dist


def test_the_sweeps_guide_states_direction_halving_and_keys():
    # The rules a reader must not miss; the guide was once ported from an older README that
    # lacked them. Each is named by the API spelling a reader would search for.
    page = " ".join((DOCS / "guide" / "sweeps.rst").read_text().split())
    assert "halving(metric, mode=...)" in page  # the direction is stated once, required
    assert "rank(metric, mode=...)" in page and "best(metric, mode=...)" in page  # plain sweep
    assert "contradicting ``mode`` is an error" in page
    assert "**synchronous** successive halving" in page and "asynchronous" in page  # and why
    assert 'keys="per_config"' in page and 'keys="shared"' in page
    assert "key_of(config_id, seed)" in page

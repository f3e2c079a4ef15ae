"""Strip outputs and execution counts from the notebooks, so they are committed clean.

    python notebooks/_clear.py                  # every notebook in notebooks/
    python notebooks/_clear.py notebooks/03_mnist.ipynb

tests/test_notebooks.py fails on a committed notebook that still carries outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat


def clear(path: Path) -> bool:
    """Clear ``path`` in place; return whether anything changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if cell.outputs or cell.execution_count is not None:
            cell.outputs, cell.execution_count, changed = [], None, True
        for key in ("execution", "collapsed", "scrolled"):
            changed |= cell.metadata.pop(key, None) is not None
    for key in ("widgets", "vscode"):
        changed |= nb.metadata.pop(key, None) is not None
    if nb.metadata.get("language_info", {}) != {"name": "python"}:  # filled in by a run
        nb.metadata["language_info"], changed = {"name": "python"}, True
    if changed:
        nbformat.write(nb, path)
    return changed


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or sorted(Path(__file__).resolve().parent.glob("*.ipynb"))
    for path in paths:
        print(f"{'cleared' if clear(path) else 'clean  '} {path}")


if __name__ == "__main__":
    main(sys.argv[1:])

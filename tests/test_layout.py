"""The package's layout: no module of rmsjax/ reaches into another's private names, and none
is over 500 lines or holds a class over 300 (a module one idea, a class one role).

A private name (``_name``) belongs to its module. One another module needs is made public inside
the package (without an underscore; rmsjax/__init__.py still exports only the API) or moved to
its caller. Private *modules* (``rmsjax._engine.pool``, ``from rmsjax import _cache``) are
fine: only names inside another module count.
"""

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "rmsjax"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    """Whether ``dotted`` (``rmsjax.x.y``) names a module or package of the source tree."""
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def resolve(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ``import from`` names (relative imports included)."""
    if not node.level:
        return node.module or ""
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join(package + ([node.module] if node.module else []))


def dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for any other expression."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(names)]


def crossings(path: Path, source: str | None = None) -> list[tuple[str, str]]:
    """``(module, name)`` for each private name of another rmsjax module that the module at
    ``path`` (its text ``source``, default the file's) imports (``from m import _name``) or reads
    as an attribute of that module (``m._name``, ``rmsjax.m._name``)."""
    me = module_name(path)
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    bound: dict[str, str] = {}  # a local name bound to an rmsjax module -> that module
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] != "rmsjax":
                    continue
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound[alias.name.split(".")[0]] = "rmsjax"
        elif isinstance(node, ast.ImportFrom):
            source = resolve(path, node)
            if source.split(".")[0] != "rmsjax":
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if is_module(full):
                    bound[alias.asname or alias.name] = full
                elif private(alias.name) and source != me:
                    found.append((source, alias.name))
    for node in ast.walk(tree):
        chain = dotted(node) if isinstance(node, ast.Attribute) else None
        if chain is None or chain[0] not in bound:
            continue
        module = bound[chain[0]]
        for name in chain[1:]:
            if is_module(f"{module}.{name}"):
                module = f"{module}.{name}"
                continue
            if private(name) and module != me:
                found.append((module, name))
            break
    return sorted(set(found))


def test_no_module_imports_a_private_name_of_another():
    offences = [
        f"{path.relative_to(ROOT)}: {module}.{name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for module, name in crossings(path)
    ]
    assert not offences, (
        "private names used outside their module (make them public inside the package or move "
        "them to their caller):\n" + "\n".join(offences)
    )


def test_the_check_sees_each_way_of_reaching_a_private_name():
    # The check itself must catch what it is there to catch: an import, a module attribute
    # (also through a dotted path), and not a private module or a name of the module itself.
    path = PACKAGE / "_engine" / "results.py"
    source = (
        "import rmsjax._engine.pool as pool_alias\n"
        "import rmsjax\n"
        "from rmsjax._engine.pool import _one\n"
        "from rmsjax._engine import store, _not_a_module\n"
        "from rmsjax import _cache\n"
        "from . import checks\n"
        "from .results import _own\n"
        "x = pool_alias._two, store._three, rmsjax._engine.spaces._four, checks._five\n"
        "y = _cache.enable, store.Store, pool_alias.__name__\n"
    )
    assert crossings(path, source) == [
        ("rmsjax._engine", "_not_a_module"),
        ("rmsjax._engine.checks", "_five"),
        ("rmsjax._engine.pool", "_one"),
        ("rmsjax._engine.pool", "_two"),
        ("rmsjax._engine.spaces", "_four"),
        ("rmsjax._engine.store", "_three"),
    ]


# Sizes: a module holds one idea, a class one role (issue 24's limits).

MODULE_LINES, CLASS_LINES = 500, 300


def sizes() -> tuple[list[str], list[str]]:
    """The modules of rmsjax/ over `MODULE_LINES` lines and the classes over `CLASS_LINES`."""
    modules, classes = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        lines = text.count("\n")
        if lines > MODULE_LINES:
            modules.append(f"{path.relative_to(ROOT)}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
                length = node.end_lineno - first + 1
                if length > CLASS_LINES:
                    classes.append(f"{path.relative_to(ROOT)}: class {node.name}, {length} lines")
    return modules, classes


def test_no_module_over_500_lines_and_no_class_over_300():
    modules, classes = sizes()
    assert not modules and not classes, "split by idea (see CONTRIBUTING's layout):\n" + "\n".join(
        modules + classes
    )


def test_the_size_check_counts_decorators_and_sees_a_long_class(tmp_path, monkeypatch):
    # A class of 301 lines counted from its decorator, and a module of 501 lines, are reported.
    package = tmp_path / "rmsjax"
    package.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(299))
    (package / "long.py").write_text(f"@decorator\nclass Long:\n{body}\n" + "\n" * 200)
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    modules, classes = sizes()
    assert modules == ["rmsjax/long.py: 501 lines"]
    assert classes == ["rmsjax/long.py: class Long, 301 lines"]

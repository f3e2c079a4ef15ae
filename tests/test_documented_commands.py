"""The commands the README and the command-line guide show run, one after another, in the order
a reader meets them (README first, then the guide), in one folder: each kind of run writes its
own default folder, so none refuses the folder of the one before (issue 23, "Done when")."""

import re
from pathlib import Path

import pytest

from rmsjax import cli, tasks

ROOT = Path(__file__).resolve().parents[1]
PAGES = ("README.md", "docs/guide/cli.rst")
PLACEHOLDERS = re.compile(r"\.\.\.|\bTASK\b|\bOUT\b|\bCONFIG\b|\[|\bS$")
# At small size: the last --epochs given wins (argparse), so each command keeps its own flags.
SMALL = ["--epochs", "4", "--no-progress"]  # 4: PBT's --interval 3 ranks once


def documented(page: str) -> list[str]:
    """The complete ``rmsjax`` commands of ``page`` in the order they appear: lines of code
    blocks (a ``$`` prompt and a trailing comment dropped) and inline literals."""
    text = (ROOT / page).read_text()
    found = []
    for m in re.finditer(r"^[ \t]*(?:\$ )?(rmsjax (?:train|sweep|compare) [^\n]*)$", text, re.M):
        found.append((m.start(), m.group(1).split("  #")[0].strip()))
    for m in re.finditer(r"``(rmsjax (?:train|sweep|compare) [^`]+)``|(?<!`)`(rmsjax "
                         r"(?:train|sweep|compare) [^`]+)`(?!`)", text):  # fmt: skip
        found.append((m.start(), " ".join((m.group(1) or m.group(2)).split())))
    commands = []
    for _, command in sorted(found):
        words = command.split()
        if PLACEHOLDERS.search(command) or len(words) < 3 or words[2] not in tasks.names():
            continue  # a synopsis (TASK, OUT, ...) or a fragment, not a command to run
        commands.append(command)
    return commands


def test_the_documented_commands_are_found():
    readme, guide = documented(PAGES[0]), documented(PAGES[1])
    assert readme[0] == "rmsjax sweep digits"  # the main job comes first
    assert any("--optuna-storage" in c for c in readme) and any("pbt" in c for c in guide)


def test_the_documented_commands_run_in_the_order_written(tmp_path, monkeypatch, capsys):
    pytest.importorskip("optuna")
    monkeypatch.chdir(tmp_path)  # the default folders (runs/...) and the sqlite file land here
    ran = []
    for page in PAGES:
        for command in documented(page):
            argv = [*command.split()[1:], *SMALL]
            code = cli.main(argv)
            out, err = capsys.readouterr()
            assert code == 0, f"{page}: `{command}` after {ran}: {err}"
            ran.append(command)
    assert len(ran) >= 4

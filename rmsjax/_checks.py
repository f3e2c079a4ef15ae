"""Argument checks the application layer shares (data, models, training, experiment).

`positive_int` is the engine's check (rmsjax/_engine/checks.py) in the application's words.
"""

from __future__ import annotations

from typing import Any

from rmsjax._engine import checks


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int >= 1, or a ValueError naming ``name`` and the value (bools refused)."""
    return checks.positive_int(name, value, "a positive integer")

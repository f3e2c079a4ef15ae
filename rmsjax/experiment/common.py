"""What the commands share: :func:`is_traced`."""

from __future__ import annotations

from typing import Any

import numpy as np


def is_traced(value: Any) -> bool:
    """Whether a sweep traces this hyperparameter value (numbers; not bools, None, strings)."""
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))

"""The progress bar every search shows (tqdm), on process 0 of a multi-process job only."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax


@contextlib.contextmanager
def progress_bar(total: int, progress: bool, desc: str, unit: str = "config") -> Iterator[Any]:
    """A tqdm bar over ``total`` configurations (or other ``unit``s), or None when there is
    nothing to show."""
    if not (total and progress and jax.process_index() == 0):
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=total, unit=unit, desc=desc)
    try:
        yield bar
    finally:
        bar.close()

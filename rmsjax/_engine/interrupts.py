"""Ctrl-C (SIGINT) held back while something must not stop halfway."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def deferred_sigint(message: str | None = None) -> Iterator[None]:
    """Defers Ctrl-C in the main thread until the block returns, then raises KeyboardInterrupt.

    A first Ctrl-C is noted (and ``message``, if given, printed on stderr); a second raises at
    once. Elsewhere than in the main thread, or under a SIGINT handler other than Python's
    default one, it does nothing.
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    received = []

    def note(signum, frame):
        if received:  # asked twice: stop now
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        received.append(signum)
        if message:
            print(message, file=sys.stderr)

    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if received:
        raise KeyboardInterrupt

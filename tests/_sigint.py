"""Start a child that a test interrupts with SIGINT, whatever this process inherited.

A suite started in the background by a shell without job control (``cmd &`` in a script, some CI
runners) inherits SIGINT as ignored, and a child inherits an ignored signal across exec: Python
then installs no KeyboardInterrupt handler and the test's SIGINT does nothing. A signal this
process *catches* is reset to the default in the child at exec, and Python installs its handler
then; so `interruptible_popen` catches SIGINT (with Python's own handler) while it starts the
child. The worker scripts reset SIGINT themselves, at the start of their ``__main__``.
"""

import signal
import subprocess


def interruptible_popen(*args, **kwargs) -> subprocess.Popen:
    """``subprocess.Popen(*args, **kwargs)`` with SIGINT at its default in the child.

    >>> import sys
    >>> proc = interruptible_popen([sys.executable, "-c",
    ...     "import signal; print(signal.getsignal(signal.SIGINT).__name__)"],
    ...     stdout=subprocess.PIPE, text=True)
    >>> proc.communicate()[0]
    'default_int_handler\\n'
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return subprocess.Popen(*args, **kwargs)
    finally:  # None: a handler not set from Python, which cannot be put back; the default then
        signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)

"""``python -m rmsjax ARGS``: the ``rmsjax`` command (same usage, messages and exit status)."""

import sys

from rmsjax.cli import main

if __name__ == "__main__":  # never on import (pytest imports this file for its doctests)
    sys.exit(main())

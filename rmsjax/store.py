"""The write lock of a sweep's folder, for code that manages output folders around a sweep.

A sweep's ``out_dir`` is written by one process at a time: its `Store` holds a lock file there.
:func:`claim` takes that lock before anything in the folder is deleted or written (and the sweep
that then opens the folder in this process takes it over); :func:`clear` deletes a sweep's files
under it. Another process holding it raises :class:`BusyError`. The ``rmsjax`` command claims its
``--out`` folder's ``chunks/`` this way before ``--fresh`` or ``--overwrite`` delete anything.

>>> import os, tempfile
>>> from rmsjax import store
>>> folder = tempfile.mkdtemp()
>>> store.claim(folder)
>>> open(os.path.join(folder, "chunk_00000.npz"), "w").close()
>>> store.clear(folder)
>>> os.listdir(folder)
[]
"""

from rmsjax._engine.locks import BusyError, claim, clear, holds_results

__all__ = ["BusyError", "claim", "clear", "holds_results"]

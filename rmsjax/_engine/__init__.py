"""The search engine: spaces, the traced program, the slot pool, schedulers, the store, results.

Private: the public names are re-exported by ``rmsjax``. It uses the optimizer layer
(``rmsjax._src``) only through its public names, and knows nothing of tasks or the command line.
"""

"""The pieces of :mod:`rmsjax.training` (the public module), one idea each."""

"""Placeholder: the sweep engine (issue 4) is being written; this file will be replaced."""


class SweepResult:
    pass


def grid(**axes):
    raise NotImplementedError("rmsjax.grid is not written yet")


def sweep(*args, **kwargs):
    raise NotImplementedError("rmsjax.sweep is not written yet")

"""`SweepResult.to_optuna`: a result written into an Optuna study, one trial per
configuration, with the distributions of the space searched.

Optuna is imported when a result is written, not with this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from rmsjax._engine import checks, ranking
from rmsjax._engine.distributions import distribution
from rmsjax._engine.spaces import Grid


def to_optuna(result, study, metric=None, mode=None, space=None):
    """The trials of `SweepResult.to_optuna` (see there), added to ``study``."""
    try:
        import optuna
    except ImportError as e:
        raise ImportError("SweepResult.to_optuna needs Optuna: pip install optuna"
                          ) from e  # fmt: skip
    if len(study.directions) != 1:
        raise ValueError(f"`study` must have one objective, got {len(study.directions)} directions")
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    wanted = "max" if maximize else "min"
    if metric is None:
        if result.objective is None:
            raise ValueError("`metric` is required: this result ran no search")
        metric = result.objective[0]
    searched = result.objective is not None and result.objective[0] == metric
    mode = result.mode_of(metric, mode) if mode is not None or searched else wanted
    if mode != wanted:
        raise ValueError(
            f"the study's direction is {study.direction.name} but {metric!r} is ranked with "
            f"mode={mode!r}: create the study with "
            f"direction={'maximize' if mode == 'max' else 'minimize'!r}"
        )
    scores = ranking.scores(result, metric)
    diverged = result.diverged.any(axis=1) | np.isnan(scores)
    stopped = ~ranking.eligible(result)
    curve = result.metrics.get(f"{metric}_curve")
    curve = None if curve is None else curve.astype(np.float64).mean(axis=1)
    units = getattr(result, "budget", None)
    dists = _optuna_distributions(result, space, optuna)
    trials = []
    for i, config in enumerate(result.space):
        row = None if curve is None else curve[i]
        trials.append(_trial(optuna, i, config, float(scores[i]), bool(diverged[i]),
                             bool(stopped[i]), row, None if units is None else int(units[i]),
                             dists))  # fmt: skip
    study.add_trials(trials)
    return study.trials[-len(trials) :] if trials else []


def finished_trial(finished, metric: str, distributions: dict):
    """The trial `to_optuna` would write for configuration ``finished`` (an `rmsjax.Finished`),
    with its real start and end times: for writing each configuration into a study as it
    finishes.
    ``distributions``: axis name -> what `to_optuna`'s ``space`` takes (an rmsjax distribution,
    a list of values) or an Optuna distribution."""
    import datetime

    try:
        import optuna
    except ImportError as e:
        raise ImportError("Finished.to_optuna needs Optuna: pip install optuna") from e
    if metric not in finished.metrics:
        raise ValueError(f"`metric` {metric!r} is not a metric of this configuration, which has "
                         f"{sorted(finished.metrics)}")  # fmt: skip
    values = np.asarray(finished.metrics[metric], np.float64)
    diverged = any(
        np.issubdtype(v.dtype, np.inexact) and not np.isfinite(v).all()
        for v in finished.metrics.values() if np.ndim(v) == 1
    )  # fmt: skip
    value = float(values.mean()) if not diverged else float("nan")
    stopped = finished.pruned  # a run that stops before the budget is pruned
    curve = finished.metrics.get(f"{metric}_curve")
    row = None if curve is None else np.asarray(curve, np.float64).mean(axis=0)
    dists = {n: distribution(n, d, "finished_trial").to_optuna()
             if not isinstance(d, optuna.distributions.BaseDistribution) else d
             for n, d in distributions.items()}  # fmt: skip
    unknown = sorted(set(dists) - set(finished.hparams))
    if unknown:
        raise ValueError(
            f"`space` names axes {unknown} that configuration {finished.config_id} does not "
            f"have; its hyperparameters are {sorted(finished.hparams)}"
        )
    params = {n: finished.hparams[n] for n in dists}
    trial = _trial(optuna, finished.config_id, params, value, diverged or np.isnan(value),
                   stopped, row, finished.units, dists)  # fmt: skip
    trial.datetime_start = datetime.datetime.fromtimestamp(finished.started)
    trial.datetime_complete = datetime.datetime.fromtimestamp(finished.finished)
    return trial


def _trial(optuna, config_id, config, score, diverged, stopped, curve, units, dists):
    """One configuration as an Optuna trial: FAIL where it diverged, PRUNED where it stopped
    early, else COMPLETE with its ``score``; ``curve`` (per unit, or None) as its intermediate
    values up to ``units`` (None: all)."""
    steps = {}
    if curve is not None:
        reached = units if units is not None else len(curve)
        steps = {u + 1: float(curve[u]) for u in range(reached) if np.isfinite(curve[u])}
    State = optuna.trial.TrialState
    state = State.FAIL if diverged else State.PRUNED if stopped else State.COMPLETE
    attrs = {"rmsjax_config": config_id}
    if units is not None:
        attrs["rmsjax_units"] = units
    return optuna.trial.create_trial(
        state=state, value=None if diverged else score,
        params={n: _optuna_value(v) for n, v in config.items()}, distributions=dists,
        intermediate_values=steps, user_attrs=attrs,
    )  # fmt: skip


def _optuna_value(value: Any) -> Any:
    """``value`` as Optuna stores a param: None, bool, int, float or str."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _optuna_distributions(result, given, optuna) -> dict:
    """Axis name -> the Optuna distribution `SweepResult.to_optuna` writes: ``given``'s (the
    space searched), else the result's space's, else a `pbt` result's initial population's."""
    names = result.space.names
    if given is not None:
        if not isinstance(given, Mapping) or set(given) != set(names):
            shown = sorted(given) if isinstance(given, Mapping) else given
            raise ValueError(
                f"`space` must map the result's axes {sorted(names)} to distributions, "
                f"got {shown!r}"
            )
        given = {n: distribution(n, v, "to_optuna") for n, v in given.items()}
    out = {}
    for name in names:
        own = None if given is None else given[name]
        if own is None:
            initial = getattr(result, "initial", None)
            space = result.space
            if not hasattr(space, "distributions") and hasattr(initial, "distributions"):
                space = initial  # pbt: the space the population was drawn from
            out[name] = _optuna_distribution(space, name, optuna)
        else:
            out[name] = own.to_optuna()
    return out


def _optuna_distribution(space, name: str, optuna):
    """The Optuna distribution of axis ``name``: a sample's own, a grid's values as categories,
    else (an `optuna_search` result without its space) the range of the values it holds."""
    dists = optuna.distributions
    own = getattr(space, "distributions", {}).get(name)
    if own is not None:
        return own.to_optuna()
    values = [_optuna_value(v) for v in checks.distinct(space.column(name))]
    if not isinstance(space, Grid) and values:
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return dists.IntDistribution(min(values), max(values))
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return dists.FloatDistribution(float(min(values)), float(max(values)))
    return dists.CategoricalDistribution(values)

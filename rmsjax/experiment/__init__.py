"""Experiments as plain configs: train one configuration, sweep a grid, compare optimizers.

What the ``rmsjax`` command runs, as library functions a script or a notebook calls directly:
a config (:class:`TrainConfig`, :class:`SweepConfig`, :class:`CompareConfig`) names a task of
:mod:`rmsjax.tasks`, an RMSprop preset (:data:`PRESETS`) and its hyperparameters (named as
:func:`rmsjax.rmsprop` names them); :func:`resolve` fills what is not given from the task's
defaults and checks every value, and :func:`prepare` resolves it once into the :class:`Plan`
its run reads; :func:`run_train`, :func:`run_sweep` and :func:`run_compare` (given a config or
its plan) return a :class:`~rmsjax.report.Report` (headline metrics, tables, curves, the
optimizer's description and the JSON that ``metrics.json`` holds). Nothing here prints or
writes files, except a sweep's resume folder when asked for one; :mod:`rmsjax.report` prints
and saves a report. :func:`parse_values` and :func:`parse_hparam` read values written as text
(``1e-4:1e-2:8``, ``none,0.9``, ``false,true``), as the command line's flags give them.

>>> from rmsjax import experiment
>>> config = experiment.resolve(experiment.TrainConfig("quadratic", hparams={"momentum": 0.5}))
>>> config.hparams, config.epochs
({'learning_rate': 0.1, 'decay': 0.9, 'momentum': 0.5}, 100)
>>> report = experiment.run_train(config)
>>> report.optimizer
'rmsjax.rmsprop(learning_rate=0.1, decay=0.9, momentum=0.5)'
>>> report.metrics["loss"] < 1e-3
True

The package is a module for the configs (:mod:`rmsjax.experiment.config`: reading text,
:func:`resolve`), one for the plan (:mod:`rmsjax.experiment.plan`: :func:`prepare`,
:func:`load_data`) and one per command, each with its report
(:mod:`~rmsjax.experiment.train`, :mod:`~rmsjax.experiment.sweep`, whose Optuna studies are in
:mod:`~rmsjax.experiment.studies`, and :mod:`~rmsjax.experiment.compare`), beside what they share
(:mod:`~rmsjax.experiment.common`); every name is importable from ``rmsjax.experiment``,
:class:`Report` (of :mod:`rmsjax.report`) included. Parameters flow one way:
the command line builds a config, :func:`prepare` completes it from the task once (into a
:class:`Plan`), and the runs pass its values down to the task (:mod:`rmsjax.tasks`) and the
engine (``rmsjax.sweep``...).

The training loss of the last epoch is ``loss`` in every report and ranking (``final_loss``,
its older name, is still accepted as a sweep's ``metric``).

Choosing and reporting: a sweep of a task with a validation split (digits, mnist, reviews: see
:meth:`rmsjax.tasks.Task.sweep_data`) trains on the rest of the training examples, ranks by
``val_accuracy`` and reports the chosen row's ``test_*`` metrics, measured on a test split that
took no part in the choice. A plain sweep's report (no halving, no Optuna) ends with the
``rmsjax train ... --sweep-run CONFIG,SEED,WIDTH`` line that trains its best row again, bit for
bit (:attr:`TrainConfig.sweep_run`).
"""

from rmsjax.experiment.compare import run_compare
from rmsjax.experiment.config import (
    METRIC_ALIASES,
    SEARCHES,
    CompareConfig,
    OptionError,
    SweepConfig,
    TrainConfig,
    parse_hparam,
    parse_values,
    resolve,
)
from rmsjax.experiment.plan import Plan, load_data, prepare
from rmsjax.experiment.sweep import make_trainer, run_sweep
from rmsjax.experiment.train import run_train
from rmsjax.presets import DESCRIPTIONS, HPARAMS, NU_DTYPES, PRESETS, Preset, get_preset
from rmsjax.report import Report

__all__ = [
    "DESCRIPTIONS",
    "HPARAMS",
    "NU_DTYPES",
    "METRIC_ALIASES",
    "PRESETS",
    "SEARCHES",
    "CompareConfig",
    "OptionError",
    "Plan",
    "Preset",
    "Report",
    "SweepConfig",
    "TrainConfig",
    "get_preset",
    "load_data",
    "make_trainer",
    "parse_hparam",
    "parse_values",
    "prepare",
    "resolve",
    "run_compare",
    "run_sweep",
    "run_train",
]

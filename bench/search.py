"""Search that spends compute where it pays: ways to tune RMSprop, side by side in one run.

81 configurations, learning rate log-uniform in [1e-5, 1e-1] and decay uniform in [0.5, 0.999],
on the MNIST MLP (784-128-10, the offline split: the first 8,000 images of the MNIST test set
train, the last 2,000 are held out; budget 9 epochs) and the digits MLP (64-64-10, budget 27):

  (1) ``rmsjax.sweep`` of a `Trainer` over ``rmsjax.sample(81)``: every configuration the full
      budget;
  (2) the same with ``halving=rmsjax.halving("test_accuracy", mode="max", eta=3)``;
  (3) ``rmsjax.optuna_search`` with Optuna's TPE sampler and ``SuccessiveHalvingPruner``
      (min_resource 1, reduction factor 3), ``width="auto"``;
  (4) Optuna alone as its users write it at its best: one jitted epoch function taking the
      hyperparameters as traced arguments (compiled once), trials one after another,
      ``trial.report`` and ``should_prune`` after every epoch; same sampler, pruner and seeds.
      On a CPU its two jitted functions get the XLA options rmsjax's pool uses
      (``rmsjax.cpu_compiler_options()``: ``start`` those of the init program, ``epoch``
      those of the advance program), through ``jax.jit(..., compiler_options=...)``, so that
      no compile-time saving is denied to it;
  (5) the same as (4) with XLA's default options, as Optuna users usually write it;
  (6), (7) population-based training, ``rmsjax.sweep(..., pbt=rmsjax.pbt("test_accuracy",
      mode="max", interval=K))`` (fraction 0.25, perturb (0.8, 1.25), resample 0.25), the
      population drawn as ``rmsjax.sample`` draws the configurations of the others, ranked on
      the metric they select on: on digits populations 8 and 16, interval 3; on MNIST
      population 8, interval 1. Every member trains the full budget (epochs: population x
      budget); the accuracy is the best member's final one.

With ``--ray`` (Ray Tune installed: ``pip install -e '.[bench]'`` in the clone), Ray Tune's
``PopulationBasedTraining`` runs once on digits, after the ways of round 1: the same model,
data, initial population (as ``points_to_evaluate``), interval and mutations (learning rate
log-uniform, decay uniform, resample probability 0.25, factors (1.25, 0.8), quantile fraction
0.25, values clipped to the bounds as rmsjax clips them, ``synch=True``), written as its users
write it: a function trainable, one jitted epoch function with traced hyperparameters (compiled
once per worker process, with the XLA options of (4)), a ``tune.Checkpoint`` of the parameters
and optimizer state every interval for PBT's exploit, ``ray.init(num_cpus=2)`` (timed apart,
not counted). Its wall is compared with (6)'s in the same round (several minutes).

Every way trains the same model with the same epoch code (`rmsjax.training.train_epoch`), and
reports wall time *with* compilation, the compile time within it (the wall seconds covered by
JAX's monitoring events for tracing, lowering and XLA compilation; rmsjax compiles its two
programs side by side, and overlapping compilations count once), epochs trained, the best
held-out accuracy (mean over seeds of a configuration trained the full budget) and the pool
width (slots trained together: the widest unit of a staged sweep; 1 for Optuna alone, whose
trials run one after another). No persistent compilation cache; each run builds fresh closures
after ``jax.clear_caches()``, so nothing compiled is shared between the runs compared. Every
round runs every way once, forward in even rounds and backward in odd ones, and (2) runs a
second time as (2'), the A/A pair. A ratio of two ways is the median of its per-round ratios,
and its verdict (``bench/_harness.py``) stands only beyond the A/A interval: a bootstrap
interval of the median of the per-round (2')/(2) ratios. The table shows medians over rounds.
Results (command, machine, load average, versions, every round) go to
``bench/results/search.json`` (``--json``), from which ``bench/tables.py`` makes the
documentation's table.

    python bench/search.py                     # both tasks, 3 rounds (several minutes)
    python bench/search.py --tasks digits      # digits only
With ``--hyperoptax`` (``pip install -e '.[bench]'``), hyperoptax's ``BayesianSearch`` (a Gaussian
process in JAX) runs on digits in every round, before the A/A pair, as its users write it: an
objective ``fn(key, config)`` training one configuration the full budget with the same epoch code
and returning its held-out accuracy (hyperoptax stops no evaluation early), the same space
(``LogSpace(1e-5, 1e-1)``, ``LinearSpace(0.5, 0.999)``), ``BayesianSearch.init(space,
n_max=evaluations, n_parallel=P)`` with its defaults otherwise, and the whole search in one
``jax.jit(optimize_scan)``, each step's P candidates evaluated together under ``jax.vmap`` (the
XLA options of (4) on a CPU): (8) 81 evaluations, 3 a step (the full sweep's epochs); (9) 9
evaluations, 3 a step (halving's epochs); (10) 81, one a step. Its best is ``best_result``. With
``--quality`` as well, the same three rank on the validation accuracy and their picks join the
table.

    python bench/search.py --small             # smoke test: 9 configurations, budget 3
    python bench/search.py --ray               # and Ray Tune's PBT on digits, once
    python bench/search.py --hyperoptax        # and hyperoptax's BayesianSearch on digits

``--quality`` measures instead what halving picks, not how fast (no timing, so a shared machine
does not matter): for each of ``--seeds`` seeds (the space ``rmsjax.sample(81, seed=s)`` and
the key ``jax.random.key(s)``), on each task with a validation split cut from the training data
(its last fifth; the model trains on the rest) and the test split apart, it runs the full sweep,
``rmsjax.halving("val_accuracy", mode="max", eta=3, tiebreak=("val_loss", "min"))`` on the
same configurations and keys, its asynchronous variant ``rmsjax.asha`` and ``rmsjax.hyperband``
with the same arguments (the 81 configurations split among Hyperband's brackets), PBT (16
members, ranked on the validation accuracy, ties by the validation loss), and
``optuna_search`` (TPE sampler seeded ``s``, ``SuccessiveHalvingPruner(min_resource=1,
reduction_factor=3)``, 81 trials, same budget and key). Each picks the configuration with the
best validation accuracy among those trained the full budget (ties: the lowest validation
loss); the table gives its rank in the
full sweep (1 + the number of the 81 full-budget configurations with a strictly higher
validation accuracy; Optuna's pick, a configuration TPE sampled, is placed among them by its own
full-budget validation accuracy), the epochs spent against the full sweep's, its test accuracy
and the pool width. It prints the table, checks the targets (halving: median rank <= 3, worst
<= 10, epochs <= 0.4x the full sweep's on every seed, median rank no worse than Optuna's) and
writes everything as JSON (command, machine, versions) to ``--json``.

    python bench/search.py --quality           # digits and MNIST, 5 seeds
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import _harness  # bench/_harness.py (the script's folder is on sys.path)
import _machine
import _record
import jax
import jax.numpy as jnp
import numpy as np
import tables  # bench/tables.py: the verdict, as the documentation's table computes it

import rmsjax
from rmsjax import tasks, training

# RMSJAX_DATA_DIR as the tests read it, else ../shared/data beside the checkout.
DEFAULT_DATA_DIR = Path(
    os.environ.get("RMSJAX_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")
)
BUDGETS = {"mnist": 9, "digits": 27}
LR, DECAY = (1e-5, 1e-1), (0.5, 0.999)
METRIC = "test_accuracy"
WAYS = ("(1) rmsjax.sweep, full", "(2) rmsjax.sweep, halving", "(3) rmsjax.optuna_search",
        "(4) Optuna alone", "(5) Optuna alone, XLA defaults",
        "(2') rmsjax.sweep, halving (A/A)")  # fmt: skip
SHORT = ("(1)", "(2)", "(3)", "(4)", "(5)", "(2')")  # the keys of the JSON
# Population-based training, per task: (key of the JSON, population, interval in epochs).
PBT_WAYS = {"digits": (("(6)", 8, 3), ("(7)", 16, 3)), "mnist": (("(6)", 8, 1),)}
PBT_KNOBS = {"fraction": 0.25, "perturb": (0.8, 1.25), "resample": 0.25}  # rmsjax.pbt's defaults
# (task, better way, reference way, wall ratio at most, accuracy at least reference minus)
TARGETS = [
    ("digits", 1, 3, 0.6, 0.006),
    ("digits", 2, 3, 0.75, 0.006),
    ("mnist", 2, 3, 1.1, 0.002),
    ("mnist", 1, 0, 0.5, 0.003),
]
GPU_TARGETS = [("mnist", 2, 3, 0.2, 0.002)]
# (task, PBT way, reference way, epochs ratio at most, accuracy at least reference minus)
PBT_TARGETS = [("digits", "(7)", "(1)", 0.25, 0.003)]
# With --ray: (task, PBT way, wall ratio to Ray Tune's PBT at most, accuracy at least Ray's minus)
RAY_TARGETS = [("digits", "(6)", 0.01, 0.003)]
RAY_TASKS = ("digits",)  # --ray runs Ray Tune there (about 5 minutes on 2 cores), in round 1
# With --hyperoptax: hyperoptax's BayesianSearch on digits, in every round beside the other ways:
# (8) as many evaluations (each the full budget) as the configurations of the others, 81 x 27 =
# 2187 epochs, the full sweep's; (9) as many as fit in halving's epochs, 9 x 27 = 243; each step
# of the GP proposing n_parallel candidates, evaluated together under jax.vmap. 3 divides 81 and
# 9 (the library's default, 4, would train 84 evaluations for a buffer of 81); 9 compiles much
# longer (measured on digits at load 6: 81 evaluations in 71 s at 9, 35 s at 3, 22 s at 1, mostly
# compilation, which grows with n_parallel), so (10) is (8) one candidate at a time.
HYPEROPTAX_TASKS = ("digits",)
# (key of the JSON, evaluations: --configs divided by this, n_parallel)
HYPEROPTAX_WAYS = (("(8)", 1, 3), ("(9)", 9, 3), ("(10)", 1, 1))
# (task, way, hyperoptax way): wall ratios printed and tabled beside the A/A interval; no target
HYPEROPTAX_COMPARISONS = [("digits", "(1)", "(8)"), ("digits", "(1)", "(10)"),
                          ("digits", "(2)", "(9)"), ("digits", "(4)", "(9)")]  # fmt: skip


class CompileClock:
    """Wall seconds during which JAX was tracing, lowering or compiling (its monitoring events;
    overlapping compilations, as rmsjax runs its two side by side, count once)."""

    EVENTS = (
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    )

    def __init__(self):
        self.spans: list[tuple[float, float]] = []
        jax.monitoring.register_event_duration_secs_listener(self._listen)

    def _listen(self, event, duration, **_):
        if event in self.EVENTS:
            end = time.perf_counter()
            self.spans.append((end - duration, end))

    def seconds(self, start: float, stop: float) -> float:
        """Length of the union of the spans within [start, stop]."""
        total, reach = 0.0, start
        for a, b in sorted(self.spans):
            a, b = max(a, reach), min(b, stop)
            if b > a:
                total, reach = total + b - a, b
        return total


def sampler_and_pruner(seed: int):
    import optuna

    sampler = optuna.samplers.TPESampler(seed=seed)
    pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return sampler, pruner


def new_study(seed: int):
    import optuna

    sampler, pruner = sampler_and_pruner(seed)
    return optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)


def full_sweep(task, data, n, budget, seed, key):
    space = rmsjax.sample(n, seed=seed, learning_rate=rmsjax.loguniform(*LR),
                          decay=rmsjax.uniform(*DECAY))  # fmt: skip
    result = rmsjax.sweep(task.make_trainer(data, budget=budget), space, key=key, budget=budget,
                          progress=False)  # fmt: skip
    return int(result.budget.sum()), best_accuracy(result), width(result)


def halving_sweep(task, data, n, budget, seed, key):
    space = rmsjax.sample(n, seed=seed, learning_rate=rmsjax.loguniform(*LR),
                          decay=rmsjax.uniform(*DECAY))  # fmt: skip
    rule = rmsjax.halving(METRIC, mode="max", eta=3)
    result = rmsjax.sweep(task.make_trainer(data, budget=budget), space, key=key, budget=budget,
                          halving=rule, progress=False)  # fmt: skip
    return int(result.budget.sum()), best_accuracy(result), width(result)


def width(result) -> int:
    """The pool width: the most slots any unit of the run trained together."""
    return max(result.chunk_sizes.values())


def best_accuracy(result) -> float:
    best = result.best(METRIC, mode="max")
    index = list(result.space).index(best)
    return float(result.metrics[METRIC][index].mean())


def rmsjax_optuna(task, data, n, budget, seed, key):
    study = new_study(seed)
    space = {"learning_rate": rmsjax.loguniform(*LR), "decay": rmsjax.uniform(*DECAY)}
    result = rmsjax.optuna_search(task.make_trainer(data, budget=budget), study, n_trials=n,
                                  space=space, key=key, budget=budget, metric=METRIC,
                                  progress=False)  # fmt: skip
    return int(result.budget.sum()), float(study.best_value), width(result)


def optuna_alone(task, data, n, budget, seed, key, xla_defaults=False):
    """Optuna as its users write it: a jitted epoch with traced hyperparameters, trials in turn;
    on a CPU with rmsjax's XLA options unless ``xla_defaults``."""
    import optuna

    start, epoch, train, test = epoch_functions(task, data, xla_defaults)
    epochs = 0

    def objective(trial):
        nonlocal epochs
        lr = trial.suggest_float("learning_rate", *LR, log=True)
        decay = trial.suggest_float("decay", *DECAY)
        run_key = jax.random.fold_in(jax.random.fold_in(key, trial.number), 0)
        state, shuffle_key = start(lr, decay, run_key)
        for e in range(budget):
            state, accuracy = epoch(state, lr, decay, shuffle_key, e, train, test)
            accuracy, epochs = float(accuracy), epochs + 1
            trial.report(accuracy, e + 1)
            if e + 1 < budget and trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    study = new_study(seed)
    study.optimize(objective, n_trials=n)
    return epochs, float(study.best_value), 1  # one trial at a time


def epoch_functions(task, data, xla_defaults: bool = False):
    """``(start, epoch, train, test)``: the two jitted functions a user of Optuna or Ray Tune
    writes, hyperparameters as traced arguments (compiled once), and the data on the device.
    On a CPU they get the XLA options of rmsjax's pool unless ``xla_defaults``."""
    cpu = jax.devices()[0].platform == "cpu" and not xla_defaults
    options = rmsjax.cpu_compiler_options() if cpu else {"init": None, "advance": None}

    init_fn, apply_fn = task.model_fns(data)
    loss_fn, metrics_fn = task.loss_and_metrics(apply_fn)
    train = tuple(jnp.asarray(a) for a in data.train)
    test = tuple(jnp.asarray(a) for a in data.test)

    @functools.partial(jax.jit, compiler_options=options["init"])
    def start(learning_rate, decay, key):
        init_key, shuffle_key = jax.random.split(key)
        params = init_fn(init_key)
        opt = rmsjax.rmsprop(learning_rate, decay=decay)
        return training.TrainState(params, opt.init(params)), shuffle_key

    @functools.partial(jax.jit, compiler_options=options["advance"])
    def epoch(state, learning_rate, decay, shuffle_key, index, train, test):
        opt = rmsjax.rmsprop(learning_rate, decay=decay)
        state, _ = training.train_epoch(state, train, jax.random.fold_in(shuffle_key, index),
                                        loss_fn=loss_fn, optimizer=opt,
                                        batch_size=task.batch_size)  # fmt: skip
        metrics = training.evaluate(state.params, test, metrics_fn,
                                    batch_size=tasks.EVAL_BATCH_SIZE)  # fmt: skip
        return state, metrics["accuracy"]

    return start, epoch, train, test


def optuna_alone_defaults(task, data, n, budget, seed, key):
    return optuna_alone(task, data, n, budget, seed, key, xla_defaults=True)


def pbt_sweep(task, data, n, budget, seed, key, *, population, interval):
    """``rmsjax.sweep`` with ``pbt=``: a population drawn as the configurations of the other ways
    are, trained together and ranked on the metric they select on, every ``interval`` epochs."""
    del n  # the population replaces the number of configurations
    space = rmsjax.sample(population, seed=seed, learning_rate=rmsjax.loguniform(*LR),
                          decay=rmsjax.uniform(*DECAY))  # fmt: skip
    rule = rmsjax.pbt(METRIC, mode="max", interval=interval, **PBT_KNOBS)
    result = rmsjax.sweep(task.make_trainer(data, budget=budget), space, key=key, budget=budget,
                          pbt=rule, progress=False)  # fmt: skip
    return int(result.budget.sum()), best_final(result), width(result)


def best_final(result) -> float:
    """The best member's final accuracy (mean over seeds): every member trains the full budget,
    and members copied from one another may end with equal hyperparameters."""
    return float(np.nanmax(result.metrics[METRIC].mean(axis=1)))


RUNNERS = (full_sweep, halving_sweep, rmsjax_optuna, optuna_alone, optuna_alone_defaults,
           halving_sweep)  # fmt: skip


def ways(name: str, small: bool, n: int = 81, hyperoptax: bool = False) -> list[tuple]:
    """The ways timed on task ``name``: (key of the JSON, label, runner); PBT, then hyperoptax's
    (with ``hyperoptax``, on `HYPEROPTAX_TASKS`), before the A/A pair, which stays last."""
    out = list(zip(SHORT, WAYS, RUNNERS, strict=True))
    for key, population, interval in PBT_WAYS[name]:
        runner = functools.partial(pbt_sweep, population=population,
                                   interval=pbt_interval(interval, small))  # fmt: skip
        out.insert(len(out) - 1, (key, f"{key} rmsjax PBT, population {population}", runner))
    if hyperoptax and name in HYPEROPTAX_TASKS:
        for key, divisor, parallel in HYPEROPTAX_WAYS:
            label = (f"{key} hyperoptax GP, {hyperoptax_evaluations(n, divisor, parallel)} "
                     f"evals x {parallel}")  # fmt: skip
            runner = functools.partial(hyperoptax_search, divisor=divisor, parallel=parallel)
            out.insert(len(out) - 1, (key, label, runner))
    return out


def pbt_interval(interval: int, small: bool) -> int:
    return 1 if small else interval  # --small trains 3 epochs: an interval of 3 ranks never


# hyperoptax's BayesianSearch (--hyperoptax), as its users write it: an objective ``fn(key, config)
# -> scalar`` that trains one configuration the full budget and returns its held-out accuracy
# (hyperoptax stops no evaluation early: its README's "sharp bits" say that parameters changing
# the length of an evaluation cannot be optimized in parallel), ``BayesianSearch.init(space,
# n_max=evaluations, n_parallel=P)`` (see HYPEROPTAX_WAYS) with its defaults otherwise (Matern 0.5
# kernel, probability of improvement, 1 random step first), and the whole search in one jitted
# ``optimize_scan``, as the library's own benchmark notebook runs it: each step evaluates its
# candidates together under jax.vmap. On a CPU that program gets the XLA options of (4)'s epoch
# function (compiled once; it holds the GP fit, the candidates' L-BFGS and the training).


def hyperoptax_space():
    import hyperoptax

    return {"learning_rate": hyperoptax.LogSpace(*LR), "decay": hyperoptax.LinearSpace(*DECAY)}


def hyperoptax_trainer(task, data, budget: int):
    """``(train, accuracy)``: ``train(key, config) -> params`` trains one configuration
    ``budget`` epochs on ``data.train`` with the epoch code of the other ways (pure: jit and vmap
    apply), and ``accuracy(params, split)`` evaluates it."""
    init_fn, apply_fn = task.model_fns(data)
    loss_fn, metrics_fn = task.loss_and_metrics(apply_fn)
    train_split = tuple(jnp.asarray(a) for a in data.train)

    def train(key, config):
        init_key, shuffle_key = jax.random.split(key)
        params = init_fn(init_key)
        opt = rmsjax.rmsprop(config["learning_rate"], decay=config["decay"])

        def one_epoch(e, state):
            state, _ = training.train_epoch(state, train_split, jax.random.fold_in(shuffle_key, e),
                                            loss_fn=loss_fn, optimizer=opt,
                                            batch_size=task.batch_size)  # fmt: skip
            return state

        state = training.TrainState(params, opt.init(params))
        return jax.lax.fori_loop(0, budget, one_epoch, state).params

    def accuracy(params, split):
        return training.evaluate(params, split, metrics_fn,
                                 batch_size=tasks.EVAL_BATCH_SIZE)["accuracy"]  # fmt: skip

    return train, accuracy


def hyperoptax_jit(fn):
    cpu = jax.devices()[0].platform == "cpu"
    return jax.jit(fn, compiler_options=rmsjax.cpu_compiler_options()["advance"] if cpu
                   else None)  # fmt: skip


def hyperoptax_evaluations(n: int, divisor: int, parallel: int) -> int:
    """``n / divisor`` evaluations, rounded up to a whole number of GP steps of ``parallel``."""
    wanted = -(-n // divisor)
    return max(1, -(-wanted // parallel)) * parallel


def hyperoptax_search(task, data, n, budget, seed, key, *, divisor, parallel):
    """hyperoptax's BayesianSearch of ``n / divisor`` evaluations, ``parallel`` per GP step, each
    the full budget, ranked on the held-out accuracy the other ways select on; its best is
    ``best_result``."""
    import hyperoptax

    del seed  # the key seeds hyperoptax's draws and the evaluations' keys
    evaluations = hyperoptax_evaluations(n, divisor, parallel)
    train, accuracy = hyperoptax_trainer(task, data, budget)
    test = tuple(jnp.asarray(a) for a in data.test)

    def objective(key, config):
        return accuracy(train(key, config), test)

    state, search = hyperoptax.BayesianSearch.init(hyperoptax_space(), n_max=evaluations,
                                                    n_parallel=parallel, maximize=True)  # fmt: skip
    run = hyperoptax_jit(functools.partial(search.optimize_scan, func=objective,
                                           n_iterations=evaluations // parallel))  # fmt: skip
    final, _ = run(state, key)
    return evaluations * budget, float(search.best_result(final)), parallel


# Ray Tune's PopulationBasedTraining (--ray), as its users write it: a function trainable, one
# jitted epoch function taking the hyperparameters as traced arguments, a tune.Checkpoint holding
# the parameters and optimizer state, which PBT's exploit loads into the copying trial.

_RAY_FUNCTIONS: dict = {}  # per Ray worker process: the jitted functions, compiled once there


def ray_trainable(config, *, task_name, data, budget, interval, seed):
    import pickle
    import tempfile

    from ray import tune

    if task_name not in _RAY_FUNCTIONS:
        _RAY_FUNCTIONS[task_name] = epoch_functions(tasks.get(task_name), data)
    start, epoch, train, test = _RAY_FUNCTIONS[task_name]
    lr, decay = config["learning_rate"], config["decay"]
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        run_key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), config["member"]), 0)
        state, shuffle_key = start(lr, decay, run_key)
        first = 0
    else:  # resumed after a pause, or exploit: the state of the trial it copied (and its keys)
        with checkpoint.as_directory() as folder:
            saved = pickle.loads((Path(folder) / "state.pkl").read_bytes())
        state = jax.tree.map(jnp.asarray, saved["state"])
        shuffle_key, first = jax.random.wrap_key_data(saved["key"]), saved["epoch"]
    for e in range(first, budget):
        state, accuracy = epoch(state, lr, decay, shuffle_key, e, train, test)
        metrics = {METRIC: float(accuracy)}
        if (e + 1) % interval and e + 1 < budget:
            tune.report(metrics)
            continue
        saved = {"state": jax.device_get(state), "epoch": e + 1,
                 "key": np.asarray(jax.random.key_data(shuffle_key))}  # fmt: skip
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "state.pkl").write_bytes(pickle.dumps(saved))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))


def ray_pbt(task_name, data, population, budget, interval, seed) -> dict:
    """Ray Tune's PBT on ``population`` trials (the same initial population as ``pbt_sweep``'s,
    given as ``points_to_evaluate``), ``ray.init(num_cpus=2)`` timed apart."""
    import random
    import tempfile

    import ray
    from ray import tune
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.search.basic_variant import BasicVariantGenerator

    space = rmsjax.sample(population, seed=seed, learning_rate=rmsjax.loguniform(*LR),
                          decay=rmsjax.uniform(*DECAY))  # fmt: skip
    points = [{**config, "member": m} for m, config in enumerate(space)]

    def clip(config):  # as rmsjax.pbt does: a perturbed value stays within its axis's bounds
        config["learning_rate"] = min(max(config["learning_rate"], LR[0]), LR[1])
        config["decay"] = min(max(config["decay"], DECAY[0]), DECAY[1])
        return config

    scheduler = PopulationBasedTraining(
        time_attr="training_iteration", perturbation_interval=interval,
        hyperparam_mutations={"learning_rate": tune.loguniform(*LR),
                              "decay": tune.uniform(*DECAY)},
        quantile_fraction=PBT_KNOBS["fraction"], resample_probability=PBT_KNOBS["resample"],
        perturbation_factors=PBT_KNOBS["perturb"][::-1], custom_explore_fn=clip,
        # Generations, as rmsjax.pbt ranks. Ray's default, asynchronous PBT, with 2 trials
        # running at a time, would rank a trial at epoch 3 against trials already finished and
        # copy their final checkpoints: not the same search.
        synch=True,
    )  # fmt: skip
    random.seed(seed)  # Ray's PBT draws from Python's random module
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - started
    try:
        with tempfile.TemporaryDirectory() as storage:
            trainable = tune.with_parameters(
                ray_trainable, task_name=task_name, data=data, budget=budget, interval=interval,
                seed=seed,
            )  # fmt: skip
            tuner = tune.Tuner(
                trainable,
                param_space={"learning_rate": tune.loguniform(*LR),
                             "decay": tune.uniform(*DECAY), "member": -1},
                tune_config=tune.TuneConfig(
                    metric=METRIC, mode="max", scheduler=scheduler, num_samples=population,
                    search_alg=BasicVariantGenerator(points_to_evaluate=points),
                ),
                run_config=tune.RunConfig(storage_path=storage, verbose=0,
                                          stop={"training_iteration": budget}),
            )  # fmt: skip
            started = time.perf_counter()
            with contextlib.redirect_stdout(sys.stderr):  # Ray's banner: not the run's table
                grid = tuner.fit()
            wall = time.perf_counter() - started
            frames = [r.metrics_dataframe for r in grid]
            best = grid.get_best_result(metric=METRIC, mode="max", scope="last")
            accuracy = float(best.metrics[METRIC])
            errors = len(grid.errors)
    finally:
        ray.shutdown()
    return {"wall": wall, "ray_start": ray_start, "accuracy": accuracy,
            "epochs": int(sum(len(f) for f in frames if f is not None)), "errors": errors,
            "population": population, "interval": interval, "budget": budget, "width": 1,
            "synch": True, "num_cpus": 2, "rounds": 1, "ray": ray.__version__}  # fmt: skip


def load(name: str, data_dir: Path, small: bool):
    task = tasks.get(name)
    if name == "mnist":
        try:
            data = task.load(data_dir / "mnist", source="local")
        except (FileNotFoundError, ValueError) as e:
            print(f"MNIST skipped: no offline copy in {data_dir / 'mnist'} ({e})")
            return task, None
    else:
        data = task.load()
    if small:  # a smoke test: fewer examples
        data = type(data)(data.name, data.x_train[:1024], data.y_train[:1024], data.x_test[:256],
                          data.y_test[:256], data.num_classes, data.source, data.info)  # fmt: skip
    return task, data


def time_one(runner, task, data, n, budget, seed, clock) -> dict:
    jax.clear_caches()  # nothing compiled is shared between the runs compared
    key = jax.random.key(seed)
    start = time.perf_counter()
    epochs, accuracy, slots = runner(task, data, n, budget, seed, key)
    stop = time.perf_counter()
    return {"wall": stop - start, "compile": clock.seconds(start, stop), "epochs": epochs,
            "accuracy": accuracy, "width": slots}  # fmt: skip


def run_task(name, task, data, args, clock) -> dict:
    budget = 3 if args.small else BUDGETS[name]
    timed = ways(name, args.small, args.configs, args.hyperoptax)
    runs = [[] for _ in timed]
    ray = None
    for r in range(args.rounds):
        order = range(len(timed)) if r % 2 == 0 else reversed(range(len(timed)))
        for i in order:
            runner = timed[i][2]
            runs[i].append(time_one(runner, task, data, args.configs, budget, args.seed, clock))
        if r == 0 and args.ray and name in RAY_TASKS:  # once, after the ways of round 1
            key, population, interval = PBT_WAYS[name][0]
            ray = ray_pbt(name, data, population, budget, pbt_interval(interval, args.small),
                          args.seed)  # fmt: skip
            ray.update(round=0, rmsjax_way=key)
            # Ray runs once (minutes); one run's best of 8 on 359 test digits moves by a few
            # images with the keys. So rmsjax's PBT of the same population also runs with keys
            # 0-9, to show where one run's figures fall.
            ray["rmsjax_over_keys"] = [
                pbt_sweep(task, data, args.configs, budget, args.seed, jax.random.key(k),
                          population=population,
                          interval=pbt_interval(interval, args.small))[1]
                for k in range(3 if args.small else 10)
            ]  # fmt: skip
    keys = [key for key, _, _ in timed]
    seconds = {key: [x["wall"] for x in results] for key, results in zip(keys, runs, strict=True)}
    spread = _harness.Spread.of(_harness.round_ratios(seconds, *tables.AA_SEARCH))
    print(f"\n{name}: {data.source}; {args.configs} configurations, budget {budget} epochs, "
          f"medians of {args.rounds} round(s), every way once per round (forward in even rounds, "
          "backward in odd ones)")  # fmt: skip
    pbt = "; ".join(f"{key} every {pbt_interval(interval, args.small)} epoch(s)"
                    for key, _, interval in PBT_WAYS[name])  # fmt: skip
    print(f"PBT: population x {budget} epochs, ranked on {METRIC} as the other ways select, "
          f"fraction {PBT_KNOBS['fraction']}, perturb {PBT_KNOBS['perturb']}, resample "
          f"{PBT_KNOBS['resample']}; {pbt}")  # fmt: skip
    print(f"A/A interval ({'/'.join(tables.AA_SEARCH)}, per-round wall ratios): "
          f"{spread.describe()}")  # fmt: skip
    print(f"{'way':34} {'wall s':>8} {'compile s':>10} {'epochs':>7} {'best acc':>9} "
          f"{'width':>5}")  # fmt: skip
    for (_, way, _), results in zip(timed, runs, strict=True):
        row = {k: statistics.median(x[k] for x in results) for k in results[0]}
        widths = sorted({x["width"] for x in results})
        print(f"{way:34} {row['wall']:8.2f} {row['compile']:10.2f} {row['epochs']:7.0f} "
              f"{row['accuracy']:9.4f} {'/'.join(map(str, widths)):>5}")  # fmt: skip
    if ray is not None:
        print(f"{'(R) Ray Tune PBT, population ' + str(ray['population']):34} "
              f"{ray['wall']:8.2f} {'-':>10} {ray['epochs']:7d} {ray['accuracy']:9.4f} "
              f"{ray['width']:5d}")  # fmt: skip
        print(f"(R): Ray Tune {ray['ray']} PopulationBasedTraining (synch=True), round 1 only, "
              f"beside {ray['rmsjax_way']} of that round; ray.init(num_cpus=2) took "
              f"{ray['ray_start']:.2f} s more, not counted; compilation is in its worker "
              f"processes, inside the wall; {ray['errors']} trial error(s)")  # fmt: skip
        over = sorted(ray["rmsjax_over_keys"])
        print(f"{ray['rmsjax_way']} with keys 0-{len(over) - 1}: best accuracy "
              f"{', '.join(f'{a:.4f}' for a in over)} (median {statistics.median(over):.4f}); "
              f"Ray Tune's one run: {ray['accuracy']:.4f}")  # fmt: skip
    part = {"source": data.source, "configs": args.configs, "budget": budget,
            "rounds": args.rounds, "ways": {key: way for key, way, _ in timed},
            "pbt": {key: {"population": p, "interval": pbt_interval(i, args.small), **PBT_KNOBS}
                    for key, p, i in PBT_WAYS[name]},
            "seconds": seconds,
            "runs": {key: results for key, results in zip(keys, runs, strict=True)}}  # fmt: skip
    if ray is not None:
        part["ray"] = ray
    if args.hyperoptax and name in HYPEROPTAX_TASKS:
        part["hyperoptax"] = {
            "hyperoptax": _package_version("hyperoptax"),  # it has no __version__
            "optimizer": "BayesianSearch (defaults: Matern nu=0.5, PI xi=0.01, n_warmup=1)",
            "usage": "jax.jit(optimize_scan)",
            "evaluations": {key: hyperoptax_evaluations(args.configs, d, p)
                            for key, d, p in HYPEROPTAX_WAYS},
            "n_parallel": {key: p for key, _, p in HYPEROPTAX_WAYS},
        }  # fmt: skip
        print(f"(8)-(10): hyperoptax {part['hyperoptax']['hyperoptax']} BayesianSearch, "
              "evaluations x n_parallel (candidates per GP step, evaluated together under "
              "jax.vmap), the whole search one jitted optimize_scan; every evaluation the full "
              "budget (it stops none early); best_result of the held-out accuracy")  # fmt: skip
    return part


def _package_version(name: str) -> str:
    from importlib import metadata

    return metadata.version(name)


def targets(gpu: bool) -> list[dict]:
    """The targets that apply on this platform, as the JSON keeps them."""
    return [{"task": name, "num": SHORT[a], "den": SHORT[b], "at_most": ratio, "slack": slack}
            for name, a, b, ratio, slack in TARGETS + (GPU_TARGETS if gpu else [])]  # fmt: skip


def pbt_targets() -> list[dict]:
    return [{"task": name, "num": a, "den": b, "epochs_at_most": ratio, "slack": slack}
            for name, a, b, ratio, slack in PBT_TARGETS]  # fmt: skip


def hyperoptax_comparisons() -> list[dict]:
    return [{"task": name, "num": a, "den": b} for name, a, b in HYPEROPTAX_COMPARISONS]


def ray_targets() -> list[dict]:
    return [{"task": name, "num": a, "den": "(R)", "at_most": ratio, "slack": slack}
            for name, a, ratio, slack in RAY_TARGETS]  # fmt: skip


def print_targets(table: dict[str, dict], goals: dict[str, list[dict]]) -> None:
    print("\nTargets (wall ratio with compilation, median of per-round ratios, judged beyond the "
          "A/A interval; accuracy against the reference's):")  # fmt: skip
    for target in goals["targets"]:
        if target["task"] not in table:
            continue
        got, _, verdict = tables.search_target(table[target["task"]], target)
        print(f"  {target['task']}: {target['num']}/{target['den']} = {got:.2f} "
              f"(target <= {target['at_most']}): {verdict}")  # fmt: skip
    for target in goals["pbt_targets"]:
        if target["task"] in table:
            print(f"  {target['task']}: {tables.pbt_target(table[target['task']], target)[1]}")
    for target in goals["ray_targets"]:
        if "ray" in table.get(target["task"], {}):
            print(f"  {target['task']}: {tables.ray_target(table[target['task']], target)[1]}")
    shown = [c for c in goals.get("hyperoptax_comparisons", [])
             if "hyperoptax" in table.get(c["task"], {})]  # fmt: skip
    if shown:
        print("Against hyperoptax (no target; wall ratio, median of per-round ratios, beside the "
              "A/A interval; best accuracy against hyperoptax's):")  # fmt: skip
    for comparison in shown:
        print(
            f"  {comparison['task']}: "
            f"{tables.hyperoptax_comparison(table[comparison['task']], comparison)[1]}"
        )


# Quality of the pick (--quality): its rank in the full sweep, epochs, test accuracy.

SELECT = "val_accuracy"
# Ties on the validation accuracy (a few hundred examples: they tie often) are settled by the
# validation loss, as the command does (Task.tiebreak): in PBT's ranking, halving's promotion and
# every pick. The smallest id among ties would be an arbitrary choice.
TIEBREAK = ("val_loss", "min")
QUALITY_WAYS = ("full sweep", "halving", "ASHA", "Hyperband", "Optuna TPE + SHP", "PBT 16")
PBT_QUALITY = 16  # the population of --quality's PBT way: the first 16 of the 81 configurations


def selection_split(data):
    """``(fit, n_val)``: the data with the training split less its last fifth, which becomes its
    held-out split (the validation split); the test split is left out."""
    n_val = len(data.x_train) // 5
    fit = type(data)(data.name, data.x_train[:-n_val], data.y_train[:-n_val],
                     data.x_train[-n_val:], data.y_train[-n_val:], data.num_classes, data.source,
                     data.info)  # fmt: skip
    return fit, n_val


def selection_trainer(task, data, budget: int):
    """A `Trainer` fitting the training data less its last fifth, which it reports as
    ``val_accuracy`` and ``val_loss``, with ``test_accuracy`` on the test split."""
    fit, n_val = selection_split(data)
    base = task.make_trainer(fit, budget=budget)
    _, apply_fn = task.model_fns(data)
    _, metrics_fn = task.loss_and_metrics(apply_fn)
    test = tuple(jnp.asarray(a) for a in data.test)

    def advance(carry, hparams, key):
        carry, metrics = base.advance(carry, hparams, key)
        held_out = training.evaluate(carry.state.params, test, metrics_fn,
                                     batch_size=tasks.EVAL_BATCH_SIZE)  # fmt: skip
        return carry, {"loss": metrics["loss"], SELECT: metrics["test_accuracy"],
                       "val_loss": metrics["test_loss"],
                       "test_accuracy": held_out["accuracy"]}  # fmt: skip

    return rmsjax.Trainer(base.init, advance), n_val


def pick(result, budget: int) -> int:
    """The configuration with the best validation accuracy among those trained ``budget``,
    ties settled by the lowest validation loss (then the smallest id)."""
    values = result.metrics[SELECT].mean(axis=1)
    values = np.where(np.asarray(result.budget) >= budget, values, -np.inf)
    losses = result.metrics[TIEBREAK[0]].astype(np.float64).mean(axis=1)
    losses = np.where(np.isnan(losses), np.inf, losses)
    return int(np.lexsort((np.arange(len(values)), losses, -values))[0])


def quality_seed(task, data, n: int, budget: int, seed: int, hyperoptax: bool = False) -> list:
    """The ways on one seed: one row each (with ``hyperoptax``, on `HYPEROPTAX_TASKS`, those of
    `HYPEROPTAX_WAYS` after the others)."""
    trainer, _ = selection_trainer(task, data, budget)
    space = {"learning_rate": rmsjax.loguniform(*LR), "decay": rmsjax.uniform(*DECAY)}
    configs = rmsjax.sample(n, seed=seed, **space)
    key = jax.random.key(seed)
    full = rmsjax.sweep(trainer, configs, key=key, budget=budget, progress=False)
    val = full.metrics[SELECT].mean(axis=1)
    halved, asha, hyperband = (
        rmsjax.sweep(trainer, configs, key=key, budget=budget, progress=False,
                     halving=rule(SELECT, mode="max", eta=3, tiebreak=TIEBREAK))
        for rule in (rmsjax.halving, rmsjax.asha, rmsjax.hyperband)
    )  # fmt: skip
    study = new_study(seed)
    searched = rmsjax.optuna_search(trainer, study, n_trials=n, space=space, key=key,
                                    budget=budget, metric=SELECT, progress=False)  # fmt: skip
    # PBT: the first 16 configurations of the same sample as its initial population, ranked on
    # the validation accuracy every budget / 9 epochs (3 on digits, 1 on MNIST). Its pick is the
    # member with the best final validation accuracy, placed among the full sweep's like
    # Optuna's: by that accuracy (its hyperparameters changed while training: it is a schedule,
    # not one of the 81 configurations).
    population = rmsjax.sample(min(PBT_QUALITY, n), seed=seed, **space)
    rule = rmsjax.pbt(SELECT, mode="max", interval=max(1, budget // 9), tiebreak=TIEBREAK)
    pbt = rmsjax.sweep(trainer, population, key=key, budget=budget, progress=False, pbt=rule)
    rows = []
    results = (full, halved, asha, hyperband, searched, pbt)
    for way, result in zip(QUALITY_WAYS, results, strict=True):
        chosen = pick(result, budget)
        value = float(result.metrics[SELECT][chosen].mean())
        rows.append({
            "seed": seed, "way": way, "configuration": chosen,
            "hparams": {k: float(v) for k, v in result.space[chosen].items()},
            "rank": 1 + int((val > value).sum()), "val_accuracy": value,
            "test_accuracy": float(result.metrics["test_accuracy"][chosen].mean()),
            "epochs": int(np.sum(result.budget)), "epochs_ratio": float(np.sum(result.budget))
            / (n * budget), "finished": int(np.sum(np.asarray(result.budget) >= budget)),
            "width": max(result.chunk_sizes.values()),
        })  # fmt: skip
    if hyperoptax and task.name in HYPEROPTAX_TASKS:
        for _, divisor, parallel in HYPEROPTAX_WAYS:
            rows.append(hyperoptax_quality(task, data, n, budget, seed, divisor, parallel, val))
    return rows


def hyperoptax_quality(task, data, n, budget, seed, divisor, parallel, full_val) -> dict:
    """hyperoptax's BayesianSearch of ``n / divisor`` evaluations (``parallel`` per GP step)
    ranked on the validation accuracy, and its pick: the first evaluation with the best one (as
    ``best_params`` picks), placed among the full sweep's ``full_val`` as Optuna's is. The loop
    is ``optimize_scan``'s, written out with the library's ``get_next_params`` and
    ``update_state`` so that each evaluation's test accuracy is kept too (the objective returns
    the validation accuracy)."""
    import hyperoptax

    fit, _ = selection_split(data)
    train, accuracy = hyperoptax_trainer(task, fit, budget)
    val, test = (tuple(jnp.asarray(a) for a in split) for split in (fit.test, data.test))
    evaluations = hyperoptax_evaluations(n, divisor, parallel)
    state, search = hyperoptax.BayesianSearch.init(hyperoptax_space(), n_max=evaluations,
                                                    n_parallel=parallel, maximize=True)  # fmt: skip

    def both(key, config):
        params = train(key, config)
        return accuracy(params, val), accuracy(params, test)

    def run(state, key):
        def step(carry, _):
            state, key = carry
            key, key_get, key_funcs, key_update = jax.random.split(key, 4)
            config = search.get_next_params(state, key_get)
            vals, tests = jax.vmap(both)(jax.random.split(key_funcs, parallel), config)
            state = search.update_state(state, key_update, vals, config)
            return (state, key), (config, vals, tests)

        steps = evaluations // parallel
        return jax.lax.scan(step, (state, key), None, length=steps)[1]

    configs, vals, tests = hyperoptax_jit(run)(state, jax.random.key(seed))
    vals, tests = np.asarray(vals).ravel(), np.asarray(tests).ravel()
    chosen = int(np.argmax(vals))
    return {
        "seed": seed, "way": f"hyperoptax {evaluations} x {parallel}", "configuration": chosen,
        "hparams": {k: float(np.asarray(v).ravel()[chosen]) for k, v in configs.items()},
        "rank": 1 + int((full_val > vals[chosen]).sum()), "val_accuracy": float(vals[chosen]),
        "test_accuracy": float(tests[chosen]), "epochs": evaluations * budget,
        "epochs_ratio": evaluations / n, "finished": evaluations, "width": parallel,
    }  # fmt: skip


def quality_task(name, task, data, args) -> dict:
    budget = 3 if args.small else BUDGETS[name]
    rows = []
    for seed in range(args.seeds):
        rows.extend(quality_seed(task, data, args.configs, budget, seed, args.hyperoptax))
    n_val = len(data.x_train) // 5
    print(f"\n{name}: {data.source}; {len(data.x_train) - n_val} training, {n_val} validation, "
          f"{len(data.x_test)} test examples; {args.configs} configurations, budget {budget} "
          f"epochs, seeds 0-{args.seeds - 1}")  # fmt: skip
    print(f"{'way':18} {'ranks of the pick (of ' + str(args.configs) + ')':28} {'median':>6} "
          f"{'worst':>5} {'epochs x':>9} {'test acc':>9} {'width':>5}")  # fmt: skip
    summary = {}
    for way in dict.fromkeys(r["way"] for r in rows):  # QUALITY_WAYS, then hyperoptax's
        mine = [r for r in rows if r["way"] == way]
        ranks = [r["rank"] for r in mine]
        summary[way] = {
            "ranks": ranks, "median_rank": statistics.median(ranks), "worst_rank": max(ranks),
            "epochs_ratios": [r["epochs_ratio"] for r in mine],
            "test_accuracy_mean": statistics.mean(r["test_accuracy"] for r in mine),
            "widths": sorted({r["width"] for r in mine}),
        }  # fmt: skip
        ratios = summary[way]["epochs_ratios"]
        print(f"{way:18} {', '.join(map(str, ranks)):28} {summary[way]['median_rank']:6g} "
              f"{max(ranks):5d} {min(ratios):4.2f}-{max(ratios):4.2f} "
              f"{summary[way]['test_accuracy_mean']:9.4f} "
              f"{'/'.join(map(str, summary[way]['widths'])):>5}")  # fmt: skip
    return {"budget": budget, "configurations": args.configs, "validation_examples": n_val,
            "rows": rows, "summary": summary}  # fmt: skip


def quality_targets(results: dict) -> dict:
    print("\nTargets (halving: median rank <= 3, worst <= 10, epochs <= 0.4x the full sweep's, "
          "median rank <= Optuna's; PBT 16: mean test accuracy of its pick >= the full sweep's "
          "pick's - 0.003 at <= 0.25x its epochs):")  # fmt: skip
    out = {}
    for name, result in results.items():
        summary = result["summary"]
        mine, optuna = summary["halving"], summary["Optuna TPE + SHP"]
        checks = {
            "median rank <= 3": mine["median_rank"] <= 3,
            "worst rank <= 10": mine["worst_rank"] <= 10,
            "epochs <= 0.4x": max(mine["epochs_ratios"]) <= 0.4,
            "median rank <= Optuna's": mine["median_rank"] <= optuna["median_rank"],
        }
        if "PBT 16" in summary:
            pbt, full = summary["PBT 16"], summary["full sweep"]
            gap = pbt["test_accuracy_mean"] - full["test_accuracy_mean"]
            checks[f"PBT 16 test accuracy {gap:+.4f} vs the full sweep's pick (>= -0.003)"] = (
                gap >= -0.003
            )
            checks["PBT 16 epochs <= 0.25x"] = max(pbt["epochs_ratios"]) <= 0.25
        out[name] = checks
        print(f"  {name}: " + "; ".join(f"{k}: {'met' if v else 'NOT met'}"
                                        for k, v in checks.items()))  # fmt: skip
    return out


def versions() -> dict:
    import optuna

    try:
        here = Path(__file__).resolve().parent
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "optuna": optuna.__version__,
        "rmsjax_commit": commit,
    }


def quality(args) -> None:
    results = {}
    start = time.perf_counter()
    for name in args.tasks.split(","):
        task, data = load(name.strip(), args.data_dir, args.small)
        if data is not None:
            results[name.strip()] = quality_task(name.strip(), task, data, args)
    targets = quality_targets(results)
    seconds = time.perf_counter() - start
    print(f"({seconds:.0f} s on a shared machine; not a timing measurement)")
    if args.json is not None:
        record = {"command": " ".join(["python", *sys.argv]), "machine": _machine.describe(),
                  "versions": versions(), "seconds": seconds, "tasks": results,
                  "targets": targets}  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1, allow_nan=False) + "\n")
        print(f"written to {args.json}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="digits,mnist", help="comma-separated: digits, mnist")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--configs", type=int, default=81)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="9 configurations, budget 3, 1 round")
    parser.add_argument(
        "--quality",
        action="store_true",
        help="rank of the pick in the full sweep, epochs, test accuracy (no timing)",
    )
    parser.add_argument("--seeds", type=int, default=5, help="with --quality: seeds 0..N-1")
    parser.add_argument(
        "--ray",
        action="store_true",
        help="also Ray Tune's PopulationBasedTraining on digits, once, in round 1 (minutes)",
    )
    parser.add_argument(
        "--hyperoptax",
        action="store_true",
        help="also hyperoptax's BayesianSearch on digits, in every round (and with --quality)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write the results there as JSON (timing: bench/results/search.json unless given; "
        "--quality: only where given)",
    )
    args = parser.parse_args()
    for flag in ("configs", "rounds", "seeds"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be >= 1, got {getattr(args, flag)}")
    if args.small:
        args.configs, args.rounds = 9, 1
        args.seeds = min(args.seeds, 2)
    try:
        import optuna
    except ImportError:
        sys.exit("bench/search.py needs Optuna: pip install -e '.[optuna]' (the clone)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if args.ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            sys.exit("bench/search.py --ray needs Ray Tune: pip install -e '.[bench]' (the clone)")
    if args.hyperoptax:
        try:
            import hyperoptax  # noqa: F401
        except ImportError:
            sys.exit("bench/search.py --hyperoptax needs hyperoptax: pip install -e '.[bench]' "
                     "(the clone)")  # fmt: skip
    jax.config.update("jax_enable_compilation_cache", False)
    if args.quality:
        print("machine:", _machine.describe())
        quality(args)
        return
    record = _record.Record("search", sys.argv[1:])
    with record.printing():
        print("machine:", _machine.describe())
        clock = CompileClock()
        table = {}
        for name in args.tasks.split(","):
            task, data = load(name.strip(), args.data_dir, args.small)
            if data is not None:
                table[name.strip()] = run_task(name.strip(), task, data, args, clock)
        goals = {"targets": targets(jax.devices()[0].platform == "gpu"),
                 "pbt_targets": pbt_targets(), "ray_targets": ray_targets(),
                 "hyperoptax_comparisons": hyperoptax_comparisons()}  # fmt: skip
        print_targets(table, goals)
    record.data = {"tasks": table, **goals}
    record.write(args.json or _record.default_path("search"))


if __name__ == "__main__":
    main()

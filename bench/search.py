"""Search that spends compute where it pays: four ways to tune RMSprop, side by side in one run.

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
      (``rmsjax.staged_cpu_compiler_options``: ``start`` those of the init program, ``epoch``
      those of the advance program), through ``jax.jit(..., compiler_options=...)``, so that
      no compile-time saving is denied to it;
  (5) the same as (4) with XLA's default options, as Optuna users usually write it.

Every way trains the same model with the same epoch code (`rmsjax.training.train_epoch`), and
reports wall time *with* compilation, the compile time within it (the wall seconds covered by
JAX's monitoring events for tracing, lowering and XLA compilation; rmsjax compiles its two
programs side by side, and overlapping compilations count once), epochs trained and
the best held-out accuracy (mean over seeds of a configuration trained the full budget). No
persistent compilation cache; each run builds fresh closures after ``jax.clear_caches()``, so
nothing compiled is shared between the runs compared. Rounds are interleaved in ABBA order; the
table shows medians of ``--rounds`` and the spread (max - min) / median of each way across
rounds, the A/A noise beside a ratio.

    python bench/search.py                     # both tasks, 3 rounds (several minutes)
    python bench/search.py --tasks digits      # digits only
    python bench/search.py --small             # smoke test: 9 configurations, budget 3
"""

from __future__ import annotations

import argparse
import functools
import statistics
import sys
import time
from pathlib import Path

import _machine  # bench/_machine.py (the script's folder is on sys.path)
import jax
import jax.numpy as jnp

import rmsjax
from rmsjax import tasks, training

DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
BUDGETS = {"mnist": 9, "digits": 27}
LR, DECAY = (1e-5, 1e-1), (0.5, 0.999)
METRIC = "test_accuracy"
WAYS = ("(1) rmsjax.sweep, full", "(2) rmsjax.sweep, halving", "(3) rmsjax.optuna_search",
        "(4) Optuna alone", "(5) Optuna alone, XLA defaults")  # fmt: skip
# (task, better way, reference way, wall ratio at most, accuracy at least reference minus)
TARGETS = [
    ("digits", 1, 3, 0.6, 0.006),
    ("digits", 2, 3, 0.75, 0.006),
    ("mnist", 2, 3, 1.1, 0.002),
    ("mnist", 1, 0, 0.5, 0.003),
]
GPU_TARGETS = [("mnist", 2, 3, 0.2, 0.002)]


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
    return int(result.budget.sum()), best_accuracy(result)


def halving_sweep(task, data, n, budget, seed, key):
    space = rmsjax.sample(n, seed=seed, learning_rate=rmsjax.loguniform(*LR),
                          decay=rmsjax.uniform(*DECAY))  # fmt: skip
    rule = rmsjax.halving(METRIC, mode="max", eta=3)
    result = rmsjax.sweep(task.make_trainer(data, budget=budget), space, key=key, budget=budget,
                          halving=rule, progress=False)  # fmt: skip
    return int(result.budget.sum()), best_accuracy(result)


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
    return int(result.budget.sum()), float(study.best_value)


def optuna_alone(task, data, n, budget, seed, key, xla_defaults=False):
    """Optuna as its users write it: a jitted epoch with traced hyperparameters, trials in turn;
    on a CPU with rmsjax's XLA options unless ``xla_defaults``."""
    import optuna

    cpu = jax.devices()[0].platform == "cpu" and not xla_defaults
    options = rmsjax.staged_cpu_compiler_options if cpu else {"init": None, "advance": None}

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
    return epochs, float(study.best_value)


def optuna_alone_defaults(task, data, n, budget, seed, key):
    return optuna_alone(task, data, n, budget, seed, key, xla_defaults=True)


RUNNERS = (full_sweep, halving_sweep, rmsjax_optuna, optuna_alone, optuna_alone_defaults)


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
    epochs, accuracy = runner(task, data, n, budget, seed, key)
    stop = time.perf_counter()
    return {"wall": stop - start, "compile": clock.seconds(start, stop), "epochs": epochs,
            "accuracy": accuracy}  # fmt: skip


def run_task(name, task, data, args, clock) -> list[dict]:
    budget = 3 if args.small else BUDGETS[name]
    runs = [[] for _ in RUNNERS]
    for r in range(args.rounds):
        order = range(len(RUNNERS)) if r % 2 == 0 else reversed(range(len(RUNNERS)))
        for i in order:
            runs[i].append(time_one(RUNNERS[i], task, data, args.configs, budget, args.seed, clock))
    rows = []
    print(f"\n{name}: {data.source}; {args.configs} configurations, budget {budget} epochs, "
          f"medians of {args.rounds} interleaved rounds")  # fmt: skip
    print(f"{'way':34} {'wall s':>8} {'compile s':>10} {'epochs':>7} {'best acc':>9} {'spread':>7}")
    for way, results in zip(WAYS, runs, strict=True):
        walls = [x["wall"] for x in results]
        row = {k: statistics.median(x[k] for x in results) for k in results[0]}
        row["spread"] = (max(walls) - min(walls)) / row["wall"]
        rows.append(row)
        print(f"{way:34} {row['wall']:8.2f} {row['compile']:10.2f} {row['epochs']:7.0f} "
              f"{row['accuracy']:9.4f} {row['spread']:7.2f}")  # fmt: skip
    return rows


def print_targets(table: dict[str, list[dict]]) -> None:
    gpu = jax.devices()[0].platform == "gpu"
    print("\nTargets (wall ratio with compilation; accuracy against the reference's):")
    for name, a, b, ratio, slack in TARGETS + (GPU_TARGETS if gpu else []):
        if name not in table:
            continue
        rows = table[name]
        got = rows[a]["wall"] / rows[b]["wall"]
        gap = rows[a]["accuracy"] - rows[b]["accuracy"]
        met = got <= ratio and gap >= -slack
        print(f"  {name}: {WAYS[a][:3]}/{WAYS[b][:3]} = {got:.2f} (target <= {ratio}), accuracy "
              f"{gap:+.4f} (target >= -{slack}), spread {rows[a]['spread']:.2f}/"
              f"{rows[b]['spread']:.2f}: {'met' if met else 'NOT met'}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="digits,mnist", help="comma-separated: digits, mnist")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--configs", type=int, default=81)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--small", action="store_true", help="9 configurations, budget 3, 1 round")
    args = parser.parse_args()
    if args.small:
        args.configs, args.rounds = 9, 1
    try:
        import optuna
    except ImportError:
        sys.exit("bench/search.py needs Optuna: pip install 'rmsjax[optuna]'")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    jax.config.update("jax_enable_compilation_cache", False)
    print("machine:", _machine.describe())
    clock = CompileClock()
    table = {}
    for name in args.tasks.split(","):
        task, data = load(name.strip(), args.data_dir, args.small)
        if data is not None:
            table[name.strip()] = run_task(name.strip(), task, data, args, clock)
    print_targets(table)


if __name__ == "__main__":
    main()

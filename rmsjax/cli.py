"""The ``rmsjax`` command (``rmsjax train|sweep|compare TASK [options]``).

This module only turns flags into a config of :mod:`rmsjax.experiment`, runs it and hands the
report to :mod:`rmsjax.report`. Errors in what the user typed or in their data (a bad value, a
missing folder) are one line on stderr and a non-zero exit status; set ``RMSJAX_DEBUG=1`` to see
the full traceback instead.

The output folder (``--out``) belongs to one run: its ``run.json`` records the command and its
resolved options, and the files it wrote (:func:`rmsjax.report.claim_out_dir`). The same command
again continues there (a sweep reloads the configurations recorded in ``OUT/chunks`` as they
finished; ``--fresh`` starts afresh); another run is refused, naming what differs, unless
``--overwrite``, which deletes what the earlier run wrote first.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import re
import sys
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import rmsjax
from rmsjax import experiment, report, tasks
from rmsjax.experiment import DESCRIPTIONS, HPARAMS, PRESETS, SEARCHES, parse_hparam
from rmsjax.presets import FLAGS

__all__ = ["main", "parse_values"]

PROG = "rmsjax"


UsageError = experiment.OptionError  # what the user typed cannot be read: exit status 2
parse_values = experiment.parse_values  # the values of a flag (see its doctest)


def _given(args: argparse.Namespace, *, many: bool) -> dict[str, Any]:
    """The hyperparameters given on the command line: lists of values (``many``), else one."""
    out: dict[str, Any] = {}
    for name in HPARAMS:
        raw = getattr(args, name, None)
        if raw is None or raw is False:
            continue
        values = [True] if raw is True else parse_hparam(name, raw, FLAGS[name], ranges=many)
        if not many and len(values) != 1:
            raise UsageError(
                f"{FLAGS[name]} takes one value here, got {raw!r}; lists and ranges are for "
                "`rmsjax sweep`"
            )
        if len(set(values)) != len(values):
            raise UsageError(f"{FLAGS[name]}: repeated values in {raw!r}")
        ranged = many and hasattr(values[0], "low")  # LO:HI, a range for a sampled search
        out[name] = values if many and not ranged else values[0]
    preset = PRESETS[getattr(args, "preset", "rmsjax")]
    unsupported = preset.unsupported(out)
    if unsupported and args.command != "compare":
        raise UsageError(
            f"--preset {preset.name} has no {', '.join(FLAGS[k] for k in unsupported)} (it takes "
            f"{', '.join(FLAGS[k] for k in preset.arguments)})"
        )
    return out


# --------------------------------------------------------------------------------------------
# The commands: flags -> config -> experiment -> report.


def _out_dir(args: argparse.Namespace) -> Path:
    """``--out``, else ``runs/TASK-COMMAND`` (a grid sweep: ``runs/TASK-sweep``), and for the
    other searches ``runs/TASK-SEARCH`` with ``-halvingETA`` when halving, so that each kind of
    run has its own default folder."""
    if args.out:
        return Path(args.out)
    name = args.command
    if args.command == "sweep" and args.search != "grid":
        name = args.search
    if getattr(args, "halving", None) is not None:
        name += f"-halving{args.halving}"
    return Path("runs") / f"{args.task}-{name}"


def _compilation_cache(args: argparse.Namespace) -> str | None:
    """Turn on JAX's persistent compilation cache as the flags or the variable say; the line
    that says where (None when disabled)."""
    if args.no_compilation_cache and args.compilation_cache is not None:
        raise UsageError(
            "--compilation-cache and --no-compilation-cache contradict each other: give one "
            f"(got --compilation-cache {args.compilation_cache!r})"
        )
    if args.no_compilation_cache:
        rmsjax.disable_compilation_cache()
        return None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        folder = rmsjax.enable_compilation_cache(args.compilation_cache)
    for warning in caught:  # the folder cannot be written: one line, and the run goes on
        flag = "--compilation-cache" if args.compilation_cache else "$RMSJAX_COMPILATION_CACHE"
        print(f"{PROG}: warning: {warning.message} (move it with --compilation-cache DIR, "
              f"or --no-compilation-cache; this one came from {flag} or the default)",
              file=sys.stderr)  # fmt: skip
    if folder is None:
        return None
    return f"compilation cache: {folder} (--no-compilation-cache to compile anew)"


def _run(args, config, run) -> int:
    cache_line = _compilation_cache(args)
    plan = experiment.prepare(config)  # resolved once: the run reads this plan
    try:
        out = report.check_can_save(_out_dir(args))
    except OSError as err:  # the folder cannot be made or written: say which flag set it
        flag = "--out" if args.out else "the default --out"
        raise OSError(f"{flag} {str(_out_dir(args))!r}: {err}") from err
    identity = report.run_identity(args.command, plan.config)
    report.claim_out_dir(
        out, identity, overwrite=args.overwrite, fresh=getattr(args, "fresh", False)
    )
    try:
        data = experiment.load_data(plan)
    except RuntimeError as err:  # tensorflow-datasets could not load: the message says why
        raise FileNotFoundError(f"{err} (with this command: --data-dir DIR)") from err
    _check_batch_size(plan, data)
    for i, line in enumerate(report.plan(plan, data)):
        print(f"{PROG} {args.command} {line}" if i == 0 else line)
    if cache_line:
        print(cache_line)
    result = run(plan, data, progress=not args.no_progress)
    report.print_report(result, top=getattr(args, "top", 10))
    print(f"saved to {out}/: {', '.join(report.save_report(result, out))}")
    return 0


def _check_batch_size(plan, data) -> None:
    """--batch-size against the training examples this run trains on, before the plan."""
    batch_size, sweep = plan.config.batch_size, plan.command == "sweep"
    if batch_size is None:  # resolved: None for a task without batches (a 2-D objective)
        return
    trained = plan.task.sweep_data(data) if sweep else data
    if batch_size > trained.num_train:
        raise UsageError(
            f"--batch-size {batch_size} exceeds the {trained.num_train:,} training examples "
            f"this {'sweep' if sweep else 'run'} trains on"
        )


def _config(cls, args: argparse.Namespace, **given: Any):
    """``cls`` (a config of rmsjax.experiment) from the options named as its fields."""
    fields = {f.name for f in dataclasses.fields(cls)} - set(given)
    args.data_dir = args.data_dir or os.environ.get("RMSJAX_DATA_DIR")
    return cls(**{k: v for k, v in vars(args).items() if k in fields}, **given)


def cmd_train(args: argparse.Namespace) -> int:
    config = _config(experiment.TrainConfig, args, hparams=_given(args, many=False))
    return _run(args, config, experiment.run_train)


def cmd_sweep(args: argparse.Namespace) -> int:
    metrics = tasks.get(args.task).scalar_metrics
    args.metric = experiment.METRIC_ALIASES.get(args.metric, args.metric)
    if args.metric is not None and args.metric not in metrics:
        raise UsageError(f"--metric {args.metric!r} is not a metric of task {args.task!r}; "
                         f"choose from {', '.join(metrics)}")  # fmt: skip
    space, resume = _given(args, many=True), _out_dir(args) / "chunks"  # always recorded
    config = _config(experiment.SweepConfig, args, space=space, resume_dir=resume)
    return _run(args, config, experiment.run_sweep)


def cmd_compare(args: argparse.Namespace) -> int:
    config = _config(experiment.CompareConfig, args, hparams=_given(args, many=False))
    return _run(args, config, experiment.run_compare)


# --------------------------------------------------------------------------------------------
# The parser.


class _Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (usage is one `--help` away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _number(low: int | None = None, *, cast=int, extra: tuple = ()):
    """An argparse type: a finite number (an integer >= ``low``), or one of ``extra``."""

    def parse(text: str):
        if text in extra:
            return None if text == "none" else text
        try:
            value = cast(text)
            if math.isfinite(value) and (low is None or value >= low):
                return value
        except ValueError:
            pass
        what = "a number" if cast is float else f"an integer >= {low}"
        what = "a positive integer" if low == 1 else what
        raise argparse.ArgumentTypeError(
            f"expected {what}{''.join(f', {e!r}' for e in extra)}, got {text!r}"
        )

    return parse


def _task_help() -> str:
    return "tasks:\n" + "\n".join(f"  {n:<11} {tasks.get(n).description}" for n in tasks.names())


def _preset_help() -> str:
    """What --preset picks, from the presets' own table (names, and what --decay becomes)."""
    first, *others = PRESETS
    renamed = [f"{p.name}'s {own}" for p in PRESETS.values()
               if (own := p.arguments.get("decay", "decay")) != "decay"]  # fmt: skip
    return (f"which RMSprop: {first} (default), {', '.join(others[:-1])} or {others[-1]}; --decay "
            f"is then {', '.join(renamed)}, and flags a preset lacks are an error")  # fmt: skip


_PRESET_HELP = _preset_help()


def _add_common(parser: argparse.ArgumentParser, *, many: bool, preset: bool) -> None:
    parser.add_argument("task", metavar="TASK", choices=tasks.names(), help="the task (see below)")
    values = " (each: a value, a list a,b,c, a log range LO:HI:N, or for a sampled --search a "
    group = parser.add_argument_group("hyperparameters of rmsjax.rmsprop" + (
        values + "range LO:HI, log-uniform when LO > 0)" if many else ""))  # fmt: skip
    if preset:  # the flags below map to the preset's own arguments, in its conventions
        group.add_argument("--preset", choices=list(PRESETS), default="rmsjax", help=_PRESET_HELP)
    for name, kind in HPARAMS.items():
        flag, help_ = FLAGS[name], DESCRIPTIONS[name]
        if kind == "bool":  # --centered alone means true; a sweep takes false,true
            help_ += "; give false,true to try both" if many else ""
            group.add_argument(flag, dest=name, nargs="?", const=True, metavar="BOOL", help=help_)
        else:
            metavar = "DTYPE" if kind == "dtype" else "LIST" if many else "X"
            group.add_argument(flag, dest=name, metavar=metavar, help=help_)
    run = parser.add_argument_group("training and output")
    for flag, help_, kwargs in _RUN_OPTIONS:
        run.add_argument(flag, help=help_, **kwargs)


_RUN_OPTIONS = [  # (flag, help, argparse keywords) of every command
    ("--epochs", "epochs (steps for the 2-D tasks); default: the task's",
     {"type": _number(1), "metavar": "N"}),
    ("--batch-size", "batch size; default: the task's", {"type": _number(1), "metavar": "N"}),
    ("--seed", "seed of initialisation and shuffling (default 0)",
     {"type": _number(0), "metavar": "N", "default": 0}),
    ("--data-dir", "folder with the data of mnist (IDX files) or reviews (pos/ and neg/); "
     "default $RMSJAX_DATA_DIR, else downloaded by tensorflow-datasets", {"metavar": "DIR"}),
    ("--out", "output folder (default runs/TASK-COMMAND, for a sweep runs/TASK-sweep "
     "for a grid, else runs/TASK-SEARCH, e.g. runs/digits-optuna, with -halvingETA when "
     "halving); one that holds another run's "
     "results is refused, saying what differs", {"metavar": "DIR"}),
    ("--overwrite", "replace another run's results in --out (everything that run wrote there "
     "is deleted first)", {"action": "store_true"}),
    ("--no-progress", "no progress bars", {"action": "store_true"}),
    ("--compilation-cache", "folder of JAX's persistent compilation cache, where compiled "
     "programs are saved for the next run (default $RMSJAX_COMPILATION_CACHE, else the per-user "
     "cache folder, e.g. ~/.cache/rmsjax/jax)", {"metavar": "DIR"}),
    ("--no-compilation-cache", "compile everything anew, saving nothing (as "
     "RMSJAX_COMPILATION_CACHE=0)", {"action": "store_true"}),
]  # fmt: skip
_COMMANDS = {  # summary, description, examples
    "train": (
        "train one configuration, report metrics, save plots",
        "Train one configuration of RMSprop on TASK; print and save its metrics (metrics.json) "
        "and plots (loss.png; trajectory.png for the 2-D tasks).",
        """
  rmsjax train digits --lr 3e-3 --decay 0.99 --momentum 0.9 --out runs/mine
  rmsjax train xor --preset torch --lr 0.01 --momentum 0.9
  rmsjax train reviews --data-dir ../shared/data""",
    ),
    "sweep": (
        "train a grid in parallel with rmsjax.sweep, rank it, save plots",
        "Train every configuration of a grid (or a sample of a space) at once, in one compiled, "
        "vmapped program; print a ranked table and the best configuration; save results.csv, "
        "metrics.json and plots (loss_curves.png; heatmap.png for a grid, <metric>.png for a "
        "sample; trajectories.png for the 2-D tasks). Options not given take the task's "
        "default grid (learning rate x decay).",
        """
  rmsjax sweep digits --lr 1e-4:1e-2:8 --decay 0.9,0.99 --seeds 3 --top 5
  rmsjax sweep xor --momentum none,0.5,0.9 --centered false,true
  rmsjax sweep digits --search sobol --trials 16 --lr 1e-4:1e-1 --decay 0.8:0.999
  rmsjax sweep digits --search random --trials 27 --halving 3 --epochs 27
  rmsjax sweep digits --search pbt --population 8 --interval 3 --epochs 27
  rmsjax sweep digits --search hyperband --trials 49 --epochs 27
  rmsjax sweep mnist --data-dir ../shared/data --epochs 3 --chunk-size 4

Finished configurations are recorded in OUT/chunks as they finish (a pbt population at every
ranking): after Ctrl-C, run the same command again to continue (--fresh starts afresh).""",
    ),
    "compare": (
        "SGD, RMSprop (each preset) and Adam side by side on the same task",
        f"Train TASK with SGD, each RMSprop preset ({', '.join(PRESETS)}) and Adam from the "
        "same initialisation and data order; print a table and save metrics.json and plots. The "
        "RMSprop options apply to every preset that has them.",
        """
  rmsjax compare rosenbrock
  rmsjax compare digits --epochs 10 --sgd-lr 0.05""",
    ),
}


def _sweep_run(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise argparse.ArgumentTypeError(
            f"expected CONFIG,SEED,WIDTH (three integers >= 0, e.g. 3,0,2), got {text!r}"
        )
    config, seed, width = (int(p) for p in parts)
    if width < 1:
        raise argparse.ArgumentTypeError(f"WIDTH in CONFIG,SEED,WIDTH must be >= 1, got {text!r}")
    return config, seed, width


_OPTIONS = {  # command -> its own group: (flag, help, argparse keywords)
    "train": [
        ("--sweep-run", "train as configuration CONFIG, seed SEED of a sweep run with --seed "
         "whose compiled batch held WIDTH runs: same key and same program, so the metrics equal "
         "that sweep's run bit for bit (a sweep prints this line for its best row)",
         {"type": _sweep_run, "metavar": "CONFIG,SEED,WIDTH"}),
    ],
    "sweep": [
        ("--seeds", "seeds per configuration (default 1); ranking uses their mean",
         {"type": _number(1), "metavar": "N", "default": 1}),
        ("--search", "how configurations are picked: grid (every one, default); random or "
         "sobol (--trials drawn from the ranges); optuna (--trials asked of Optuna's TPE "
         "sampler, pruned by its median pruner); pbt (population-based training: --population "
         "drawn at random, trained together; every --interval epochs the bottom quarter copies "
         "the weights of the top quarter and perturbs their hyperparameters); asha or "
         "hyperband (--trials drawn at random, stopped early by asynchronous successive "
         "halving or by Hyperband's brackets of halving, with --halving's ETA, 3 unless given)",
         {"choices": SEARCHES, "default": "grid"}),
        ("--trials", "configurations a random, sobol, optuna, asha or hyperband search draws",
         {"type": _number(1), "metavar": "N"}),
        ("--population", "members of a pbt search (at least 4)",
         {"type": _number(1), "metavar": "N"}),
        ("--interval", "epochs between two rankings of a pbt search (fewer than --epochs)",
         {"type": _number(1), "metavar": "K"}),
        ("--halving", "successive halving (classifiers): at each rung keep training only the "
         "best 1/ETA of the configurations", {"type": _number(2), "metavar": "ETA"}),
        ("--chunk-size", "configurations per compiled chunk: an integer, auto (default) or none",
         {"type": _number(1, extra=("auto", "none")), "metavar": "N", "default": "auto"}),
        ("--metric", "metric to rank by (default val_accuracy for digits, mnist and reviews: "
         "chosen on a validation split held out of the training examples, then reported on "
         "the test split; test_accuracy for xor; loss for the 2-D tasks; loss is the last "
         "epoch's training loss, final_loss also reads as loss)", {"metavar": "NAME"}),
        ("--mode", "best is min or max (default: max for accuracies, else min)",
         {"choices": ("min", "max")}),
        ("--optuna-storage", "also write the result into a study of this Optuna storage "
         "(a URL, e.g. sqlite:///runs/optuna.db), one trial per configuration, to explore it "
         "with optuna-dashboard URL", {"metavar": "URL"}),
        ("--study-name", "the study of --optuna-storage to write to, created by its first "
         "trial, continued by a rerun (default: 'rmsjax TASK SEARCH RUN_ID', the same for a "
         "rerun of this command into the same OUT); trials already there are not written "
         "again", {"metavar": "NAME"}),
        ("--top", "rows of the ranked table (default 10)",
         {"type": _number(1), "metavar": "N", "default": 10}),
        ("--fresh", "start afresh: delete the configurations an earlier run of this same "
         "command finished (by default a rerun continues from OUT/chunks, where finished "
         "configurations are always recorded)", {"action": "store_true"}),
        ("--resume", "continue from OUT/chunks (the default; kept for older scripts)",
         {"action": "store_true"}),
    ],
    "compare": [
        ("--sgd-lr", "SGD's learning rate",
         {"type": _number(cast=float), "metavar": "X", "dest": "sgd_learning_rate"}),
        ("--adam-lr", "Adam's learning rate",
         {"type": _number(cast=float), "metavar": "X", "dest": "adam_learning_rate"}),
    ],
}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rmsjax`` command."""

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG, formatter_class=fmt,
        description="Train, sweep and compare RMSprop (rmsjax) on six small tasks: two 2-D "
        "functions and four classifiers.",
        epilog=f"""{_task_help()}

examples:
  rmsjax sweep digits                       the main job: offline, ranked table and plots
  rmsjax train rosenbrock --lr 0.01         one run, with its trajectory on a contour
  rmsjax compare rosenbrock                 SGD, the four RMSprop presets and Adam

Every command writes metrics.json and PNG plots to --out DIR (default runs/TASK-COMMAND/;
sweeps other than a grid: runs/TASK-SEARCH/, e.g. runs/digits-pbt/, runs/digits-random-halving3/).
Set RMSJAX_DEBUG=1 to see full tracebacks instead of one-line errors.""",
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"rmsjax {rmsjax.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    rates = ", ".join(f"{n} {tasks.get(n).sgd_learning_rate:g}" for n in tasks.names())
    sgd = f"SGD's default learning rate depends on the task ({rates}); Adam's is the task's "
    sgd += "RMSprop learning rate (or --lr).\n\n"
    commands = {}
    for name, func in (("train", cmd_train), ("sweep", cmd_sweep), ("compare", cmd_compare)):
        summary, about, examples = _COMMANDS[name]
        epilog = f"{_task_help()}\n\n{sgd if name == 'compare' else ''}examples:{examples}"
        commands[name] = sub.add_parser(
            name, formatter_class=fmt, help=summary, epilog=epilog,
            description=textwrap.fill(about, width=88),
        )  # fmt: skip
        _add_common(commands[name], many=name == "sweep", preset=name != "compare")
        commands[name].set_defaults(func=func)

    for name, options in _OPTIONS.items():
        title = {"train": "a sweep's run again", "compare": "baselines"}.get(name, name)
        group = commands[name].add_argument_group(title)
        for flag, help_, kwargs in options:
            group.add_argument(flag, help=help_, **kwargs)
    return parser


def _join_negative_values(argv: Sequence[str]) -> list[str]:
    """``--lr -1`` -> ``--lr=-1``, so argparse reads a negative value, not an unknown option
    (and the library then says why the value is wrong)."""
    flags = {FLAGS[n] for n, k in HPARAMS.items() if k == "float"} | {"--sgd-lr", "--adam-lr"}
    out: list[str] = []
    for token in argv:
        if out and out[-1] in flags and re.match(r"-[0-9.]", token):
            out[-1] += f"={token}"
        else:
            out.append(token)
    return out


def _in_flags(parser: argparse.ArgumentParser, message: str) -> str:
    """A config's message about a missing option in the command's words: `trials` -> --trials,
    search 'pbt' -> --search pbt (the config names its fields, the user typed flags).

    >>> _in_flags(build_parser(), "search 'optuna' needs `trials` >= 1, got None")
    '--search optuna needs --trials N >= 1, got None (not given)'
    """
    flags = {}
    for sub in parser._subparsers._group_actions[0].choices.values():  # every command's flags
        for action in sub._actions:
            if action.option_strings and action.dest not in flags:
                flags[action.dest] = action.option_strings[0]

    def flag(match: re.Match) -> str:
        name = match[1]
        if name not in flags:
            return match[0]
        metavar = {"trials": " N", "population": " N", "interval": " K"}.get(name, "")
        return flags[name] + metavar

    message = re.sub(r"`(\w+)`", flag, message)
    message = re.sub(r"\bsearch '(\w+)'", r"--search \1", message)
    return message + " (not given)" if message.endswith("got None") else message


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``rmsjax`` command with ``argv`` (default ``sys.argv[1:]``); return its exit status.

    Exit status: 0 on success, 1 for a bad value or missing data, 2 for a usage error,
    130 when interrupted. Run as the command (``argv`` None), an interrupted run ends the process
    at once after its message (`os._exit`): jaxlib compiles on a thread of its own, which Ctrl-C
    does not stop, and an interpreter torn down while it still compiles dies of a segmentation
    fault (jax 0.10 on a CPU), so the normal exit would crash after the finished work is saved.
    """
    parser = build_parser()
    command = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(_join_negative_values(argv))
    debug = os.environ.get("RMSJAX_DEBUG", "") not in ("", "0")
    try:
        return args.func(args)
    except (UsageError, ValueError, TypeError, OSError, ImportError, RuntimeError) as err:
        if debug:
            raise
        usage = isinstance(err, UsageError)
        message = " ".join(str(err).split()) or type(err).__name__
        if message.endswith("got None"):  # a flag that was needed was not given: name it
            message = _in_flags(parser, message)
        argument = getattr(err, "argument", None)  # rmsjax.HyperparameterError names it
        message += f" (option {FLAGS[argument]})" if argument in FLAGS else ""
        print(f"{PROG}{f' {args.command}' if usage else ''}: error: {message}", file=sys.stderr)
        return 2 if usage else 1
    except KeyboardInterrupt:
        more = ""
        if args.command == "sweep" and not rmsjax.store.holds_results(_out_dir(args) / "chunks"):
            more = "; no configuration had finished, nothing was kept"
        elif args.command == "sweep":
            kept = "the configurations finished so far are"
            if args.search == "pbt":
                kept = "the population as it was at its last ranking is"
            more = (f"; {kept} kept in {_out_dir(args)}/chunks: run the same command again to "
                    "continue (add --fresh to start afresh)")  # fmt: skip
        print(f"{PROG}: interrupted{more}", file=sys.stderr)
        if command:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The ``rmsjax`` command (``rmsjax train|sweep|compare TASK [options]``).

This module only turns flags into a config of :mod:`rmsjax.experiment`, runs it and hands the
report to :mod:`rmsjax.report`; the flags themselves, their help and examples, are the data of
:mod:`rmsjax.cli_flags`. Errors in what the user typed or in their data (a bad value, a
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
from rmsjax.cli_flags import COMMANDS, OPTIONS, PRESET_HELP, RUN_OPTIONS, task_help
from rmsjax.experiment import DESCRIPTIONS, HPARAMS, PRESETS, parse_hparam
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


def _add_common(parser: argparse.ArgumentParser, *, many: bool, preset: bool) -> None:
    parser.add_argument("task", metavar="TASK", choices=tasks.names(), help="the task (see below)")
    values = " (each: a value, a list a,b,c, a log range LO:HI:N, or for a sampled --search a "
    group = parser.add_argument_group("hyperparameters of rmsjax.rmsprop" + (
        values + "range LO:HI, log-uniform when LO > 0)" if many else ""))  # fmt: skip
    if preset:  # the flags below map to the preset's own arguments, in its conventions
        group.add_argument("--preset", choices=list(PRESETS), default="rmsjax", help=PRESET_HELP)
    for name, kind in HPARAMS.items():
        flag, help_ = FLAGS[name], DESCRIPTIONS[name]
        if kind == "bool":  # --centered alone means true; a sweep takes false,true
            help_ += "; give false,true to try both" if many else ""
            group.add_argument(flag, dest=name, nargs="?", const=True, metavar="BOOL", help=help_)
        else:
            metavar = "DTYPE" if kind == "dtype" else "LIST" if many else "X"
            group.add_argument(flag, dest=name, metavar=metavar, help=help_)
    run = parser.add_argument_group("training and output")
    for flag, help_, kwargs in RUN_OPTIONS:
        run.add_argument(flag, help=help_, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``rmsjax`` command."""

    fmt = argparse.RawDescriptionHelpFormatter
    parser = _Parser(
        prog=PROG, formatter_class=fmt,
        description="Train, sweep and compare RMSprop (rmsjax) on six small tasks: two 2-D "
        "functions and four classifiers.",
        epilog=f"""{task_help()}

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
        summary, about, examples = COMMANDS[name]
        epilog = f"{task_help()}\n\n{sgd if name == 'compare' else ''}examples:{examples}"
        commands[name] = sub.add_parser(
            name, formatter_class=fmt, help=summary, epilog=epilog,
            description=textwrap.fill(about, width=88),
        )  # fmt: skip
        _add_common(commands[name], many=name == "sweep", preset=name != "compare")
        commands[name].set_defaults(func=func)

    for name, options in OPTIONS.items():
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

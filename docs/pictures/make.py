"""Draws the pictures of docs/pictures.rst from real runs on digits (seconds on a CPU).

Run from the repository root: ``python docs/pictures/make.py`` (needs matplotlib and optuna).
"""

import collections
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

from rmsjax import experiment  # noqa: E402

HERE = Path(__file__).parent
DPI = 72
OPTUNA_PLOTS = {
    "optuna_intermediate.png": optuna_plots.plot_intermediate_values,
    "optuna_importances.png": optuna_plots.plot_param_importances,
    "optuna_history.png": optuna_plots.plot_optimization_history,
}


def save(fig, name: str) -> None:
    fig.set_size_inches(6.0, 3.8)
    fig.tight_layout()
    fig.savefig(HERE / name, dpi=DPI)
    plt.close(fig)


def pbt(space) -> None:
    """The classic PBT picture of a population of 16 (its own layout: saved as drawn)."""
    config = experiment.SweepConfig("digits", space=space, search="pbt", population=16,
                                    interval=3, epochs=27, metric="val_loss")  # fmt: skip
    result = experiment.run_sweep(config).sweep
    print(result)
    fig = result.plot_schedules(unit="epoch")
    fig.set_size_inches(7.0, 6.5)
    fig.savefig(HERE / "pbt_schedules.png", dpi=DPI)


def cli_pbt() -> None:
    """The CLI guide's PBT example as the command runs it (its ranges, its metric, the task's
    tie-breaker): ``rmsjax sweep digits --search pbt --population 8 --interval 3 --epochs 27``."""
    config = experiment.SweepConfig("digits", search="pbt", population=8, interval=3, epochs=27)
    report = experiment.run_sweep(config)
    print(report.sweep)
    rates = {report.sweep.schedule(m)["learning_rate"].iloc[-1] for m in range(8)}
    final = report.sweep.metrics[report.sweep.rule.metric].mean(axis=1)
    top = collections.Counter(final.round(4).tolist()).most_common(1)[0]
    print(f"{len(rates)} distinct final learning rates of 8; {top[1]} of 8 at {top[0]}")
    fig = report.sweep.plot_schedules(unit="epoch")
    fig.set_size_inches(7.0, 6.5)
    fig.savefig(HERE / "pbt_cli.png", dpi=DPI)


def main() -> None:
    from rmsjax import loguniform, uniform

    cli_pbt()

    space = {"learning_rate": loguniform(1e-4, 1e-1), "decay": uniform(0.8, 0.999)}
    pbt(space)
    config = experiment.SweepConfig("digits", space=space, search="random", trials=27,
                                    halving=3, epochs=9)  # fmt: skip
    result = experiment.run_sweep(config).sweep
    print(result)
    save(result.plot("val_accuracy_curve", unit="epoch"), "curves.png")
    save(result.plot_history(unit="epoch"), "history.png")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    result.to_optuna(study)
    with warnings.catch_warnings():  # Optuna's matplotlib plots are experimental
        warnings.simplefilter("ignore")
        for name, plot in OPTUNA_PLOTS.items():
            ax = plot(study)
            if ax.get_legend() is not None and len(ax.get_legend().texts) > 8:
                ax.get_legend().remove()  # one entry per trial: too many to read
            save(ax.figure, name)


if __name__ == "__main__":
    main()

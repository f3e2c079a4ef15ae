"""Draws the pictures of docs/pictures.rst from real runs on digits (seconds on a CPU).

Run from the repository root: ``python docs/pictures/make.py`` (needs matplotlib, optuna and,
for the dashboard's screenshot, optuna-dashboard and a Chromium: ``pip install '.[docs]'`` and
e.g. ``apt-get install chromium``).
"""

import collections
import contextlib
import json
import re
import shutil
import socketserver
import subprocess
import tempfile
import threading
import time
import urllib.request
import warnings
from pathlib import Path
from wsgiref import simple_server

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import optuna  # noqa: E402
from optuna.visualization import matplotlib as optuna_plots  # noqa: E402

from rmsjax import cli, experiment  # noqa: E402

HERE = Path(__file__).parent
DPI = 72
# The pictures page's optuna-dashboard command, its study named so that the picture does not
# depend on the run (the default name ends with the run's id).
DASHBOARD_SWEEP = ["sweep", "digits", "--search", "random", "--trials", "27", "--halving", "3",
                   "--epochs", "9"]  # fmt: skip
DASHBOARD_STUDY = "rmsjax digits random halving 3"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
WINDOW = (1280, 680)  # the study page's top: its History card
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


def missing_tools() -> str | None:
    """A one-line hint naming what the dashboard's screenshot lacks, or None."""
    try:
        import optuna_dashboard  # noqa: F401
    except ImportError:
        return (
            "docs/pictures/make.py needs optuna-dashboard for optuna_dashboard.png: "
            "pip install optuna-dashboard==0.21.0 (in the docs extra: pip install '.[docs]')"
        )
    if browser() is None:
        return ("docs/pictures/make.py needs a Chromium for optuna_dashboard.png (none of "
                f"{', '.join(BROWSERS)} is on PATH): apt-get install chromium")  # fmt: skip
    return None


def browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args) -> None:  # no line per request
        pass


class _Server(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


@contextlib.contextmanager
def dashboard_server(storage: str, seconds: float = 30.0):
    """optuna-dashboard's app (``optuna_dashboard.wsgi``, what the ``optuna-dashboard`` command
    serves) on ``storage``, served on a free localhost port in a thread: yields its base URL
    once it answers, and stops it on exit."""
    import optuna_dashboard

    app = optuna_dashboard.wsgi(storage)
    server = simple_server.make_server(
        "127.0.0.1", 0, app, server_class=_Server, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        deadline = time.monotonic() + seconds
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/meta", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def chromium(url: str, *args: str, budget_ms: int = 20_000) -> str:
    """Headless Chromium on ``url`` with ``args`` (``--dump-dom``, ``--screenshot=PATH``), its
    page given ``budget_ms`` of virtual time to load and draw: returns its stdout."""
    with tempfile.TemporaryDirectory() as profile:
        run = subprocess.run(
            [browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
             f"--virtual-time-budget={budget_ms}", *args, url],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    if run.returncode != 0:
        raise RuntimeError(f"chromium failed on {url}: {run.stderr[-2000:]}")
    return run.stdout


def history_points(dom: str) -> int:
    """The points drawn by the History plot of a study page's DOM (one per trial)."""
    start = dom.find('id="plot-history"')
    if start < 0:
        return 0
    end = dom.find("js-plotly-plot", dom.find(">", start))  # the next plot
    return len(re.findall(r'class="point"', dom[start : end if end >= 0 else None]))


def screenshot_study(url: str, study_id: int, trials: int, path: Path) -> None:
    """Saves ``path``, a screenshot of study ``study_id``'s page, once its DOM shows the History
    plot with all ``trials`` (not the dashboard's loading spinner)."""
    page = f"{url}/dashboard/studies/{study_id}"
    drawn = history_points(chromium(page, "--dump-dom"))
    if drawn != trials:
        raise RuntimeError(f"{page} drew {drawn} of the study's {trials} trials in its History "
                           "plot: give chromium a longer --virtual-time-budget")  # fmt: skip
    chromium(page, f"--screenshot={path}")


def dashboard() -> None:
    """The pictures page's optuna-dashboard lines on a fresh storage: ``rmsjax sweep digits
    --search random --trials 27 --halving 3 --epochs 9 --optuna-storage sqlite:///... --study-name
    'rmsjax digits random halving 3'``, then the dashboard's study page, in headless Chromium."""
    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'optuna.db'}"
        out = str(Path(tmp) / "run")
        code = cli.main([*DASHBOARD_SWEEP, "--optuna-storage", storage, "--study-name",
                         DASHBOARD_STUDY, "--out", out, "--no-progress"])  # fmt: skip
        if code != 0:
            raise RuntimeError(f"rmsjax {' '.join(DASHBOARD_SWEEP)} failed ({code})")
        with dashboard_server(storage) as url:
            with urllib.request.urlopen(f"{url}/api/studies") as response:
                (study,) = json.load(response)["study_summaries"]
            assert study["study_name"] == DASHBOARD_STUDY, study
            trials = len(optuna.load_study(study_name=DASHBOARD_STUDY, storage=storage).trials)
            shot = Path(tmp) / "shot.png"
            screenshot_study(url, study["study_id"], trials, shot)
        path = HERE / "optuna_dashboard.png"
        from PIL import Image  # matplotlib's dependency

        Image.open(shot).convert("RGB").save(path, optimize=True)
    print(f"{path}: {WINDOW[0]}x{WINDOW[1]}, {trials} trials, {path.stat().st_size // 1024} KB")


def main() -> None:
    from rmsjax import loguniform, uniform

    hint = missing_tools()
    if hint is not None:
        raise SystemExit(hint)
    dashboard()
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

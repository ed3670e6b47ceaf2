"""Test-wide set-up: private Keras caches, progress files and artifacts folders; quiet TensorFlow.

It sits at the root so that it also applies to `pytest solutions/` (nbval)
run on its own, not only to tests under tests/.

Nothing a test or a notebook run does may depend on, or change, what lies in
the user's folders: the Keras cache (~/.keras), the progress file
(.progress.json) and the repository's `artifacts/` (where notebook 04 saves
the model notebook 05 loads). So there are two private sets of them:

- the pytest process's own (set here, at import, before TensorFlow or
  `helpers.reference` is imported anywhere);
- the nbval session's: one Keras cache, progress file and artifacts folder
  shared by the masters run under nbval, so that 05 continues from what 04
  saved in the same session. They are put into the environment only while an
  nbval item is set up, which is when nbval starts the notebook's kernel (the
  kernel inherits them).

Tests under tests/ that run a notebook get a third set of their own, per test
(the `notebook_environment` fixture in tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import config, runtime


def _weights_source() -> Path | None:
    """Where to seed the tests' Keras cache from: $ALPACA_WEIGHTS_SOURCE, else the user's cache."""
    candidates = [os.environ.get(config.ENV_WEIGHTS_SOURCE), config.keras_models_dir()]
    for candidate in candidates:
        if candidate and (Path(candidate) / config.WEIGHT_FILES["no_top"]).is_file():
            return Path(candidate)
    return None


# Shown when there are no weights to copy: every test that loads MobileNetV2 would
# otherwise fail with Keras' bare "URL fetch failure", dozens of times.
NO_WEIGHTS_HINT = (
    f"No MobileNetV2 weights to copy into the tests' private Keras cache: neither "
    f"${config.ENV_WEIGHTS_SOURCE} nor the Keras cache holds "
    f"{config.WEIGHT_FILES['no_top']}. Tests that load the model will fail. "
    f"Run `make data` once while online, or set {config.ENV_WEIGHTS_SOURCE} to a folder "
    f"with the weight files."
)

# Shown under the results when the JupyterLab browser test was skipped (no Chromium):
# a skip in a long list of dots is easy to miss, and then nothing checked the explorers.
BROWSER_NOT_RUN = (
    "THE BROWSER TEST DID NOT RUN: nothing checked the explorers in JupyterLab. "
    "It needs Debian's Chromium at /usr/bin/chromium: as root, `make browser`; as another "
    "user, `sudo apt-get install chromium` (see docs/instructor.md, 'The tests')."
)


def seed_keras_home(keras_home: Path, source: Path | None) -> Path:
    """Make `keras_home/models` and copy the weight files and the class index from `source` into it."""
    models = keras_home / "models"
    models.mkdir(parents=True, exist_ok=True)
    if source is not None:
        for name in config.KERAS_CACHE_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, models / name)
    return keras_home


runtime.quiet_tensorflow_logs()
os.environ["MPLBACKEND"] = "Agg"
# Kernels start in solutions/ or notebooks/, subprocesses wherever: all of them import this
# checkout's helpers, even where the environment's editable install points at another clone.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(config.PROJECT_ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)
# Explorers draw static pictures under nbval, even when pytest starts from a Jupyter kernel.
os.environ.setdefault(config.ENV_WIDGETS_MODE, "static")
WEIGHTS_SOURCE = _weights_source()
SESSION_DIR = Path(tempfile.mkdtemp(prefix="alpaca-test-"))


def private_folders(root: Path, artifacts: Path | None = None) -> dict[str, str]:
    """The variables that point a process or kernel at a Keras cache (seeded with the weights)
    and a progress file of its own under `root`, and at `artifacts` (default: under `root`)."""
    return {
        "KERAS_HOME": str(seed_keras_home(root / "keras", WEIGHTS_SOURCE)),
        config.ENV_PROGRESS_FILE: str(root / "progress.json"),
        config.ENV_ARTIFACTS_DIR: str(artifacts or root / "artifacts"),
    }


# The pytest process's own cache, progress file and artifacts folder.
os.environ.update(private_folders(SESSION_DIR))
# config read the variable when it was imported above; `helpers.reference` takes its
# default folder from config when it is imported, which must come after this line.
assert "helpers.reference" not in sys.modules, (
    "helpers.reference was imported before the tests' set-up"
)
config.ARTIFACTS_DIR = Path(os.environ[config.ENV_ARTIFACTS_DIR])

# The nbval session's. The artifacts folder lies inside the (git-ignored) test-artifacts/
# because notebook 04 prints where it saved the model relative to the repository; the
# sanitizer (tests/sanitize.cfg) hides which folder that was.
NBVAL_ENVIRONMENT: dict[str, str] = private_folders(
    SESSION_DIR / "nbval", config.PROJECT_ROOT / "test-artifacts" / f"nbval-{SESSION_DIR.name}"
)


# The masters whose run the `masters_run` fixture hands over: 04 saves phase 1, 05 fine-tunes it.
MASTERS_RUN_NOTEBOOKS = ("04_layer_freezing.ipynb", "05_fine_tuning.ipynb")
MASTER_CELL_TIMEOUT_S = 600
# The module of the tests that read that run, and the scheduling unit it shares with the masters.
MASTERS_RUN_READERS = "tests/test_course_run.py"
MASTERS_GROUP = "masters"
SOLUTIONS_PREFIX = config.SOLUTIONS_DIR.name + "/"


def is_notebook_item(item: pytest.Item) -> bool:
    """An nbval item: one cell of a notebook collected from solutions/."""
    return str(item.fspath).endswith(".ipynb")


@pytest.fixture(scope="session")
def nbval_environment() -> dict[str, str]:
    """The environment nbval's kernels start with (a copy: tests may read it, not change it)."""
    return dict(NBVAL_ENVIRONMENT)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """Around an nbval item's set-up (where its kernel starts), put the nbval session's folders
    into the environment; put the process's own back afterwards."""
    if not is_notebook_item(item):
        return (yield)
    saved = {name: os.environ.get(name) for name in NBVAL_ENVIRONMENT}
    os.environ.update(NBVAL_ENVIRONMENT)
    try:
        return (yield)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def pytest_report_header() -> list[str]:
    """Say where the tests' weights come from, or what to do when there are none."""
    if WEIGHTS_SOURCE is None:
        return [NO_WEIGHTS_HINT]
    return [f"MobileNetV2 weights for the tests: copied from {WEIGHTS_SOURCE}"]


def browser_tests_skipped(terminalreporter: pytest.TerminalReporter) -> list[str]:
    """The node ids of skipped tests marked `browser`."""
    return [
        report.nodeid
        for report in terminalreporter.stats.get("skipped", [])
        if "browser" in getattr(report, "keywords", {})
    ]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int
) -> Iterator[None]:
    """Repeat the missing-weights hint under the failures; after the short summary, the last
    thing before the counts, say loudly when the browser test was skipped."""
    if WEIGHTS_SOURCE is None and exitstatus != 0:
        terminalreporter.write_line(NO_WEIGHTS_HINT, red=True)
    result = yield
    skipped = browser_tests_skipped(terminalreporter)
    if skipped:
        terminalreporter.write_sep("!", "browser test not run", red=True, bold=True)
        terminalreporter.write_line(BROWSER_NOT_RUN, red=True, bold=True)
        for nodeid in skipped:
            terminalreporter.write_line(f"  skipped: {nodeid}", red=True)
    return result


def reads_masters_run(item: pytest.Item) -> bool:
    """A test that reads what nbval's run of the masters left (it must run after them)."""
    return item.nodeid.startswith(MASTERS_RUN_READERS + "::")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Notebook runs are slow: mark every nbval item so `-m "not slow"` leaves them out.
    The masters run first (the longest chain of the suite) and the tests that read their run
    last, after the notebooks they read."""
    masters = [item for item in items if is_notebook_item(item)]
    readers = [item for item in items if reads_masters_run(item)]
    others = [item for item in items if not is_notebook_item(item) and not reads_masters_run(item)]
    for item in masters:
        item.add_marker(pytest.mark.slow)
    items[:] = masters + others + readers


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: no error where xdist is absent
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """Under `--dist loadfile` (`make test`'s two workers), schedule by file as xdist does, but
    with the masters and the tests that read their run as one unit: one worker runs them in
    order, so 05 loads what 04 saved in that worker's nbval folder."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class CourseScheduling(LoadFileScheduling):
        """xdist's loadfile, with one unit for the masters and their readers."""

        def _split_scope(self, nodeid: str) -> str:
            """The unit a test belongs to: "masters", else its file."""
            path = nodeid.split("::", 1)[0]
            is_master = path.startswith(SOLUTIONS_PREFIX) and path.endswith(".ipynb")
            return MASTERS_GROUP if is_master or path == MASTERS_RUN_READERS else path

    return CourseScheduling(config, log)


@pytest.fixture(scope="session")
def masters_run(request: pytest.FixtureRequest) -> Path:
    """The artifacts folder of this session's run of masters 04 and 05 (04's phase-1 model and
    history, 05's fine-tuned model), for the tests that check what the course's run produced.

    `make test` runs them once, under nbval; the tests in MASTERS_RUN_READERS go after them
    (in the same worker) and read that run's folder. When this session did not collect both
    masters (`pytest tests/test_course_run.py`), this fixture runs them itself, once.
    """
    needed = [config.SOLUTIONS_DIR / name for name in MASTERS_RUN_NOTEBOOKS]
    collected = {Path(str(item.fspath)) for item in request.session.items if is_notebook_item(item)}
    if set(needed) <= collected:
        return Path(NBVAL_ENVIRONMENT[config.ENV_ARTIFACTS_DIR])
    return run_masters(needed, SESSION_DIR / "masters-run")


def run_masters(masters: list[Path], root: Path) -> Path:
    """Execute `masters` in order, as nbval would, with folders of their own; returns the
    artifacts folder they saved into."""
    import nbformat
    from nbclient import NotebookClient

    environment = private_folders(root)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        for master in masters:
            notebook = nbformat.read(master, as_version=4)
            resources = {"metadata": {"path": str(master.parent)}}
            NotebookClient(notebook, timeout=MASTER_CELL_TIMEOUT_S, resources=resources).execute()
    return Path(environment[config.ENV_ARTIFACTS_DIR])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the private caches and the nbval session's artifacts folder."""
    shutil.rmtree(SESSION_DIR, ignore_errors=True)
    shutil.rmtree(NBVAL_ENVIRONMENT[config.ENV_ARTIFACTS_DIR], ignore_errors=True)

"""Test-wide set-up: a private Keras cache and progress file, quiet TensorFlow.

It sits at the root so that it also applies to `pytest solutions/` (nbval)
run on its own, not only to tests under tests/.

This runs before TensorFlow is imported anywhere, and the environment it sets
is inherited by the notebook kernels that nbval and nbclient start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
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


def _seed_private_keras_home(source: Path | None) -> Path:
    """Copy the weight files into a fresh KERAS_HOME so tests never touch the user's cache."""
    keras_home = Path(tempfile.mkdtemp(prefix="alpaca-test-keras-"))
    models = keras_home / "models"
    models.mkdir()
    if source is not None:
        for name in config.KERAS_CACHE_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, models / name)
    os.environ["KERAS_HOME"] = str(keras_home)
    return keras_home


runtime.quiet_tensorflow_logs()
os.environ["MPLBACKEND"] = "Agg"
# Explorers draw static pictures under nbval, even when pytest starts from a Jupyter kernel.
os.environ.setdefault(config.ENV_WIDGETS_MODE, "static")
WEIGHTS_SOURCE = _weights_source()
PRIVATE_KERAS_HOME = _seed_private_keras_home(WEIGHTS_SOURCE)
os.environ[config.ENV_PROGRESS_FILE] = str(PRIVATE_KERAS_HOME / "progress.json")


def pytest_report_header() -> list[str]:
    """Say where the tests' weights come from, or what to do when there are none."""
    if WEIGHTS_SOURCE is None:
        return [NO_WEIGHTS_HINT]
    return [f"MobileNetV2 weights for the tests: copied from {WEIGHTS_SOURCE}"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """Repeat the missing-weights hint under the failures, where people look."""
    if WEIGHTS_SOURCE is None and exitstatus != 0:
        terminalreporter.write_line(NO_WEIGHTS_HINT, red=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Notebook runs are slow: mark every nbval item so `-m "not slow"` leaves them out."""
    for item in items:
        if str(item.fspath).endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the private Keras cache."""
    shutil.rmtree(PRIVATE_KERAS_HOME, ignore_errors=True)

"""No test result depends on the user's folders: ~/.keras, .progress.json, artifacts/.

Notebook 05 loads the model notebook 04 saved (`reference.load_phase1()`), from
the artifacts folder. If the tests' kernels read the repository's `artifacts/`,
a stale model (or one a learner trained) would change what 05 prints and how
it grades. The root conftest.py gives the pytest process and the nbval session
folders of their own; tests that run a notebook get theirs (`notebook_environment`).
The slow test here puts garbage into the repository's `artifacts/` and shows that
neither an nbval run nor a test's kernel nor the pytest process reads it, and,
as a control, that reading it would have failed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from fixtures.isolation import NotebookEnvironment
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from helpers import config

REPOSITORY_ARTIFACTS = config.PROJECT_ROOT / "artifacts"
USER_KERAS_HOME = Path.home() / ".keras"
USER_PROGRESS_FILE = config.PROJECT_ROOT / ".progress.json"
MODEL_FILE = config.PHASE1_MODEL_FILE
HISTORY_FILE = config.PHASE1_HISTORY_FILE
FINE_TUNING_MASTER = config.SOLUTIONS_DIR / "05_fine_tuning.ipynb"
# What notebook 05 does with the saved model, run alone in a kernel.
LOAD_CELL = "from helpers import reference\nprint('loaded:', reference.load_phase1())"


def _folders(environment: dict[str, str]) -> dict[str, Path]:
    return {
        "keras": Path(environment["KERAS_HOME"]).resolve(),
        "progress": Path(environment[config.ENV_PROGRESS_FILE]).resolve(),
        "artifacts": Path(environment[config.ENV_ARTIFACTS_DIR]).resolve(),
    }


def _assert_not_the_users(folders: dict[str, Path]) -> None:
    assert folders["keras"] != USER_KERAS_HOME.resolve()
    assert folders["progress"] != USER_PROGRESS_FILE.resolve()
    assert folders["artifacts"] != REPOSITORY_ARTIFACTS.resolve()


def test_the_pytest_process_uses_none_of_the_users_folders() -> None:
    folders = _folders(dict(os.environ))
    _assert_not_the_users(folders)
    assert config.ARTIFACTS_DIR.resolve() == folders["artifacts"]
    assert config.keras_models_dir().resolve() == folders["keras"] / "models"


def test_nbval_kernels_get_folders_of_their_own(nbval_environment: dict[str, str]) -> None:
    nbval, process = _folders(nbval_environment), _folders(dict(os.environ))
    _assert_not_the_users(nbval)
    for name in nbval:
        assert nbval[name] != process[name], name
    # Notebook 04 prints where it saved the model relative to the repository: the
    # folder must lie inside it, in the git-ignored test-artifacts/.
    assert nbval["artifacts"].parent == (config.PROJECT_ROOT / "test-artifacts").resolve()
    assert (
        Path(nbval_environment["KERAS_HOME"]) / "models" / config.WEIGHT_FILES["no_top"]
    ).is_file()


def test_a_notebook_test_gets_fresh_folders(notebook_environment: NotebookEnvironment) -> None:
    folders = _folders(dict(os.environ))
    assert folders == _folders(notebook_environment.variables())
    _assert_not_the_users(folders)
    assert not any(notebook_environment.artifacts_dir.iterdir())
    assert not notebook_environment.progress_file.exists()
    assert (notebook_environment.keras_home / "models" / config.WEIGHT_FILES["no_top"]).is_file()


def test_notebook_05_loads_the_saved_model_from_the_configured_folder() -> None:
    """The kernels below run what 05 runs: a change there must be followed here."""
    sources = [cell.source for cell in nbformat.read(FINE_TUNING_MASTER, as_version=4).cells]
    assert any("reference.load_phase1()" in source for source in sources)


@pytest.fixture
def garbage_in_repository_artifacts(tmp_path: Path) -> Iterator[Path]:
    """A model file that no Keras can load, with a plausible history, in the repository's
    artifacts/; whatever was there is moved aside and put back afterwards."""
    moved_aside = None
    if REPOSITORY_ARTIFACTS.exists():
        moved_aside = (
            config.PROJECT_ROOT / "test-artifacts" / f"artifacts-moved-aside-{os.getpid()}"
        )
        moved_aside.parent.mkdir(exist_ok=True)
        REPOSITORY_ARTIFACTS.rename(moved_aside)
    try:
        REPOSITORY_ARTIFACTS.mkdir()
        (REPOSITORY_ARTIFACTS / MODEL_FILE).write_bytes(b"stale garbage, not a Keras archive")
        (REPOSITORY_ARTIFACTS / HISTORY_FILE).write_text(
            json.dumps({"epoch": [0], "history": {"accuracy": [0.99], "val_accuracy": [0.99]}})
        )
        yield REPOSITORY_ARTIFACTS
    finally:
        shutil.rmtree(REPOSITORY_ARTIFACTS, ignore_errors=True)
        if moved_aside is not None:
            moved_aside.rename(REPOSITORY_ARTIFACTS)


def _run_load_cell(cwd: Path) -> str:
    """Run LOAD_CELL in a fresh kernel (it inherits os.environ); what it printed."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(LOAD_CELL)])
    NotebookClient(
        notebook, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(cwd)}}
    ).execute()
    return "".join(output.get("text", "") for output in notebook.cells[0].outputs)


@pytest.mark.slow
def test_a_garbage_model_in_the_repositorys_artifacts_changes_no_result(
    garbage_in_repository_artifacts: Path,
    notebook_environment: NotebookEnvironment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from helpers import reference

    # Control: reading the garbage fails, so any test that read it would fail or change.
    with pytest.raises(ValueError):
        reference.load_phase1(garbage_in_repository_artifacts)

    # The pytest process.
    assert reference.load_phase1() is None

    # A kernel started by a test that runs a notebook (here: with notebook_environment).
    assert _run_load_cell(FINE_TUNING_MASTER.parent).strip() == "loaded: None"

    # An nbval run configured by the root conftest.py alone, as `pytest solutions/` runs:
    # a master-like notebook whose stored output says no model was found.
    folder = config.PROJECT_ROOT / "test-artifacts" / f"isolation-{tmp_path.name}"
    folder.mkdir(parents=True)
    try:
        notebook = nbformat.v4.new_notebook(
            cells=[nbformat.v4.new_code_cell(LOAD_CELL, execution_count=1)]
        )
        notebook.cells[0].outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="loaded: None\n")
        ]
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        nbformat.write(notebook, folder / "load_check.ipynb")
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-p",
                "no:cacheprovider",
                "-q",
                str(folder / "load_check.ipynb"),
            ],
            cwd=config.PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    assert "1 passed" in completed.stdout

    # Control: a kernel pointed at the repository's artifacts/ does read the garbage.
    monkeypatch.setenv(config.ENV_ARTIFACTS_DIR, str(garbage_in_repository_artifacts))
    with pytest.raises(CellExecutionError):
        _run_load_cell(FINE_TUNING_MASTER.parent)

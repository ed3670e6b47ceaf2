"""Notebooks 01 and 04 through the Colab path, on a simulated Colab machine, end to end.

A copy of this checkout, built with a public address (so its learner copies carry
the Colab cell), is the course "on GitHub"; the Colab cell clones it from a
file:// address (ALPACA_COURSE_GIT_URL). Each notebook runs on its own fresh
machine (tests/fixtures/colab_sim.py: a Python that sees only "Colab's"
packages, one of them in another version than the pin, a stand-in
`google.colab`, Kaggle and the weights on a local server), as a learner who
solved the exercises would run the learner copy: its solution regions filled
from the master. Nothing of this checkout's dataset, Keras cache, progress file
or artifacts is visible to the kernels.

- 01: the first kernel had already imported the package that pip replaces, so
  the set-up stops and asks for a restart; after the restart (a new kernel)
  the notebook runs to its end, the exercise passes, and running the two
  set-up cells again fetches and installs nothing.
- 04: nothing imported beforehand: one run installs, fetches, trains, passes,
  and saves the model and the progress in the session's disk (/content).

Slow: about 2-3 minutes (mostly notebook 04's training).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import nbformat
import pytest
from fixtures.colab_sim import (
    COLAB_VERSION_OF,
    ColabMachine,
    Servers,
    dataset_zip,
    kernel_spec,
    make_machine,
    serve,
    wheel_from_installed,
)
from fixtures.course_copy import commit_all, copy_course, git, run_in
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from helpers import config

pytestmark = pytest.mark.slow

ADDRESS = "https://github.com/example/alpaca-course"
CELL_TIMEOUT_S = 600
STANDIN_PROVENANCE = "stand-in weights (rebuilt, not the official files)"


@pytest.fixture(scope="module")
def course_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This checkout as the course on GitHub: built with a public address, one commit on main."""
    folder = copy_course(tmp_path_factory.mktemp("github") / "course")
    built = run_in(folder, "-m", "instructor.colab", "--repository", ADDRESS, "--ref", "main")
    assert built.returncode == 0, built.stderr
    commit_all(folder, "Colab links")
    return folder


@pytest.fixture(scope="module")
def servers() -> Servers:
    """Kaggle with the course's images, and a mirror of the weights (the tests' stand-ins)."""
    source = Path(os.environ.get(config.ENV_DATASET_SOURCE) or config.DATASET_DIR)
    models = Path(os.environ["KERAS_HOME"]) / "models"  # the session's private cache
    state = Servers(
        dataset=dataset_zip(source),
        weights={name: (models / name).read_bytes() for name in config.KERAS_CACHE_FILES},
    )
    with serve(state):
        yield state


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pinned kagglehub as a wheel: what pip installs on the simulated Colab."""
    folder = tmp_path_factory.mktemp("wheels")
    wheel_from_installed(COLAB_VERSION_OF[0], folder)
    return folder


@pytest.fixture(scope="module")
def matplotlib_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One matplotlib cache for both machines: its font list takes seconds to build."""
    return tmp_path_factory.mktemp("mplconfig")


def colab_environment(
    monkeypatch: pytest.MonkeyPatch,
    machine: ColabMachine,
    servers: Servers,
    wheels: Path,
    course_repo: Path,
    matplotlib_cache: Path,
) -> None:
    """The environment a simulated Colab kernel starts with, and nothing of the test session's."""
    for name in list(os.environ):
        if name.startswith("ALPACA_") or name.lower() in ("http_proxy", "https_proxy", "no_proxy"):
            monkeypatch.delenv(name)
    for name in ("PYTHONPATH", "KERAS_HOME", "MPLBACKEND", "KAGGLEHUB_CACHE", "JPY_SESSION_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(machine.home))  # ~/.keras and ~/.cache/kagglehub: empty
    monkeypatch.setenv("MPLCONFIGDIR", str(matplotlib_cache))
    monkeypatch.setenv("JUPYTER_PATH", str(machine.home / "jupyter"))
    monkeypatch.setenv(config.ENV_COLAB_HOME, str(machine.content))
    monkeypatch.setenv(config.ENV_COURSE_GIT_URL, f"file://{course_repo}")
    monkeypatch.setenv(config.ENV_WEIGHTS_BASE_URL, servers.weights_url)
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")
    monkeypatch.setenv("http_proxy", servers.proxy)  # http://localhost (Kaggle) -> our server
    monkeypatch.setenv("no_proxy", "127.0.0.1")  # the weights mirror is reached directly
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")


def solved_learner_copy(course_repo: Path, name: str) -> nbformat.NotebookNode:
    """The learner copy as fetched, its solution regions filled as a learner who solved them
    would (from the master), then the two set-up cells once more: a learner running them again."""
    notebook = nbformat.read(course_repo / "notebooks" / name, as_version=4)
    master = {
        cell.id: cell
        for cell in nbformat.read(course_repo / "solutions" / name, as_version=4).cells
    }
    for cell in notebook.cells:
        if cell.cell_type == "code" and config.START_MARKER in cell.source:
            cell.source = master[cell.id].source
    setup = [cell for cell in notebook.cells if cell.id == config.COLAB_SETUP_CELL_ID]
    assert len(setup) == 1, f"{name}: the build put no Colab cell into the learner copy"
    index = notebook.cells.index(setup[0])
    for offset in (0, 1):
        again = copy.deepcopy(notebook.cells[index + offset])
        again.id += "-again"
        notebook.cells.append(again)
    return notebook


def run(notebook: nbformat.NotebookNode, kernel: str, machine: ColabMachine) -> None:
    """Run the notebook in a fresh kernel whose working folder is the machine's /content."""
    NotebookClient(
        notebook,
        kernel_name=kernel,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(machine.content)}},
    ).execute()


def printed(notebook: nbformat.NotebookNode, cell_id: str) -> list[str]:
    """The lines a cell printed, as a front end shows them: text after a carriage return
    replaces the line's earlier text."""
    cell = next(cell for cell in notebook.cells if cell.id == cell_id)
    text = "".join(output.text for output in cell.outputs if output.output_type == "stream")
    shown = [[part for part in line.split("\r") if part] for line in text.split("\n")]
    return [parts[-1] for parts in shown if parts]


def error_of(notebook: nbformat.NotebookNode, cell_id: str) -> str:
    """'Name: message' of the error a cell stopped with."""
    cell = next(cell for cell in notebook.cells if cell.id == cell_id)
    errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
    assert len(errors) == 1, cell.outputs
    return errors[0]


def setup_cell_id(notebook: nbformat.NotebookNode) -> str:
    """The id of the notebook's set-up cell (the first that calls helpers.setup_notebook())."""
    return next(
        c.id
        for c in notebook.cells
        if c.id != config.COLAB_SETUP_CELL_ID and "helpers.setup_notebook(" in c.source
    )


def grader_verdicts(notebook: nbformat.NotebookNode) -> list[str]:
    """The first word of each verdict the grader cells displayed ('Passed', 'Not yet', ...)."""
    return [
        output.data["text/plain"].split()[0]
        for cell in notebook.cells
        if "graders.check_" in cell.source
        for output in cell.outputs
        if output.output_type == "display_data" and "text/plain" in output.data
    ]


def course_commit(course_repo: Path) -> str:
    """The short hash of the course's commit on GitHub (main)."""
    return git(course_repo, "rev-parse", "--short=7", "HEAD").strip()


def test_01_installs_asks_for_a_restart_then_passes_and_a_second_run_does_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    course_repo: Path,
    servers: Servers,
    wheels: Path,
    matplotlib_cache: Path,
) -> None:
    machine = make_machine(tmp_path)
    colab_environment(monkeypatch, machine, servers, wheels, course_repo, matplotlib_cache)
    jupyter = machine.home / "jupyter"
    package, old_version = COLAB_VERSION_OF
    # Colab's kernel had already imported the package the set-up replaces.
    first_kernel = kernel_spec(
        jupyter, "colab-a", machine, ["import google.colab", f"import {package}"]
    )
    first = solved_learner_copy(course_repo, "01_create_dataset.ipynb")
    with pytest.raises(CellExecutionError):
        run(first, first_kernel, machine)
    course = machine.content / "alpaca-course"
    assert git(course, "rev-parse", "--short=7", "HEAD").strip() == course_commit(course_repo)
    assert printed(first, setup_cell_id(first)) == [
        "Colab: setting up this session (installing kagglehub; downloading the dataset; "
        "downloading the weights)..."
    ]
    said = error_of(first, setup_cell_id(first))
    assert said.startswith("RestartNeeded: Colab: installed kagglehub 1.0.2 (was 0.9.0). ")
    assert f"already imported {package}" in said and "Restart the session" in said
    assert machine.installed(package) == ["1.0.2"]  # pip really replaced Colab's version
    assert not (course / "dataset" / "alpaca").exists()  # it stopped before fetching anything

    # Runtime > Restart session: a new kernel, the same machine.
    kernel = kernel_spec(jupyter, "colab", machine, ["import google.colab"])
    notebook = solved_learner_copy(course_repo, "01_create_dataset.ipynb")
    requests_before = len(servers.requests)
    run(notebook, kernel, machine)
    lines = printed(notebook, setup_cell_id(notebook))
    commit = course_commit(course_repo)
    assert lines[0].startswith(
        f"Colab: course main@{commit}; packages as pinned; "
        f"dataset fetched from Kaggle ({config.KAGGLE_DATASET}); "
        f"weights fetched ({STANDIN_PROVENANCE}); interactive explorers on (custom widget manager); "
    ), "\n".join(lines)
    assert lines[1].startswith("helpers ") and "TensorFlow 2.21" in lines[1]
    assert lines[-1].startswith(f"Dataset ready: dataset/ with {config.EXPECTED_TOTAL_IMAGES}")
    assert printed(notebook, config.COLAB_SETUP_CELL_ID) == []  # the course was already there
    assert grader_verdicts(notebook) == ["Passed"]
    progress = json.loads((course / ".progress.json").read_text())  # in the session's disk
    assert progress["exercises"]["datasets"]["ever_passed"] is True
    assert sorted(servers.requests[requests_before:]) == sorted(
        [
            f"POST http://localhost/api/v1/datasets.DatasetApiService/{call}"
            for call in ("GetDataset", "DownloadDataset")
        ]
        + [f"GET /weights/{name}" for name in config.KERAS_CACHE_FILES]
    )
    # The two set-up cells once more, in the same kernel: nothing fetched, nothing installed.
    again = printed(notebook, f"{setup_cell_id(notebook)}-again")[0]
    assert again.startswith(
        f"Colab: course main@{commit}; packages as pinned; dataset in place; weights in place; "
    ), again
    assert printed(notebook, f"{config.COLAB_SETUP_CELL_ID}-again") == []
    assert len(servers.requests) == requests_before + 5
    assert machine.installed(package) == ["1.0.2"]
    assert old_version not in "".join(machine.installed(package))


def test_04_on_a_fresh_machine_trains_passes_and_keeps_its_model_in_the_session(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    course_repo: Path,
    servers: Servers,
    wheels: Path,
    matplotlib_cache: Path,
) -> None:
    machine = make_machine(tmp_path)
    colab_environment(monkeypatch, machine, servers, wheels, course_repo, matplotlib_cache)
    kernel = kernel_spec(machine.home / "jupyter", "colab", machine, ["import google.colab"])
    notebook = solved_learner_copy(course_repo, "04_layer_freezing.ipynb")
    run(notebook, kernel, machine)
    first_line = printed(notebook, setup_cell_id(notebook))[0]
    assert first_line.startswith(
        f"Colab: course main@{course_commit(course_repo)} fetched; "
        "installed kagglehub 1.0.2 (was 0.9.0); "
        f"dataset fetched from Kaggle ({config.KAGGLE_DATASET}); "
        f"weights fetched ({STANDIN_PROVENANCE}); "
    ), first_line
    assert grader_verdicts(notebook) == ["Passed"]
    course = machine.content / "alpaca-course"
    assert (course / "artifacts" / config.PHASE1_MODEL_FILE).is_file()
    progress = json.loads((course / ".progress.json").read_text())
    assert progress["exercises"]["alpaca_model"]["ever_passed"] is True
    assert (machine.home / ".keras" / "models" / config.WEIGHT_FILES["no_top"]).is_file()

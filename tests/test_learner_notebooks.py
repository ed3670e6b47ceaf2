"""The notebooks as learners meet them.

- slow: each untouched learner copy runs headless (nbclient) from its first
  cell through its last grader cell, as a learner who has not started would:
  everything before the first exercise works, every grader says "Not yet"
  (not a traceback), and the kernel is still alive afterwards. A copy with
  no exercise (03) runs to its end without an error. Each runs with an empty
  artifacts folder, as a notebook opened first: 05 says it found no model of
  04's and trains phase 1 itself, 06 no model of 05's and trains one (this
  run is the suite's one check of that path; nbval runs the masters with
  the models 04 and 05 saved).
- fast: the masters' stored grader outputs, which nbval compares with a live
  run, say "Passed" (issue 4: the graders pass the solutions).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from fixtures.isolation import NotebookEnvironment
from nbclient import NotebookClient

from helpers import config

# The graders' contract (CONTRIBUTING.md): the verdict starts with a word.
PASS_WORD = "Passed"
NOT_YET_WORD = "Not yet"
ALIVE = "kernel still alive"
CELL_TIMEOUT_S = 600
# What a notebook opened first says when the model of the notebook before it is missing,
# and the files it leaves in the (empty) artifacts folder.
TRAINS_ITSELF = {
    "05_fine_tuning.ipynb": (
        "No model saved by notebook 04: training phase 1 now.",
        [config.PHASE1_HISTORY_FILE, config.PHASE1_MODEL_FILE],
    ),
    # 06 exports two files before its exercise (the int8 one comes after), never a model file.
    "06_export_litert.ipynb": (
        "No model saved by notebook 05: training one now",
        ["alpaca_dynamic_range.tflite", "alpaca_float32.tflite"],
    ),
}

MASTERS = config.course_notebooks(config.SOLUTIONS_DIR)
LEARNER_COPIES = config.course_notebooks(config.NOTEBOOKS_DIR)


def grader_cell_indices(notebook: nbformat.NotebookNode) -> list[int]:
    """Indices of the cells that call a grader."""
    return [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and config.is_grader_cell(cell.source)
    ]


def shown_text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or displayed as plain text."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "data" in output:
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def errors_in(cell: nbformat.NotebookNode) -> list[str]:
    """The exceptions a cell raised, as 'Name: message'."""
    outputs = cell.get("outputs", [])  # markdown cells have none
    return [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]


def verdicts(cell: nbformat.NotebookNode) -> list[str]:
    """The grader verdicts a cell displayed (their plain-text form)."""
    return [
        output.data["text/plain"]
        for output in cell.outputs
        if output.output_type in ("display_data", "execute_result")
        and "text/plain" in output.get("data", {})
    ]


@pytest.mark.slow
@pytest.mark.parametrize("path", LEARNER_COPIES, ids=lambda path: path.stem)
def test_untouched_learner_copy_runs_to_its_last_grader_and_says_not_yet(
    path: Path, notebook_environment: NotebookEnvironment
) -> None:
    # The kernel inherits the test's own artifacts folder, Keras cache and progress file
    # (notebook_environment): 05 must train phase 1 itself, not load whatever lies in artifacts/.
    notebook = nbformat.read(path, as_version=4)
    graded = grader_cell_indices(notebook)
    # A notebook without exercises has nothing to fill in: it must run to the end as it is.
    last = graded[-1] if graded else len(notebook.cells) - 1
    notebook.cells = notebook.cells[: last + 1]
    notebook.cells.append(nbformat.v4.new_code_cell(f"print({ALIVE!r})"))

    # allow_errors: after an untouched exercise, later cells may fail on its None placeholders.
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT_S,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()

    first_exercise = graded[0] - 1 if graded else len(notebook.cells)
    for index, cell in enumerate(notebook.cells[:first_exercise]):
        assert not errors_in(cell), (
            f"{path.name} cell {index} fails before any exercise: {errors_in(cell)}"
        )
    for index in graded:
        cell = notebook.cells[index]
        assert not errors_in(cell), (
            f"{path.name} cell {index}: the grader cell raised {errors_in(cell)}"
        )
        shown = verdicts(cell)
        assert len(shown) == 1, f"{path.name} cell {index}: expected one verdict, got {shown}"
        assert shown[0].startswith(NOT_YET_WORD), f"{path.name} cell {index}: {shown[0]}"
        assert "Traceback" not in shown_text(cell)
    assert shown_text(notebook.cells[-1]).strip() == ALIVE
    if path.name in TRAINS_ITSELF:
        said, files = TRAINS_ITSELF[path.name]
        assert any(said in shown_text(cell) for cell in notebook.cells if cell.cell_type == "code")
        written = sorted(
            p.name for p in notebook_environment.artifacts_dir.rglob("*") if p.is_file()
        )
        assert written == sorted(files), written


@pytest.mark.parametrize("path", MASTERS, ids=lambda path: path.stem)
def test_solution_graders_say_passed_in_the_stored_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    graded = grader_cell_indices(notebook)
    for index in graded:
        cell = notebook.cells[index]
        shown = verdicts(cell)
        assert len(shown) == 1, f"{path.name} cell {index}: expected one verdict, got {shown}"
        assert shown[0].startswith(PASS_WORD), f"{path.name} cell {index}: {shown[0]}"
        # nbval compares this cell with a live run only when it is not ignored.
        assert "nbval-ignore-output" not in cell.metadata.get("tags", [])

"""Any notebook can be opened first: 05 trains phase 1 itself when 04 saved nothing, 06 the
fine-tuned model when 05 saved none."""

from __future__ import annotations

import nbformat
import pytest
from fixtures.isolation import NotebookEnvironment
from nbclient import NotebookClient

from helpers import config

FINE_TUNING = config.SOLUTIONS_DIR / "05_fine_tuning.ipynb"


@pytest.mark.slow
def test_fine_tuning_notebook_runs_without_notebook_04(
    notebook_environment: NotebookEnvironment,
) -> None:
    # The kernel inherits the test's own (empty) artifacts folder, cache and progress file.
    empty_artifacts = notebook_environment.artifacts_dir
    notebook = nbformat.read(FINE_TUNING, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(FINE_TUNING.parent)}},
    )
    client.execute()  # raises CellExecutionError on any failing cell; the kernel inherits os.environ

    def text_of(cell: nbformat.NotebookNode) -> str:
        return "\n".join(
            output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            for output in cell.outputs
        )

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert any(
        "No model saved by notebook 04: training phase 1 now." in text_of(cell)
        for cell in code_cells
    )
    grader_cells = [cell for cell in code_cells if "graders.check_" in cell.source]
    assert grader_cells, "05 has no grader cell"
    for cell in grader_cells:
        assert text_of(cell).lstrip().startswith("Passed"), text_of(cell)
    # 05 finds nothing, trains phase 1 and saves it (its comparison reloads it), then saves
    # the fine-tuned model for 06; nothing else.
    written = sorted(path.name for path in empty_artifacts.iterdir())
    expected = [
        config.PHASE1_MODEL_FILE,
        config.PHASE1_HISTORY_FILE,
        config.FINE_TUNED_MODEL_FILE,
    ]
    assert written == sorted(expected), written


EXPORT = config.SOLUTIONS_DIR / "06_export_litert.ipynb"


@pytest.mark.slow
def test_export_notebook_runs_without_notebook_05(
    notebook_environment: NotebookEnvironment,
) -> None:
    """06 with no saved model: it says so, trains one through helpers, and exports that."""
    # The kernel inherits the test's own (empty) artifacts folder, cache and progress file.
    empty_artifacts = notebook_environment.artifacts_dir
    notebook = nbformat.read(EXPORT, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(EXPORT.parent)}},
    )
    client.execute()  # raises CellExecutionError on any failing cell

    def text_of(cell: nbformat.NotebookNode) -> str:
        return "\n".join(
            output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            for output in cell.outputs
        )

    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    said = "No model saved by notebook 05: training one now"
    assert any(said in text_of(cell) for cell in code_cells)
    grader_cells = [cell for cell in code_cells if "graders.check_" in cell.source]
    assert grader_cells
    assert all(text_of(cell).lstrip().startswith("Passed") for cell in grader_cells)
    # 06 writes its .tflite files, never a model file: saving the model is 05's job.
    written = sorted(path.name for path in empty_artifacts.rglob("*") if path.is_file())
    assert written == [
        "alpaca_dynamic_range.tflite",
        "alpaca_float32.tflite",
        "alpaca_int8.tflite",
    ]

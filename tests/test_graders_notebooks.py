"""The graders against the notebooks' own exercise cells: solutions pass, learner copies say "Not yet".

Only the exercise cell and the grader cell after it run here (not the whole
notebook, which nbval does), so a grader that disagrees with a notebook shows
up in seconds. An exercise whose `# GRADED FUNCTION: name` header is missing or
renamed fails these tests: a skip would let a course without it pass.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from keras.applications.mobilenet_v2 import preprocess_input

from helpers import config, graders, reference

EXERCISES = [
    "create_datasets",
    "data_augmenter",
    "alpaca_model",
    "prepare_fine_tuning",
    "make_representative_dataset",
]
FOLDERS = {
    "solutions": config.PROJECT_ROOT / "solutions",
    "notebooks": config.PROJECT_ROOT / "notebooks",
}
HEADER = re.compile(r"^# GRADED FUNCTION: (\w+)", re.MULTILINE)


def _cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def _exercise(folder: Path, name: str) -> tuple[str, str] | None:
    """The cell defining the graded function `name`, and the grader cell after it."""
    for notebook in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        cells = _cells(notebook)
        for index, source in enumerate(cells):
            if f"# GRADED FUNCTION: {name}" in source:
                following = [c for c in cells[index + 1 :] if "graders.check_" in c]
                return source, following[0] if following else ""
    return None


def _namespace() -> dict[str, Any]:
    """What the notebooks' set-up cells import."""
    return dict(
        config=config,
        graders=graders,
        reference=reference,
        keras=keras,
        layers=layers,
        tf=tf,
        np=np,
        preprocess_input=preprocess_input,
    )


def _run(folder: Path, name: str) -> graders.GradeResult:
    found = _exercise(folder, name)
    if found is None:
        pytest.fail(
            f"no cell with `# GRADED FUNCTION: {name}` in {folder.name}/: was the exercise "
            "renamed or its header changed? The graders' tests cannot find it.",
            pytrace=False,
        )
    exercise, grader_cell = found
    assert grader_cell, (
        f"{folder.name}/: no grader cell (graders.check_...) after the {name} exercise"
    )
    if name == "create_datasets" and not (config.DATASET_DIR / "alpaca").is_dir():
        pytest.skip("dataset/ is empty")
    namespace = _namespace()
    if name == "prepare_fine_tuning":
        model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
        reference.compile_for_phase1(model)
        namespace["model"] = model
    if name == "make_representative_dataset":
        # The model notebook 06 exports (untrained here: the check reads its preprocessing only).
        namespace["model"] = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    exec(compile(exercise, f"<{folder.name} {name}>", "exec"), namespace)
    # The grader cell's last line is the check; the lines before it prepare its arguments.
    *setup, call = [line for line in grader_cell.strip().splitlines() if line.strip()]
    exec("\n".join(setup), namespace)
    result = eval(call.strip().rstrip(";"), namespace)  # a trailing ";" only hides the output
    assert isinstance(result, graders.GradeResult)
    return result


@pytest.mark.parametrize("name", EXERCISES)
def test_solutions_pass(name):
    result = _run(FOLDERS["solutions"], name)
    assert result.passed, result.messages


@pytest.mark.parametrize("name", EXERCISES)
def test_untouched_learner_copies_are_not_yet(name):
    result = _run(FOLDERS["notebooks"], name)
    assert result.status == graders.NOT_YET, result.messages
    assert result.verdict.startswith("Not yet") and result.messages[0].startswith("Not yet")


@pytest.mark.parametrize("folder", FOLDERS)
def test_the_graded_functions_are_exactly_the_known_exercises(folder):
    """A new or renamed exercise must be added to EXERCISES, or it would go untested."""
    headers = [
        name
        for notebook in sorted(FOLDERS[folder].glob("[0-9][0-9]_*.ipynb"))
        for source in _cells(notebook)
        for name in HEADER.findall(source)
    ]
    assert sorted(headers) == sorted(EXERCISES)


def test_a_renamed_graded_function_fails_the_test_instead_of_skipping_it(tmp_path):
    master = FOLDERS["solutions"] / "02_prefetch_and_augmentation.ipynb"
    renamed = master.read_text().replace(
        "# GRADED FUNCTION: data_augmenter", "# GRADED FUNCTION: augmenter"
    )
    assert renamed != master.read_text(), (
        "02 no longer has the data_augmenter header this test renames"
    )
    (tmp_path / master.name).write_text(renamed)
    with pytest.raises(pytest.fail.Exception, match="renamed"):
        _run(tmp_path, "data_augmenter")

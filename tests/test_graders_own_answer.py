"""An answer must be the learner's own: `not-own-answer`, in the notebook and in grading.

In the notebook the check reads the graded function's code (aliases,
closures, helpers, nested imports); in grading, `helpers.own_answer` reads
the submitted cells' source outside the kernel. Both ways are tested, and
both leave the answers of EARLIER exercises alone: the masters, which call
`reference.data_augmenter()` inside `alpaca_model` and `reference.*` helpers
everywhere, must not be reported.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import grader_answers as answers
import grader_answers_not_own as not_own
import pytest

from helpers import config, graders, own_answer, reference
from helpers.exercises import EXERCISES
from instructor.grade.judge import with_own_answers

CODE = own_answer.CODE


def _name(value: Any) -> str:
    return getattr(value, "__name__", None) or type(value).__name__


def assert_not_own(result: Any, found: str) -> None:
    assert result.status == graders.FAILED and result.codes == [CODE], result.messages
    assert f"`{found}`" in result.messages[0] and "earlier exercises is fine" in result.messages[0]


# --- In the notebook --------------------------------------------------------------------------


@pytest.mark.parametrize("answer", not_own.AUGMENTER_NOT_OWN, ids=_name)
def test_an_augmenter_that_hands_in_the_answer_is_not_own(answer):
    assert_not_own(graders.check_data_augmenter(answer), "reference.data_augmenter")


@pytest.mark.parametrize("answer", not_own.MODEL_NOT_OWN, ids=_name)
def test_a_model_that_hands_in_the_answer_is_not_own(answer):
    result = graders.check_alpaca_model(answer)
    assert result.codes == [CODE], result.messages


def test_a_model_may_use_the_answers_of_earlier_exercises():
    result = graders.check_alpaca_model(not_own.model_uses_earlier_answers)
    assert result.passed, result.messages


@pytest.mark.parametrize("answer", not_own.REPRESENTATIVE_NOT_OWN, ids=_name)
def test_a_representative_dataset_that_hands_in_the_answer_is_not_own(answer):
    assert_not_own(
        graders.check_representative_dataset(answer), "reference.make_representative_dataset"
    )


def test_fine_tuning_looks_at_the_notebooks_prepare_fine_tuning(phase1_model, monkeypatch):
    main = sys.modules["__main__"]
    monkeypatch.setattr(
        main, "prepare_fine_tuning", not_own.prepare_fine_tuning_calls_reference, raising=False
    )
    handed_in = graders.check_fine_tuning(
        phase1_model, *not_own.prepare_fine_tuning_calls_reference(phase1_model)
    )
    assert_not_own(handed_in, "reference.unfreeze_for_fine_tuning")
    answers.back_to_phase1(phase1_model)
    monkeypatch.setattr(main, "prepare_fine_tuning", not_own.prepare_fine_tuning_own)
    own = graders.check_fine_tuning(phase1_model, *not_own.prepare_fine_tuning_own(phase1_model))
    assert own.passed, own.messages


@pytest.mark.skipif(not (config.DATASET_DIR / "alpaca").is_dir(), reason="dataset/ is empty")
def test_datasets_look_at_the_notebooks_create_datasets(monkeypatch):
    datasets = reference.make_datasets()
    monkeypatch.setattr(
        sys.modules["__main__"],
        "create_datasets",
        not_own.create_datasets_calls_reference,
        raising=False,
    )
    assert_not_own(graders.check_datasets(*datasets), "reference.make_datasets")
    monkeypatch.delattr(sys.modules["__main__"], "create_datasets")
    assert graders.check_datasets(*datasets).passed


def test_an_untouched_exercise_is_still_not_yet():
    """The rule comes after the call: an untouched function is "not yet", whatever it imports."""
    assert graders.check_data_augmenter(answers.untouched_data_augmenter).status == graders.NOT_YET


@pytest.mark.parametrize(
    "answer", [*answers.AUGMENTER_CORRECT, *(a for a, _, _ in answers.AUGMENTER_WRONG)], ids=_name
)
def test_learners_own_augmenters_are_never_reported(answer):
    function = answer
    assert own_answer.function_uses_answer(function, EXERCISES["data_augmenter"]) is None


# --- In grading: the submitted notebook's source -------------------------------------------------

SETUP = "from helpers import config, graders, reference\n"


def _cells(*sources: str) -> list[str]:
    return [SETUP, *sources]


@pytest.mark.parametrize(
    "cells, exercise, found",
    [
        (
            _cells(
                "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return reference.data_augmenter()"
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                "import helpers.reference as course",
                "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return course.data_augmenter()",
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                "from helpers.reference import data_augmenter as d",
                "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return d()",
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                '# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return getattr(reference, "data_augmenter")()'
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                '# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return getattr(reference, "data_" + "augmenter")()'
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                '# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return vars(reference)["data_augmenter"]()'
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                'name = "data_augmenter"',
                "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return getattr(reference, name)()",
            ),
            "data_augmenter",
            "reference.<a name computed at run time>",
        ),
        (
            _cells(
                "import importlib\nr = importlib.import_module('helpers.reference')",
                "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return r.data_augmenter()",
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return None",
                "graders.check_data_augmenter(reference.data_augmenter)",
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                "def helper():\n    return reference.data_augmenter()",
                "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return helper()",
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                "%%time\n# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return reference.data_augmenter()"
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
        (
            _cells(
                "saved = reference.alpaca_model()",
                "# GRADED FUNCTION: alpaca_model\ndef alpaca_model(image_shape, data_augmentation):\n    return saved",
            ),
            "alpaca_model",
            "reference.alpaca_model",
        ),
        (
            _cells(
                "# GRADED FUNCTION: prepare_fine_tuning\ndef prepare_fine_tuning(model, fine_tune_at=120):\n"
                "    return reference.unfreeze_for_fine_tuning(model, fine_tune_at)"
            ),
            "fine_tuning",
            "reference.unfreeze_for_fine_tuning",
        ),
        (
            _cells(
                "# GRADED FUNCTION: create_datasets\ndef create_datasets(directory):\n    return None",
                "train_dataset, validation_dataset = reference.make_datasets()\n"
                "graders.check_datasets(train_dataset, validation_dataset)",
            ),
            "datasets",
            "reference.make_datasets",
        ),
        (
            _cells(
                "# GRADED FUNCTION: data_augmenter\ndef data_augmenter(:\n    return reference.data_augmenter()"
            ),
            "data_augmenter",
            "reference.data_augmenter",
        ),
    ],
    ids=[
        "direct",
        "module-alias",
        "imported-alias",
        "getattr",
        "getattr-pieces",
        "vars",
        "getattr-computed",
        "import_module",
        "grader-cell",
        "helper",
        "magic",
        "result-of-the-answer",
        "fine-tuning",
        "datasets-grader-cell",
        "syntax-error",
    ],
)
def test_a_submitted_cell_that_uses_its_own_answer_is_reported(cells, exercise, found):
    findings = own_answer.notebook_findings(cells)
    assert list(findings) == [exercise], findings
    assert f"`{found}`" in findings[exercise]


@pytest.mark.parametrize(
    "cells",
    [
        _cells(
            "# GRADED FUNCTION: alpaca_model\ndef alpaca_model(image_shape, data_augmentation=None):\n"
            "    data_augmentation = reference.data_augmenter()\n    return data_augmentation"
        ),
        _cells(
            "train_dataset, validation_dataset = reference.make_datasets()",
            "# GRADED FUNCTION: make_representative_dataset\ndef make_representative_dataset(dataset, count):\n"
            "    return train_dataset",
        ),
        _cells(
            "# GRADED FUNCTION: prepare_fine_tuning\ndef prepare_fine_tuning(model):\n"
            "    base_model = reference.find_base_model(model)\n    return base_model",
            "demo = reference.alpaca_model()\nreference.unfreeze_for_fine_tuning(demo)",
        ),
        _cells(
            "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    reference = None\n    return 'data_augmenter'"
        ),
    ],
    ids=["earlier-answer-inside", "earlier-answer-elsewhere", "demo-cell-not-graded", "a-string"],
)
def test_earlier_answers_and_other_cells_are_allowed(cells):
    assert own_answer.notebook_findings(cells) == {}


@pytest.mark.parametrize("folder", ["solutions", "notebooks"])
def test_the_course_notebooks_use_no_answer_of_their_own(folder):
    """The masters call reference.* throughout, and their learner copies too: never reported."""
    notebooks = sorted((config.PROJECT_ROOT / folder).glob("[0-9][0-9]_*.ipynb"))
    assert len(notebooks) == 6
    for path in notebooks:
        cells = json.loads(path.read_text())["cells"]
        sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        assert own_answer.notebook_findings(sources, path.name[:2]) == {}, path.name


def test_the_master_with_its_answer_replaced_by_a_call_is_reported():
    """The same check on a real notebook, the way a learner would cheat in it."""
    master = config.PROJECT_ROOT / "solutions" / "02_prefetch_and_augmentation.ipynb"
    cells = json.loads(master.read_text())["cells"]
    sources = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    graded = next(i for i, s in enumerate(sources) if "# GRADED FUNCTION: data_augmenter" in s)
    sources[graded] = (
        "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n"
        "    ### START CODE HERE\n    data_augmentation = reference.data_augmenter()\n"
        "    ### END CODE HERE\n    return data_augmentation"
    )
    assert list(own_answer.notebook_findings(sources, "02")) == ["data_augmenter"]


def test_grading_replaces_the_judges_verdict_with_not_own_answer():
    verdicts = [
        {"exercise": "data_augmenter", "status": "passed", "messages": ["ok"], "codes": []},
        {"exercise": "alpaca_model", "status": "passed", "messages": ["ok"], "codes": []},
    ]
    cells = _cells(
        "# GRADED FUNCTION: data_augmenter\ndef data_augmenter():\n    return reference.data_augmenter()"
    )
    merged = {v["exercise"]: v for v in with_own_answers(verdicts, cells, None)}
    assert merged["data_augmenter"]["status"] == "failed"
    assert merged["data_augmenter"]["codes"] == [CODE]
    assert merged["alpaca_model"] == verdicts[1]
    assert with_own_answers(verdicts, [SETUP], None) == verdicts

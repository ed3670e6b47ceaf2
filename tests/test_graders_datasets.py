"""check_datasets: correct datasets pass, each mistake fails with its own message."""

from __future__ import annotations

from typing import Any

import grader_answers as answers
import numpy as np
import pytest
import tensorflow as tf

from helpers import config, graders

pytestmark = pytest.mark.skipif(
    not (config.DATASET_DIR / "alpaca").is_dir(),
    reason="dataset/ is empty: run `make data` (or `python -m helpers.data fetch`)",
)


def _name(value: Any) -> str:
    return getattr(value, "__name__", type(value).__name__)


@pytest.mark.parametrize("answer", answers.DATASETS_CORRECT, ids=_name)
def test_correct_answers_pass(answer):
    result = graders.check_datasets(*answer())
    assert result.passed, result.messages


@pytest.fixture(scope="module")
def graded() -> answers.GradedOnce:
    return answers.GradedOnce(lambda answer: graders.check_datasets(*answer()))


@pytest.mark.parametrize(
    "answer, code, phrase",
    answers.DATASETS_WRONG,
    ids=[_name(a[0]) for a in answers.DATASETS_WRONG],
)
def test_mistakes_fail_with_their_own_message(graded, answer, code, phrase):
    result = graded(answer)
    answers.assert_fails_with(result, code, phrase, answer)
    assert result.status == graders.FAILED


def test_expected_phrases_are_evidence_not_boilerplate(graded):
    assert answers.phrases_that_are_not_evidence(answers.DATASETS_WRONG, graded) == []


def test_wrong_class_folders(tmp_path):
    """Class names come from the folder names: other folders, other names."""
    for source, target in (("alpaca", "alpacas"), ("not alpaca", "others")):
        folder = tmp_path / target
        folder.mkdir()
        for image in (config.DATASET_DIR / source).iterdir():
            (folder / image.name).symlink_to(image)
    result = graders.check_datasets(
        answers.load(tmp_path, subset="training"), answers.load(tmp_path, subset="validation")
    )
    assert "class-names" in result.codes
    assert "['alpacas', 'others']" in result.messages[result.codes.index("class-names")]


@pytest.mark.parametrize("placeholders", [(None, None), (None, "x"), ("x", None)])
def test_untouched_exercise_is_not_yet(placeholders):
    train_dataset, validation_dataset = (
        None if p is None else answers.reference.make_datasets()[0] for p in placeholders
    )
    result = graders.check_datasets(train_dataset, validation_dataset)
    assert result.status == graders.NOT_YET
    assert result.messages[0].startswith("Not yet")
    assert "image_dataset_from_directory" in result.messages[0]


@pytest.mark.parametrize(
    "pair, code",
    [
        (("a", "b"), "wrong-type"),
        ((1, 2), "wrong-type"),
        ((np.zeros((2, 160, 160, 3)), np.zeros(2)), "wrong-type"),
        (([], []), "wrong-type"),
        ((tf.data.Dataset.range(3), tf.data.Dataset.range(3)), "no-file-paths"),
        (([1, 2, 3], None), "not-yet"),  # the validation placeholder is still None
        ((object(), object()), "wrong-type"),
    ],
    ids=["strings", "ints", "arrays", "lists", "plain-datasets", "list-of-three", "objects"],
)
def test_odd_inputs_get_a_verdict_never_an_exception(pair, code):
    result = graders.check_datasets(*pair)
    assert isinstance(result, graders.GradeResult)
    assert result.codes == [code], result.messages
    assert result.status == (graders.NOT_YET if code == "not-yet" else graders.FAILED)


def test_check_does_not_change_the_order_of_batches():
    """The grader never iterates: iterating would reshuffle the learner's next epoch."""
    graded, untouched = answers.load(subset="training"), answers.load(subset="training")
    assert graders.check_datasets(graded, answers.load(subset="validation")).passed
    graded_labels = next(iter(graded))[1].numpy()
    untouched_labels = next(iter(untouched))[1].numpy()
    np.testing.assert_array_equal(graded_labels, untouched_labels)
    assert len(graded.file_paths) == config.EXPECTED_TRAIN_FILES

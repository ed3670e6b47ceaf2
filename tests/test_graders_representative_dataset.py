"""check_representative_dataset: correct answers pass, each mistake fails with its own code."""

from __future__ import annotations

from typing import Any

import grader_answers as answers
import grader_answers_representative as representative
import numpy as np
import pytest
import tensorflow as tf

from helpers import config, graders, reference


def _name(value: Any) -> str:
    return getattr(value, "__name__", type(value).__name__)


@pytest.mark.parametrize("answer", representative.CORRECT, ids=_name)
def test_correct_answers_pass(answer):
    result = graders.check_representative_dataset(answer)
    assert result.passed, result.messages
    assert result.codes == []


@pytest.mark.parametrize(
    "answer, code, phrase", representative.WRONG, ids=[_name(a[0]) for a in representative.WRONG]
)
def test_mistakes_fail_with_their_own_message(answer, code, phrase):
    result = graders.check_representative_dataset(answer)
    answers.assert_fails_with(result, code, phrase)
    assert result.status == graders.FAILED


@pytest.fixture(scope="module")
def graded() -> answers.GradedOnce:
    return answers.GradedOnce(graders.check_representative_dataset)


def test_expected_phrases_are_evidence_of_their_own_mistake(graded):
    """A phrase that also appears under another code would prove nothing about the answer."""
    assert answers.phrases_that_are_not_evidence(representative.WRONG, graded) == []


def test_each_mistake_has_a_code_of_its_own():
    codes = [code for _answer, code, _phrase in representative.WRONG]
    # Two ways of yielding labels share a code, and so do two wrong dtypes; the rest differ.
    assert len(set(codes)) == len(codes) - 2


def test_messages_do_not_print_the_answer():
    for answer, _code, _phrase in representative.WRONG:
        for message in graders.check_representative_dataset(answer).messages:
            assert "expand_dims" not in message and "newaxis" not in message
            assert "unbatch" not in message and ".take(" not in message


@pytest.mark.parametrize(
    "answer",
    [representative.untouched, representative.forgot_return, None],
    ids=["untouched", "forgot_return", "None"],
)
def test_unfinished_exercise_is_not_yet(answer):
    result = graders.check_representative_dataset(answer)
    assert result.status == graders.NOT_YET, result.messages
    assert result.messages[0].startswith("Not yet")


def test_passing_the_inner_generator_function_says_so():
    inner = reference.make_representative_dataset(tf.data.Dataset.range(3))
    result = graders.check_representative_dataset(inner)
    assert result.codes == ["passed-inner-function"]


def test_the_model_decides_between_raw_and_preprocessed_pixels():
    """The course's model scales pixels itself; one without preprocess_input needs [-1, 1] samples."""
    course_model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    assert graders.check_representative_dataset(
        representative.representative_tensors, course_model
    ).passed
    assert graders.check_representative_dataset(
        representative.preprocessed, course_model
    ).codes == ["preprocessed"]

    bare_model = representative.model_without_preprocessing()
    assert graders.check_representative_dataset(representative.preprocessed, bare_model).passed
    raw = graders.check_representative_dataset(representative.representative_tensors, bare_model)
    answers.assert_fails_with(raw, "raw-for-preprocessing-model", "does not scale its inputs")


def test_a_model_argument_that_is_not_a_model_is_a_verdict():
    result = graders.check_representative_dataset(representative.representative_tensors, "model")
    assert result.codes == ["model-type"]


def test_slow_generator_times_out():
    def slow(dataset, count=5):
        def representative_dataset():
            import time

            time.sleep(3)
            yield [np.zeros((1, *config.IMG_SHAPE), "float32")]

        return representative_dataset

    result = graders.check_representative_dataset(slow, time_limit_s=0.3)
    assert result.codes == ["timeout"]
    assert result.timings["total"] < 2.5


def test_generator_error_shows_type_message_and_line():
    def broken(dataset, count=5):
        def representative_dataset():
            for image, _label in dataset.unbatch().take(count):
                yield [image.reshape((1, 160, 160, 3))]

        return representative_dataset

    result = graders.check_representative_dataset(broken)
    assert result.codes == ["raised"]
    assert "AttributeError" in result.messages[0] and "image.reshape" in result.messages[0]


@pytest.mark.parametrize(
    "value", ["make_representative_dataset", 3, [], np.zeros(3), object()], ids=_name
)
def test_odd_inputs_get_a_verdict_never_an_exception(value):
    result = graders.check_representative_dataset(value)
    assert result.status in (graders.FAILED, graders.NOT_YET)
    assert result.messages and all(isinstance(m, str) and m for m in result.messages)


def test_the_learner_function_and_dataset_are_not_changed():
    calls = []

    def recording(dataset, count=5):
        calls.append((dataset, count))
        return representative.representative_tensors(dataset, count)

    before = recording.__defaults__
    assert graders.check_representative_dataset(recording).passed
    assert recording.__defaults__ == before and len(calls) == 1
    # The grader gives its own dataset of (images, labels) batches and a count it chose.
    dataset, count = calls[0]
    assert count == config.GRADER_CALIBRATION_COUNT
    images, labels = next(iter(dataset))
    assert tuple(images.shape) == (config.GRADER_CALIBRATION_BATCH, *config.IMG_SHAPE)
    assert labels.dtype == tf.int32


def test_the_exercise_is_in_the_progress_table():
    assert graders.EXERCISES["representative_dataset"].notebook == "06"
    assert list(graders.EXERCISES)[-1] == "representative_dataset"

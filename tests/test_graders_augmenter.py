"""check_data_augmenter: every correct answer passes, each mistake fails with its own message."""

from __future__ import annotations

from typing import Any

import grader_answers as answers
import keras
import numpy as np
import pytest
from keras import layers

from helpers import config, graders


def _name(value: Any) -> str:
    return getattr(value, "__name__", type(value).__name__)


@pytest.mark.parametrize("answer", answers.AUGMENTER_CORRECT, ids=_name)
def test_correct_answers_pass(answer):
    result = graders.check_data_augmenter(answer)
    assert result.passed, result.messages
    assert result.status == graders.PASSED
    assert result.codes == []


@pytest.fixture(scope="module")
def graded() -> answers.GradedOnce:
    return answers.GradedOnce(graders.check_data_augmenter)


@pytest.mark.parametrize(
    "answer, code, phrase",
    answers.AUGMENTER_WRONG,
    ids=[_name(a[0]) for a in answers.AUGMENTER_WRONG],
)
def test_mistakes_fail_with_their_own_message(graded, answer, code, phrase):
    result = graded(answer)
    answers.assert_fails_with(result, code, phrase, answer)
    assert result.status == graders.FAILED


def test_expected_phrases_are_evidence_not_boilerplate(graded):
    assert answers.phrases_that_are_not_evidence(answers.AUGMENTER_WRONG, graded) == []


def test_messages_do_not_print_the_answer():
    """Hints name the argument to look at, never the value to type."""
    for answer, _, _ in answers.AUGMENTER_WRONG:
        for message in graders.check_data_augmenter(answer).messages:
            assert f"RandomRotation({config.ROTATION_FACTOR})" not in message
            assert "RandomFlip('horizontal')" not in message


def test_untouched_exercise_is_not_yet():
    result = graders.check_data_augmenter(answers.untouched_data_augmenter)
    assert result.status == graders.NOT_YET
    assert result.messages[0].startswith("Not yet")
    assert "START CODE HERE" in result.messages[0]
    assert result.verdict.startswith("Not yet")


def test_learner_exception_shows_type_message_and_line():
    result = graders.check_data_augmenter(answers.raises_value_error)
    assert result.codes == ["raised"]
    message = result.messages[0]
    assert "ValueError: learner bug with 3 sizes" in message
    assert "grader_answers.py" in message and "line " in message
    assert "raise ValueError" in message  # the learner's own line of code
    assert "Traceback" not in message


def test_learner_system_exit_does_not_stop_the_grader():
    result = graders.check_data_augmenter(answers.raises_system_exit)
    assert result.codes == ["raised"] and "SystemExit" in result.messages[0]


def test_slow_function_times_out():
    result = graders.check_data_augmenter(answers.sleeps, time_limit_s=0.3)
    assert result.codes == ["timeout"]
    assert "0.3 s" in result.messages[0]
    # The one bound that matters: the check returns without waiting for the learner's
    # function to finish. It must stay under SLEEP_S, however busy the machine is.
    assert result.timings["total"] < answers.SLEEP_S


def test_passing_the_model_instead_of_the_function():
    result = graders.check_data_augmenter(answers.augmenter_reference())
    assert result.codes == ["passed-object-not-function"]
    assert "without parentheses" in result.messages[0]


@pytest.mark.parametrize(
    "value, code",
    [
        (None, "not-yet"),
        ("data_augmenter", "not-callable"),
        (42, "not-callable"),
        (1.5, "not-callable"),
        ([], "not-callable"),
        ({}, "not-callable"),
        (object(), "not-callable"),
        (np.zeros(3), "not-callable"),
        (layers.Dense(1), "passed-object-not-function"),
        (answers.returns_string, "wrong-type"),
        (answers.returns_dense_layer, "wrong-type"),
        (answers.takes_no_arguments.__call__, "wrong-type"),
        (lambda required: None, "signature"),
    ],
    ids=lambda v: v if isinstance(v, str) and "-" in v else _name(v),
)
def test_odd_inputs_get_a_verdict_never_an_exception(value, code):
    result = graders.check_data_augmenter(value)
    assert isinstance(result, graders.GradeResult)
    assert result.codes == [code], result.messages
    assert result.status == (graders.NOT_YET if code == "not-yet" else graders.FAILED)
    assert len(result.messages) == 1 and result.messages[0].strip()


def test_returned_augmenter_is_not_changed():
    """The inference-mode behaviour check does not advance the augmenter's random state."""
    augmenter = answers.augmenter_with_add()  # not built yet: a call would build it
    before = [np.array(v) for v in augmenter.variables]
    result = graders.check_data_augmenter(lambda: augmenter)
    assert result.passed
    assert not augmenter.built
    after = [np.array(v) for v in augmenter.variables]
    assert len(before) == len(after)
    for old, new in zip(before, after):
        np.testing.assert_array_equal(old, new)
    assert augmenter.layers[1].factor == (-config.ROTATION_FACTOR, config.ROTATION_FACTOR)


def test_rotation_factor_in_keras3_is_a_pair():
    """The Keras 3 fact the grader relies on (a regression guard for upgrades)."""
    assert keras.layers.RandomRotation(0.2).factor == (-0.2, 0.2)

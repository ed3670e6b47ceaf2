"""check_alpaca_model: correct models pass, each mistake fails with its own message.

Most answers share one MobileNetV2 (see grader_answers.shared_base), so the
module builds only a handful of real ones.
"""

from __future__ import annotations

from typing import Any

import grader_answers as answers
import keras
import numpy as np
import pytest

from helpers import config, graders, model_facts


def _name(value: Any) -> str:
    return getattr(value, "__name__", type(value).__name__)


@pytest.mark.parametrize("answer", answers.MODEL_CORRECT, ids=_name)
def test_correct_answers_pass(answer):
    result = graders.check_alpaca_model(answer)
    assert result.passed, result.messages


@pytest.fixture(scope="module")
def graded() -> answers.GradedOnce:
    return answers.GradedOnce(graders.check_alpaca_model)


@pytest.mark.parametrize(
    "answer, code, phrase", answers.MODEL_WRONG, ids=[_name(a[0]) for a in answers.MODEL_WRONG]
)
def test_mistakes_fail_with_their_own_message(graded, answer, code, phrase):
    result = graded(answer)
    answers.assert_fails_with(result, code, phrase, answer)
    assert result.status == graders.FAILED


def test_expected_phrases_are_evidence_not_boilerplate(graded):
    assert answers.phrases_that_are_not_evidence(answers.MODEL_WRONG, graded) == []


def test_one_mistake_gives_one_message():
    """A single mistake is not buried under follow-up complaints."""
    for answer in (
        answers.model_no_training_flag,
        answers.model_dropout_half,
        answers.model_sigmoid,
        answers.model_random_weights,
        answers.model_augmentation_unused,
        answers.model_base_trainable,
    ):
        result = graders.check_alpaca_model(answer)
        assert len(result.codes) == 1, (answer.__name__, result.messages)


def test_messages_do_not_print_the_answer():
    for answer, _, _ in answers.MODEL_WRONG:
        result = graders.check_alpaca_model(answer)
        # A "raised" message quotes the learner's own line, which is theirs to show.
        own = [m for c, m in zip(result.codes, result.messages) if c != "raised"]
        for message in own:
            for solution in (
                "include_top=False",
                "weights='imagenet'",
                'weights="imagenet"',
                "Dropout(0.2)",
                "Dense(1)",
                "GlobalAveragePooling2D()",
            ):
                assert solution not in message, (answer.__name__, message)


@pytest.mark.parametrize(
    "answer",
    [answers.untouched_alpaca_model, answers.untouched_alpaca_model_no_attribute],
    ids=_name,
)
def test_untouched_exercise_is_not_yet(answer):
    result = graders.check_alpaca_model(answer)
    assert result.status == graders.NOT_YET
    assert result.messages[0].startswith("Not yet")
    assert "line " in result.messages[0]


@pytest.mark.parametrize(
    "value, code",
    [
        (None, "not-yet"),
        ("alpaca_model", "not-callable"),
        (7, "not-callable"),
        (keras.layers.Dense(1), "passed-object-not-function"),
        (answers.returns_string, "wrong-type"),
        (answers.returns_dense_layer, "wrong-type"),
        (answers.returns_unbuilt_subclass, "not-functional"),
        (answers.returns_unbuilt_sequential, "not-functional"),
        (answers.takes_no_arguments, "signature"),
        (answers.raises_value_error, "raised"),
        (lambda image_shape, data_augmentation: None, "not-yet"),
    ],
    ids=lambda v: v if isinstance(v, str) else _name(v),
)
def test_odd_inputs_get_a_verdict_never_an_exception(value, code):
    result = graders.check_alpaca_model(value)
    assert isinstance(result, graders.GradeResult)
    assert result.codes == [code], result.messages


def test_slow_function_times_out():
    result = graders.check_alpaca_model(answers.sleeps, time_limit_s=0.3)
    assert result.codes == ["timeout"]


def test_passing_a_built_model():
    result = graders.check_alpaca_model(
        answers.model_rescaling(config.IMG_SIZE, answers.augmenter_reference())
    )
    assert result.codes == ["passed-object-not-function"]


def test_check_does_not_change_the_model_it_inspects():
    """The sub-model the preprocessing check builds reads the layers; nothing changes."""
    model = answers.model_rescaling(config.IMG_SIZE, answers.augmenter_reference())
    before = answers.snapshot(model)
    result = graders.check_alpaca_model(lambda image_shape, data_augmentation: model)
    assert result.passed, result.messages
    answers.assert_same_snapshot(before, answers.snapshot(model))


def test_base_is_found_by_type_and_name_not_position():
    """In Keras 3 preprocess_input adds operations, so model.layers[4] is not the base."""
    model = answers.model_reference(config.IMG_SIZE, answers.augmenter_reference())
    assert not isinstance(model.layers[4], keras.Model) or "mobilenetv2" not in model.layers[4].name
    assert model_facts.find_base_call(model, model_facts.main_path(model))[
        0
    ] is answers.reference.find_base_model(model)


def test_grader_time_is_reported_separately_from_the_learners():
    result = graders.check_alpaca_model(answers.model_rescaling)
    assert {"learner", "grader", "total"} <= set(result.timings)
    assert result.timings["grader"] >= 0 and result.timings["learner"] > 0
    assert np.isclose(result.timings["total"], result.timings["grader"] + result.timings["learner"])

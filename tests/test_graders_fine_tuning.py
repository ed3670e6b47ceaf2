"""check_fine_tuning: correct set-ups pass, each mistake fails with its own message.

One phase-1 model is built for the module (`shared_model`, tests/conftest.py);
`phase1_model` puts it back into its phase-1 state (base frozen, compiled at
the base rate) before each test.
"""

from __future__ import annotations

from typing import Any

import grader_answers as answers
import keras
import pytest
from keras import layers

from helpers import config, graders, reference


def _name(value: Any) -> str:
    return getattr(value, "__name__", type(value).__name__)


@pytest.fixture(scope="module")
def graded(shared_model: keras.Model) -> answers.GradedOnce:
    """Each mistake answer applied to the phase-1 model, then graded (once per module)."""

    def grade(answer):
        model = answers.back_to_phase1(shared_model)
        return graders.check_fine_tuning(model, *answer(model))

    return answers.GradedOnce(grade)


def _metric_list(metrics: Any) -> list[Any]:
    """The metric objects in `metrics` (a list, tuple or single metric), in order."""
    return list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]


def _with_base_called(training: Any, activation: str | None = None) -> keras.Model:
    """A phase-1 model whose base call or output layer differs from the reference."""
    base_model = keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=False, weights=None
    )
    base_model.trainable = False
    inputs = keras.Input(config.IMG_SHAPE)
    x = keras.applications.mobilenet_v2.preprocess_input(reference.data_augmenter()(inputs))
    x = base_model(x) if training == "omit" else base_model(x, training=training)
    x = layers.Dropout(0.2)(layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, layers.Dense(1, activation=activation)(x))
    reference.compile_for_phase1(model)
    return model


@pytest.mark.parametrize("answer", answers.TUNE_CORRECT, ids=_name)
def test_correct_answers_pass(phase1_model, answer):
    result = graders.check_fine_tuning(phase1_model, *answer(phase1_model))
    assert result.passed, result.messages


@pytest.mark.parametrize(
    "answer, code, phrase", answers.TUNE_WRONG, ids=[_name(a[0]) for a in answers.TUNE_WRONG]
)
def test_mistakes_fail_with_their_own_message(graded, answer, code, phrase):
    result = graded(answer)
    answers.assert_fails_with(result, code, phrase, answer)
    assert result.status == graders.FAILED


def test_expected_phrases_are_evidence_not_boilerplate(graded):
    assert answers.phrases_that_are_not_evidence(answers.TUNE_WRONG, graded) == []


def test_an_optimizer_string_the_model_was_not_compiled_with_is_still_caught(phase1_model):
    """compile("adam") stores an Adam object; the check accepts that, but not a model still
    compiled with the phase-1 optimizer when the learner passes another name."""
    answers._unfreeze(phase1_model)
    loss_function = keras.losses.BinaryCrossentropy(from_logits=True)
    result = graders.check_fine_tuning(
        phase1_model, loss_function, "sgd", [reference.logit_accuracy()]
    )
    assert set(result.codes) == {"optimizer-string", "not-recompiled"}, result.messages


def test_accuracy_string_message_explains_the_threshold(phase1_model):
    result = graders.check_fine_tuning(phase1_model, *answers.tune_accuracy_string(phase1_model))
    message = result.messages[result.codes.index("metric-threshold")]
    assert "0.5" in message and "logits" in message and "boundary" in message


def test_sigmoid_output_with_a_logits_loss():
    model = _with_base_called(False, activation="sigmoid")
    result = graders.check_fine_tuning(model, *answers.tune_reference(model))
    assert result.codes == ["output-sigmoid"], result.messages


def test_model_saved_and_loaded_between_notebooks(tmp_path, phase1_model):
    """Notebook 05 may load the phase-1 model from disk: training=False survives saving."""
    path = tmp_path / "phase1.keras"
    phase1_model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    reference.compile_for_phase1(loaded)
    result = graders.check_fine_tuning(loaded, *answers.tune_reference(loaded))
    assert result.passed, result.messages


def test_untouched_exercise_is_not_yet(phase1_model):
    base_model = reference.find_base_model(phase1_model)
    base_model.trainable = True
    for layer in base_model.layers[: config.FINE_TUNE_AT]:
        layer.trainable = None  # the learner copy's placeholder: Keras stores False
    result = graders.check_fine_tuning(phase1_model, None, None, None)
    assert result.status == graders.NOT_YET
    assert result.messages[0].startswith("Not yet")
    assert "`loss_function`, `optimizer`, `metrics`" in result.messages[0]


@pytest.mark.parametrize(
    "arguments, code",
    [
        (("model", "loss", "adam", "accuracy"), "wrong-type"),
        ((1, 2, 3, 4), "wrong-type"),
        ((layers.Dense(1), "a", "b", "c"), "wrong-type"),
        (
            (keras.Sequential([layers.Dense(1)]), "binary_crossentropy", "adam", ["accuracy"]),
            "base-missing",
        ),
        (
            (
                keras.Sequential([keras.Input((3,)), layers.Dense(1)]),
                keras.losses.BinaryCrossentropy(),
                keras.optimizers.Adam(),
                [],
            ),
            "base-missing",
        ),
    ],
    ids=["strings", "ints", "layer", "unbuilt-sequential", "model-without-base"],
)
def test_odd_inputs_get_a_verdict_never_an_exception(arguments, code):
    result = graders.check_fine_tuning(*arguments)
    assert isinstance(result, graders.GradeResult)
    assert result.status == graders.FAILED
    assert result.codes == [code], result.messages


@pytest.mark.parametrize(
    "answer",
    [
        answers.tune_reference,
        answers.tune_rate_not_reduced,
        answers.tune_not_recompiled,
        answers.tune_nothing_frozen,
    ],
    ids=_name,
)
def test_check_changes_nothing(phase1_model, answer):
    """Weights, trainable flags and compile state are the same after the check."""
    loss_function, optimizer, metrics = answer(phase1_model)
    before = answers.snapshot(phase1_model)
    optimizer_config = optimizer.get_config()
    metric_configs = [m.get_config() for m in _metric_list(metrics)]
    graders.check_fine_tuning(phase1_model, loss_function, optimizer, metrics)
    answers.assert_same_snapshot(before, answers.snapshot(phase1_model))
    assert optimizer.get_config() == optimizer_config
    assert [m.get_config() for m in _metric_list(metrics)] == metric_configs
    assert not optimizer.built or int(optimizer.iterations) == 0


def test_snapshot_would_notice_a_change(phase1_model):
    """The non-mutation tests can fail: a changed flag or weight is caught."""
    before = answers.snapshot(phase1_model)
    reference.find_base_model(phase1_model).layers[-1].trainable = True
    with pytest.raises(AssertionError):
        answers.assert_same_snapshot(before, answers.snapshot(phase1_model))
    reference.find_base_model(phase1_model).layers[-1].trainable = False
    dense = phase1_model.layers[-1]
    dense.kernel.assign(dense.kernel.numpy() + 1.0)
    with pytest.raises(AssertionError):
        answers.assert_same_snapshot(before, answers.snapshot(phase1_model))

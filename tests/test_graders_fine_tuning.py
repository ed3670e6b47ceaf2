"""check_fine_tuning: correct set-ups pass, each mistake fails with its own message.

One phase-1 model is built for the module; `phase1_model` puts it back into
its phase-1 state (base frozen, compiled at the base rate) before each test.
"""

from __future__ import annotations

from typing import Any

import keras
import pytest
from keras import layers

import grader_answers as answers
from helpers import config, graders, reference
from helpers.rules import fine_tuning as fine_tuning_rules


def _name(value: Any) -> str:
    return getattr(value, "__name__", type(value).__name__)


@pytest.fixture(scope="module")
def shared_model() -> keras.Model:
    return reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())


@pytest.fixture
def phase1_model(shared_model: keras.Model) -> keras.Model:
    """The shared model as notebook 04 leaves it."""
    shared_model.trainable = True
    reference.find_base_model(shared_model).trainable = False
    reference.compile_for_phase1(shared_model)
    return shared_model


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
def test_mistakes_fail_with_their_own_message(phase1_model, answer, code, phrase):
    result = graders.check_fine_tuning(phase1_model, *answer(phase1_model))
    answers.assert_fails_with(result, code, phrase)


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
    "arguments",
    [("model", "loss", "adam", "accuracy"), (1, 2, 3, 4), (layers.Dense(1), "a", "b", "c"),
     (keras.Sequential([layers.Dense(1)]), "binary_crossentropy", "adam", ["accuracy"]),
     (keras.Sequential([keras.Input((3,)), layers.Dense(1)]), keras.losses.BinaryCrossentropy(),
      keras.optimizers.Adam(), [])],
    ids=["strings", "ints", "layer", "unbuilt-sequential", "model-without-base"],
)
def test_odd_inputs_get_a_verdict_never_an_exception(arguments):
    result = graders.check_fine_tuning(*arguments)
    assert isinstance(result, graders.GradeResult)
    assert result.status == graders.FAILED and result.messages


@pytest.mark.parametrize("answer", [answers.tune_reference, answers.tune_rate_not_reduced,
                                    answers.tune_not_recompiled, answers.tune_nothing_frozen],
                         ids=_name)
def test_check_changes_nothing(phase1_model, answer):
    """Weights, trainable flags and compile state are the same after the check."""
    loss_function, optimizer, metrics = answer(phase1_model)
    before = answers.snapshot(phase1_model)
    optimizer_config = optimizer.get_config()
    metric_configs = [m.get_config() for m in fine_tuning_rules.metric_items(metrics)]
    graders.check_fine_tuning(phase1_model, loss_function, optimizer, metrics)
    answers.assert_same_snapshot(before, answers.snapshot(phase1_model))
    assert optimizer.get_config() == optimizer_config
    assert [m.get_config() for m in fine_tuning_rules.metric_items(metrics)] == metric_configs
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

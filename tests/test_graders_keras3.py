"""The graders on the Keras 3 pitfalls of notebooks 04 and 05 (see tests/test_keras_behaviour.py).

Each mistake fails with exactly its own code; the messages say only what is
true on the pinned Keras: `training=False` does not keep BatchNorm in
inference mode during `fit`, `trainable = None` silently freezes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import grader_answers as answers
import keras
import pytest

from helpers import config, graders, reference


@pytest.fixture
def notebook_function(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[..., Any]], None]:
    """Define a function as the learner's `prepare_fine_tuning` in the notebook (`__main__`)."""

    def define(function: Callable[..., Any]) -> None:
        monkeypatch.setattr(sys.modules["__main__"], "prepare_fine_tuning", function, raising=False)

    return define


def test_model_with_trainable_none_fails_with_its_own_code() -> None:
    result = graders.check_alpaca_model(answers.model_trainable_none)
    assert result.codes == ["trainable-none"], result.messages
    assert "reads it as False" in result.messages[0]


def test_missing_training_flag_message_does_not_promise_inference_mode() -> None:
    result = graders.check_alpaca_model(answers.model_no_training_flag)
    assert result.codes == ["training-flag-missing"], result.messages
    message = result.messages[0]
    assert "does not keep BatchNorm in inference mode during fit" in message
    assert "overwrite" not in message  # the old, false claim


def test_fine_tuning_does_not_depend_on_the_build_time_training_flag() -> None:
    """Exercise 4 does not ask about `training`: on Keras 3 fit overrides it anyway."""
    model = reference.alpaca_model()
    base = reference.find_base_model(model)
    inputs = keras.Input(config.IMG_SHAPE)
    x = keras.applications.mobilenet_v2.preprocess_input(reference.data_augmenter()(inputs))
    x = keras.layers.GlobalAveragePooling2D()(base(x))  # no training=False
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Dropout(0.2)(x)))
    result = graders.check_fine_tuning(model, *answers.tune_reference(model))
    assert result.passed, result.messages


def test_trainable_none_in_prepare_fine_tuning(phase1_model, notebook_function) -> None:
    notebook_function(answers.tune_trainable_none)
    result = graders.check_fine_tuning(phase1_model, *answers.tune_trainable_none(phase1_model))
    assert result.codes == ["trainable-none"], result.messages
    assert "trainable = None" in result.messages[0]


def test_a_frozen_base_without_trainable_none_is_nothing_unfrozen(
    phase1_model, notebook_function
) -> None:
    """The same symptom without the placeholder gets the generic message, not the None one."""
    notebook_function(answers.tune_nothing_unfrozen)
    result = graders.check_fine_tuning(phase1_model, *answers.tune_nothing_unfrozen(phase1_model))
    assert result.codes == ["nothing-unfrozen"], result.messages


def test_unfreezing_a_new_base_is_the_wrong_base(phase1_model, notebook_function) -> None:
    notebook_function(answers.tune_new_base)
    result = graders.check_fine_tuning(phase1_model, *answers.tune_new_base(phase1_model))
    assert result.codes == ["other-base"], result.messages


def test_unfreezing_a_notebook_level_base_is_the_wrong_base(
    phase1_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Notebook 04's pitfall: a global `base_model` that is not the one inside `model`."""
    other_base = answers.shared_base()
    monkeypatch.setattr(sys.modules["__main__"], "base_model", other_base, raising=False)
    monkeypatch.setattr(other_base, "trainable", True)
    result = graders.check_fine_tuning(phase1_model, *answers.tune_nothing_unfrozen(phase1_model))
    assert result.codes == ["other-base"], result.messages


def test_model_built_elsewhere_does_not_count_as_the_wrong_base(phase1_model) -> None:
    """An unfrozen MobileNetV2 that is neither a notebook global nor made in the function."""
    elsewhere = reference.alpaca_model()
    reference.unfreeze_for_fine_tuning(elsewhere)
    result = graders.check_fine_tuning(phase1_model, *answers.tune_nothing_unfrozen(phase1_model))
    assert result.codes == ["nothing-unfrozen"], result.messages


@pytest.mark.skipif(config.FREEZE_BATCHNORM_IN_FINE_TUNING, reason="the course freezes BatchNorm")
def test_batchnorm_frozen_fails_with_its_own_code(phase1_model) -> None:
    result = graders.check_fine_tuning(phase1_model, *answers.tune_batchnorm_frozen(phase1_model))
    assert result.codes == ["batchnorm-frozen"], result.messages
    assert "12 BatchNormalization layers" in result.messages[0]


def test_reference_fine_tuning_matches_the_course_batchnorm_choice(phase1_model) -> None:
    """The reference answer and the grader agree on the course's BatchNorm choice."""
    reference.unfreeze_for_fine_tuning(phase1_model)
    norms = [
        layer
        for layer in reference.find_base_model(phase1_model).layers[config.FINE_TUNE_AT :]
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert norms and all(
        layer.trainable != config.FREEZE_BATCHNORM_IN_FINE_TUNING for layer in norms
    )
    result = graders.check_fine_tuning(
        phase1_model, *reference.unfreeze_for_fine_tuning(phase1_model)
    )
    assert result.passed, result.messages

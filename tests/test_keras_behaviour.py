"""Canary: the Keras behaviour that notebooks 04 and 05 and the graders teach.

The course says (Keras 3.15.1, keras-team/keras issue 20285):

1. `base_model(x, training=False)` recorded while building a functional model
   does NOT keep BatchNormalization in inference mode during `fit`: `fit` calls
   the model with `training=True`, which overrides the recorded value, so an
   unfrozen BatchNorm layer moves its moving mean and variance. A custom loop's
   `model(x, training=True)` does the same: `Functional.call` hands the outer
   value down (`operation_fn` in keras/src/models/functional.py).
2. A BatchNormalization layer whose own `trainable` is False runs in
   inference mode and keeps its statistics, whatever `training` says.
3. While the whole base is frozen, its BatchNorm layers keep their statistics.
4. `layer.trainable = None` is accepted and reads back as False.
5. MobileNetV2 builds its BatchNorm layers with momentum 0.999 (notebook 05's arithmetic).

keras-team/keras PR #23364 (merged 2026-07-31, commit c0215ac3, in no release as
of Keras 3.15.1) makes arguments given when a functional model is built, such as
`training=False`, take precedence over the call context again: fact 1 flips on
the first release that ships it. When a Keras upgrade changes any of these, this
test fails: rewrite the cells and messages listed in REWRITE before changing the test.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

REWRITE = (
    "Keras no longer behaves as the course teaches (if `training=False` now holds during fit, "
    "this is keras-team/keras PR #23364, merged 2026-07-31, commit c0215ac3, reaching a release). "
    "Rewrite: notebook 04 'Freeze the base' (the paragraphs on training=False, the custom loop "
    "and PR #23364) and 'What you should remember'; notebook 05 'See what keeps BatchNorm in "
    "inference mode' (the demonstration cell and the markdown after it, which says the first two "
    "lines will read 'unchanged'), 'Measure what training mode does to BatchNorm', the "
    "explanation under 'Plot both phases', and 'What you should remember'; helpers/config.py "
    "(FREEZE_BATCHNORM_IN_FINE_TUNING comment); helpers/batchnorm.py (docstring); "
    "helpers/graders.py and helpers/rules/ messages 'training-flag-missing', "
    "'training-flag-true', 'batchnorm-frozen', 'trainable-none' and BATCHNORM_DONE; "
    "helpers/reference.py (alpaca_model comment); the README FAQ on BatchNorm."
)

PROBE_LAYER = "block_16_project_BN"


def _small_course_model(*, training_flag: bool | None) -> tuple[keras.Model, keras.Model]:
    """The course's model shape (augmentation-free) on a small MobileNetV2 without weights."""
    base = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None
    )
    inputs = keras.Input(shape=(96, 96, 3))
    x = base(inputs, training=False) if training_flag is False else base(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(1)(x)
    return keras.Model(inputs, outputs), base


def _moving_mean_change(
    model: keras.Model, base: keras.Model, *, custom_loop: bool = False
) -> float:
    """Largest change of the probe layer's moving mean over one training step: fit's
    (`train_on_batch`), or a custom loop's (`model(x, training=True)` under a gradient tape)."""
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    probe = base.get_layer(PROBE_LAYER)
    before = np.array(probe.moving_mean)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(8, 96, 96, 3)).astype("float32")
    labels = rng.integers(0, 2, size=(8, 1)).astype("float32")
    if custom_loop:
        import tensorflow as tf

        with tf.GradientTape():
            model(images, training=True)
    else:
        model.train_on_batch(images, labels)
    return float(np.max(np.abs(np.array(probe.moving_mean) - before)))


def _unfreeze_top(base: keras.Model, fine_tune_at: int = 120) -> None:
    """The course's fine-tuning step: unfreeze the base, refreeze what is below fine_tune_at."""
    base.trainable = True
    for layer in base.layers[:fine_tune_at]:
        layer.trainable = False


@pytest.mark.parametrize("training_flag", [False, None], ids=["training=False", "no flag"])
def test_fit_overrides_a_recorded_training_false(training_flag: bool | None) -> None:
    model, base = _small_course_model(training_flag=training_flag)
    _unfreeze_top(base)
    assert base.get_layer(PROBE_LAYER).trainable
    change = _moving_mean_change(model, base)
    assert change > 0, (
        f"One training step left {PROBE_LAYER}'s moving mean unchanged with "
        f"training={training_flag}: Keras now honours the recorded flag. {REWRITE}"
    )


def test_a_custom_loops_training_true_also_overrides_the_recorded_flag() -> None:
    """Notebook 04: `Functional.call` passes an outer training=True down, in a custom loop too."""
    model, base = _small_course_model(training_flag=False)
    _unfreeze_top(base)
    change = _moving_mean_change(model, base, custom_loop=True)
    assert change > 0, (
        f"model(x, training=True) left {PROBE_LAYER}'s moving mean unchanged although the base "
        f"was called with training=False: the recorded flag now wins. {REWRITE}"
    )


def test_mobilenet_v2_builds_its_batchnorm_layers_with_momentum_0_999() -> None:
    """Notebook 05 computes how far fine-tuning moves the statistics from this momentum."""
    base = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), alpha=0.35, include_top=False, weights=None
    )
    momenta = {
        layer.momentum for layer in base.layers if isinstance(layer, layers.BatchNormalization)
    }
    assert momenta == {0.999}, f"MobileNetV2's BatchNorm momentum is now {momenta}. {REWRITE}"


def test_batchnorm_with_trainable_false_keeps_its_statistics() -> None:
    model, base = _small_course_model(training_flag=False)
    _unfreeze_top(base)
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    change = _moving_mean_change(model, base)
    assert change == 0, (
        f"A BatchNormalization layer with trainable=False moved its moving mean by {change:g}: "
        f"it no longer runs in inference mode. {REWRITE}"
    )


def test_a_frozen_base_keeps_its_statistics_without_the_flag() -> None:
    model, base = _small_course_model(training_flag=None)
    base.trainable = False
    change = _moving_mean_change(model, base)
    assert change == 0, f"A frozen base moved its BatchNorm statistics by {change:g}. {REWRITE}"


def test_trainable_none_reads_back_as_false() -> None:
    layer = layers.Dense(1)
    layer.trainable = None
    assert layer.trainable is False, f"trainable = None now reads {layer.trainable!r}. {REWRITE}"

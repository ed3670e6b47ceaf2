"""helpers.batchnorm: notebook 05's measurements of BatchNorm in training and inference mode.

On a small MobileNetV2 without weights (seconds): a fresh BatchNorm layer's moving
statistics (mean 0, variance 1) are far from any batch's, so training mode shows.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from helpers import batchnorm, reference

SHAPE = (64, 64, 3)


@pytest.fixture(scope="module")
def small_course_model() -> keras.Model:
    """The course's model shape (no augmentation) on a small MobileNetV2 without weights."""
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(
        input_shape=SHAPE, alpha=0.35, include_top=False, weights=None
    )
    base.trainable = False
    inputs = keras.Input(shape=SHAPE)
    x = keras.applications.mobilenet_v2.preprocess_input(inputs)
    x = base(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.2)(x)
    return keras.Model(inputs, layers.Dense(1)(x))


@pytest.fixture(scope="module")
def dataset() -> tf.data.Dataset:
    """Two batches of 8 random 'photos' (raw pixels) with labels."""
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(16, *SHAPE)).astype("float32")
    labels = rng.integers(0, 2, size=16).astype("int32")
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)


def test_the_first_batch_norm_from_an_index_and_the_momentum(small_course_model) -> None:
    base = reference.find_base_model(small_course_model)
    norms = batchnorm.batch_norm_layers(base)
    assert len(norms) == 52 and {layer.momentum for layer in norms} == {0.999}
    first = batchnorm.first_batch_norm_from(base, 120)
    assert isinstance(first, layers.BatchNormalization)
    assert base.layers.index(first) >= 120
    assert not any(
        isinstance(layer, layers.BatchNormalization)
        for layer in base.layers[120 : base.layers.index(first)]
    )
    with pytest.raises(ValueError, match="No BatchNormalization"):
        batchnorm.first_batch_norm_from(base, len(base.layers))


def test_the_moving_mean_travels_one_minus_momentum_to_the_n_and_the_layer_is_untouched(
    small_course_model, dataset
) -> None:
    base = reference.find_base_model(small_course_model)
    probe = batchnorm.first_batch_norm_from(base, 120)
    before = np.array(probe.moving_mean)
    inputs = batchnorm.layer_input_batches(base, probe, dataset)
    assert len(inputs) == 2 and inputs[0].shape[0] == 8
    trip = batchnorm.moving_mean_trip(probe, inputs, steps=10)
    assert trip.share_formula == pytest.approx(1 - 0.999**10)
    # Cycling evenly over the batches, the moving mean heads for their average: the formula.
    assert trip.share_measured == pytest.approx(trip.share_formula, rel=0.05)
    np.testing.assert_array_equal(np.array(probe.moving_mean), before)  # only a copy stepped


def test_the_statistics_gap_is_zero_when_the_moving_statistics_are_the_data_s() -> None:
    rng = np.random.default_rng(1)
    batch = rng.normal(3.0, 2.0, size=(8, 4, 4, 5)).astype("float32")
    layer = layers.BatchNormalization(epsilon=0.0)
    layer.build(batch.shape)
    assert batchnorm.statistics_gap(layer, [batch]).mean_shift_in_std > 1  # mean 0, var 1
    layer.moving_mean.assign(batch.mean(axis=(0, 1, 2)))
    layer.moving_variance.assign(batch.var(axis=(0, 1, 2)))
    gap = batchnorm.statistics_gap(layer, [batch])
    assert gap.mean_shift_in_std == pytest.approx(0.0, abs=1e-5)
    assert gap.variance_ratio == pytest.approx(1.0, rel=1e-4)


def test_training_mode_changes_the_scores_only_while_batchnorm_is_trainable(
    small_course_model, dataset
) -> None:
    model = keras.models.clone_model(small_course_model)
    model.set_weights(small_course_model.get_weights())
    reference.unfreeze_for_fine_tuning(model, freeze_batchnorm=False)
    adapting = batchnorm.accuracy_by_base_mode(model, dataset)
    assert set(adapting) == {False, True}
    assert adapting[False][1] != pytest.approx(adapting[True][1])  # batch vs moving statistics
    reference.freeze_batch_norm(reference.find_base_model(model))
    frozen = batchnorm.accuracy_by_base_mode(model, dataset)
    assert frozen[True] == pytest.approx(frozen[False])  # a frozen BatchNorm ignores training=True

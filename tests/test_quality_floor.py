"""A quality floor: the course must still learn to tell alpacas from other pictures.

Every other test would stay green if training stopped learning (labels
scrambled, features broken, a head that cannot train). Two floors, far above
chance (the validation split is 65 images, 1.5 points each) and well below
what the course reaches. Here, the features: the pooled features of the frozen MobileNetV2, as the course's own
  model computes them (preprocess_input, base, GlobalAveragePooling2D, in
  inference mode), separate this validation split: a logistic head fitted on
  them in NumPy must beat FEATURE_FLOOR (design notes: 0.969-1.000). A
  negative control fits the same head on shuffled training labels and must
  stay below the floor, so the floor is not reached by any head.

The other floor, for the model the course's own run trains (masters 04 and
05), is in tests/test_course_run.py: it reads that run instead of training again.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import config, reference

pytestmark = pytest.mark.skipif(
    not (config.DATASET_DIR / "alpaca").is_dir(),
    reason="dataset/ is empty: run `make data` (or `python -m helpers.data fetch`)",
)

FEATURE_FLOOR = 0.9
# The logistic head: plain full-batch gradient descent on standardised features.
HEAD_STEPS = 300
HEAD_LEARNING_RATE = 0.1
HEAD_L2 = 1e-3

Features = tuple[np.ndarray, np.ndarray]


def pooled_features(dataset: tf.data.Dataset, extractor: keras.Model) -> Features:
    """(features, labels) of every image, in one pass so each feature keeps its label."""
    features, labels = [], []
    for images, batch_labels in dataset:
        features.append(np.asarray(extractor.predict_on_batch(images)))  # inference mode
        labels.append(batch_labels.numpy())
    return np.concatenate(features), np.concatenate(labels).astype("float64")


def fit_logistic_head(
    features: np.ndarray, labels: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """A linear head fitted by gradient descent on the cross-entropy; returns features -> logits."""
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    x = (features - mean) / scale
    weights, bias = np.zeros(x.shape[1]), 0.0
    for _ in range(HEAD_STEPS):
        probabilities = 1.0 / (1.0 + np.exp(-(x @ weights + bias)))
        error = probabilities - labels
        weights -= HEAD_LEARNING_RATE * (x.T @ error / len(x) + HEAD_L2 * weights)
        bias -= HEAD_LEARNING_RATE * error.mean()
    return lambda new: ((new - mean) / scale) @ weights + bias


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Share of images whose logit is on the side of their label (above 0: "not alpaca")."""
    return float(np.mean((logits > 0) == (labels == 1)))


@pytest.fixture(scope="module")
def features() -> tuple[Features, Features]:
    """Pooled features of the training and validation images, through the course's model."""
    model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    pooling = [
        layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)
    ]
    assert len(pooling) == 1, [layer.name for layer in model.layers]
    extractor = keras.Model(model.inputs, pooling[0].output)
    train_dataset, validation_dataset = reference.make_datasets()
    return pooled_features(train_dataset, extractor), pooled_features(validation_dataset, extractor)


@pytest.mark.parametrize("labels", ["true", "shuffled"])
def test_a_linear_head_on_the_frozen_features_beats_the_floor(features, labels, capsys):
    (train_x, train_y), (validation_x, validation_y) = features
    assert (
        len(train_y) == config.EXPECTED_TRAIN_FILES
        and len(validation_y) == config.EXPECTED_VALIDATION_FILES
    )
    if labels == "shuffled":  # negative control: same features, labels that mean nothing
        train_y = np.random.default_rng(config.SEED).permutation(train_y)
    head = fit_logistic_head(train_x, train_y)
    train_accuracy = accuracy(head(train_x), train_y)
    validation_accuracy = accuracy(head(validation_x), validation_y)
    with capsys.disabled():
        print(
            f"\npooled features, {labels} labels: train {train_accuracy:.3f}, "
            f"validation {validation_accuracy:.3f} (floor {FEATURE_FLOOR})"
        )
    if labels == "true":
        assert validation_accuracy > FEATURE_FLOOR
    else:
        assert validation_accuracy < FEATURE_FLOOR

"""Notebook 05: what training mode does to MobileNetV2's BatchNorm layers, measured.

A BatchNormalization layer normalises each channel with a mean and a variance.
In inference mode it uses its moving statistics (learned on ImageNet). In
training mode (on Keras 3.15: `fit`, or `model(x, training=True)`, when the
layer's own `trainable` is True) it normalises each batch with the batch's own
statistics, and moves the moving ones towards them by

    moving = momentum * moving + (1 - momentum) * batch

Nothing here changes the model it is given: the layer that is stepped is a
copy, and the model compared in both modes is the caller's copy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from helpers import model_facts


def batch_norm_layers(base_model: keras.Model) -> list[layers.BatchNormalization]:
    """The base's BatchNormalization layers, in order."""
    return [layer for layer in base_model.layers if isinstance(layer, layers.BatchNormalization)]


def first_batch_norm_from(base_model: keras.Model, index: int) -> layers.BatchNormalization:
    """The first BatchNormalization layer at or after position `index` (e.g. fine_tune_at).

    Every BatchNorm layer before it lies below `index`: when the layers below
    `index` are frozen, its input is the same in training and inference mode.
    """
    for layer in base_model.layers[index:]:
        if isinstance(layer, layers.BatchNormalization):
            return layer
    raise ValueError(f"No BatchNormalization layer at or after position {index}.")


def layer_input_batches(
    base_model: keras.Model, layer: keras.Layer, dataset: tf.data.Dataset
) -> list[np.ndarray]:
    """What `layer` receives for each batch of `dataset` (raw pixels, scaled here), in inference mode."""
    to_layer = keras.Model(base_model.inputs, layer.input)
    return [
        np.asarray(
            to_layer.predict_on_batch(keras.applications.mobilenet_v2.preprocess_input(images))
        )
        for images, _labels in dataset
    ]


def _channel_statistics(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance over images and pixels, as BatchNorm computes them."""
    axes = tuple(range(batch.ndim - 1))
    return batch.mean(axis=axes), batch.var(axis=axes)


@dataclass(frozen=True)
class MovingMeanTrip:
    """How far a BatchNorm layer's moving mean travels in `steps` training-mode steps."""

    steps: int
    momentum: float
    share_measured: float  # |moved| / |data mean - start|, over all channels
    share_formula: float  # 1 - momentum ** steps


def moving_mean_trip(
    layer: layers.BatchNormalization, input_batches: list[np.ndarray], steps: int
) -> MovingMeanTrip:
    """Step a copy of `layer` in training mode over `input_batches` (cycling) `steps` times.

    The share is the distance its moving mean moved, divided by the distance
    from where it started (ImageNet's) to the mean of all the batches (this
    data's). The inputs stay fixed, so this isolates BatchNorm's own update rule
    from the weights training around it.
    """
    copy = layers.BatchNormalization.from_config(layer.get_config())
    copy.trainable = True  # the layer may be frozen; its copy steps as an unfrozen one would
    copy.build(input_batches[0].shape)
    copy.set_weights(layer.get_weights())
    start = np.asarray(copy.moving_mean).copy()
    data_mean = np.mean([_channel_statistics(batch)[0] for batch in input_batches], axis=0)
    for step in range(steps):
        copy(input_batches[step % len(input_batches)], training=True)
    moved = np.linalg.norm(np.asarray(copy.moving_mean) - start)
    return MovingMeanTrip(
        steps=steps,
        momentum=float(layer.momentum),
        share_measured=float(moved / np.linalg.norm(data_mean - start)),
        share_formula=float(1 - layer.momentum**steps),
    )


@dataclass(frozen=True)
class StatisticsGap:
    """How a batch's own statistics differ from a BatchNorm layer's moving ones."""

    mean_shift_in_std: (
        float  # |batch mean - moving mean| / moving std, averaged over channels and batches
    )
    variance_ratio: float  # batch variance / moving variance, median over channels and batches


def statistics_gap(
    layer: layers.BatchNormalization, input_batches: list[np.ndarray]
) -> StatisticsGap:
    """What training mode changes in `layer`: each batch's statistics against the moving ones."""
    moving_mean = np.asarray(layer.moving_mean)
    moving_variance = np.asarray(layer.moving_variance)
    shifts, ratios = [], []
    for batch in input_batches:
        mean, variance = _channel_statistics(batch)
        shifts.append(np.abs(mean - moving_mean) / np.sqrt(moving_variance + layer.epsilon))
        ratios.append(variance / (moving_variance + layer.epsilon))
    return StatisticsGap(float(np.mean(shifts)), float(np.median(ratios)))


def _head_layers(model: keras.Model) -> list[keras.Layer]:
    """The layers after the base (pooling, dropout, dense), in order."""
    base = model_facts.find_base_model(model)
    if base is None:
        raise ValueError("No MobileNetV2 base model found among the model's layers.")
    return model.layers[model.layers.index(base) + 1 :]


def accuracy_by_base_mode(
    model: keras.Model, dataset: tf.data.Dataset, modes: Iterable[bool] = (False, True)
) -> dict[bool, tuple[float, float]]:
    """Accuracy and loss on `dataset` with the base run in each mode (`training=False`/`True`).

    The same batches go through every mode; no augmentation and no dropout in
    any (the head runs in inference mode), so the base's BatchNorm layers are
    the only difference. Training mode updates the moving statistics of the
    model's unfrozen BatchNorm layers, so pass a copy you may change.
    """
    base = model_facts.find_base_model(model)
    head = _head_layers(model)

    # One compiled function per call: it sees the layers' `trainable` flags as they are now.
    @tf.function
    def logits_of(images: tf.Tensor, training: bool) -> tf.Tensor:
        x = base(keras.applications.mobilenet_v2.preprocess_input(images), training=training)
        for layer in head:
            x = layer(x, training=False)
        return tf.reshape(x, [-1])

    modes = tuple(modes)
    logits: dict[bool, list[np.ndarray]] = {mode: [] for mode in modes}
    labels = []
    for images, batch_labels in dataset:
        labels.append(np.asarray(batch_labels, dtype="float32"))
        for mode in modes:
            logits[mode].append(np.asarray(logits_of(images, mode)))
    truth = np.concatenate(labels)
    loss = keras.losses.BinaryCrossentropy(from_logits=True)
    results = {}
    for mode in modes:
        scores = np.concatenate(logits[mode])
        accuracy = float(np.mean((scores > 0) == (truth > 0.5)))
        results[mode] = (accuracy, float(loss(truth, scores)))
    return results

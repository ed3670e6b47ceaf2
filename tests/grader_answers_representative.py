"""Learner answers to notebook 06's exercise, `make_representative_dataset(dataset, count)`.

Correct answers that must pass, and mistakes, each with the problem code the
grader must report and a phrase its message must contain. Written the way a
learner would write them in the exercise cell, mistakes included.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from fixtures.master_answers import master_answers

from helpers import config

preprocess_input = keras.applications.mobilenet_v2.preprocess_input


# --- Correct answers ---


# Notebook 06's solution (helpers/answers.py, exported from the master): tf.data does the
# unbatching, tensors are yielded.
representative_tensors = master_answers.make_representative_dataset


def representative_nested_loops(dataset, count=config.REPRESENTATIVE_SAMPLES):
    """Plain Python: walk the batches, stop at count."""

    def representative_dataset():
        yielded = 0
        for images, _labels in dataset:
            for image in images.numpy():
                if yielded == count:
                    return
                yield [image[np.newaxis].astype("float32")]
                yielded += 1

    return representative_dataset


def representative_batches_of_one(dataset, count=config.REPRESENTATIVE_SAMPLES):
    """Re-batch by one: each element already has its batch axis."""

    def representative_dataset():
        for images, _labels in dataset.unbatch().batch(1).take(count):
            yield [images]

    return representative_dataset


def representative_none_index(dataset, count=config.REPRESENTATIVE_SAMPLES):
    """`image[None]` adds the batch axis too."""

    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [image[None]]

    return representative_dataset


CORRECT: list[Callable[..., Any]] = [
    representative_tensors,
    representative_nested_loops,
    representative_batches_of_one,
    representative_none_index,
]


# --- Mistakes ---


def no_batch_axis(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [image]

    return representative_dataset


def whole_batches(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for images, _labels in dataset.take(count):
            yield [images]

    return representative_dataset


def float64_images(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [np.array(image)[np.newaxis] / 1.0 * np.ones(1)]  # numpy promotes to float64

    return representative_dataset


def uint8_images(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [tf.cast(image, tf.uint8)[tf.newaxis]]

    return representative_dataset


def with_labels(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, label in dataset.unbatch().take(count):
            yield [image[tf.newaxis], label[tf.newaxis]]

    return representative_dataset


def image_label_tuple(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, label in dataset.unbatch().take(count):
            yield image[tf.newaxis], label

    return representative_dataset


def bare_array(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield image[tf.newaxis].numpy()

    return representative_dataset


def one_tuple(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield (image[tf.newaxis],)

    return representative_dataset


def dict_sample(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield {"input_layer": image[tf.newaxis]}

    return representative_dataset


def preprocessed(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [preprocess_input(image[tf.newaxis])]

    return representative_dataset


def scaled_to_unit(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [image[tf.newaxis] / 255.0]

    return representative_dataset


def first_image_of_each_batch(dataset, count=config.REPRESENTATIVE_SAMPLES):
    """take(count) on a batched dataset: count batches, not count images, and one image of each."""

    def representative_dataset():
        for images, _labels in dataset.take(count):
            yield [images[:1]]

    return representative_dataset


def hard_coded_number(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(10):
            yield [image[tf.newaxis]]

    return representative_dataset


def never_stops(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().repeat():
            yield [image[tf.newaxis]]

    return representative_dataset


def same_image_every_time(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        image, _label = next(iter(dataset.unbatch()))
        for _ in range(count):
            yield [image[tf.newaxis]]

    return representative_dataset


def made_up_images(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for _ in range(count):
            yield [np.random.uniform(0, 255, (1, *config.IMG_SHAPE)).astype("float32")]

    return representative_dataset


def wrong_size(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [tf.image.resize(image, (224, 224))[tf.newaxis]]

    return representative_dataset


def yields_nothing(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(0):
            yield [image[tf.newaxis]]

    return representative_dataset


def returns_the_generator(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [image[tf.newaxis]]

    return representative_dataset()


def returns_a_list(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [image[tf.newaxis]]

    return list(representative_dataset())


def generator_takes_an_argument(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset(images):
        for image, _label in images.unbatch().take(count):
            yield [image[tf.newaxis]]

    return representative_dataset


WRONG: list[tuple[Callable[..., Any], str, str]] = [
    (no_batch_axis, "batch-axis", "without a batch axis"),
    (whole_batches, "batch-size", "batch of 4 images"),
    (float64_images, "dtype", "float64"),
    (uint8_images, "dtype", "uint8"),
    (with_labels, "labels", "needs no labels"),
    (image_label_tuple, "labels", "their labels"),
    (bare_array, "sample-not-list", "a bare array"),
    (one_tuple, "sample-tuple", "Yield a list"),
    (dict_sample, "sample-dict", "in a list"),
    (preprocessed, "preprocessed", "[-1, 1]"),
    (scaled_to_unit, "scaled", "[0, 1]"),
    (first_image_of_each_batch, "too-few", "3 sample(s), but count is 5"),
    (hard_coded_number, "too-many", "count argument"),
    (never_stops, "endless", "does not stop"),
    (same_image_every_time, "same-image", "same image"),
    (made_up_images, "not-dataset-images", "training images themselves"),
    (wrong_size, "image-shape", "(1, 224, 224, 3)"),
    (yields_nothing, "empty", "yields nothing"),
    (returns_the_generator, "returned-generator", "without parentheses"),
    (returns_a_list, "returned-samples", "returned a list"),
    (generator_takes_an_argument, "signature", "no arguments"),
]


# --- Unfinished ---


def untouched(dataset, count=config.REPRESENTATIVE_SAMPLES):
    """The learner copy as generated (see notebooks/06_*): placeholders None."""

    def representative_dataset():
        ### START CODE HERE
        images = None  # replace None with your code
        ### END CODE HERE
        for image in images:  # noqa: B007  (the learner copy, as generated)
            ### START CODE HERE
            sample = None  # replace None with your code
            ### END CODE HERE
            yield sample

    return representative_dataset


def forgot_return(dataset, count=config.REPRESENTATIVE_SAMPLES):
    def representative_dataset():
        for image, _label in dataset.unbatch().take(count):
            yield [image[tf.newaxis]]


def model_without_preprocessing() -> keras.Model:
    """A model that expects pixels already in [-1, 1]: no preprocess_input inside."""
    base = keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=False, weights=None
    )
    inputs = keras.Input(shape=config.IMG_SHAPE)
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))

"""Graded functions that hand in the course's own answer to their exercise (`not-own-answer`),
each in another disguise, and functions that only use earlier exercises' answers (allowed).

Written as a learner would write them in a notebook: the module-level imports
play the notebook's earlier cells.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras
from keras import layers

import helpers.reference as course
from helpers import config, reference
from helpers.reference import alpaca_model as course_model
from helpers.reference import data_augmenter as course_augmenter

# --- data_augmenter ---------------------------------------------------------------------------


def augmenter_calls_reference():
    return reference.data_augmenter()


def augmenter_imported_alias():
    """`from helpers.reference import data_augmenter as course_augmenter` in an earlier cell."""
    return course_augmenter()


def augmenter_module_alias():
    """`import helpers.reference as course` in an earlier cell."""
    return course.data_augmenter()


def augmenter_getattr():
    return getattr(reference, "data_augmenter")()  # noqa: B009  (the disguise under test)


def augmenter_getattr_pieces():
    return getattr(reference, "data_" + "augmenter")()


def augmenter_vars():
    return vars(reference)["data_augmenter"]()


def augmenter_imports_inside():
    from helpers.reference import data_augmenter

    return data_augmenter()


def augmenter_imports_module_inside():
    import helpers.reference as r

    return r.data_augmenter()


def _helper_that_calls_the_answer():
    return reference.data_augmenter()


def augmenter_through_a_helper():
    """The answer one call away, in a helper of the notebook's own."""
    return _helper_that_calls_the_answer()


augmenter_lambda = lambda: reference.data_augmenter()  # noqa: E731
augmenter_partial = functools.partial(reference.data_augmenter)

AUGMENTER_NOT_OWN: list[Callable[..., Any]] = [
    augmenter_calls_reference,
    augmenter_imported_alias,
    augmenter_module_alias,
    augmenter_getattr,
    augmenter_getattr_pieces,
    augmenter_vars,
    augmenter_imports_inside,
    augmenter_imports_module_inside,
    augmenter_through_a_helper,
    augmenter_lambda,
    augmenter_partial,
    reference.data_augmenter,  # the answer itself, passed as the learner's function
]


# --- alpaca_model -----------------------------------------------------------------------------


def model_calls_reference(image_shape=config.IMG_SIZE, data_augmentation=None):
    return reference.alpaca_model(image_shape, data_augmentation)


def model_imported_alias(image_shape=config.IMG_SIZE, data_augmentation=None):
    return course_model(image_shape, data_augmentation)


def model_loads_the_saved_one(image_shape=config.IMG_SIZE, data_augmentation=None):
    """Hands in notebook 04's saved model through the reference's loader."""
    saved = reference.load_phase1()
    return saved[0] if saved else reference.alpaca_model(image_shape, data_augmentation)


MODEL_NOT_OWN: list[Callable[..., Any]] = [
    model_calls_reference,
    model_imported_alias,
    model_loads_the_saved_one,
]


def model_uses_earlier_answers(image_shape=config.IMG_SIZE, data_augmentation=None):
    """Allowed: notebook 02's answer (the augmenter) from the reference, the rest its own."""
    augment = reference.data_augmenter()
    base_model = keras.applications.MobileNetV2(
        input_shape=image_shape + (3,), include_top=False, weights="imagenet"
    )
    base_model.trainable = False
    inputs = keras.Input(shape=image_shape + (3,))
    x = keras.applications.mobilenet_v2.preprocess_input(augment(inputs))
    x = base_model(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(config.DROPOUT_RATE)(x)
    return keras.Model(inputs, layers.Dense(1)(x))


# --- fine-tuning and datasets: the notebook's function, given to the check as objects ----------


def prepare_fine_tuning_calls_reference(model, fine_tune_at=config.FINE_TUNE_AT):
    return reference.unfreeze_for_fine_tuning(model, fine_tune_at)


def prepare_fine_tuning_own(model, fine_tune_at=config.FINE_TUNE_AT):
    """Allowed: the reference's find_base_model (not an answer), the rest its own."""
    base_model = reference.find_base_model(model)
    base_model.trainable = True
    for layer in base_model.layers[:fine_tune_at]:
        layer.trainable = False
    loss_function = keras.losses.BinaryCrossentropy(from_logits=True)
    optimizer = keras.optimizers.Adam(learning_rate=0.1 * config.BASE_LEARNING_RATE)
    metrics = [keras.metrics.BinaryAccuracy(threshold=0.0)]
    model.compile(loss=loss_function, optimizer=optimizer, metrics=metrics)
    return loss_function, optimizer, metrics


def create_datasets_calls_reference(directory=config.DATASET_DIR):
    return reference.make_datasets(directory)


# --- the representative dataset --------------------------------------------------------------


def representative_calls_reference(dataset, count=config.REPRESENTATIVE_SAMPLES):
    return reference.make_representative_dataset(dataset, count)


REPRESENTATIVE_NOT_OWN: list[Callable[..., Any]] = [
    representative_calls_reference,
    reference.make_representative_dataset,
]

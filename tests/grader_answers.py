"""Learner answers for the grader tests: correct ones that must pass, mistakes that must fail.

Each wrong answer is listed with the problem code the grader must report for
it and a phrase its message must contain. The code here is written the way a
learner would write it in the exercise cell, mistakes included.

Building MobileNetV2 takes a second or two on two cores, so most model
answers call one shared base (`shared_base()`); each answer sets the base's
`trainable` flag itself, as a learner's function does, so they don't depend
on each other's order.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from fixtures.master_answers import master_answers
from keras import layers

from helpers import config, reference

IMG_SIZE = config.IMG_SIZE
ROTATION = config.ROTATION_FACTOR
preprocess_input = keras.applications.mobilenet_v2.preprocess_input


# A mistake answer must fail for its own reason only: the grader reports exactly its code.
# These answers hold a second, real mistake besides the one they are listed for, so the
# grader rightly reports a second code; each entry says why it is not a follow-up complaint.
# (Keys are the answers' names: the functions are defined further down.)
ALSO_REPORTED: dict[str, tuple[frozenset[str], str]] = {
    "model_include_top": (
        frozenset({"pooling-missing"}),
        "the answer's head has no pooling layer at all (include_top=True ends in 1000 scores, "
        "so it puts Dropout and Dense on them): a missing pooling layer is its own fix",
    ),
    "model_wrong_input_size": (
        frozenset({"base-input-shape"}),
        "the answer also builds the base without input_shape (224x224 weights), which stays "
        "wrong after the Input is fixed",
    ),
    "tune_whole_model_frozen": (
        frozenset({"nothing-unfrozen", "head-frozen"}),
        "model.trainable = False sets trainable on every layer: the base's unfreezing is undone "
        "and the head is frozen, and setting model.trainable back to True would unfreeze all "
        "154 base layers, so each state needs its own fix",
    ),
}


def expected_codes(answer: Callable[..., Any] | str, code: str) -> set[str]:
    """The exact set of codes the grader must report for a mistake answer."""
    name = answer if isinstance(answer, str) else answer.__name__
    also, _why = ALSO_REPORTED.get(name, (frozenset(), ""))
    return {code, *also}


def assert_fails_with(
    result: Any, code: str, phrase: str, answer: Callable[..., Any] | str | None = None
) -> None:
    """The check failed with exactly the answer's codes (its own, plus ALSO_REPORTED's), and
    the message of its own code mentions `phrase`."""
    assert not result.passed
    expected = {code} if answer is None else expected_codes(answer, code)
    assert set(result.codes) == expected, (sorted(result.codes), result.messages)
    message = result.messages[result.codes.index(code)]
    assert phrase.lower() in message.lower(), message


class GradedOnce:
    """Each answer graded once per test module, so the mistake tests and the phrase test
    below share the work (the answers build models)."""

    def __init__(self, grade: Callable[[Callable[..., Any]], Any]) -> None:
        self._grade = grade
        self._results: dict[Callable[..., Any], Any] = {}

    def __call__(self, answer: Callable[..., Any]) -> Any:
        if answer not in self._results:
            self._results[answer] = self._grade(answer)
        return self._results[answer]


def phrases_that_are_not_evidence(
    wrong: list[tuple[Callable[..., Any], str, str]], graded: GradedOnce
) -> list[str]:
    """Expected phrases that also appear in a message with another code, from any mistake
    answer of the same grader: such a phrase (boilerplate, a word every message uses) would
    be found whatever the grader complained about, so it proves nothing about the answer."""
    messages = [
        (code, message)
        for answer, _, _ in wrong
        for code, message in zip(graded(answer).codes, graded(answer).messages)
    ]
    return [
        f"{answer.__name__}: {phrase!r} is also in the {other!r} message: {message[:100]!r}"
        for answer, code, phrase in wrong
        for other, message in messages
        if other != code and phrase.lower() in message.lower()
    ]


@functools.cache
def shared_base(weights: str | None = "imagenet", include_top: bool = False) -> keras.Model:
    """One MobileNetV2 per (weights, include_top), built once per test process."""
    return keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=include_top, weights=weights
    )


@functools.cache
def base_without_input_shape() -> keras.Model:
    """MobileNetV2 built without input_shape (any image size), with ImageNet weights.

    Keras would download its 224x224 weights here; the tests' cache holds only
    the 160x160 files, so the same (ImageNet) values are copied in instead.
    """
    base = keras.applications.MobileNetV2(include_top=False, weights=None)
    base.set_weights(shared_base().get_weights())
    return base


@functools.cache
def base_with_changed_weights() -> keras.Model:
    """An ImageNet MobileNetV2 whose first kernel was changed (as if trained or edited)."""
    base = keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=False, weights="imagenet"
    )
    kernel = base.get_layer("Conv1").kernel
    kernel.assign(kernel.numpy() * 1.5 + 0.01)
    return base


def _head(x: Any, dropout: float = config.DROPOUT_RATE) -> Any:
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    return layers.Dense(1)(x)


# ---------------------------------------------------------------------------
# data_augmenter: correct answers
# ---------------------------------------------------------------------------


# The course's answer: notebook 02's graded function (a copy of helpers/answers.py, see
# fixtures/master_answers.py: handing in helpers.answers' own function is not-own-answer).
augmenter_reference = master_answers.data_augmenter


def augmenter_with_add() -> keras.Sequential:
    """The original assignment's style: an empty Sequential, then .add()."""
    data_augmentation = keras.Sequential()
    data_augmentation.add(layers.RandomFlip("horizontal"))
    data_augmentation.add(layers.RandomRotation(ROTATION))
    return data_augmentation


def augmenter_factor_tuple() -> keras.Sequential:
    """The rotation factor written as the (lower, upper) pair Keras 3 stores."""
    return keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation((-ROTATION, ROTATION))]
    )


def augmenter_tf_keras() -> tf.keras.Sequential:
    """Layers from tf.keras, keyword arguments, a seed and another fill mode."""
    return tf.keras.Sequential(
        [
            tf.keras.layers.RandomFlip(mode="horizontal", seed=1),
            tf.keras.layers.RandomRotation(factor=config.ROTATION_FACTOR, fill_mode="nearest"),
        ]
    )


def augmenter_with_input() -> keras.Sequential:
    """A Sequential that starts with an Input (InputLayer is not an augmentation layer)."""
    return keras.Sequential(
        [
            keras.Input(shape=config.IMG_SHAPE),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation([-ROTATION, ROTATION]),
        ]
    )


def augmenter_nested() -> keras.Sequential:
    """The two layers wrapped in an inner Sequential."""
    inner = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(ROTATION)])
    return keras.Sequential([inner])


AUGMENTER_CORRECT: list[Callable[[], Any]] = [
    augmenter_reference,
    augmenter_with_add,
    augmenter_factor_tuple,
    augmenter_tf_keras,
    augmenter_with_input,
    augmenter_nested,
]


# ---------------------------------------------------------------------------
# data_augmenter: mistakes (function, code, phrase in the message)
# ---------------------------------------------------------------------------


def augmenter_vertical() -> keras.Sequential:
    return keras.Sequential([layers.RandomFlip("vertical"), layers.RandomRotation(ROTATION)])


def augmenter_both_ways() -> keras.Sequential:
    return keras.Sequential([layers.RandomFlip(), layers.RandomRotation(ROTATION)])


def augmenter_small_factor() -> keras.Sequential:
    return keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])


def augmenter_degrees() -> keras.Sequential:
    return keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(72)])


def augmenter_one_sided() -> keras.Sequential:
    return keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation((0.0, ROTATION))]
    )


def augmenter_original_factor() -> keras.Sequential:
    """The original assignment's RandomRotation(0.2), where the course asks for ROTATION_FACTOR."""
    return keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.2)])


def augmenter_no_rotation() -> keras.Sequential:
    return keras.Sequential([layers.RandomFlip("horizontal")])


def augmenter_no_flip() -> keras.Sequential:
    return keras.Sequential([layers.RandomRotation(ROTATION)])


def augmenter_extra_zoom() -> keras.Sequential:
    return keras.Sequential(
        [layers.RandomFlip("horizontal"), layers.RandomRotation(ROTATION), layers.RandomZoom(0.1)]
    )


def augmenter_extra_rescaling() -> keras.Sequential:
    return keras.Sequential(
        [
            layers.Rescaling(1 / 255),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(ROTATION),
        ]
    )


def augmenter_reversed() -> keras.Sequential:
    return keras.Sequential([layers.RandomRotation(ROTATION), layers.RandomFlip("horizontal")])


def augmenter_flip_twice() -> keras.Sequential:
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal"),
            layers.RandomFlip("horizontal"),
            layers.RandomRotation(ROTATION),
        ]
    )


def augmenter_returns_list() -> list:
    return [layers.RandomFlip("horizontal"), layers.RandomRotation(ROTATION)]


def augmenter_functional() -> keras.Model:
    inputs = keras.Input(config.IMG_SHAPE)
    x = layers.RandomFlip("horizontal")(inputs)
    return keras.Model(inputs, layers.RandomRotation(ROTATION)(x))


def augmenter_empty() -> keras.Sequential:
    return keras.Sequential()


AUGMENTER_WRONG: list[tuple[Callable[[], Any], str, str]] = [
    (augmenter_vertical, "flip-mode", "'vertical'"),
    (augmenter_both_ways, "flip-mode", "'horizontal_and_vertical'"),
    (augmenter_small_factor, "rotation-factor", "factor (-0.1, 0.1)"),
    (augmenter_degrees, "raised", "not degrees"),
    (augmenter_one_sided, "rotation-factor", f"factor (0.0, {ROTATION})"),
    (augmenter_original_factor, "rotation-factor", "factor (-0.2, 0.2)"),
    (augmenter_no_rotation, "rotation-missing", "no RandomRotation"),
    (augmenter_no_flip, "flip-missing", "no RandomFlip"),
    (augmenter_extra_zoom, "extra-layer", "RandomZoom"),
    (augmenter_extra_rescaling, "extra-layer", "Rescaling"),
    (augmenter_reversed, "order", "rotates before it flips"),
    (augmenter_flip_twice, "extra-layer", "a second RandomFlip"),
    (augmenter_returns_list, "wrong-type", "returned a list"),
    (augmenter_functional, "wrong-type", "not a Sequential"),
    (augmenter_empty, "empty", "is empty"),
]


# ---------------------------------------------------------------------------
# alpaca_model: correct answers
# ---------------------------------------------------------------------------


# The course's answer: notebook 04's graded function (builds its own MobileNetV2).
model_reference = master_answers.alpaca_model


def model_tf_keras(image_shape=IMG_SIZE, data_augmentation=None) -> tf.keras.Model:
    """tf.keras spellings, tf.keras.Input, Dense(1, activation='linear')."""
    input_shape = image_shape + (3,)
    base_model = tf.keras.applications.MobileNetV2(
        input_shape=input_shape, include_top=False, weights="imagenet"
    )
    base_model.trainable = False
    inputs = tf.keras.Input(shape=input_shape)
    x = data_augmentation(inputs)
    x = tf.keras.applications.mobilenet_v2.preprocess_input(x)
    x = base_model(x, training=False)
    x = tf.keras.layers.GlobalAveragePooling2D()(x)
    x = tf.keras.layers.Dropout(0.2)(x)
    outputs = tf.keras.layers.Dense(1, activation="linear")(x)
    return tf.keras.Model(inputs, outputs)


def model_rescaling(image_shape=IMG_SIZE, data_augmentation=None) -> keras.Model:
    """Rescaling(1/127.5, offset=-1) instead of preprocess_input, layers.Input."""
    base_model = shared_base()
    base_model.trainable = False
    inputs = layers.Input(shape=image_shape + (3,))
    x = data_augmentation(inputs)
    x = layers.Rescaling(1 / 127.5, offset=-1)(x)
    x = base_model(x, training=False)
    return keras.Model(inputs, _head(x))


def model_augmentation_inside(image_shape=IMG_SIZE, data_augmentation=None) -> keras.Model:
    """Ignores the argument and builds the augmentation inside, with .add()."""
    augment = keras.Sequential()
    augment.add(layers.RandomFlip("horizontal"))
    augment.add(layers.RandomRotation(ROTATION))
    base_model = shared_base()
    base_model.trainable = False
    inputs = keras.Input(shape=image_shape + (3,))
    x = preprocess_input(augment(inputs))
    x = base_model(x, training=False)
    return keras.Model(inputs, _head(x))


def model_inline_augmentation(image_shape=IMG_SIZE, data_augmentation=None) -> keras.Model:
    """The two augmentation layers applied directly, arithmetic preprocessing, Dense(activation=None)."""
    base_model = shared_base()
    for layer in base_model.layers:  # freezing layer by layer freezes the base too
        layer.trainable = False
    inputs = keras.Input(shape=image_shape + (3,))
    x = layers.RandomFlip("horizontal")(inputs)
    x = layers.RandomRotation(ROTATION)(x)
    x = x / 127.5 - 1
    x = base_model(x, training=False)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(rate=0.2)(x)
    outputs = layers.Dense(units=1, activation=None)(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def model_preprocess_first(image_shape=IMG_SIZE, data_augmentation=None) -> keras.Model:
    """Preprocessing before augmentation: flips and rotations commute with the scaling."""
    base_model = shared_base()
    base_model.trainable = False
    inputs = keras.Input(shape=image_shape + (3,))
    x = data_augmentation(preprocess_input(inputs))
    x = base_model(x, training=False)
    return keras.Model(inputs, _head(x))


MODEL_CORRECT: list[Callable[..., Any]] = [
    model_reference,
    model_tf_keras,
    model_rescaling,
    model_augmentation_inside,
    model_inline_augmentation,
    model_preprocess_first,
]


# ---------------------------------------------------------------------------
# alpaca_model: mistakes
# ---------------------------------------------------------------------------


def _model(
    data_augmentation: Any,
    *,
    base: keras.Model | None = None,
    trainable: bool = False,
    training: Any = False,
    preprocess: Callable[[Any], Any] | None = preprocess_input,
    head: Callable[[Any], Any] = _head,
    input_shape: tuple[int, ...] = config.IMG_SHAPE,
) -> keras.Model:
    """The reference layout, with one thing changed by the keyword arguments."""
    base_model = shared_base() if base is None else base
    base_model.trainable = trainable
    inputs = keras.Input(shape=input_shape)
    x = data_augmentation(inputs)
    if preprocess is not None:
        x = preprocess(x)
    x = base_model(x) if training == "omit" else base_model(x, training=training)
    return keras.Model(inputs, head(x))


def model_no_training_flag(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, training="omit")


def model_training_true(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, training=True)


def model_base_trainable(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, trainable=True)


def model_no_preprocessing(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, preprocess=None)


def model_scaled_to_unit(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, preprocess=layers.Rescaling(1 / 255))


def model_preprocessed_twice(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, preprocess=lambda x: preprocess_input(preprocess_input(x)))


def model_include_top(image_shape=IMG_SIZE, data_augmentation=None):
    """include_top=True, and (to make it build) no pooling: Dropout and Dense on the 1000 scores."""

    def head(x: Any) -> Any:
        return layers.Dense(1)(layers.Dropout(0.2)(x))

    return _model(data_augmentation, base=shared_base(include_top=True), head=head)


def model_include_top_with_pooling(image_shape=IMG_SIZE, data_augmentation=None):
    """include_top=True as a learner writes it: the pooling layer then raises."""
    return _model(data_augmentation, base=shared_base(include_top=True))


def model_random_weights(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, base=shared_base(weights=None))


def model_changed_weights(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, base=base_with_changed_weights())


def model_no_input_shape(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, base=base_without_input_shape())


def model_dropout_half(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(data_augmentation, head=lambda x: _head(x, dropout=0.5))


def model_no_dropout(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(
        data_augmentation, head=lambda x: layers.Dense(1)(layers.GlobalAveragePooling2D()(x))
    )


def model_dense_two(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(
        data_augmentation,
        head=lambda x: layers.Dense(2)(layers.Dropout(0.2)(layers.GlobalAveragePooling2D()(x))),
    )


def model_sigmoid(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(
        data_augmentation,
        head=lambda x: layers.Dense(1, activation="sigmoid")(
            layers.Dropout(0.2)(layers.GlobalAveragePooling2D()(x))
        ),
    )


def model_flatten(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(
        data_augmentation, head=lambda x: layers.Dense(1)(layers.Dropout(0.2)(layers.Flatten()(x)))
    )


def model_max_pooling(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(
        data_augmentation,
        head=lambda x: layers.Dense(1)(layers.Dropout(0.2)(layers.GlobalMaxPooling2D()(x))),
    )


def model_hidden_dense(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(
        data_augmentation,
        head=lambda x: layers.Dense(1)(
            layers.Dropout(0.2)(
                layers.Dense(128, activation="relu")(layers.GlobalAveragePooling2D()(x))
            )
        ),
    )


def model_augmentation_unused(image_shape=IMG_SIZE, data_augmentation=None):
    """The augmenter is called, but the next line starts again from the inputs."""
    base_model = shared_base()
    base_model.trainable = False
    inputs = keras.Input(shape=image_shape + (3,))
    x = data_augmentation(inputs)
    x = preprocess_input(inputs)
    x = base_model(x, training=False)
    return keras.Model(inputs, _head(x))


def model_no_augmentation(image_shape=IMG_SIZE, data_augmentation=None):
    return _model(lambda x: x)


def model_vertical_augmentation_inside(image_shape=IMG_SIZE, data_augmentation=None):
    augment = keras.Sequential([layers.RandomFlip("vertical"), layers.RandomRotation(ROTATION)])
    return _model(augment)


def model_whole_model_frozen(image_shape=IMG_SIZE, data_augmentation=None):
    model = _model(data_augmentation)
    model.trainable = False
    return model


def model_sequential(image_shape=IMG_SIZE, data_augmentation=None):
    """A Sequential model cannot call the base with training=False."""
    base_model = shared_base()
    base_model.trainable = False
    return keras.Sequential(
        [
            keras.Input(shape=image_shape + (3,)),
            data_augmentation,
            layers.Rescaling(1 / 127.5, offset=-1),
            base_model,
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.2),
            layers.Dense(1),
        ]
    )


def model_inlined_base(image_shape=IMG_SIZE, data_augmentation=None):
    """The head built on base_model.output: the base's layers become the model's own."""
    base_model = shared_base()
    base_model.trainable = False
    x = layers.GlobalAveragePooling2D()(base_model.output)
    return keras.Model(base_model.input, layers.Dense(1)(layers.Dropout(0.2)(x)))


def model_wrong_input_size(image_shape=IMG_SIZE, data_augmentation=None):
    """A hard-coded 224x224 input instead of image_shape."""
    base_model = base_without_input_shape()
    base_model.trainable = False
    return _model(data_augmentation, base=base_model, input_shape=(224, 224, 3))


MODEL_WRONG: list[tuple[Callable[..., Any], str, str]] = [
    (model_no_training_flag, "training-flag-missing", "without training=False"),
    (model_training_true, "training-flag-true", "training=True"),
    (model_base_trainable, "base-trainable", "is trainable"),
    (model_no_preprocessing, "preprocess-missing", "raw pixels"),
    (model_scaled_to_unit, "preprocess-range", "[0, 1]"),
    (model_preprocessed_twice, "preprocess-range", "expects [-1, 1]"),
    (model_include_top, "include-top", "1000-class classifier"),
    (model_include_top_with_pooling, "raised", "classifier on top"),
    (model_random_weights, "weights-random", "weights are random"),
    (model_changed_weights, "weights-differ", "differ from the ImageNet"),
    (model_no_input_shape, "base-input-shape", "input shape"),
    (model_dropout_half, "dropout-rate", "rate is 0.5"),
    (model_no_dropout, "dropout-missing", "No Dropout"),
    (model_dense_two, "dense-units", "2 units"),
    (model_sigmoid, "output-sigmoid", "from_logits=True"),
    (model_flatten, "pooling-flatten", "flattened"),
    (model_max_pooling, "pooling-max", "max pooling"),
    (model_hidden_dense, "dense-extra", "2 Dense layers"),
    (model_augmentation_unused, "augmentation-unused", "never used"),
    (model_no_augmentation, "augmentation-missing", "does not augment"),
    (model_vertical_augmentation_inside, "flip-mode", "'vertical'"),
    (model_whole_model_frozen, "head-frozen", "no trainable weights"),
    (model_sequential, "training-flag-missing", "Functional API"),
    (model_inlined_base, "base-inlined", "base_model.input"),
    (model_wrong_input_size, "input-shape", "(224, 224, 3)"),
]


# ---------------------------------------------------------------------------
# Learner code that is unfinished, broken or slow (any function-taking grader)
# ---------------------------------------------------------------------------


def untouched_data_augmenter():
    """The learner copy as generated: placeholders, returns None."""
    ### START CODE HERE
    data_augmentation = None
    ### END CODE HERE
    return data_augmentation


def untouched_alpaca_model(image_shape=IMG_SIZE, data_augmentation=None):
    """The learner copy as generated: the scaffold around the placeholders raises on None."""
    input_shape = image_shape + (3,)
    ### START CODE HERE
    base_model = None
    base_model.trainable = None
    inputs = None
    x = None
    outputs = None
    ### END CODE HERE
    model = keras.Model(inputs, outputs)
    del input_shape, x
    return model


def untouched_alpaca_model_no_attribute(image_shape=IMG_SIZE, data_augmentation=None):
    """Placeholders only: keras.Model(None, None) raises."""
    ### START CODE HERE
    inputs = None
    outputs = None
    ### END CODE HERE
    return keras.Model(inputs, outputs)


def raises_value_error(*args: Any) -> Any:
    """Learner code with a bug of its own."""
    sizes = [1, 2, 3]
    raise ValueError(f"learner bug with {len(sizes)} sizes")


def raises_system_exit(*args: Any) -> Any:
    raise SystemExit(3)


def returns_string(*args: Any) -> str:
    return "a model"


def returns_dense_layer(*args: Any) -> keras.layers.Layer:
    return layers.Dense(1)


SLEEP_S = 30.0  # far beyond the tests' time limits (0.3 s): a check that waited would show it


def sleeps(*args: Any) -> None:
    time.sleep(SLEEP_S)


def takes_no_arguments() -> keras.Model:
    return reference.alpaca_model()


class _SubclassedModel(keras.Model):
    """A subclassed model never called: no graph to inspect."""

    def __init__(self) -> None:
        super().__init__()
        self.dense = layers.Dense(1)

    def call(self, inputs: Any) -> Any:
        return self.dense(inputs)


def returns_unbuilt_subclass(*args: Any) -> keras.Model:
    return _SubclassedModel()


def returns_unbuilt_sequential(*args: Any) -> keras.Model:
    return keras.Sequential([layers.Dense(1)])


# ---------------------------------------------------------------------------
# Datasets
# ---------------------------------------------------------------------------


def load(directory: Any = config.DATASET_DIR, **changes: Any) -> Any:
    """image_dataset_from_directory with the exercise's arguments, some of them changed."""
    arguments: dict[str, Any] = dict(
        shuffle=True,
        batch_size=config.BATCH_SIZE,
        image_size=config.IMG_SIZE,
        validation_split=config.VALIDATION_SPLIT,
        seed=config.SEED,
    )
    arguments.update(changes)
    arguments = {k: v for k, v in arguments.items() if v is not _DROP}
    return keras.utils.image_dataset_from_directory(str(directory), **arguments)


_DROP = object()  # marks an argument the learner left out


def datasets_reference():
    """The course's answer: notebook 01's graded function, on the course's dataset."""
    return master_answers.create_datasets()


def datasets_both_as_one():
    """subset='both', passed to the grader as the one list it returns."""
    return (load(subset="both"), None)


def datasets_both_unpacked():
    train_dataset, validation_dataset = load(subset="both")
    return train_dataset, validation_dataset


def datasets_other_seed():
    return load(subset="training", seed=7), load(subset="validation", seed=7)


def datasets_binary_labels():
    return (
        load(subset="training", label_mode="binary"),
        load(subset="validation", label_mode="binary"),
    )


def datasets_tf_keras_spelling():
    """tf.keras.utils, a pathlib directory, positional directory argument."""
    common = dict(shuffle=True, batch_size=32, image_size=(160, 160), validation_split=0.2, seed=42)
    return (
        tf.keras.utils.image_dataset_from_directory(
            config.DATASET_DIR, subset="training", **common
        ),
        tf.keras.utils.image_dataset_from_directory(
            config.DATASET_DIR, subset="validation", **common
        ),
    )


DATASETS_CORRECT: list[Callable[[], tuple[Any, Any]]] = [
    datasets_reference,
    datasets_both_as_one,
    datasets_both_unpacked,
    datasets_other_seed,
    datasets_binary_labels,
    datasets_tf_keras_spelling,
]


def datasets_mismatched_seeds():
    return load(subset="training", seed=1), load(subset="validation", seed=2)


def datasets_both_training():
    return load(subset="training"), load(subset="training")


def datasets_swapped():
    return load(subset="validation"), load(subset="training")


def datasets_train_not_split():
    return (load(validation_split=_DROP, seed=_DROP), load(subset="validation"))


def datasets_other_split():
    return load(subset="training", validation_split=0.1), load(
        subset="validation", validation_split=0.1
    )


def datasets_small_images():
    return load(subset="training", image_size=(128, 128)), load(
        subset="validation", image_size=(128, 128)
    )


def datasets_batch_16():
    return load(subset="training", batch_size=16), load(subset="validation", batch_size=16)


def datasets_not_batched():
    return load(subset="training", batch_size=None), load(subset="validation", batch_size=None)


def datasets_grayscale():
    return (
        load(subset="training", color_mode="grayscale"),
        load(subset="validation", color_mode="grayscale"),
    )


def datasets_categorical():
    return (
        load(subset="training", label_mode="categorical"),
        load(subset="validation", label_mode="categorical"),
    )


def datasets_not_shuffled():
    return load(subset="training", shuffle=False), load(subset="validation", shuffle=False)


def datasets_prefetched():
    train_dataset, validation_dataset = reference.make_datasets()
    return train_dataset.prefetch(tf.data.AUTOTUNE), validation_dataset


def datasets_same_object():
    train_dataset, _ = reference.make_datasets()
    return train_dataset, train_dataset


DATASETS_WRONG: list[tuple[Callable[[], tuple[Any, Any]], str, str]] = [
    (datasets_mismatched_seeds, "overlap", "seed"),
    (datasets_both_training, "same-subset", "same 262 files"),
    (datasets_swapped, "swapped", "swapped"),
    (datasets_train_not_split, "no-split", "holds all 327"),
    (datasets_other_split, "split", "295 training / 32 validation"),
    (datasets_small_images, "image-size", "(128, 128)"),
    (datasets_batch_16, "batch-size", "batches of 16"),
    (datasets_not_batched, "not-batched", "single images"),
    (datasets_grayscale, "channels", "1 channel"),
    (datasets_categorical, "label-mode", "one-hot"),
    (datasets_not_shuffled, "one-class-validation", "one class"),
    (datasets_prefetched, "no-file-paths", "prefetch"),
    (datasets_same_object, "same-object", "same dataset twice"),
]


# ---------------------------------------------------------------------------
# Fine-tuning: each answer takes the phase-1 model and does the exercise's steps
# ---------------------------------------------------------------------------

base_learning_rate = config.BASE_LEARNING_RATE
fine_tune_at = config.FINE_TUNE_AT


def back_to_phase1(model: keras.Model) -> keras.Model:
    """The model as notebook 04 leaves it: base frozen, compiled at the base rate."""
    model.trainable = True
    reference.find_base_model(model).trainable = False
    reference.compile_for_phase1(model)
    return model


def _unfreeze(model: keras.Model, at: int = fine_tune_at) -> keras.Model:
    base_model = reference.find_base_model(model)
    base_model.trainable = True
    for layer in base_model.layers[:at]:
        layer.trainable = False
    return base_model


def _compile(model: keras.Model, loss_function: Any, optimizer: Any, metrics: Any) -> tuple:
    model.compile(loss=loss_function, optimizer=optimizer, metrics=metrics)
    return loss_function, optimizer, metrics


# The course's answer: notebook 05's graded function.
tune_reference = master_answers.prepare_fine_tuning


def tune_tf_keras(model):
    """tf.keras spellings, 0.1 * base_learning_rate."""
    _unfreeze(model)
    return _compile(
        model,
        tf.keras.losses.BinaryCrossentropy(from_logits=True),
        tf.keras.optimizers.Adam(learning_rate=0.1 * base_learning_rate),
        [tf.keras.metrics.BinaryAccuracy(threshold=0.0)],
    )


def tune_literal_rate_named_metric(model):
    """1e-4 written out, a tuple of metrics, the metric named 'accuracy'."""
    _unfreeze(model)
    return _compile(
        model,
        keras.losses.BinaryCrossentropy(from_logits=True),
        keras.optimizers.Adam(0.0001),
        (keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0),),
    )


def tune_only_weighted_layers(model):
    """Freezes only layers that have weights (the others have nothing to train), base by name,
    plus an AUC told about logits, learning rate base_learning_rate / 10."""
    base_model = model.get_layer(reference.find_base_model(model).name)
    base_model.trainable = True
    for layer in base_model.layers[:fine_tune_at]:
        if layer.weights:
            layer.trainable = False
    return _compile(
        model,
        keras.losses.BinaryCrossentropy(from_logits=True),
        keras.optimizers.Adam(learning_rate=base_learning_rate / 10),
        [keras.metrics.BinaryAccuracy(threshold=0), keras.metrics.AUC(from_logits=True)],
    )


def tune_index_loop(model):
    """An index loop instead of a slice, the loss with a name."""
    base_model = reference.find_base_model(model)
    base_model.trainable = True
    for index, layer in enumerate(base_model.layers):
        layer.trainable = index >= fine_tune_at
    return _compile(
        model,
        keras.losses.BinaryCrossentropy(from_logits=True, name="bce"),
        keras.optimizers.Adam(learning_rate=config.FINE_TUNE_LEARNING_RATE),
        [keras.metrics.BinaryAccuracy(threshold=0.0)],
    )


TUNE_CORRECT: list[Callable[[keras.Model], tuple]] = [
    tune_reference,
    tune_tf_keras,
    tune_literal_rate_named_metric,
    tune_only_weighted_layers,
    tune_index_loop,
]


def _good_three() -> tuple:
    return (
        keras.losses.BinaryCrossentropy(from_logits=True),
        keras.optimizers.Adam(learning_rate=0.1 * base_learning_rate),
        [keras.metrics.BinaryAccuracy(threshold=0.0)],
    )


def tune_nothing_unfrozen(model):
    return _compile(model, *_good_three())


def tune_nothing_frozen(model):
    reference.find_base_model(model).trainable = True
    return _compile(model, *_good_three())


def tune_wrong_fine_tune_at(model):
    _unfreeze(model, at=100)
    return _compile(model, *_good_three())


def tune_top_frozen(model):
    base_model = reference.find_base_model(model)
    base_model.trainable = True
    for layer in base_model.layers[fine_tune_at:]:
        layer.trainable = False
    return _compile(model, *_good_three())


def tune_whole_model_frozen(model):
    _unfreeze(model)
    model.trainable = False
    return _compile(model, *_good_three())


def _with(model, **replace):
    _unfreeze(model)
    loss_function, optimizer, metrics = _good_three()
    loss_function = replace.get("loss", loss_function)
    optimizer = replace.get("optimizer", optimizer)
    metrics = replace.get("metrics", metrics)
    return _compile(model, loss_function, optimizer, metrics)


def tune_rate_not_reduced(model):
    return _with(model, optimizer=keras.optimizers.Adam(learning_rate=base_learning_rate))


def tune_rate_reduced_too_much(model):
    return _with(model, optimizer=keras.optimizers.Adam(learning_rate=0.01 * base_learning_rate))


def tune_rate_too_large(model):
    return _with(model, optimizer=keras.optimizers.Adam(learning_rate=0.5 * base_learning_rate))


def tune_rate_schedule(model):
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-4, decay_steps=10, decay_rate=0.9)
    return _with(model, optimizer=keras.optimizers.Adam(learning_rate=schedule))


def tune_from_logits_false(model):
    return _with(model, loss=keras.losses.BinaryCrossentropy())


def tune_string_loss(model):
    return _with(model, loss="binary_crossentropy")


def tune_function_loss(model):
    return _with(model, loss=keras.losses.binary_crossentropy)


def tune_other_loss(model):
    return _with(model, loss=keras.losses.MeanSquaredError())


def tune_sgd(model):
    return _with(model, optimizer=keras.optimizers.SGD(learning_rate=0.1 * base_learning_rate))


def tune_adamw(model):
    return _with(model, optimizer=keras.optimizers.AdamW(learning_rate=0.1 * base_learning_rate))


def tune_string_optimizer(model):
    return _with(model, optimizer="adam")


def tune_accuracy_string(model):
    return _with(model, metrics=["accuracy"])


def tune_default_binary_accuracy(model):
    return _with(model, metrics=[keras.metrics.BinaryAccuracy()])


def tune_accuracy_class(model):
    return _with(model, metrics=[keras.metrics.Accuracy()])


def tune_auc_probabilities(model):
    return _with(model, metrics=[keras.metrics.BinaryAccuracy(threshold=0.0), keras.metrics.AUC()])


def tune_no_accuracy(model):
    return _with(model, metrics=[keras.metrics.AUC(from_logits=True)])


def tune_empty_metrics(model):
    return _with(model, metrics=[])


def tune_not_recompiled(model):
    """Defines the three objects but never compiles with them."""
    _unfreeze(model)
    return _good_three()


TUNE_WRONG: list[tuple[Callable[[keras.Model], tuple], str, str]] = [
    (tune_nothing_unfrozen, "nothing-unfrozen", "still entirely frozen"),
    (tune_nothing_frozen, "nothing-frozen", "Every layer"),
    (tune_wrong_fine_tune_at, "fine-tune-at", "first 100 layers"),
    (tune_top_frozen, "frozen-top", "other way round"),
    (tune_whole_model_frozen, "model-frozen", "whole model is frozen"),
    (tune_rate_not_reduced, "learning-rate-not-reduced", "same as before"),
    (tune_rate_reduced_too_much, "learning-rate-too-small", "reduced too much"),
    (tune_rate_too_large, "learning-rate-too-large", "larger than"),
    (tune_rate_schedule, "learning-rate-schedule", "schedule"),
    (tune_from_logits_false, "loss-probabilities", "from_logits is False"),
    (tune_string_loss, "loss-string", "'binary_crossentropy'"),
    (tune_function_loss, "loss-class", "loss_function is binary_crossentropy,"),
    (tune_other_loss, "loss-class", "MeanSquaredError"),
    (tune_sgd, "optimizer-class", "SGD"),
    (tune_adamw, "optimizer-class", "AdamW"),
    (tune_string_optimizer, "optimizer-string", "default learning rate"),
    (tune_accuracy_string, "metric-threshold", "threshold 0.5"),
    (tune_default_binary_accuracy, "metric-threshold", "threshold 0.5"),
    (tune_accuracy_class, "metric-accuracy-class", "exact matches"),
    (tune_auc_probabilities, "metric-probabilities", "AUC"),
    (tune_no_accuracy, "metric-missing", "no accuracy"),
    (tune_empty_metrics, "metrics-empty", "empty"),
    (tune_not_recompiled, "not-recompiled", "compile the model again"),
]


def snapshot(model: keras.Model) -> dict[str, Any]:
    """Everything a check must leave alone: weights, trainable flags, compile state."""
    return {
        "weights": [np.array(v) for v in model.weights],
        "trainable": [(layer.name, layer.trainable) for layer in _all_layers(model)],
        "compiled": getattr(model, "compiled", False),
        "optimizer": model.optimizer if getattr(model, "compiled", False) else None,
        "optimizer_config": model.optimizer.get_config()
        if getattr(model, "optimizer", None)
        else None,
        "iterations": int(model.optimizer.iterations)
        if getattr(model, "optimizer", None)
        else None,
        "loss": getattr(model, "loss", None),
        "compile_config": dict(
            getattr(getattr(model, "_compile_config", None), "config", {}) or {}
        ),
        "nodes": [(layer.name, len(layer._inbound_nodes)) for layer in _all_layers(model)],
    }


def _all_layers(model: keras.Model) -> list[Any]:
    out = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out.extend(_all_layers(layer))
    return out


def assert_same_snapshot(before: dict[str, Any], after: dict[str, Any]) -> None:
    """Fail when anything the learner owns changed during a check."""
    assert len(before["weights"]) == len(after["weights"])
    for old, new in zip(before["weights"], after["weights"]):
        np.testing.assert_array_equal(old, new)
    for key in ("trainable", "compiled", "iterations", "nodes"):
        assert before[key] == after[key], key
    assert before["optimizer"] is after["optimizer"]
    assert before["loss"] is after["loss"]
    assert before["optimizer_config"] == after["optimizer_config"]
    assert before["compile_config"].keys() == after["compile_config"].keys()
    for key, value in before["compile_config"].items():
        assert after["compile_config"][key] is value or after["compile_config"][key] == value, key


# ---------------------------------------------------------------------------
# Keras 3 pitfalls (issue 10): `trainable = None`, the wrong base, BatchNorm frozen
# ---------------------------------------------------------------------------


def model_trainable_none(image_shape=IMG_SIZE, data_augmentation=None):
    """The learner copy's placeholder left in: Keras 3 reads None as False."""
    base_model = shared_base()
    base_model.trainable = None
    return _model(data_augmentation, base=base_model)


def tune_trainable_none(model):
    """Both trainable placeholders left as None: the base stays entirely frozen."""
    base_model = reference.find_base_model(model)
    base_model.trainable = None
    for layer in base_model.layers[:fine_tune_at]:
        layer.trainable = None
    return _compile(model, *_good_three())


def tune_new_base(model):
    """Unfreezes a new MobileNetV2 instead of the one inside `model`."""
    base_model = keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=False, weights=None
    )
    base_model.trainable = True
    for layer in base_model.layers[:fine_tune_at]:
        layer.trainable = False
    return _compile(model, *_good_three())


def tune_batchnorm_frozen(model):
    """Unfreezes the top, then freezes its BatchNorm layers as well (the Keras guide's advice)."""
    base_model = _unfreeze(model)
    for layer in base_model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    return _compile(model, *_good_three())

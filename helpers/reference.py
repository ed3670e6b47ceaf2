"""What later notebooks rebuild of earlier ones: the exercises' answers, the pipeline, saved models.

A learner may open notebook 04 without having solved 01 or 02; these
functions rebuild what an earlier notebook made, so every notebook runs on
its own. The exercises' answers are written once, in their masters:
`make_datasets`, `data_augmenter`, `alpaca_model`, `unfreeze_for_fine_tuning`
and `make_representative_dataset` call the generated `helpers.answers`
(`python -m instructor.build` exports it from solutions/) and add only what
later notebooks need around them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

# answers imports this module too (04's and 05's answers call reference.*): each side uses
# the other's names only when a function runs, so either may be imported first.
from helpers import answers, config, model_facts


def make_datasets(
    directory: Path | str = config.DATASET_DIR,
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Notebook 01's answer (`create_datasets`): the training and validation datasets, 80/20."""
    return answers.create_datasets(str(directory))


def optimize_for_training(dataset: tf.data.Dataset, *, shuffle: bool) -> tf.data.Dataset:
    """Notebook 02: decode each image once, reshuffle every epoch, prefetch.

    `cache()` sits after decoding and resizing (the expensive part) but
    before `shuffle()`, so the cached images come back in a new order each
    epoch. Unbatching first lets the shuffle mix single images, not whole
    batches.
    """
    image_count = len(dataset.file_paths)
    # unbatch() forgets the dataset's length; restoring it lets Keras size
    # each epoch instead of warning that the input "ran out of data".
    dataset = dataset.unbatch().apply(tf.data.experimental.assert_cardinality(image_count))
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(
            config.EXPECTED_TOTAL_IMAGES, seed=config.SEED, reshuffle_each_iteration=True
        )
    dataset = dataset.batch(config.BATCH_SIZE).prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(_no_autotune_thread())


def _no_autotune_thread() -> tf.data.Options:
    """Options that switch off tf.data's background autotuning thread.

    Why: `fit` drops one iterator per dataset per epoch (Keras makes the next
    epoch's iterator in advance), and in TensorFlow 2.21 dropping an iterator
    waits for its autotuning thread to wake up, which can take seconds: on a
    2-core machine this added 2-5 s, once 38 s, to epochs of about 2.5 s.
    `prefetch(AUTOTUNE)` still prefetches without the thread (its own buffer
    tuner), decoding still runs on every core, and after the first epoch the
    images come from memory, so there is nothing left to tune.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def data_augmenter() -> keras.Sequential:
    """Notebook 02's answer: a horizontal flip followed by a random rotation."""
    return answers.data_augmenter()


def alpaca_model(
    image_shape: tuple[int, int] = config.IMG_SIZE,
    data_augmentation: keras.Layer | None = None,
    weights: str | None = "imagenet",
) -> keras.Model:
    """Notebook 04's answer: MobileNetV2 (frozen, ImageNet weights) with a one-logit head.

    It calls the base with `training=False`, as the original assignment asks; on
    Keras 3 `fit` overrides that flag (keras-team/keras issue 20285), so it does
    not keep BatchNorm in inference mode once layers are unfrozen.

    `weights=None` gives the same network with the base's weights drawn at random
    (Keras' own initialisation): the baseline that shows what the ImageNet weights
    are worth (benchmarks/cross_validation.py).
    """
    model = answers.alpaca_model(image_shape, data_augmentation)
    if weights is None:
        base_model = find_base_model(model)
        untrained = keras.applications.MobileNetV2(
            input_shape=tuple(image_shape) + (3,), include_top=False, weights=None
        )
        base_model.set_weights(untrained.get_weights())
    elif weights != "imagenet":
        raise ValueError(f"weights must be 'imagenet' or None, not {weights!r}.")
    return model


def find_base_model(model: keras.Model) -> keras.Model:
    """The MobileNetV2 inside `model`, found by type and name, not by index.

    In Keras 3 `preprocess_input` adds operations, not layers, so the base
    model's position in `model.layers` differs from Keras 2 code.
    """
    base_model = model_facts.find_base_model(model)
    if base_model is None:
        raise ValueError("No MobileNetV2 base model found among the model's layers.")
    return base_model


def logit_accuracy() -> keras.metrics.Metric:
    """Accuracy for a one-unit logit output: a logit above 0 means class 1."""
    return keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")


def compile_for_phase1(model: keras.Model) -> None:
    """Notebook 04: Adam at the base rate, a logits loss and a logits accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.BASE_LEARNING_RATE),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[logit_accuracy()],
    )
    _build_optimizer(model)


def _build_optimizer(model: keras.Model) -> None:
    """Create the optimizer's slot variables now, for the weights that will train.

    Why: otherwise Adam creates them while `fit` traces its first step, and a
    `tf.function` that creates variables is traced twice; building them here
    saves that second trace (measured: about 2 s for phase 1, 4-5 s for
    fine-tuning on 2 cores). The slots start at zero either way.
    """
    model.optimizer.build(model.trainable_variables)


def freeze_batch_norm(base_model: keras.Model) -> int:
    """Freeze every BatchNormalization layer of the base; return how many there are.

    On Keras 3 a BatchNormalization layer whose own `trainable` is False runs
    in inference mode: it normalises with its stored statistics and never
    updates them, even while `fit` trains the layers around it.
    """
    norms = [layer for layer in base_model.layers if isinstance(layer, layers.BatchNormalization)]
    for layer in norms:
        layer.trainable = False
    return len(norms)


def unfreeze_for_fine_tuning(
    model: keras.Model,
    fine_tune_at: int = config.FINE_TUNE_AT,
    *,
    freeze_batchnorm: bool = config.FREEZE_BATCHNORM_IN_FINE_TUNING,
) -> tuple[keras.losses.Loss, keras.optimizers.Optimizer, list[keras.metrics.Metric]]:
    """Notebook 05's answer (`prepare_fine_tuning`): unfreeze the top, recompile at a tenth of the rate.

    `freeze_batchnorm` keeps the BatchNorm layers frozen too (the variant the
    notebook compares with the course's choice, config.FREEZE_BATCHNORM_IN_FINE_TUNING).
    """
    # On the TensorFlow backend `base_model.trainable = True` does nothing at all when the base
    # is already trainable (TensorFlow's AutoTrackable skips an assignment whose value `is` the
    # current one), so layers frozen one by one before, such as BatchNorm, would stay frozen.
    # Going through False first makes the answer's True reach every layer.
    find_base_model(model).trainable = False
    loss_function, optimizer, metrics = answers.prepare_fine_tuning(model, fine_tune_at)
    if freeze_batchnorm:
        freeze_batch_norm(find_base_model(model))
        # Keras 3 records the trainable flags when compiling: compile again so fit sees these.
        model.compile(loss=loss_function, optimizer=optimizer, metrics=metrics)
    _build_optimizer(model)
    return loss_function, optimizer, metrics


def train_phase1(
    train_dataset: tf.data.Dataset,
    validation_dataset: tf.data.Dataset,
    epochs: int = config.INITIAL_EPOCHS,
    verbose: int = 2,
) -> tuple[keras.Model, keras.callbacks.History]:
    """Notebook 04 end to end: build, compile and train the frozen model."""
    model = alpaca_model(config.IMG_SIZE, data_augmenter())
    compile_for_phase1(model)
    history = model.fit(
        train_dataset, validation_data=validation_dataset, epochs=epochs, verbose=verbose
    )
    return model, history


def save_phase1(
    model: keras.Model,
    history: keras.callbacks.History,
    directory: Path = config.ARTIFACTS_DIR,
) -> Path:
    """Save the phase-1 model and its history so notebook 05 can continue from them."""
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / config.PHASE1_MODEL_FILE
    model.save(model_path)
    history_record = {"epoch": list(history.epoch), "history": history.history}
    (directory / config.PHASE1_HISTORY_FILE).write_text(json.dumps(history_record))
    return model_path


def load_phase1(
    directory: Path = config.ARTIFACTS_DIR,
) -> tuple[keras.Model, keras.callbacks.History] | None:
    """The model and history saved by notebook 04, or None when there are none."""
    model_path = directory / config.PHASE1_MODEL_FILE
    history_path = directory / config.PHASE1_HISTORY_FILE
    if not (model_path.exists() and history_path.exists()):
        return None
    model = keras.saving.load_model(model_path, compile=False)
    compile_for_phase1(model)
    record = json.loads(history_path.read_text())
    history = keras.callbacks.History()
    history.epoch = record["epoch"]
    history.history = record["history"]
    return model, history


# The ways notebook 05 continues from one phase-1 model, each for FINE_TUNE_EPOCHS more epochs.
# The control trains only the head: fine-tuning's gain is what it adds over this.
HEAD_ONLY = "head only (control)"
BATCHNORM_ADAPTING = "fine-tuned, BatchNorm adapting"
BATCHNORM_FROZEN = "fine-tuned, BatchNorm frozen"
CONTINUATIONS: tuple[str, ...] = (HEAD_ONLY, BATCHNORM_ADAPTING, BATCHNORM_FROZEN)


def prepare_continuation(model: keras.Model, continuation: str) -> None:
    """Set `model` up for one of CONTINUATIONS: freeze or unfreeze, then compile."""
    if continuation == HEAD_ONLY:
        find_base_model(model).trainable = False
        compile_for_phase1(model)
    elif continuation in (BATCHNORM_ADAPTING, BATCHNORM_FROZEN):
        unfreeze_for_fine_tuning(model, freeze_batchnorm=continuation == BATCHNORM_FROZEN)
    else:
        raise ValueError(f"Unknown continuation {continuation!r}; choose from {CONTINUATIONS}.")


def continue_phase1(
    continuation: str,
    train_dataset: tf.data.Dataset,
    validation_dataset: tf.data.Dataset,
    epochs: int = config.FINE_TUNE_EPOCHS,
    directory: Path = config.ARTIFACTS_DIR,
) -> keras.callbacks.History:
    """Load a fresh copy of the saved phase-1 model and train it `epochs` more, one way.

    Every continuation starts from the same saved weights, so their
    validation accuracies differ only by what they train (and by chance).
    """
    saved = load_phase1(directory)
    if saved is None:
        raise FileNotFoundError(
            f"No phase-1 model in {directory}: run notebook 04, or save one with save_phase1()."
        )
    model, history = saved
    prepare_continuation(model, continuation)
    return model.fit(
        train_dataset,
        validation_data=validation_dataset,
        epochs=len(history.epoch) + epochs,
        initial_epoch=len(history.epoch),
        verbose=0,
    )


def pooled_features(
    base_model: keras.Model, dataset: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """Notebook 04's yardstick: each image's 1280 pooled features from the frozen base, and its label.

    No augmentation: every image is seen once, as it is. The base runs in
    inference mode (`predict`), so this is what a frozen base offers a head.
    """
    import numpy as np

    extractor = keras.Sequential([base_model, layers.GlobalAveragePooling2D()])
    features, labels = [], []
    for images, batch_labels in dataset:
        preprocessed = keras.applications.mobilenet_v2.preprocess_input(images)
        features.append(np.asarray(extractor.predict_on_batch(preprocessed)))
        labels.append(batch_labels.numpy())
    return np.concatenate(features), np.concatenate(labels).astype("float32")


def overlapping_files(
    train_dataset: tf.data.Dataset, validation_dataset: tf.data.Dataset
) -> set[str]:
    """Files that appear in both subsets (empty when the seeds match)."""
    return set(train_dataset.file_paths) & set(validation_dataset.file_paths)


def predict_dataset(
    model: keras.Model, dataset: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images, true labels and predicted probabilities of class 1, in one pass.

    The images are returned in [0, 255] as the dataset yields them, ready to plot.
    """
    images, labels, logits = [], [], []
    for batch_images, batch_labels in dataset:
        images.append(batch_images.numpy())
        labels.append(batch_labels.numpy())
        # predict_on_batch runs a compiled inference step; an eager model() call
        # per batch holds on to far more memory (about 1.2 GB more here).
        logits.append(np.asarray(model.predict_on_batch(batch_images)).reshape(-1))
    probabilities = tf.sigmoid(np.concatenate(logits)).numpy()
    return np.concatenate(images), np.concatenate(labels), probabilities


# --- Notebook 05 saves the fine-tuned model; notebook 06 exports it ---


def train_fine_tuned(
    train_dataset: tf.data.Dataset,
    validation_dataset: tf.data.Dataset,
    verbose: int = 2,
) -> keras.Model:
    """Notebooks 04 and 05 end to end: phase 1, then fine-tuning from FINE_TUNE_AT.

    For a notebook opened before 05 has saved its model (06 run first). It uses
    the same reference steps as the notebooks, so the result is the course's model.
    """
    model, history = train_phase1(train_dataset, validation_dataset, verbose=verbose)
    unfreeze_for_fine_tuning(model)
    model.fit(
        train_dataset,
        validation_data=validation_dataset,
        epochs=len(history.epoch) + config.FINE_TUNE_EPOCHS,
        initial_epoch=len(history.epoch),
        verbose=verbose,
    )
    return model


def save_fine_tuned(model: keras.Model, directory: Path = config.ARTIFACTS_DIR) -> Path:
    """Save the fine-tuned model so notebook 06 can export it; returns the file written."""
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / config.FINE_TUNED_MODEL_FILE
    model.save(model_path)
    return model_path


def load_fine_tuned(directory: Path = config.ARTIFACTS_DIR) -> keras.Model | None:
    """The model saved by notebook 05, compiled for evaluation, or None when there is none."""
    model_path = directory / config.FINE_TUNED_MODEL_FILE
    if not model_path.exists():
        return None
    model = keras.saving.load_model(model_path, compile=False)
    # No optimizer: 06 only predicts and evaluates, it never trains this model.
    model.compile(
        loss=keras.losses.BinaryCrossentropy(from_logits=True), metrics=[logit_accuracy()]
    )
    return model


def make_representative_dataset(
    dataset: tf.data.Dataset, count: int = config.REPRESENTATIVE_SAMPLES
) -> Any:
    """Notebook 06's answer: the converter's calibration images, one at a time.

    Returns a function without arguments that yields, `count` times, a list
    holding one batch of one training image: float32, shape (1, 160, 160, 3),
    raw pixels in [0, 255], because the model applies `preprocess_input` itself.
    The labels stay behind: the model has one input, the image.
    """
    return answers.make_representative_dataset(dataset, count)

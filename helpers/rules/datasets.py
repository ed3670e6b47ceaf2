"""Rules for exercise 1, `create_datasets`: the two datasets apart and together.

`check_datasets` in `helpers.graders` applies them. Each rule adds one code and
one message per problem to the `Findings` it is given and returns nothing.

    unpack_datasets(train, validation)      accept the pair that subset='both' returns
    split_problems(train_files, validation_files, findings)   the split between the two
    dataset_problems(name, dataset, expected_files, findings)   one dataset alone
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import tensorflow as tf

from helpers import config
from helpers.verdicts import Findings


def _batch_size_of(dataset: tf.data.Dataset) -> int | None:
    """The batch size, read from the pipeline without iterating (iterating would reshuffle)."""
    node: Any = dataset
    for _ in range(50):
        size = getattr(node, "_batch_size", None)
        if size is not None:
            try:
                return int(size)
            except Exception:
                return None
        node = getattr(node, "_input_dataset", None)
        if node is None:
            return None
    return None


def _class_of(path: str) -> str:
    """The class of an image: the name of the folder it sits in."""
    return Path(path).parent.name


def unpack_datasets(train_dataset: Any, validation_dataset: Any) -> tuple[Any, Any]:
    """Accept the pair that `subset='both'` returns, passed as one argument."""
    if validation_dataset is None and isinstance(train_dataset, (tuple, list)):
        if len(train_dataset) == 2:
            return train_dataset[0], train_dataset[1]
    return train_dataset, validation_dataset


def split_problems(train_files: list[str], validation_files: list[str], findings: Findings) -> None:
    """The two subsets together: all images, split as asked, none in both, both classes seen."""
    n_train, n_validation = len(train_files), len(validation_files)
    shared = set(train_files) & set(validation_files)
    expected_train, expected_validation = (
        config.EXPECTED_TRAIN_FILES,
        config.EXPECTED_VALIDATION_FILES,
    )

    total = config.EXPECTED_TOTAL_IMAGES
    if total in (n_train, n_validation):
        findings.add(
            "no-split",
            f"{'train_dataset' if n_train == total else 'validation_dataset'}"
            f" holds all {total} images: split them into training and validation "
            "subsets (look at validation_split and subset).",
        )
    elif set(train_files) == set(validation_files):
        findings.add(
            "same-subset",
            f"Both datasets hold the same {n_train} files: one should be the training "
            "subset and the other the validation subset (look at the subset argument).",
        )
    elif (n_train, n_validation) == (expected_validation, expected_train) and not shared:
        findings.add(
            "swapped",
            "The datasets are swapped: the training subset is the larger one "
            "(look at the subset argument of each call).",
        )
    elif shared:
        findings.add(
            "overlap",
            f"{len(shared)} image(s) are in both datasets, so validation would measure "
            "images the model trained on. Both calls must split the files the same way: "
            "look at the seed (and shuffle) arguments of the two calls.",
        )
    elif n_train + n_validation != total:
        findings.add(
            "file-count",
            f"The datasets hold {n_train + n_validation} images, not the {total} of the "
            "dataset: is the directory the dataset folder with its two class folders?",
        )
    elif (n_train, n_validation) != (expected_train, expected_validation):
        findings.add(
            "split",
            f"The split is {n_train} training / {n_validation} validation images, not "
            f"{expected_train} / {expected_validation}: look at validation_split.",
        )
    elif len({_class_of(p) for p in validation_files}) < 2:
        findings.add(
            "one-class-validation",
            "Every validation image comes from one class: the files were not shuffled "
            "before the split (look at the shuffle argument).",
        )


def dataset_problems(
    name: str, dataset: tf.data.Dataset, expected_files: int, findings: Findings
) -> None:
    """Checks one dataset alone: class names, image and label shapes, batch size."""
    class_names = getattr(dataset, "class_names", None)
    if class_names is not None and list(class_names) != list(config.CLASS_NAMES):
        findings.add(
            "class-names",
            f"`{name}.class_names` is {list(class_names)}, but the classes should be the "
            "two folders of the dataset directory, alpaca and not alpaca.",
        )
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        findings.add(
            "labels-missing",
            f"`{name}` yields {type(spec).__name__} elements, not (images, labels) pairs: "
            "keep the labels inferred from the folder names (look at label_mode).",
        )
        return
    images, labels = spec
    shape = tuple(images.shape)
    if len(shape) == 3:
        findings.add(
            "not-batched",
            f"`{name}` yields single images of shape {shape}, not batches: "
            "look at the batch_size argument.",
        )
        return
    if len(shape) != 4:
        findings.add(
            "image-shape",
            f"`{name}` yields images of shape {shape}; expected batches "
            "of colour images (batch, height, width, 3).",
        )
        return
    if tuple(shape[1:3]) != tuple(config.IMG_SIZE):
        findings.add(
            "image-size",
            f"`{name}` resizes images to {tuple(shape[1:3])}, not to IMG_SIZE "
            f"{tuple(config.IMG_SIZE)}: look at the image_size argument.",
        )
    if shape[3] != 3:
        findings.add(
            "channels",
            f"`{name}` images have {shape[3]} channel(s), not 3 (RGB): "
            "look at the color_mode argument.",
        )
    label_shape = tuple(labels.shape)
    if len(label_shape) == 2 and label_shape[1] not in (None, 1):
        findings.add(
            "label-mode",
            f"`{name}` yields one-hot labels of shape {label_shape}; this binary task "
            "uses one integer label per image (look at label_mode).",
        )
    batch = _batch_size_of(dataset)
    if batch is not None and batch != config.BATCH_SIZE:
        findings.add(
            "batch-size",
            f"`{name}` has batches of {batch} images, not BATCH_SIZE "
            f"({config.BATCH_SIZE}): look at the batch_size argument.",
        )
    elif batch is None:
        # Without a batch node, cardinality still tells how many batches there are.
        cardinality = int(dataset.cardinality())
        if cardinality >= 0 and cardinality != math.ceil(expected_files / config.BATCH_SIZE):
            findings.add(
                "batch-size",
                f"`{name}` has {cardinality} batches, which does not "
                f"match BATCH_SIZE ({config.BATCH_SIZE}): look at batch_size.",
            )

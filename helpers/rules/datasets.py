"""Rules for exercise 1, `create_datasets`: the two datasets apart and together.

`check_datasets` in `helpers.graders` collects the facts of each dataset
(`DatasetFacts.of`) into `DatasetsEvidence`; `judge` applies the rules to that
evidence, in the notebook or, in a grading run, in the judge's process. Each
rule adds one code and one message per problem to the `Findings` it is given.

    unpack_datasets(train, validation)      accept the pair that subset='both' returns
    DatasetFacts.of(dataset)                what the rules read of one dataset
    DatasetsEvidence                        both datasets' facts, stored as JSON
    judge(evidence)                         all the rules below
    split_problems(train_files, validation_files, findings)   the split between the two
    dataset_problems(name, facts, expected_files, findings)   one dataset alone
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tensorflow as tf

from helpers import config
from helpers.evidence import EvidenceError, field, shape_of, string_list
from helpers.verdicts import Findings

# Bounds on a dataset's recorded file list (the course's has 327 files).
MAX_FILES = 100_000
MAX_PATH_CHARS = 4096


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


@dataclass
class DatasetFacts:
    """What the rules read of one dataset: files, classes, element spec, batching."""

    file_paths: list[str]
    class_names: list[str] | None
    element_type: str  # the type of the element spec, named in a message
    pairs: bool  # elements are (images, labels) pairs
    image_shape: tuple[int | None, ...] | None
    label_shape: tuple[int | None, ...] | None
    batch_size: int | None  # read from the pipeline, None without a batch node
    cardinality: int  # batches, or a negative tf.data constant when unknown

    @classmethod
    def of(cls, dataset: tf.data.Dataset) -> DatasetFacts:
        """Read the facts off a dataset without iterating it (iterating would reshuffle)."""
        class_names = getattr(dataset, "class_names", None)
        spec = dataset.element_spec
        pairs = isinstance(spec, tuple) and len(spec) == 2
        images, labels = spec if pairs else (None, None)
        return cls(
            file_paths=[str(path) for path in dataset.file_paths],
            class_names=None if class_names is None else [str(name) for name in class_names],
            element_type=type(spec).__name__,
            pairs=pairs,
            image_shape=tuple(images.shape) if pairs else None,
            label_shape=tuple(labels.shape) if pairs else None,
            batch_size=_batch_size_of(dataset),
            cardinality=int(dataset.cardinality()),
        )

    def to_json(self) -> dict[str, Any]:
        """The facts as JSON."""
        return {
            **vars(self),
            "image_shape": None if self.image_shape is None else list(self.image_shape),
            "label_shape": None if self.label_shape is None else list(self.label_shape),
        }

    @classmethod
    def from_json(cls, facts: Any) -> DatasetFacts:
        """`to_json`'s facts back, each field checked."""
        if not isinstance(facts, dict):
            raise EvidenceError("a dataset's facts are not an object")
        paths = string_list(facts, "file_paths")
        if len(paths) > MAX_FILES or any(len(path) > MAX_PATH_CHARS for path in paths):
            raise EvidenceError("a dataset's file list is too long")
        pairs = field(facts, "pairs", bool)
        image_shape, label_shape = facts.get("image_shape"), facts.get("label_shape")
        return cls(
            file_paths=paths,
            class_names=string_list(facts, "class_names", optional=True),
            element_type=field(facts, "element_type", str)[:200],
            pairs=pairs,
            image_shape=shape_of(image_shape, "image_shape") if pairs else None,
            label_shape=shape_of(label_shape, "label_shape") if pairs else None,
            batch_size=field(facts, "batch_size", int, optional=True),
            cardinality=field(facts, "cardinality", int),
        )


@dataclass
class DatasetsEvidence:
    """Both datasets' facts: everything exercise 1's rules judge."""

    train: DatasetFacts
    validation: DatasetFacts

    def write(self, folder: Any) -> dict[str, Any]:
        """No files: the facts are the evidence."""
        return {"train": self.train.to_json(), "validation": self.validation.to_json()}

    @classmethod
    def read(cls, facts: dict[str, Any], folder: Any) -> DatasetsEvidence:
        return cls(
            DatasetFacts.from_json(facts.get("train")),
            DatasetFacts.from_json(facts.get("validation")),
        )


def judge(evidence: DatasetsEvidence) -> Findings:
    """Exercise 1's rules on the evidence: the split, then each dataset alone."""
    findings = Findings()
    split_problems(evidence.train.file_paths, evidence.validation.file_paths, findings)
    dataset_problems("train_dataset", evidence.train, config.EXPECTED_TRAIN_FILES, findings)
    dataset_problems(
        "validation_dataset", evidence.validation, config.EXPECTED_VALIDATION_FILES, findings
    )
    return findings


def dataset_problems(
    name: str, facts: DatasetFacts, expected_files: int, findings: Findings
) -> None:
    """Checks one dataset alone: class names, image and label shapes, batch size."""
    class_names = facts.class_names
    if class_names is not None and list(class_names) != list(config.CLASS_NAMES):
        findings.add(
            "class-names",
            f"`{name}.class_names` is {list(class_names)}, but the classes should be the "
            "two folders of the dataset directory, alpaca and not alpaca.",
        )
    if not facts.pairs:
        findings.add(
            "labels-missing",
            f"`{name}` yields {facts.element_type} elements, not (images, labels) pairs: "
            "keep the labels inferred from the folder names (look at label_mode).",
        )
        return
    shape = tuple(facts.image_shape or ())
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
    label_shape = tuple(facts.label_shape or ())
    if len(label_shape) == 2 and label_shape[1] not in (None, 1):
        findings.add(
            "label-mode",
            f"`{name}` yields one-hot labels of shape {label_shape}; this binary task "
            "uses one integer label per image (look at label_mode).",
        )
    batch = facts.batch_size
    if batch is not None and batch != config.BATCH_SIZE:
        findings.add(
            "batch-size",
            f"`{name}` has batches of {batch} images, not BATCH_SIZE "
            f"({config.BATCH_SIZE}): look at the batch_size argument.",
        )
    elif batch is None:
        # Without a batch node, cardinality still tells how many batches there are.
        cardinality = facts.cardinality
        if cardinality >= 0 and cardinality != math.ceil(expected_files / config.BATCH_SIZE):
            findings.add(
                "batch-size",
                f"`{name}` has {cardinality} batches, which does not "
                f"match BATCH_SIZE ({config.BATCH_SIZE}): look at batch_size.",
            )

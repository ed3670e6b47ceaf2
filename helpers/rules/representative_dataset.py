"""Rules for exercise 5 (notebook 06), `make_representative_dataset`: what the converter gets.

`check_representative_dataset` in `helpers.graders` reads the learner's
samples and collects `RepresentativeEvidence` (the samples' structure as JSON,
their arrays in a .npz file in a grading run); `judge` applies the rules.

    RepresentativeEvidence                what exercise 5's rules read
    judge(evidence)                       every rule below, and the count of samples
    calibration_images()                  the grader's own images (the same in every process)
    calibration_dataset()                 the grader's own small (images, labels) dataset
    collect_samples(function, cap)        up to `cap` samples from the learner's generator
    expected_scaling(model)               raw pixels or preprocessed ones, as the model wants
    sample_problems(samples, sources, expected, findings)   structure, shape, dtype, scaling
    SAMPLE_CAP_EXTRA                      how many samples past `count` are read at most

Facts behind the messages, checked on TensorFlow 2.21 / Keras 3.15 by exporting
the course's model with each mistake: a sample without a batch axis fails in the
converter's CONV_2D ("input->dims->size != 4"), float64 or uint8 fails with
"Cannot set tensor", a bare array or an (image, label) pair is refused, a tuple
is read as (signature, inputs); a batch of 32 and a tf.Tensor are accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers import config
from helpers.evidence import (
    EvidenceError,
    decode_tree,
    encode_tree,
    field,
    read_arrays,
    write_arrays,
)
from helpers.model_facts import find_base_call, graph_of, main_path
from helpers.rules.augmentation import ramp_image
from helpers.verdicts import FAILED, Findings, Verdict

# At most this many samples are read from the learner's generator: enough to see
# that it stops at `count`, and a bound on one that never stops.
SAMPLE_CAP_EXTRA = 20


def calibration_images() -> np.ndarray:
    """The grader's own calibration images, the same in every process (seeded).

    Every image differs from the others and holds pixels 0 and 255, so the
    grader can tell a raw image from a preprocessed or rescaled one, and which
    image of the dataset each sample is.
    """
    count, shape = config.GRADER_CALIBRATION_IMAGES, tuple(config.IMG_SHAPE)
    rng = np.random.default_rng(config.SEED)
    images = rng.uniform(0.0, 255.0, (count, *shape)).astype("float32")
    images[:, 0, 0, :], images[:, -1, -1, :] = 0.0, 255.0
    return images


def calibration_dataset() -> tuple[tf.data.Dataset, np.ndarray]:
    """A small stand-in for the training dataset: batches of (images, labels), as notebook 06's."""
    images = calibration_images()
    labels = (np.arange(len(images)) % 2).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(
        config.GRADER_CALIBRATION_BATCH
    )
    return dataset, images


@dataclass
class RepresentativeEvidence:
    """The samples read from the learner's generator, and what the model wants of them."""

    samples: list[Any]
    finished: bool  # the generator ran out by itself (within SAMPLE_CAP_EXTRA past count)
    expected: str  # "raw" or "preprocessed" (expected_scaling of the model passed)

    def write(self, folder: Path) -> dict[str, Any]:
        arrays: dict[str, np.ndarray] = {}
        budget = [config.EVIDENCE_MAX_SAMPLES_BYTES]
        trees = [encode_tree(sample, arrays, budget) for sample in self.samples]
        write_arrays(folder, arrays)
        return {"samples": trees, "finished": self.finished, "expected": self.expected}

    @classmethod
    def read(cls, facts: dict[str, Any], folder: Path) -> RepresentativeEvidence:
        trees = field(facts, "samples", list)
        if len(trees) > config.GRADER_CALIBRATION_COUNT + SAMPLE_CAP_EXTRA:
            raise EvidenceError("more samples were recorded than the grader reads")
        expected = field(facts, "expected", str)
        if expected not in ("raw", "preprocessed"):
            raise EvidenceError("the fact 'expected' is neither raw nor preprocessed")
        arrays = read_arrays(folder)
        return cls(
            [decode_tree(tree, arrays) for tree in trees], field(facts, "finished", bool), expected
        )


def judge(evidence: RepresentativeEvidence) -> Findings:
    """Exercise 5's rules: something yielded, each sample right, count of them, all different."""
    findings = Findings()
    samples, count = evidence.samples, config.GRADER_CALIBRATION_COUNT
    if not samples:
        raise Verdict(
            FAILED,
            "empty",
            "The generator yields nothing: the converter would have no "
            "images to calibrate with (is there a `yield` inside your loop?).",
        )
    matched = sample_problems(samples, calibration_images(), evidence.expected, findings)
    if not evidence.finished:
        findings.add(
            "endless",
            f"The generator does not stop: the grader read {len(samples)} "
            f"samples with count = {count}. It must stop after count images.",
        )
    elif len(samples) < count and "batch-size" not in findings.codes:
        findings.add(
            "too-few",
            f"The generator yields {len(samples)} sample(s), but count is "
            f"{count}: fewer images give the converter too little to measure the ranges "
            "of the activations. Yield one sample per image until you have count (the "
            "dataset holds batches of several images).",
        )
    elif len(samples) > count and "batch-size" not in findings.codes:
        findings.add(
            "too-many",
            f"The generator yields {len(samples)} samples, but count is "
            f"{count}: use the count argument, not a number of your own.",
        )
    if len(matched) > 1 and len(set(matched)) == 1:
        findings.add(
            "same-image",
            "Every sample is the same image: calibrate on count different "
            "training images, so the ranges cover more than one photo.",
        )
    return findings


def as_array(value: Any) -> np.ndarray | None:
    """A tensor or array as a numpy array (a copy for tensors), or None when it is neither."""
    if isinstance(value, np.ndarray):
        return value
    if tf.is_tensor(value):
        try:
            return np.asarray(value)
        except Exception:
            return None
    return None


def looks_like_labels(value: Any, images_in_batch: int) -> bool:
    """A label batch: integers or one number per image, not an image."""
    array = as_array(value)
    if array is None:
        return isinstance(value, (int, float, np.integer, np.floating))
    return (
        array.ndim <= 1
        or (array.ndim == 2 and array.shape[1] == 1)
        or (array.size == images_in_batch)
    )


def expected_scaling(model: Any) -> str:
    """'raw' when the model scales pixels itself (the course's model), 'preprocessed' when not.

    Runs the layers before the MobileNetV2 base on a ramp of raw pixels, as
    check_alpaca_model does; a model it cannot read counts as the course's.
    """
    if model is None:
        return "raw"
    try:
        path = main_path(model)
        found = find_base_call(model, path)
        if found is None:
            return "raw"
        graph = graph_of(model)
        base_input = list(found[1].input_tensors)[0]
        if base_input is graph.inputs[0]:
            return "preprocessed"
        pixels = ramp_image(tuple(config.IMG_SHAPE))
        seen = np.asarray(keras.Model(graph.inputs[0], base_input)(pixels, training=False))
        return "preprocessed" if np.allclose(seen, pixels, atol=1e-3) else "raw"
    except Exception:
        return "raw"


def scaling_of(image: np.ndarray, sources: np.ndarray) -> tuple[str, int] | None:
    """Which source image `image` is, and how it was scaled: raw, preprocessed or unit."""
    image = image.astype("float32", copy=False)
    # Raw pixels cast to an integer type lose their fractions: up to 1 away.
    mappings = (
        ("raw", lambda s: s, 1.01),
        ("preprocessed", lambda s: s / 127.5 - 1.0, 5e-3),
        ("unit", lambda s: s / 255.0, 3e-3),
    )
    for name, mapping, tolerance in mappings:
        for index, source in enumerate(sources):
            if np.allclose(image, mapping(source), atol=tolerance):
                return name, index
    return None


def collect_samples(representative_dataset: Callable[[], Any], cap: int) -> tuple[list[Any], bool]:
    """Up to `cap` samples from the generator, and whether it ran out by itself."""
    generator = representative_dataset()
    if generator is None:
        raise TypeError("representative_dataset() returned None ('NoneType' is not a generator)")
    samples: list[Any] = []
    for sample in iter(generator):
        samples.append(sample)
        if len(samples) >= cap:
            return samples, False
    return samples, True


SHAPE_TEXT = f"(1, {config.IMG_SHAPE[0]}, {config.IMG_SHAPE[1]}, {config.IMG_SHAPE[2]})"


def sample_problems(
    samples: list[Any], sources: np.ndarray, expected: str, findings: Findings
) -> list[int]:
    """Check each sample's structure, shape, dtype and pixel scale; return the source image indices."""
    seen: dict[str, str] = {}

    def once(code: str, message: str) -> None:
        if code not in seen:  # one message per kind of mistake, not one per sample
            seen[code] = message
            findings.add(code, message)

    matched: list[int] = []
    for sample in samples:
        if isinstance(sample, dict):
            once(
                "sample-dict",
                "Each sample is a dict: the input names of the exported model are "
                "made up by the converter, so give the input by position instead, in a list.",
            )
            continue
        if as_array(sample) is not None:
            once(
                "sample-not-list",
                "Each sample is a bare array: the converter expects a list "
                "holding the model's inputs, one entry per input (this model has one, the image).",
            )
            continue
        if not isinstance(sample, (list, tuple)):
            once(
                "sample-type",
                f"Each sample is a {type(sample).__name__}: yield a list holding the image batch.",
            )
            continue
        first = as_array(sample[0]) if len(sample) else None
        batch = first.shape[0] if first is not None and first.ndim == 4 else 1
        if len(sample) == 2 and looks_like_labels(sample[1], batch):
            once(
                "labels",
                "Each sample holds two items, the images and their labels: the model "
                "has one input, the image, and calibration only runs the model forward, so it "
                "needs no labels.",
            )
        elif len(sample) != 1:
            once(
                "sample-length",
                f"Each sample holds {len(sample)} items: the model has one "
                "input, so each sample is a list of one image batch.",
            )
            continue
        elif isinstance(sample, tuple):
            once(
                "sample-tuple",
                "Each sample is a tuple: the converter reads a tuple as "
                "(signature name, inputs) and fails. Yield a list.",
            )
        if first is None:
            once(
                "element-type",
                f"The sample holds a {type(sample[0]).__name__}, not an image array or tensor.",
            )
            continue
        if first.dtype != np.float32:
            once(
                "dtype",
                f"The images are {first.dtype}, but the model's input is float32: the "
                "converter refuses any other type ('Cannot set tensor'). Look at the dtype of "
                "what you yield.",
            )
        if first.ndim == 3 and tuple(first.shape) == tuple(config.IMG_SHAPE):
            once(
                "batch-axis",
                f"Each image has shape {tuple(first.shape)}, without a batch axis: "
                f"the model takes batches, so each sample must have shape {SHAPE_TEXT}, a batch "
                "of one image.",
            )
            images = first[np.newaxis]
        elif first.ndim == 4 and tuple(first.shape[1:]) == tuple(config.IMG_SHAPE):
            if first.shape[0] != 1:
                once(
                    "batch-size",
                    f"Each sample is a batch of {first.shape[0]} images: yield one "
                    f"image at a time, shape {SHAPE_TEXT}, so that count counts images (the "
                    "dataset you are given holds batches: take the images out of them).",
                )
            images = first
        else:
            once(
                "image-shape",
                f"The samples have shape {tuple(first.shape)}, but the model "
                f"takes {SHAPE_TEXT}: one image of the training set's size, with a batch axis.",
            )
            continue
        for image in images:
            found = scaling_of(image, sources)
            if found is None:
                once(
                    "not-dataset-images",
                    "The samples are not the dataset's images as it gives "
                    "them: calibrate on the training images themselves, unchanged, so the "
                    "converter sees what the model will see.",
                )
                continue
            scaling, index = found
            matched.append(index)
            if scaling == expected:
                continue
            if scaling == "preprocessed":
                once(
                    "preprocessed",
                    "The samples are already scaled to [-1, 1] by preprocess_input,"
                    " but the model applies preprocess_input itself, as its first step: the "
                    "converter would measure ranges for images preprocessed twice. Yield the raw "
                    "pixels, in [0, 255].",
                )
            elif scaling == "unit":
                once(
                    "scaled",
                    "The samples are scaled to [0, 1], but the model takes raw pixels in "
                    "[0, 255] and scales them itself: calibrate with what the model receives.",
                )
            else:
                once(
                    "raw-for-preprocessing-model",
                    "The samples are raw pixels in [0, 255], but "
                    "this model does not scale its inputs itself: give it the images scaled the "
                    "way its base expects, as it will receive them in the app.",
                )
    return matched

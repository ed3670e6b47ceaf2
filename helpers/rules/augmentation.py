"""Rules for exercise 2, `data_augmenter`: the augmentation layers and what they do.

`check_data_augmenter` in `helpers.graders` collects the augmenter the learner's
function returns (`AugmenterEvidence`, stored as a .keras file in a grading run);
`judge` applies the rules to it. `helpers.rules.alpaca_model` applies
`augmentation_problems` again to augmentation built inside the model.

    AugmenterEvidence                               the Sequential data_augmenter() returned
    judge(evidence)                                 a Sequential, not empty, then the rules below
    not_sequential_message(type_name)               the one message for any other type
    augmentation_problems(layers, findings, where)   a horizontal flip, then the rotation
    augmenter_behaviour(augmenter, findings)        images unchanged at inference
    ramp_image(shape)                               the test image both exercises feed in
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from helpers import config
from helpers.evidence import read_model, write_model
from helpers.learner_calls import error_line
from helpers.model_facts import flatten_layers
from helpers.verdicts import FAILED, Findings, Verdict


@dataclass
class AugmenterEvidence:
    """The model data_augmenter() returned: exercise 2's rules judge nothing else."""

    augmenter: keras.Model

    def write(self, folder: Path) -> dict[str, Any]:
        write_model(folder, self.augmenter)
        return {}

    @classmethod
    def read(cls, facts: dict[str, Any], folder: Path) -> AugmenterEvidence:
        return cls(read_model(folder))


def not_sequential_message(type_name: str) -> str:
    """What to say when data_augmenter() returns something other than a Sequential."""
    return f"data_augmenter() returned a {type_name}, not a Sequential model."


def judge(evidence: AugmenterEvidence) -> Findings:
    """Exercise 2's rules: a Sequential, not empty, the right layers, unchanged at inference."""
    findings = Findings()
    augmenter = evidence.augmenter
    if not isinstance(augmenter, keras.Sequential):
        raise Verdict(FAILED, "wrong-type", not_sequential_message(type(augmenter).__name__))
    leaves = flatten_layers(augmenter)
    if not leaves:
        raise Verdict(
            FAILED,
            "empty",
            "The Sequential that data_augmenter() returns is empty: "
            "add the augmentation layers to it.",
        )
    augmentation_problems(leaves, findings, "The augmenter")
    if not findings:
        augmenter_behaviour(augmenter, findings)
    return findings


def ramp_image(shape: tuple[int, ...]) -> np.ndarray:
    """One image whose pixels ramp from 0 to 255: every value differs, so any change shows."""
    return np.linspace(0.0, 255.0, int(np.prod(shape)), dtype="float32").reshape((1, *shape))


def _rotation_factor(layer: Any) -> tuple[float, float] | None:
    """RandomRotation's (lower, upper) as numbers (Keras 3 stores 0.2 as (-0.2, 0.2))."""
    factor = getattr(layer, "factor", None)
    try:
        if isinstance(factor, (int, float)):
            return (-abs(float(factor)), abs(float(factor)))
        lower, upper = factor
        return (float(lower), float(upper))
    except Exception:
        return None


def augmentation_problems(augmentation_layers: list[Any], findings: Findings, where: str) -> None:
    """A RandomFlip('horizontal') then a RandomRotation(ROTATION_FACTOR), nothing else."""
    flips = [l for l in augmentation_layers if isinstance(l, layers.RandomFlip)]
    rotations = [l for l in augmentation_layers if isinstance(l, layers.RandomRotation)]
    others = [l for l in augmentation_layers if l not in flips and l not in rotations]
    if not flips:
        findings.add(
            "flip-missing", f"{where} has no RandomFlip layer: it should flip images first."
        )
    for flip in flips:
        mode = getattr(flip, "mode", None)
        if mode != "horizontal":
            findings.add(
                "flip-mode",
                f"{where}'s RandomFlip uses mode '{mode}': flip images left-right "
                "only, since a photo of an alpaca is never upside down (look at the "
                "mode argument).",
            )
    if not rotations:
        findings.add("rotation-missing", f"{where} has no RandomRotation layer after the flip.")
    for rotation in rotations:
        factor = _rotation_factor(rotation)
        expected = (-config.ROTATION_FACTOR, config.ROTATION_FACTOR)
        if factor is None or not all(
            math.isclose(a, b, abs_tol=1e-6) for a, b in zip(factor, expected)
        ):
            shown = getattr(rotation, "factor", None)
            degrees = (
                " The factor is a fraction of a full turn, not degrees."
                if (factor is not None and max(abs(factor[0]), abs(factor[1])) > 1)
                else ""
            )
            findings.add(
                "rotation-factor",
                f"{where}'s RandomRotation has factor {shown}, not the one the "
                f"instructions give (look at the factor argument).{degrees}",
            )
    if len(flips) > 1 or len(rotations) > 1 or others:
        extra = [type(l).__name__ for l in others]
        if len(flips) > 1:
            extra.append("a second RandomFlip")
        if len(rotations) > 1:
            extra.append("a second RandomRotation")
        findings.add(
            "extra-layer",
            f"{where} has extra layer(s): {', '.join(extra)}. It should "
            "hold just the two layers the instructions ask for.",
        )
    if (
        flips
        and rotations
        and augmentation_layers.index(flips[0]) > augmentation_layers.index(rotations[0])
    ):
        findings.add(
            "order", f"{where} rotates before it flips: add the flip first, then the rotation."
        )


def augmenter_behaviour(augmenter: keras.Model, findings: Findings) -> None:
    """In inference mode the augmenter must leave an image unchanged.

    It runs on a copy: calling an unbuilt Sequential builds it for the shape it
    sees, and the learner's function may return an object the learner keeps.
    """
    try:
        copy = keras.models.clone_model(augmenter)
    except Exception:
        return  # custom layers that cannot be cloned: the structure checks stand alone
    shape = tuple(config.IMG_SHAPE)
    image = ramp_image(shape)
    try:
        output = np.asarray(copy(image, training=False))
    except Exception as error:
        findings.add(
            "behaviour-error",
            f"Calling the augmenter on a small image batch failed: {error_line(error)}",
        )
        return
    if output.shape != image.shape:
        findings.add(
            "behaviour-shape",
            f"The augmenter changes the shape of images from "
            f"{image.shape} to {output.shape}; it should only flip and rotate them.",
        )
    elif not np.allclose(output, image, atol=1e-4):
        findings.add(
            "behaviour-inference",
            "With training=False the augmenter still changes "
            "images: augmentation must only act during training.",
        )

"""Graders: one `check_*` per exercise, and the rules each one applies.

Each check takes the learner's object(s), displays a short verdict (HTML in
JupyterLab, plain text elsewhere) and returns a `GradeResult` with `.passed`
and `.messages`. A check never raises into the notebook, never changes the
learner's objects, and says what is wrong and where to look without printing
the answer.

    check_datasets(train_dataset, validation_dataset)
    check_data_augmenter(data_augmenter)
    check_alpaca_model(alpaca_model)
    check_fine_tuning(model, loss_function, optimizer, metrics)
    summary()

This file holds what is checked: each check screens what it was given, then
applies the rules of its exercise, one module each in `helpers.rules`
(`datasets`, `augmentation`, `alpaca_model`, `fine_tuning`). How it is checked
lives beside it: `helpers.check_runner` (`@_grader`: every check runs safely,
displayed and recorded), `helpers.verdicts` (the result and its display),
`helpers.progress` (the record behind `summary()`), `helpers.learner_calls`
(calling the learner's function in a worker thread with a time limit) and
`helpers.model_facts` (walking a model's graph, finding the MobileNetV2 base).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from helpers import config
from helpers.check_runner import grader as _grader
from helpers.learner_calls import FILL_IN as _FILL_IN
from helpers.learner_calls import call_and_screen as _call_and_screen
from helpers.model_facts import find_base_call as _find_base
from helpers.model_facts import flatten_layers as _flatten_layers
from helpers.model_facts import graph_of as _graph_of
from helpers.model_facts import main_path as _main_path
from helpers.progress import EXERCISES, ProgressSummary, summary
from helpers.rules import alpaca_model as model_rules
from helpers.rules import augmentation as augmentation_rules
from helpers.rules import datasets as dataset_rules
from helpers.rules import fine_tuning as fine_tuning_rules
from helpers.verdicts import ERROR, FAILED, NOT_YET, PASSED, GradeResult

# The checks use short private names for the two tools every check needs:
# `_Findings` collects problems, `_Verdict` ends a check early with a status.
from helpers.verdicts import Findings as _Findings
from helpers.verdicts import Verdict as _Verdict

# ---------------------------------------------------------------------------
# Exercise 1: the datasets
# ---------------------------------------------------------------------------


@_grader(
    "datasets",
    f"Both datasets are right: {config.EXPECTED_TRAIN_FILES} training and "
    f"{config.EXPECTED_VALIDATION_FILES} validation images in batches of {config.BATCH_SIZE}, "
    f"two classes, {config.IMG_SIZE[0]}\u00d7{config.IMG_SIZE[1]} RGB images, and no image "
    "in both subsets.",
)
def check_datasets(
    train_dataset: Any, validation_dataset: Any = None, *, _timings: dict[str, float]
) -> _Findings:
    """Check notebook 01's datasets: sizes, classes, shapes, batch size, no shared files."""
    findings = _Findings()
    train_dataset, validation_dataset = dataset_rules.unpack_datasets(
        train_dataset, validation_dataset
    )
    missing = [
        n
        for n, d in (("train_dataset", train_dataset), ("validation_dataset", validation_dataset))
        if d is None
    ]
    if missing:
        raise _Verdict(
            NOT_YET,
            "not-yet",
            f"Not yet: {' and '.join(f'`{m}`' for m in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} still None. {_FILL_IN}: "
            "create each dataset with image_dataset_from_directory.",
        )
    for name, dataset in (
        ("train_dataset", train_dataset),
        ("validation_dataset", validation_dataset),
    ):
        if not isinstance(dataset, tf.data.Dataset):
            raise _Verdict(
                FAILED,
                "wrong-type",
                f"`{name}` is a {type(dataset).__name__}, not a tf.data.Dataset: "
                "create it with image_dataset_from_directory.",
            )
        if getattr(dataset, "file_paths", None) is None:
            raise _Verdict(
                FAILED,
                "no-file-paths",
                f"`{name}` does not know its files: pass the dataset exactly as "
                "image_dataset_from_directory returned it (before .map(), .cache() "
                "or .prefetch(), which drop file_paths and class_names).",
            )
    if train_dataset is validation_dataset:
        raise _Verdict(
            FAILED,
            "same-object",
            "You passed the same dataset twice: the second argument should be the "
            "validation dataset.",
        )

    dataset_rules.split_problems(
        list(train_dataset.file_paths), list(validation_dataset.file_paths), findings
    )
    dataset_rules.dataset_problems(
        "train_dataset", train_dataset, config.EXPECTED_TRAIN_FILES, findings
    )
    dataset_rules.dataset_problems(
        "validation_dataset", validation_dataset, config.EXPECTED_VALIDATION_FILES, findings
    )
    return findings


# ---------------------------------------------------------------------------
# Exercise 2: data_augmenter
# ---------------------------------------------------------------------------


@_grader(
    "data_augmenter",
    "data_augmenter() returns a Sequential that flips images left-right, "
    "then rotates them by a random angle, and leaves images unchanged at inference.",
)
def check_data_augmenter(
    data_augmenter: Any, *, time_limit_s: float | None = None, _timings: dict[str, float]
) -> _Findings:
    """Call the learner's `data_augmenter()` and check the model it returns."""
    findings = _Findings()
    augmenter = _call_and_screen(data_augmenter, "data_augmenter", (), time_limit_s, _timings)
    if isinstance(augmenter, (list, tuple)):
        raise _Verdict(
            FAILED,
            "wrong-type",
            f"data_augmenter() returned a {type(augmenter).__name__}"
            " of layers: put the layers into a Sequential model and return that.",
        )
    if not isinstance(augmenter, keras.Sequential):
        raise _Verdict(
            FAILED,
            "wrong-type",
            f"data_augmenter() returned a {type(augmenter).__name__}, not a Sequential model.",
        )
    leaves = _flatten_layers(augmenter)
    if not leaves:
        raise _Verdict(
            FAILED,
            "empty",
            "The Sequential that data_augmenter() returns is empty: "
            "add the augmentation layers to it.",
        )
    augmentation_rules.augmentation_problems(leaves, findings, "The augmenter")
    if not findings:
        augmentation_rules.augmenter_behaviour(augmenter, findings)
    return findings


# ---------------------------------------------------------------------------
# Exercise 3: alpaca_model
# ---------------------------------------------------------------------------


@_grader(
    "alpaca_model",
    "alpaca_model() builds the right model: augmentation, preprocessing, a "
    "frozen MobileNetV2 with ImageNet weights called with training=False, global average "
    "pooling, dropout and one logit.",
)
def check_alpaca_model(
    alpaca_model: Any, *, time_limit_s: float | None = None, _timings: dict[str, float]
) -> _Findings:
    """Call `alpaca_model(IMG_SIZE, fresh augmenter)` and check the model it builds."""
    from helpers import reference

    findings = _Findings()
    augmenter = reference.data_augmenter()
    model = _call_and_screen(
        alpaca_model, "alpaca_model", (config.IMG_SIZE, augmenter), time_limit_s, _timings
    )
    if not isinstance(model, keras.Model):
        raise _Verdict(
            FAILED,
            "wrong-type",
            f"alpaca_model() returned a {type(model).__name__}, not a keras Model.",
        )
    path = _main_path(model)
    if not path:
        raise _Verdict(
            FAILED,
            "not-functional",
            "The model has no graph of layers to inspect: "
            "build it with the Functional API, from an Input to the outputs.",
        )
    graph = _graph_of(model)
    input_shape = tuple(graph.inputs[0].shape)
    if input_shape != (None, *config.IMG_SHAPE):
        findings.add(
            "input-shape",
            f"The model's input has shape {input_shape[1:]}, not "
            f"{tuple(config.IMG_SHAPE)}: images of image_shape with 3 colour channels.",
        )
    found = _find_base(model, path)
    if found is None:
        if any(getattr(l, "name", "") == "Conv1" for l in model.layers):
            raise _Verdict(
                FAILED,
                "base-inlined",
                "MobileNetV2's layers sit directly in your "
                "model (built from base_model.input/.output): call base_model on x as "
                "one layer, so it can be frozen and run in inference mode.",
            )
        raise _Verdict(
            FAILED,
            "base-missing",
            "No MobileNetV2 base model in your model: create "
            "it with keras.applications and call it on the preprocessed images.",
        )
    base, node = found
    position = [op for op, _ in path].index(base)
    before = [op for op, _ in path[1:position]]
    head = [op for op, _ in path[position + 1 :]]
    model_rules.augmentation_in_model_problems(before, augmenter, findings)
    model_rules.preprocessing_problems(model, node, findings)
    model_rules.base_problems(base, node, findings)
    model_rules.head_problems(head, findings)
    head_weights = [w for op in head for w in op.trainable_weights]
    if not head_weights and any(op.weights for op in head):
        findings.add(
            "head-frozen",
            "The new head has no trainable weights: freeze only the "
            "base model, not the whole model.",
        )
    if model_rules.assigns_trainable_none(alpaca_model):
        findings.add(
            "trainable-none",
            "alpaca_model() sets `trainable = None`. "
            f"{model_rules.TRAINABLE_NONE_HELP} The base happens to be frozen, but say so.",
        )
    output_shape = tuple(graph.outputs[0].shape)
    if not findings and output_shape != (None, 1):
        findings.add(
            "output-shape", f"The model outputs shape {output_shape}, not one logit per image."
        )
    return findings


# ---------------------------------------------------------------------------
# Exercise 4: fine-tuning
# ---------------------------------------------------------------------------


@_grader(
    "fine_tuning",
    "Fine-tuning is set up right: the top of the base is unfrozen from "
    f"fine_tune_at on ({fine_tuning_rules.BATCHNORM_DONE}), and the model is recompiled "
    "with a logits loss, Adam at a reduced learning rate and an accuracy for logits.",
)
def check_fine_tuning(
    model: Any, loss_function: Any, optimizer: Any, metrics: Any, *, _timings: dict[str, float]
) -> _Findings:
    """Check notebook 05's unfreezing and recompiling (reads the objects, changes nothing)."""
    findings = _Findings()
    named = {
        "model": model,
        "loss_function": loss_function,
        "optimizer": optimizer,
        "metrics": metrics,
    }
    missing = [name for name, value in named.items() if value is None]
    if missing:
        raise _Verdict(
            NOT_YET,
            "not-yet",
            f"Not yet: {', '.join(f'`{m}`' for m in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} still None. {_FILL_IN}.",
        )
    if not isinstance(model, keras.Model):
        raise _Verdict(
            FAILED,
            "wrong-type",
            f"model is a {type(model).__name__}, not a keras "
            "Model: pass the model you are fine-tuning.",
        )
    path = _main_path(model)
    found = _find_base(model, path)
    if found is None:
        raise _Verdict(
            FAILED,
            "base-missing",
            "No MobileNetV2 base model found in the model: pass the model built by alpaca_model().",
        )
    base, _node = found
    if not model.trainable:
        findings.add(
            "model-frozen",
            "The whole model is frozen (model.trainable is False): "
            "unfreeze the base model instead.",
        )
    fine_tuning_rules.freezing_problems(base, findings)
    position = [op for op, _ in path].index(base)
    head = [op for op, _ in path[position + 1 :]]
    if any(op.weights for op in head) and not any(op.trainable_weights for op in head):
        findings.add(
            "head-frozen",
            "The head after the base model has no trainable weights: "
            "keep the classifier trainable.",
        )
    head_findings = _Findings()
    model_rules.head_problems(head, head_findings)
    for code, message in zip(head_findings.codes, head_findings.messages):
        if code == "output-sigmoid":
            findings.add(code, message)
    fine_tuning_rules.loss_problems(loss_function, findings)
    fine_tuning_rules.optimizer_problems(optimizer, findings)
    fine_tuning_rules.metrics_problems(metrics, findings)
    fine_tuning_rules.compile_problems(model, loss_function, optimizer, metrics, findings)
    return findings


__all__ = [
    "ERROR",
    "EXERCISES",
    "FAILED",
    "NOT_YET",
    "PASSED",
    "GradeResult",
    "ProgressSummary",
    "check_alpaca_model",
    "check_data_augmenter",
    "check_datasets",
    "check_fine_tuning",
    "summary",
]

"""Rules for exercise 3, `alpaca_model`: augmentation, preprocessing, base and head.

`check_alpaca_model` in `helpers.graders` calls the learner's function and
collects `AlpacaModelEvidence` (the model, as a .keras file in a grading run,
and what the kernel alone can tell: which augmenter it passed, whether the
source sets `trainable = None`); `judge` applies the rules to it. Fine-tuning
works on this model, so `helpers.rules.fine_tuning` uses `ends_in_sigmoid`
and `assigns_trainable_none`.

    AlpacaModelEvidence                     the model and the kernel's facts about it
    judge(evidence)                         the model's graph, then every rule below
    augmentation_in_model_problems(before_base, given_name, given_called, findings)
                                            the augmenter is applied
    preprocessing_problems(model, base_node, findings)   pixels reach the base in [-1, 1]
    base_problems(base, node, findings)       MobileNetV2 without top, ImageNet weights, frozen
    head_problems(head, findings)             pooling, dropout, one linear output unit
    ends_in_sigmoid(head)                     the output is a probability, not a logit
    assigns_trainable_none(function)          a `trainable = None` placeholder left in
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from helpers import config
from helpers.evidence import field, read_model, write_model
from helpers.learner_calls import error_line
from helpers.model_facts import (
    find_base_call,
    flatten_layers,
    graph_of,
    imagenet_first_kernel,
    main_path,
    weight_file_name,
)
from helpers.rules.augmentation import augmentation_problems, ramp_image
from helpers.verdicts import FAILED, Findings, Verdict

# ---------------------------------------------------------------------------
# The evidence, and the rules in the order they apply
# ---------------------------------------------------------------------------


@dataclass
class AlpacaModelEvidence:
    """The model alpaca_model() built, and what only the kernel could see of its making."""

    model: keras.Model
    augmenter_name: str  # the name of the augmenter the grader passed in
    augmenter_called: bool  # whether anything called that augmenter
    trainable_none: bool  # the function's source sets `.trainable = None`

    def write(self, folder: Path) -> dict[str, Any]:
        write_model(folder, self.model)
        return {
            "augmenter_name": self.augmenter_name,
            "augmenter_called": self.augmenter_called,
            "trainable_none": self.trainable_none,
        }

    @classmethod
    def read(cls, facts: dict[str, Any], folder: Path) -> AlpacaModelEvidence:
        return cls(
            read_model(folder),
            field(facts, "augmenter_name", str)[:200],
            field(facts, "augmenter_called", bool),
            field(facts, "trainable_none", bool),
        )


def not_functional_message() -> str:
    """What to say about a model without a graph of layers."""
    return (
        "The model has no graph of layers to inspect: "
        "build it with the Functional API, from an Input to the outputs."
    )


def judge(evidence: AlpacaModelEvidence) -> Findings:
    """Exercise 3's rules: input, base, what comes before it, the head, the output."""
    findings = Findings()
    model = evidence.model
    path = main_path(model)
    if not path:
        raise Verdict(FAILED, "not-functional", not_functional_message())
    graph = graph_of(model)
    input_shape = tuple(graph.inputs[0].shape)
    if input_shape != (None, *config.IMG_SHAPE):
        findings.add(
            "input-shape",
            f"The model's input has shape {input_shape[1:]}, not "
            f"{tuple(config.IMG_SHAPE)}: images of image_shape with 3 colour channels.",
        )
    found = find_base_call(model, path)
    if found is None:
        if any(getattr(l, "name", "") == "Conv1" for l in model.layers):
            raise Verdict(
                FAILED,
                "base-inlined",
                "MobileNetV2's layers sit directly in your "
                "model (built from base_model.input/.output): call base_model on x as "
                "one layer, so it can be frozen and run in inference mode.",
            )
        raise Verdict(
            FAILED,
            "base-missing",
            "No MobileNetV2 base model in your model: create "
            "it with keras.applications and call it on the preprocessed images.",
        )
    base, node = found
    position = [op for op, _ in path].index(base)
    before = [op for op, _ in path[1:position]]
    head = [op for op, _ in path[position + 1 :]]
    augmentation_in_model_problems(
        before, evidence.augmenter_name, evidence.augmenter_called, findings
    )
    preprocessing_problems(model, node, findings)
    base_problems(base, node, findings)
    head_problems(head, findings)
    head_weights = [w for op in head for w in op.trainable_weights]
    if not head_weights and any(op.weights for op in head):
        findings.add(
            "head-frozen",
            "The new head has no trainable weights: freeze only the "
            "base model, not the whole model.",
        )
    if evidence.trainable_none:
        findings.add(
            "trainable-none",
            "alpaca_model() sets `trainable = None`. "
            f"{TRAINABLE_NONE_HELP} The base happens to be frozen, but say so.",
        )
    output_shape = tuple(graph.outputs[0].shape)
    if not findings and output_shape != (None, 1):
        findings.add(
            "output-shape", f"The model outputs shape {output_shape}, not one logit per image."
        )
    return findings


# ---------------------------------------------------------------------------
# The layers after the base (fine-tuning checks them too)
# ---------------------------------------------------------------------------


def _layer_names(operations: Iterable[Any]) -> str:
    """Each operation as `Type (name)`, comma-separated, for a message."""
    return ", ".join(f"{type(o).__name__} ({o.name})" for o in operations)


def _training_flag_problems(base: Any, node: Any, findings: Findings) -> None:
    """Step 4 asks for `base_model(x, training=False)`; say truthfully what it does on Keras 3."""
    training = node.arguments.kwargs.get("training", None)
    if training is None:
        findings.add(
            "training-flag-missing",
            "base_model is called without training=False, which step 4 asks for (as the "
            "original assignment and the TensorFlow tutorial do). Be aware: on Keras 3 "
            "it does not keep BatchNorm in inference mode during fit, which overrides "
            "it; notebook 05 shows this and what does. Pass training=False where you "
            "call the base model (a Sequential model cannot do this: use the "
            "Functional API).",
        )
    elif bool(training):
        findings.add(
            "training-flag-true",
            "base_model is called with training=True. fit overrides that anyway, but "
            "when you call the model yourself (model(images)), the base's unfrozen "
            "BatchNorm layers would normalise each batch with its own statistics and "
            "update them. Step 4 asks for training=False.",
        )


_TRAINABLE_NONE = re.compile(r"\.trainable\s*=\s*None\b")


def assigns_trainable_none(function: Any) -> bool:
    """True when the function's source sets some `.trainable = None` (a placeholder left in).

    Keras 3 accepts None and reads it back as False, so the object alone cannot
    tell a placeholder from a deliberate False: only the source can.
    """
    try:
        source = inspect.getsource(function)
    except Exception:
        return False
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    return bool(_TRAINABLE_NONE.search(code))


TRAINABLE_NONE_HELP = (
    "Keras 3 accepts `trainable = None` and reads it as False, so a None "
    "placeholder silently freezes: write True or False."
)


SIGMOID_MESSAGE = (
    "The model ends with a sigmoid, so it outputs "
    "probabilities, but the loss this course uses expects logits "
    "(from_logits=True). Leave the output layer linear."
)


def ends_in_sigmoid(head: list[Any]) -> bool:
    """True when the last Dense layer of `head` has a sigmoid, or a sigmoid Activation follows it."""
    denses = [op for op in head if isinstance(op, layers.Dense)]
    if not denses:
        return False
    output = denses[-1]
    after = head[head.index(output) + 1 :]
    return output.get_config().get("activation") == "sigmoid" or any(
        isinstance(op, layers.Activation) and op.get_config().get("activation") == "sigmoid"
        for op in after
    )


def head_problems(head: list[Any], findings: Findings) -> None:
    """After the base: global average pooling, dropout, one linear output unit."""
    pools = [op for op in head if isinstance(op, layers.GlobalAveragePooling2D)]
    if not pools:
        if any(isinstance(op, layers.Flatten) for op in head):
            findings.add(
                "pooling-flatten",
                "The base's features are flattened: the exercise "
                "averages each feature map into one number instead (global average "
                "pooling), which needs no extra weights and overfits less.",
            )
        elif any(isinstance(op, (layers.GlobalMaxPooling2D, layers.MaxPooling2D)) for op in head):
            findings.add(
                "pooling-max",
                "The base's features go through max pooling: the "
                "exercise uses global average pooling.",
            )
        else:
            findings.add(
                "pooling-missing",
                "No global average pooling layer after the base "
                "model: the head should start by pooling each feature map.",
            )
    dropouts = [op for op in head if isinstance(op, layers.Dropout)]
    if not dropouts:
        findings.add(
            "dropout-missing", "No Dropout layer between the pooling and the output layer."
        )
    for dropout in dropouts:
        if not math.isclose(float(dropout.rate), config.DROPOUT_RATE, abs_tol=1e-9):
            findings.add(
                "dropout-rate",
                f"The Dropout rate is {dropout.rate:g}, not the rate the instructions give.",
            )
    denses = [op for op in head if isinstance(op, layers.Dense)]
    if not denses:
        findings.add("dense-missing", "No Dense output layer at the end of the model.")
        return
    output = denses[-1]
    if len(denses) > 1:
        findings.add(
            "dense-extra",
            f"The head has {len(denses)} Dense layers: the exercise "
            "uses a single Dense output layer.",
        )
    if output.units != 1:
        findings.add(
            "dense-units",
            f"The output layer has {output.units} units. Alpaca / not "
            "alpaca needs one unit whose value (a logit) says how alpaca-like an image "
            "is; the loss for two classes works on that one number.",
        )
    activation = output.get_config().get("activation")
    if ends_in_sigmoid(head):
        findings.add("output-sigmoid", SIGMOID_MESSAGE)
    elif activation not in ("linear", None):
        findings.add(
            "output-activation",
            f"The output layer uses the '{activation}' "
            "activation: it should output a raw score (a logit), with no activation.",
        )
    known = (
        layers.GlobalAveragePooling2D,
        layers.Dropout,
        layers.Dense,
        layers.Flatten,
        layers.GlobalMaxPooling2D,
        layers.MaxPooling2D,
        layers.Activation,
    )
    extra = [op for op in head if not isinstance(op, known)]
    if extra:
        findings.add(
            "head-extra", f"Unexpected layer(s) after the base model: {_layer_names(extra)}."
        )
    if pools and dropouts and head.index(dropouts[0]) < head.index(pools[0]):
        findings.add(
            "head-order",
            "Dropout comes before the pooling: pool first, then drop out, then the output layer.",
        )
    if dropouts and head.index(dropouts[-1]) > head.index(output):
        findings.add(
            "head-order",
            "Dropout comes after the output layer: it belongs between "
            "the pooling and the output layer.",
        )


# ---------------------------------------------------------------------------
# The base model and what comes before it
# ---------------------------------------------------------------------------


def _weights_problems(base: keras.Model, findings: Findings) -> None:
    """ImageNet weights, not a random initialisation (cheap: two small tensors)."""
    try:
        batch_norm = base.get_layer("bn_Conv1")
        conv = base.get_layer("Conv1")
    except Exception:
        return
    mean = np.asarray(batch_norm.moving_mean)
    variance = np.asarray(batch_norm.moving_variance)
    # A fresh BatchNormalization starts at mean 0, variance 1; trained ones never are.
    if np.all(mean == 0.0) and np.all(variance == 1.0):
        findings.add(
            "weights-random",
            "The base model's weights are random, not the ones "
            "learned on ImageNet: transfer learning needs the pretrained weights "
            "(look at the weights argument).",
        )
        return
    rows = base.inputs[0].shape[1] or 224
    reference = imagenet_first_kernel(weight_file_name(rows, include_top=False))
    kernel = np.asarray(conv.kernel)
    if reference is not None and (
        reference.shape != kernel.shape or not np.allclose(reference, kernel, atol=1e-5)
    ):
        findings.add(
            "weights-differ",
            "The base model's weights differ from the ImageNet "
            "weights Keras provides: create it with the pretrained weights and do not "
            "change them.",
        )


def base_problems(base: keras.Model, node: Any, findings: Findings) -> None:
    """The base itself: no top, right size and input, ImageNet weights, frozen, inference mode."""
    n_layers, n_params = len(base.layers), base.count_params()
    if n_layers == config.BASE_MODEL_LAYERS_WITH_TOP or any(
        l.name == "predictions" for l in base.layers
    ):
        findings.add(
            "include-top",
            f"The base model has {n_layers} layers and ends with "
            "ImageNet's 1000-class classifier: your own head replaces it (look at "
            "include_top).",
        )
    elif (n_layers, n_params) != (config.BASE_MODEL_LAYERS_NO_TOP, config.BASE_MODEL_PARAMS_NO_TOP):
        findings.add(
            "base-size",
            f"The base model has {n_layers} layers and {n_params:,} "
            "parameters, not those of MobileNetV2 (alpha 1.0) without its top: check "
            "the arguments you pass to MobileNetV2.",
        )
    base_shape = tuple(base.inputs[0].shape[1:])
    if base_shape != tuple(config.IMG_SHAPE):
        findings.add(
            "base-input-shape",
            f"The base model expects inputs of shape {base_shape}, "
            f"not the model's {tuple(config.IMG_SHAPE)}: pass the input shape to "
            "MobileNetV2 so it loads the weights made for this image size.",
        )
    _weights_problems(base, findings)
    if base.trainable_weights:
        findings.add(
            "base-trainable",
            "The base model is trainable: freeze it, so that "
            "training changes only the new head and keeps what it learned on ImageNet.",
        )
    _training_flag_problems(base, node, findings)


def preprocessing_problems(model: keras.Model, base_node: Any, findings: Findings) -> None:
    """What reaches the base, in inference mode, must be the pixels mapped to [-1, 1]."""
    graph = graph_of(model)
    base_input = list(base_node.input_tensors)[0]
    shape = tuple(graph.inputs[0].shape[1:])
    shape = shape if shape and None not in shape else tuple(config.IMG_SHAPE)
    pixels = ramp_image(shape)
    if base_input is graph.inputs[0]:
        seen = pixels
    else:
        try:
            # A new model over the same layers: it reads them, it does not change them.
            before_base = keras.Model(graph.inputs[0], base_input)
            seen = np.asarray(before_base(pixels, training=False))
        except Exception as error:
            findings.add(
                "preprocess-error",
                f"Could not run the layers before the base model: {error_line(error)}",
            )
            return
    if seen.shape != pixels.shape:
        findings.add(
            "preprocess-shape",
            f"The images reach the base model with shape {seen.shape[1:]}, not {pixels.shape[1:]}.",
        )
        return
    expected = pixels / 127.5 - 1.0
    if np.allclose(seen, expected, atol=1e-3):
        return
    if np.allclose(seen, pixels, atol=1e-3):
        findings.add(
            "preprocess-missing",
            "The images reach MobileNetV2 as raw pixels (0 to "
            "255), but it was trained on pixels scaled to [-1, 1]: apply MobileNetV2's "
            "own preprocessing function before the base model.",
        )
    else:
        findings.add(
            "preprocess-range",
            f"Your preprocessing maps pixels to "
            f"[{seen.min():.3g}, {seen.max():.3g}], but MobileNetV2 expects [-1, 1]: use "
            "MobileNetV2's own preprocessing function (once).",
        )


def augmentation_in_model_problems(
    before_base: list[Any], given_name: str, given_called: bool, findings: Findings
) -> None:
    """The augmenter passed in (or one built inside) must be applied before the base.

    The augmenter passed in is found by its name (a saved model keeps names,
    not objects); whatever sits there must still be the right augmentation.
    """
    given = [op for op in before_base if getattr(op, "name", None) == given_name]
    leaves = [leaf for op in (given or before_base) for leaf in flatten_layers(op)]
    augmentation = [l for l in leaves if type(l).__name__.startswith("Random")]
    if augmentation or given:
        augmentation_problems(augmentation, findings, "The augmentation in your model")
    elif given_called:
        findings.add(
            "augmentation-unused",
            "data_augmentation is called, but its output is "
            "never used: the layer after it should take the augmented images.",
        )
    else:
        findings.add(
            "augmentation-missing",
            "The model does not augment its inputs: pass the "
            "inputs through data_augmentation first.",
        )

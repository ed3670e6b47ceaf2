"""Facts about the course's models, read off the model itself: one home for each.

Graders, widgets, the reference answers and the notebooks all need to know
where MobileNetV2 sits inside a learner's model, which block a layer belongs
to and how many parameters a layer would train. They ask here, so the rules
cannot drift apart.

    find_base_model(model)          the MobileNetV2 inside a model (None if there is none)
    main_path(model)                (operation, node) pairs from the input to the output
    find_base_call(model, path)     the base on that path, with the node of its call
    block_name(layer_name)          'block_13', 'expanded_conv', 'Conv1', 'Conv_1'...
    trainable_parameter_count(layer)   what unfreezing the layer would train
    weight_file_name(rows, include_top)  Keras' ImageNet weight file for an input size

In Keras 3 `preprocess_input` adds operations, not layers, so the base's
position in `model.layers` differs from Keras 2 code: everything here finds
things by type and name, never by index.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import keras
import numpy as np
from keras import layers

from helpers import config

# MobileNetV2's stem and head carry no block number in their layer names.
STEM_LAYERS = frozenset({"Conv1", "bn_Conv1", "Conv1_relu"})
HEAD_LAYERS = frozenset({"Conv_1", "Conv_1_bn", "out_relu"})


# --- The model's graph -----------------------------------------------------


def graph_of(model: keras.Model) -> Any:
    """The functional graph of a model: a built Sequential keeps one inside."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    return model


def main_path(model: keras.Model) -> list[tuple[Any, Any]]:
    """(operation, node) pairs from the input to the output, following first inputs."""
    graph = graph_of(model)
    outputs = getattr(graph, "outputs", None) if graph is not None else None
    if not outputs:
        return []
    path, seen = [], set()
    tensor = outputs[0]
    while True:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            break
        operation = history.operation
        node = operation._inbound_nodes[history.node_index]
        if id(node) in seen:
            break
        seen.add(id(node))
        path.append((operation, node))
        inputs = list(node.input_tensors)
        if not inputs:
            break
        tensor = inputs[0]
    return path[::-1]


def flatten_layers(layer: Any) -> list[Any]:
    """The leaf layers of nested Sequential/Functional models, in order."""
    if isinstance(layer, keras.Model):
        out = []
        for inner in layer.layers:
            out.extend(flatten_layers(inner))
        return out
    if isinstance(layer, layers.InputLayer):
        return []
    return [layer]


# --- Finding the MobileNetV2 base ------------------------------------------


def is_mobilenet_v2(layer: Any) -> bool:
    """A MobileNetV2 built by keras.applications, recognised by type and name (not position)."""
    if not isinstance(layer, keras.Model):
        return False
    if "mobilenetv2" in layer.name.lower().replace("_", ""):
        return True
    names = {inner.name for inner in layer.layers}
    return {"Conv1", "out_relu"} <= names or {"Conv1", "Logits"} <= names


def find_base_call(model: keras.Model, path: list[tuple[Any, Any]]) -> tuple[Any, Any] | None:
    """The base model on `path` (see `main_path`), with the node of its call, or None."""
    for operation, node in path:
        if is_mobilenet_v2(operation):
            return operation, node
    return None


def find_base_model(model: Any) -> Any | None:
    """The MobileNetV2 inside `model`, or `model` itself when it is one; None when there is none.

    Looks on the path from the input to the output first (where the course's
    model calls its base), then among the model's layers.
    """
    if isinstance(model, keras.Model):
        found = find_base_call(model, main_path(model))
        if found is not None:
            return found[0]
    for layer in getattr(model, "layers", []):
        if is_mobilenet_v2(layer):
            return layer
    return model if is_mobilenet_v2(model) else None


# --- Layers and their parameters -------------------------------------------


def block_name(layer_name: str) -> str:
    """The MobileNetV2 block a layer belongs to: 'block_13', 'expanded_conv', 'Conv1', 'Conv_1'..."""
    match = re.match(r"(block_\d+)_", layer_name)
    if match:
        return match.group(1)
    if layer_name.startswith("expanded_conv"):
        return "expanded_conv"
    if layer_name in STEM_LAYERS:
        return "Conv1"
    if layer_name in HEAD_LAYERS:
        return "Conv_1"
    if layer_name.startswith("input"):
        return "input"  # Keras numbers input layers (input_layer_3...) as models are built
    return layer_name


def trainable_parameter_count(layer: Any) -> int:
    """Parameters the layer trains once unfrozen, read from its weights, whatever its flag now.

    Keras 3 clears a weight's own `trainable` flag when its layer is frozen, so
    the flags cannot say what unfreezing would train. Every weight trains
    except BatchNormalization's moving mean and variance: they are not
    trained by gradient descent, but `fit` updates them as running averages
    whenever their layer is trainable (on Keras 3, whatever `training=False`
    said when the model was built).
    """
    statistics = {id(getattr(layer, name, None)) for name in ("moving_mean", "moving_variance")}
    return sum(
        int(np.prod(weight.shape)) for weight in layer.weights if id(weight) not in statistics
    )


# --- The ImageNet weights ---------------------------------------------------


def weight_file_name(rows: int, include_top: bool) -> str:
    """Keras' file of MobileNetV2 (alpha 1.0) ImageNet weights for `rows`-pixel inputs."""
    return config.WEIGHT_FILE_PATTERN.format(rows=rows, suffix="" if include_top else "_no_top")


@functools.lru_cache(maxsize=4)
def imagenet_first_kernel(file_name: str) -> np.ndarray | None:
    """The first convolution's kernel from Keras' cached ImageNet weight file (None if absent)."""
    path = config.keras_models_dir() / file_name
    if not path.is_file():
        return None
    try:
        import h5py

        with h5py.File(path, "r") as weights:
            group = weights["Conv1"]
            names = [
                n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]
            ]
            return np.asarray(group[names[0]])
    except Exception:
        return None

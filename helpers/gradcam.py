"""Grad-CAM on the course's model: where in the image the logit found its evidence.

    GradCam(model)                       reads the model once; `.maps(images)`, `.heatmaps(images)`
    gradcam_heatmaps(model, images)      (N, H, W) heatmaps in [0, 1], one call
    randomisation_check(model, images)   the maps must change when the base's top is re-initialised
    spearman(a, b)                       rank correlation, numpy only

**What a heatmap is.** Grad-CAM (Selvaraju et al., 2017) weighs each of the
1280 channels of the base's last activation, `out_relu`, by the mean
gradient of the score over the channel's cells, sums the weighted channels
and keeps the positive part. MobileNetV2 at 160 x 160 px ends in a 5 x 5 grid
(32 px per cell), so the map has 25 cells; it is upsampled (bilinear) to the
image's size only to be drawn over it. The score is the model's logit for
"not alpaca" and minus the logit for "alpaca". Behind a
GlobalAveragePooling2D + Dense head the gradient is the same in every cell,
and Grad-CAM equals the class activation map (CAM, Zhou et al., 2016): the
map toward "not alpaca" is the positive part of one signed map and the map
toward "alpaca" its negative part, so each cell counts for at most one class.
Each map is divided by its own maximum: its brightest cell is 1 whatever
the evidence's strength, and a map of zeros means no cell speaks for the class.

**How it reaches inside the nested base.** The keras.io recipe builds
`keras.Model(model.inputs, [model.get_layer(name).output, model.output])`.
On the course's model `out_relu` is not a layer of `model` but of the
MobileNetV2 nested in it, and `base.get_layer("out_relu").output` is a tensor
of the base's own graph, which starts at the base's own Input, not at
`model.inputs`: Keras cannot join the two graphs and says "Graph
disconnected" (tensorflow/tensorflow#44462, keras-team/keras#16355). A
Sequential model that was never called on an `Input` has no `.output` at
all ("has never been called and thus has no defined output",
tensorflow/tensorflow#72915, keras-team/keras-io#1903). So this module
builds no model at all. It runs the learner's model the way Keras runs a
functional model itself (`Functional.call` walks the graph node by node,
the private `_run_through_graph`): every layer in inference mode
(`training=False`, so augmentation passes images through unchanged and
dropout is off), `preprocess_input`'s operations as they are. When the walk
reaches the base, it walks the base's own graph the same way, and at
`out_relu` it hands the activation to a GradientTape to watch before passing
it on. The logit comes out exactly as `model(images, training=False)` computes
it, and the tape gives its gradient with respect to the activation. The
same layers and weights run; no node is added to any layer, nothing is
copied or rebuilt. (On a Keras upgrade that changes the walk, tests/test_gradcam.py fails.)

Nothing of the model changes: no weight, `trainable` flag or compile state.
A model it cannot read raises `GradCamError`, one sentence saying why.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers import config, model_facts


class GradCamError(ValueError):
    """The model cannot be read for Grad-CAM; the message says why in one sentence."""


# --- Reading the model ------------------------------------------------------


def _one(tensors: Any, what: str) -> Any:
    """The single tensor of a list, or a GradCamError that says there are several."""
    tensors = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
    if len(tensors) != 1:
        raise GradCamError(f"Grad-CAM reads models with one {what}; this one has {len(tensors)}.")
    return tensors[0]


def _feature_layer(base: keras.Model) -> Any:
    """The base's last convolutional activation: `out_relu`, else its last layer with a 4-D output."""
    names = {layer.name for layer in base.layers}
    if config.GRADCAM_LAYER in names:
        return base.get_layer(config.GRADCAM_LAYER)
    for layer in reversed(base.layers):
        if len(getattr(layer.output, "shape", ())) == 4:
            return layer
    raise GradCamError(f"The MobileNetV2 '{base.name}' has no convolutional layer to read.")


def _in_inference_mode(operation: Any) -> Callable[..., Any]:
    """`operation` called with training=False where it takes it, as Keras passes `training` on.

    Augmentation layers then return their input unchanged, Dropout is off and
    BatchNormalization uses its stored statistics.
    """

    def call(*args: Any, **kwargs: Any) -> Any:
        if "training" in getattr(operation, "_call_context_args", ()):
            kwargs["training"] = False
        return operation(*args, **kwargs)

    return call


def _run_graph(graph: Any, inputs: Any, hook: Callable[[Any], Callable[..., Any]]) -> Any:
    """Run a functional graph on `inputs` node by node, each operation through `hook(operation)`.

    This is how Keras runs a functional model itself (`Functional.call`); it
    adds no node to any layer and builds no model.
    """
    outputs = graph._run_through_graph(tf.nest.flatten(inputs), operation_fn=hook)
    return tf.nest.flatten(outputs)[0]


@dataclass(frozen=True)
class GradCamMaps:
    """Grad-CAM of a batch: the signed coarse maps and the logits they explain.

    `signed[i]` is the sum of out_relu's channels, each weighted by the mean
    gradient of image i's logit over its cells: positive cells speak for
    "not alpaca" (class 1), negative ones for "alpaca" (class 0).
    """

    signed: np.ndarray  # (N, rows, cols), e.g. (N, 5, 5) at 160 px
    logits: np.ndarray  # (N,) the model's output: a logit (or a probability, see threshold)
    image_size: tuple[int, int]  # (H, W) of the images, the heatmaps' size
    # Where the output means class 1: 0 for a logit, 0.5 for a model that ends in a sigmoid.
    threshold: float = 0.0

    def classes(self, toward: Any = "predicted") -> np.ndarray:
        """The class each image's map is made for: "predicted", 0, 1, a class name, or one per image."""
        count = len(self.logits)
        if isinstance(toward, str) and toward == "predicted":
            return (self.logits > self.threshold).astype(int)
        if isinstance(toward, str):
            if toward not in config.CLASS_NAMES:
                raise GradCamError(
                    f"toward={toward!r} is no class: use 'predicted', 0, 1 or one of {config.CLASS_NAMES}."
                )
            return np.full(count, config.CLASS_NAMES.index(toward))
        classes = np.broadcast_to(np.asarray(toward).astype(int).reshape(-1), (count,)).copy()
        if not np.isin(classes, (0, 1)).all():
            raise GradCamError("toward must hold class indices 0 (alpaca) or 1 (not alpaca).")
        return classes

    def coarse(self, toward: Any = "predicted") -> np.ndarray:
        """(N, rows, cols) maps toward each image's class, each divided by its maximum: in [0, 1]."""
        signs = np.where(self.classes(toward) == 1, 1.0, -1.0)[:, None, None]
        positive = np.maximum(self.signed * signs, 0.0)
        peaks = positive.max(axis=(1, 2), keepdims=True)
        return np.divide(positive, peaks, out=np.zeros_like(positive), where=peaks > 0).astype(
            np.float32
        )

    def heatmaps(self, toward: Any = "predicted") -> np.ndarray:
        """(N, H, W) maps at the images' size (bilinear), in [0, 1]."""
        coarse = self.coarse(toward)[..., np.newaxis]
        resized = tf.image.resize(coarse, self.image_size, method="bilinear").numpy()[..., 0]
        # Bilinear weights are convex, so this only removes float round-off.
        return np.clip(resized, 0.0, 1.0)


class GradCam:
    """Grad-CAM for one model, read once; call `.maps()` or `.heatmaps()` as often as needed.

    Attributes: `base` (the MobileNetV2 found inside the model), `layer_name`
    (the activation read, 'out_relu'), `grid` ((rows, cols) of its cells),
    `image_size` ((H, W) the model takes).
    """

    def __init__(self, model: Any) -> None:
        if not isinstance(model, keras.Model):
            raise GradCamError(
                f"Grad-CAM needs a Keras model, not a {type(model).__name__}: pass the model you built with alpaca_model."
            )
        graph = model_facts.graph_of(model)
        if graph is None or not getattr(graph, "outputs", None):
            raise GradCamError(
                "This model has not been built on an input yet: call it on an image batch (or build it with keras.Input) first."
            )
        found = model_facts.find_base_call(model, model_facts.main_path(model))
        if found is None and model_facts.is_mobilenet_v2(model):
            raise GradCamError(
                "This is a bare MobileNetV2, not the course's model: pass the model alpaca_model built (base, then a one-logit head)."
            )
        if found is None:
            raise GradCamError(
                "No MobileNetV2 on the path from this model's input to its output: Grad-CAM here reads the last block of the course's base model."
            )
        self.base = found[0]
        model_input = _one(graph.inputs, "input")
        model_output = _one(graph.outputs, "output")
        if tuple(model_output.shape[1:]) != (1,):
            raise GradCamError(
                f"Grad-CAM here explains one logit, but this model's output has shape {tuple(model_output.shape)}: end the model with Dense(1)."
            )
        calls = sum(
            node.operation is self.base
            for nodes in graph._nodes_by_depth.values()
            for node in nodes
        )
        if calls != 1:
            raise GradCamError(
                f"This model calls its MobileNetV2 {calls} times: Grad-CAM here reads a model that calls it once."
            )
        # A learner's model may end in a sigmoid: its output is then a probability. The map is
        # the same (the sigmoid's slope is one positive number per image), the threshold is not.
        last = model_facts.main_path(model)[-1][0]
        activation = getattr(getattr(last, "activation", None), "__name__", "")
        self._threshold = config.DECISION_THRESHOLD if activation == "sigmoid" else 0.0
        self._feature_layer = _feature_layer(self.base)
        self.layer_name = self._feature_layer.name
        self.grid = tuple(int(size) for size in self._feature_layer.output.shape[1:3])
        self.image_size = tuple(int(size) for size in model_input.shape[1:3])
        # Weakly: a reader kept in _READERS must not keep its model alive.
        self._graph = weakref.ref(graph)
        # Traced once per reader (any batch size). Run eagerly, TensorFlow would keep about
        # 1.5 GB more memory after the first call and take as long on every call as tracing once.
        self._compiled = tf.function(
            self._signed_maps,
            input_signature=[tf.TensorSpec((None, *self.image_size, 3), tf.float32)],
        )

    def reads(self, model: Any) -> bool:
        """Whether this reader was made for `model` as its graph is now (a Sequential can grow)."""
        return model_facts.graph_of(model) is self._graph()

    def _signed_maps(self, images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Signed coarse maps and logits for one batch (traced once by tf.function).

        Runs the model's own graph in inference mode; inside the base, the
        tape starts watching out_relu's activation, so the logit computed
        from it can be differentiated with respect to it.
        """
        graph, captured = self._graph(), []
        # Only what is computed from the watched activation is recorded (not the base's weights).
        with tf.GradientTape(watch_accessed_variables=False) as tape:

            def inside_base(operation: Any) -> Callable[..., Any]:
                run = _in_inference_mode(operation)
                if operation is not self._feature_layer:
                    return run

                def watched(*args: Any, **kwargs: Any) -> Any:
                    activation = run(*args, **kwargs)
                    tape.watch(activation)
                    captured.append(activation)
                    return activation

                return watched

            def outside_base(operation: Any) -> Callable[..., Any]:
                if operation is not self.base:
                    return _in_inference_mode(operation)
                base_graph = model_facts.graph_of(self.base)
                return lambda x, *args, **kwargs: _run_graph(base_graph, x, inside_base)

            logits = tf.reshape(_run_graph(graph, images, outside_base), [-1])
        features = captured[0]
        # Images are independent in inference mode, so the gradient of the sum is each image's own.
        gradients = tape.gradient(logits, features)
        channel_weights = tf.reduce_mean(gradients, axis=(1, 2))
        signed = tf.einsum("nhwc,nc->nhw", features, channel_weights)
        return signed, logits

    def maps(self, images: Any) -> GradCamMaps:
        """Grad-CAM of a batch of images (N, H, W, 3) in [0, 255], or of one (H, W, 3) image."""
        batch = np.asarray(images.numpy() if hasattr(images, "numpy") else images, np.float32)
        if batch.ndim == 3:
            batch = batch[np.newaxis]
        if batch.ndim != 4 or tuple(batch.shape[1:]) != (*self.image_size, 3):
            raise GradCamError(
                f"Images of shape {tuple(batch.shape)} do not fit the model: give (N, {self.image_size[0]}, {self.image_size[1]}, 3) pixels."
            )
        signed, logits = [], []
        for start in range(0, len(batch), config.GRADCAM_BATCH_SIZE):
            batch_signed, batch_logits = self._compiled(
                tf.constant(batch[start : start + config.GRADCAM_BATCH_SIZE])
            )
            signed.append(batch_signed.numpy())
            logits.append(batch_logits.numpy())
        rows, cols = self.grid
        return GradCamMaps(
            np.concatenate(signed) if signed else np.zeros((0, rows, cols), np.float32),
            np.concatenate(logits) if logits else np.zeros(0, np.float32),
            self.image_size,
            self._threshold,
        )

    def heatmaps(self, images: Any, toward: Any = "predicted") -> np.ndarray:
        """(N, H, W) heatmaps in [0, 1] toward each image's predicted class (or `toward`)."""
        return self.maps(images).heatmaps(toward)

    def describe(self) -> str:
        """One line: which layer, how coarse."""
        rows, cols = self.grid
        return (
            f"Grad-CAM of '{self.layer_name}' inside '{self.base.name}': {rows} x {cols} cells of "
            f"{self.image_size[0] // rows} x {self.image_size[1] // cols} px each"
        )


# One reader per live model, so that calling again (a cell run twice, the next photo) traces nothing.
_READERS: weakref.WeakKeyDictionary[Any, GradCam] = weakref.WeakKeyDictionary()


def reader_for(model: Any) -> GradCam:
    """The `GradCam` of `model`: made the first time, then reused while the model lives."""
    if not isinstance(model, keras.Model):
        return GradCam(model)  # raises the sentence that says what it needs
    reader = _READERS.get(model)
    if reader is None or not reader.reads(model):
        reader = GradCam(model)
        _READERS[model] = reader
    return reader


def gradcam_heatmaps(model: Any, images: Any, toward: Any = "predicted") -> np.ndarray:
    """(N, H, W) Grad-CAM heatmaps in [0, 1] of `images` (N, H, W, 3) through `model`.

    `toward`: "predicted" (each image's predicted class), 0 / "alpaca", 1 /
    "not alpaca", or one class index per image.
    """
    return reader_for(model).heatmaps(images, toward)


# --- The sanity check (Adebayo et al., 2018) ---------------------------------


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (as Spearman's rho needs)."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def spearman(first: Any, second: Any) -> float:
    """Spearman's rank correlation of two maps (flattened); ties get average ranks.

    When a map is constant its ranks carry no order: two equal maps count as 1.0
    (nothing changed), otherwise 0.0 (all order was lost).
    """
    a = np.asarray(first, np.float64).ravel()
    b = np.asarray(second, np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"Maps of different sizes: {a.shape} and {b.shape}.")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 1.0 if np.array_equal(a, b) else 0.0
    return float(np.corrcoef(_ranks(a), _ranks(b))[0, 1])


def _seeded(config_dict: dict[str, Any], seed: int) -> dict[str, Any]:
    """A layer's config whose random initialisers draw from `seed` (Zeros and Ones have no seed)."""
    seeded = dict(config_dict)
    for key, value in config_dict.items():
        if key.endswith("_initializer") and isinstance(value, dict):
            inner = dict(value.get("config") or {})
            if "seed" in inner:
                inner["seed"] = seed
                seeded[key] = {**value, "config": inner}
    return seeded


def reinitialise_from(base: keras.Model, first_layer: str, seed: int) -> list[str]:
    """Give every layer of `base` from `first_layer` on fresh weights from its own initialisers.

    Only for a copy: it overwrites weights. BatchNormalization starts again as
    mean 0, variance 1, scale 1, shift 0. Returns the names of the layers reset.
    """
    names = [layer.name for layer in base.layers]
    if first_layer not in names:
        raise GradCamError(f"The base has no layer '{first_layer}' to re-initialise from.")
    reset = []
    for index in range(names.index(first_layer), len(names)):
        layer = base.layers[index]
        if not layer.weights:
            continue
        # One seed per layer position: a later step of the cascade redraws the same values.
        fresh = type(layer).from_config(_seeded(layer.get_config(), seed + index))
        fresh.build(layer.input.shape)
        layer.set_weights(fresh.get_weights())
        reset.append(layer.name)
    return reset


def model_copy(model: keras.Model) -> keras.Model:
    """A copy of the model with its own weights (same values): changing it leaves `model` alone."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


HeatmapFunction = Callable[[Any, np.ndarray, Any], np.ndarray]


@dataclass(frozen=True)
class RandomisationStep:
    """The maps with the base re-initialised from `first_layer` on (and every layer above it)."""

    first_layer: str
    layers_reset: int
    correlations: np.ndarray  # one Spearman correlation per image
    blank: np.ndarray  # per image: its map was left without any cell for the class (counts as 0)

    @property
    def median(self) -> float:
        return float(np.median(self.correlations))

    @property
    def median_of_the_rest(self) -> float:
        """The median over the maps that are not blank (NaN when all are)."""
        rest = self.correlations[~self.blank]
        return float(np.median(rest)) if len(rest) else float("nan")


@dataclass(frozen=True)
class RandomisationCheck:
    """The outcome of `randomisation_check`: the numbers, whether the maps passed, one line."""

    steps: tuple[RandomisationStep, ...]
    images: int
    max_correlation: float
    passed: bool
    verdict: str

    def lines(self) -> list[str]:
        """A short table: which layers were reset, median and range of the correlations."""
        rows = [
            f"Spearman rank correlation of {self.images} images' heatmaps with the trained model's:"
        ]
        for step in self.steps:
            rows.append(
                f"  re-initialised from {step.first_layer} ({step.layers_reset} layers): median "
                f"{step.median:+.2f}, range {step.correlations.min():+.2f} to "
                f"{step.correlations.max():+.2f}"
                + (
                    f"; {int(step.blank.sum())} maps blank, median of the others "
                    f"{step.median_of_the_rest:+.2f}"
                    if step.blank.any()
                    else ""
                )
            )
        rows.append(self.verdict)
        return rows

    def __str__(self) -> str:
        return "\n".join(self.lines())


def randomisation_check(
    model: keras.Model,
    images: Any,
    *,
    heatmap_function: HeatmapFunction | None = None,
    cascade: Sequence[str] = config.GRADCAM_RANDOMISE_FROM,
    max_correlation: float = config.GRADCAM_SANITY_MAX_CORRELATION,
    seed: int = config.SEED,
) -> RandomisationCheck:
    """Adebayo et al. (2018)'s model-randomisation test, on a copy of `model`.

    Re-initialises the top of the copy's base step by step (each name in
    `cascade` is a first layer; each step keeps the previous ones reset),
    recomputes the heatmaps toward the trained model's predicted classes and
    compares them with the trained model's by Spearman rank correlation. A map
    that explains the model must change when the weights it explains are
    destroyed: the check passes when the median correlation at the last step
    is below `max_correlation`. `heatmap_function(model, images, toward)`
    defaults to Grad-CAM; pass another to test a different map. `model` is
    never changed.
    """
    # reader_for keeps one reader per model: the copy's is traced once and sees each step's weights.
    heatmap_function = heatmap_function or gradcam_heatmaps
    # The trained model's classes for both: a map toward another class would differ anyway.
    classes = reader_for(model).maps(images).classes("predicted")
    reference_maps = np.asarray(heatmap_function(model, images, classes))
    copy = model_copy(model)
    base = model_facts.find_base_model(copy)
    steps = []
    for first_layer in cascade:
        reset = reinitialise_from(base, first_layer, seed)
        maps = np.asarray(heatmap_function(copy, images, classes))
        correlations = np.array([spearman(a, b) for a, b in zip(reference_maps, maps)])
        blank = np.array([np.ptp(one) == 0 for one in maps], dtype=bool)
        steps.append(RandomisationStep(first_layer, len(reset), correlations, blank))
    final = steps[-1].median
    passed = bool(final < max_correlation)
    if passed:
        verdict = (
            f"Passed: with the top of the base re-initialised the maps change (median "
            f"{final:+.2f} < {max_correlation}), so they depend on the trained weights."
        )
    else:
        verdict = (
            f"FAILED: the maps barely change when the weights are destroyed (median {final:+.2f} "
            f">= {max_correlation}): they show the image, not what the model learned."
        )
    return RandomisationCheck(tuple(steps), len(reference_maps), max_correlation, passed, verdict)

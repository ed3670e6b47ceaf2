"""LiteRT (the runtime formerly called TensorFlow Lite): run exported models and measure them.

Notebook 06 exports the course's model with `model.export(path, format="litert")`
and runs the `.tflite` files through the interpreter here:

    LiteRTModel(path)          one exported model: logits, probabilities, latency
    interpreter_class()        ai-edge-litert's Interpreter, or TensorFlow's as a fallback
    export(model, path, ...)   the three exports notebook 06 teaches (for the benchmark, tests)
    compare(...)               size, latency, accuracy and agreement with Keras, per file

The interpreter comes from the `ai-edge-litert` package (pinned in
requirements.txt): `tf.lite.Interpreter` is deprecated in its favour. Where
no wheel of it exists for a learner's platform, TensorFlow's own interpreter
runs the same files, and `LiteRTModel.runtime` says which one is in use.

Importing this module is cheap: TensorFlow is imported only to export (and
for the fallback interpreter).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import statistics
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers import config, runtime

FLOAT32, DYNAMIC_RANGE, INT8 = "float32", "dynamic range", "int8"
QUANTIZATIONS: tuple[str, ...] = (FLOAT32, DYNAMIC_RANGE, INT8)

# What `runtime` says, so a learner on the fallback knows why.
FALLBACK_NOTE = (
    "ai-edge-litert is not installed (no wheel for this platform?): using TensorFlow's "
    "tf.lite.Interpreter instead, which runs the same .tflite files but is deprecated."
)


def interpreter_class() -> tuple[type, str]:
    """The LiteRT interpreter class and a line naming it: ai-edge-litert's, else TensorFlow's."""
    try:
        module = importlib.import_module("ai_edge_litert.interpreter")
        version = importlib.metadata.version("ai-edge-litert")
        return module.Interpreter, f"ai-edge-litert {version}"
    except ImportError:
        with runtime.native_stderr_silenced():
            import tensorflow as tf
        return (
            tf.lite.Interpreter,
            f"tf.lite.Interpreter (TensorFlow {tf.__version__}): {FALLBACK_NOTE}",
        )


def file_kb(path: Path | str) -> float:
    """A file's size in kilobytes (1000 bytes), as phones' app stores count."""
    return Path(path).stat().st_size / 1000


@dataclass(frozen=True)
class Quantization:
    """How real numbers map to a tensor's integers: real = scale * (q - zero_point).

    A float tensor has scale 0 (no mapping): values pass unchanged.
    """

    scale: float
    zero_point: int
    dtype: Any

    @property
    def is_quantized(self) -> bool:
        """True for integer tensors with a scale; float tensors have none."""
        return self.scale != 0.0

    def quantize(self, real: np.ndarray) -> np.ndarray:
        """Real values to the tensor's dtype (rounded, clipped to its range)."""
        if not self.is_quantized:
            return np.asarray(real, dtype=self.dtype)
        limits = np.iinfo(self.dtype)
        q = np.round(np.asarray(real, dtype=np.float32) / self.scale + self.zero_point)
        return np.clip(q, limits.min, limits.max).astype(self.dtype)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        """The tensor's values back to real numbers (float32)."""
        if not self.is_quantized:
            return np.asarray(q, dtype=np.float32)
        return (self.scale * (np.asarray(q, dtype=np.float32) - self.zero_point)).astype(np.float32)

    def describe(self) -> str:
        """'int8, real = 1 * (q - (-128))' or 'float32, no scaling'."""
        name = np.dtype(self.dtype).name
        if not self.is_quantized:
            return f"{name}, no scaling"
        return f"{name}, real = {self.scale:.6g} \u00d7 (q \u2212 ({self.zero_point}))"


def _quantization(details: dict[str, Any]) -> Quantization:
    """A tensor's (scale, zero point) and dtype, from the interpreter's details."""
    scale, zero_point = details.get("quantization", (0.0, 0))
    return Quantization(float(scale), int(zero_point), details["dtype"])


class LiteRTModel:
    """One `.tflite` file in an interpreter, used one image at a time like an app would.

    `predict_logits(images)` takes images as the Keras model does (float, raw
    pixels in [0, 255], shape (N, 160, 160, 3)) and quantizes them itself when
    the file wants int8 input. `runtime` names the interpreter in use.
    """

    def __init__(self, path: Path | str, num_threads: int = config.LITERT_THREADS) -> None:
        self.path = Path(path)
        interpreter_type, self.runtime = interpreter_class()
        # The interpreter's C++ code announces its XNNPACK delegate on stderr.
        with runtime.native_stderr_silenced():
            self.interpreter = interpreter_type(model_path=str(self.path), num_threads=num_threads)
            self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self.input_quantization = _quantization(self._input)
        self.output_quantization = _quantization(self._output)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The input tensor's shape, batch of one included: (1, 160, 160, 3)."""
        return tuple(int(size) for size in self._input["shape"])

    @property
    def size_kb(self) -> float:
        """The file's size in kilobytes."""
        return file_kb(self.path)

    def _logit(self, image: np.ndarray) -> float:
        """One image (H, W, 3) in, its logit out (dequantized when the output is int8)."""
        batch = self.input_quantization.quantize(np.asarray(image)[np.newaxis])
        self.interpreter.set_tensor(self._input["index"], batch)
        self.interpreter.invoke()
        output = self.interpreter.get_tensor(self._output["index"])
        return float(self.output_quantization.dequantize(output).reshape(-1)[0])

    def predict_logits(self, images: Any) -> np.ndarray:
        """Logits for a batch (N, H, W, 3) or a single image (H, W, 3), one interpreter call each."""
        array = np.asarray(images, dtype=np.float32)
        if array.ndim == 3:
            array = array[np.newaxis]
        return np.array([self._logit(image) for image in array], dtype=np.float32)

    def predict_probabilities(self, images: Any) -> np.ndarray:
        """P(class 1, "not alpaca") for each image: the sigmoid of its logit."""
        return sigmoid(self.predict_logits(images))

    def median_latency_ms(
        self,
        image: np.ndarray,
        runs: int = config.LATENCY_TIMED_CALLS,
        warmup: int = config.LATENCY_WARMUP_CALLS,
    ) -> float:
        """Median milliseconds of one single-image call (set input, invoke, read output).

        The first calls are made and thrown away: they allocate and fill caches.
        The median, not the mean, so that a call slowed by another program does
        not move the figure.
        """
        for _ in range(warmup):
            self._logit(image)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            self._logit(image)
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)

    def __repr__(self) -> str:
        return f"LiteRTModel({self.path.name!r}, input {self.input_quantization.describe()})"


def sigmoid(logits: Any) -> np.ndarray:
    """1 / (1 + e^-z), computed without overflow for large |z|."""
    z = np.asarray(logits, dtype=np.float64)
    return (0.5 * (1.0 + np.tanh(0.5 * z))).astype(np.float32)


# --- Export (the benchmark and the tests; notebook 06 writes these calls out) ---


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Hide what a conversion logs: TensorFlow's INFO lines and the converter's C++ lines.

    `model.export(..., format="litert")` writes a temporary SavedModel, and
    TensorFlow logs "Assets written to: /tmp/..." (a new folder each run); the
    converter prints its settings from C++. Warnings and errors still show.
    """
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("WARNING")
    try:
        with runtime.native_stderr_silenced():
            yield
    finally:
        logger.setLevel(level)


def export_options(
    quantization: str, representative_dataset: Callable[[], Iterable[Any]] | None = None
) -> dict[str, Any]:
    """The converter options `model.export(..., format="litert", **options)` takes for each kind.

    Keras 3.15 sets each keyword as an attribute of TensorFlow's TFLiteConverter
    (`target_spec` as a dict of its attributes): see keras/src/export/litert.py.
    """
    import tensorflow as tf

    if quantization == FLOAT32:
        return {}
    if quantization == DYNAMIC_RANGE:
        return {"optimizations": [tf.lite.Optimize.DEFAULT]}
    if quantization == INT8:
        if representative_dataset is None:
            raise ValueError("int8 export needs a representative dataset to calibrate with")
        return {
            "optimizations": [tf.lite.Optimize.DEFAULT],
            "representative_dataset": representative_dataset,
            "target_spec": {"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
            "inference_input_type": tf.int8,
            "inference_output_type": tf.int8,
        }
    raise ValueError(f"unknown quantization {quantization!r}; one of {QUANTIZATIONS}")


def export(
    model: Any,
    path: Path | str,
    quantization: str = FLOAT32,
    representative_dataset: Callable[[], Iterable[Any]] | None = None,
) -> Path:
    """Export `model` to a `.tflite` file: float32, dynamic range or full-integer int8."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    options = export_options(quantization, representative_dataset)
    with quiet():
        model.export(str(path), format="litert", verbose=False, **options)
    return path


# --- Comparing exported files with the Keras model ---


@dataclass(frozen=True)
class Comparison:
    """One exported file against the Keras model on the validation images."""

    name: str
    size_kb: float
    latency_ms: float
    accuracy: float
    agreement: float  # fraction of images where the file and Keras predict the same class
    agreed: int
    images: int
    max_probability_difference: float


def accuracy(labels: Any, probabilities: Any) -> float:
    """Fraction of images whose predicted class (probability above the threshold) is the label."""
    predicted = np.asarray(probabilities).reshape(-1) > config.DECISION_THRESHOLD
    return float(np.mean(predicted == np.asarray(labels).reshape(-1).astype(bool)))


def compare(
    name: str,
    litert_model: LiteRTModel,
    images: np.ndarray,
    labels: np.ndarray,
    keras_probabilities: np.ndarray,
    latency: bool = True,
) -> Comparison:
    """Run every validation image through the file; measure what notebook 06's table shows."""
    probabilities = litert_model.predict_probabilities(images)
    keras_classes = np.asarray(keras_probabilities).reshape(-1) > config.DECISION_THRESHOLD
    agreed = int(np.sum((probabilities > config.DECISION_THRESHOLD) == keras_classes))
    return Comparison(
        name=name,
        size_kb=litert_model.size_kb,
        latency_ms=litert_model.median_latency_ms(images[0]) if latency else float("nan"),
        accuracy=accuracy(labels, probabilities),
        agreement=agreed / len(keras_classes),
        agreed=agreed,
        images=len(keras_classes),
        max_probability_difference=float(
            np.max(np.abs(probabilities - np.asarray(keras_probabilities).reshape(-1)))
        ),
    )


def comparison_table(rows: Iterable[Comparison], keras_accuracy: float | None = None) -> str:
    """The rows as a plain-text table (sizes in kB, latency in ms)."""
    header = f"{'model':<16}{'size':>10}{'ms/image':>10}{'accuracy':>10}{'agrees with Keras':>20}"
    lines = [header, "-" * len(header)]
    if keras_accuracy is not None:
        lines.append(f"{'Keras':<16}{'':>10}{'':>10}{keras_accuracy:>10.3f}{'':>20}")
    for row in rows:
        lines.append(
            f"{row.name:<16}{row.size_kb:>7.0f} kB{row.latency_ms:>10.1f}{row.accuracy:>10.3f}"
            f"{f'{row.agreed} of {row.images}':>20}"
        )
    return "\n".join(lines)


# --- How the integers are laid out: weights against activations ---


@dataclass(frozen=True)
class Int8Tensors:
    """The int8 tensors of a file, grouped by how they are quantized.

    LiteRT's 8-bit scheme (ai.google.dev/edge/litert/models/quantization_spec):
    weights are symmetric, per output channel for convolutions (zero point 0,
    integers from -127 to 127); activations are asymmetric, per tensor (any
    zero point in -128..127, chosen from the range seen in calibration).
    """

    per_channel: int  # tensors with one scale per output channel: convolution weights
    per_channel_zero_points: tuple[int, int]  # smallest and largest zero point among them
    per_channel_values: tuple[int, int]  # smallest and largest stored integer among them
    per_tensor: int  # tensors with one scale: activations (and a few weights, e.g. Dense)
    per_tensor_zero_points: tuple[int, int]


def int8_tensors(model: LiteRTModel) -> Int8Tensors:
    """Read the quantization of every int8 tensor in `model`'s file."""
    channel_zero_points, channel_values, tensor_zero_points = [], [], []
    for details in model.interpreter.get_tensor_details():
        if np.dtype(details["dtype"]) != np.int8:
            continue
        parameters = details.get("quantization_parameters", {})
        zero_points = [int(z) for z in np.asarray(parameters.get("zero_points", [])).ravel()]
        if len(np.asarray(parameters.get("scales", [])).ravel()) > 1:
            channel_zero_points += zero_points
            values = model.interpreter.get_tensor(details["index"])  # constants: readable any time
            channel_values += [int(values.min()), int(values.max())]
        else:
            tensor_zero_points += zero_points or [int(details["quantization"][1])]

    def span(numbers: list[int]) -> tuple[int, int]:
        return (min(numbers), max(numbers)) if numbers else (0, 0)

    return Int8Tensors(
        per_channel=len(channel_values) // 2,
        per_channel_zero_points=span(channel_zero_points),
        per_channel_values=span(channel_values),
        per_tensor=len(tensor_zero_points),
        per_tensor_zero_points=span(tensor_zero_points),
    )

"""helpers.litert and the Keras facts notebook 06 teaches, on a small model (seconds, not minutes).

The small model has the course's input (160 x 160 x 3 raw pixels) and scales
them itself, like the course's model; exporting it takes a couple of seconds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import config, litert, reference


def small_model() -> keras.Model:
    """Raw pixels in, one logit out, with the same preprocessing as the course's model."""
    keras.utils.set_random_seed(config.SEED)
    inputs = keras.Input(shape=config.IMG_SHAPE)
    x = keras.applications.mobilenet_v2.preprocess_input(inputs)
    x = keras.layers.Conv2D(32, 3, strides=4, activation="relu")(x)
    # Enough weights (74k) for quantization to show in the file size.
    x = keras.layers.Conv2D(256, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x))


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Twelve photo-like images: smooth colour ramps with noise, in [0, 255]."""
    rng = np.random.default_rng(config.SEED)
    ramp = np.linspace(0, 255, config.IMG_SIZE[0], dtype=np.float32)
    base = np.stack([ramp[None, :].repeat(config.IMG_SIZE[0], 0)] * 3, axis=-1)
    noise = rng.normal(0, 30, (12, *config.IMG_SHAPE))
    return np.clip(base[None] * rng.uniform(0.3, 1.0, (12, 1, 1, 3)) + noise, 0, 255).astype(
        np.float32
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, images: np.ndarray) -> dict[str, Path]:
    model = small_model()
    folder = tmp_path_factory.mktemp("litert")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(len(images), "int32"))).batch(4)
    representative = reference.make_representative_dataset(dataset, count=len(images))
    paths = {
        kind: litert.export(
            model,
            folder / f"{kind.replace(' ', '_')}.tflite",
            kind,
            representative if kind == litert.INT8 else None,
        )
        for kind in litert.QUANTIZATIONS
    }
    return {"model": model, **paths}


def test_float_export_gives_the_keras_logits(exported, images):
    keras_logits = exported["model"].predict_on_batch(images).reshape(-1)
    float_model = litert.LiteRTModel(exported[litert.FLOAT32])
    np.testing.assert_allclose(float_model.predict_logits(images), keras_logits, atol=1e-4)
    assert float_model.input_shape == (1, *config.IMG_SHAPE)
    assert not float_model.input_quantization.is_quantized
    assert float_model.runtime.startswith("ai-edge-litert")


def test_int8_export_takes_int8_raw_pixels_minus_128(exported, images):
    """Calibrated on raw pixels (0 and 255 occur), the input scale is 1 and the zero point -128."""
    int8_model = litert.LiteRTModel(exported[litert.INT8])
    quantization = int8_model.input_quantization
    assert np.dtype(quantization.dtype) == np.int8
    assert quantization.scale == pytest.approx(1.0, abs=0.01) and quantization.zero_point == -128
    assert np.dtype(int8_model.output_quantization.dtype) == np.int8
    np.testing.assert_array_equal(
        quantization.quantize(np.array([0.0, 128.0, 255.0])), [-128, 0, 127]
    )
    keras_logits = exported["model"].predict_on_batch(images).reshape(-1)
    spread = keras_logits.max() - keras_logits.min()
    # int8 arithmetic: close to Keras, not equal.
    np.testing.assert_allclose(
        int8_model.predict_logits(images), keras_logits, atol=0.1 * spread + 0.05
    )


def test_quantized_files_are_smaller(exported):
    sizes = {kind: litert.file_kb(exported[kind]) for kind in litert.QUANTIZATIONS}
    # Weights stored in 8 bits instead of 32: close to a quarter of the float file.
    assert sizes[litert.DYNAMIC_RANGE] < 0.4 * sizes[litert.FLOAT32]
    assert sizes[litert.INT8] < 0.4 * sizes[litert.FLOAT32]


def test_quantization_round_trip_and_description():
    q = litert.Quantization(scale=0.5, zero_point=-10, dtype=np.int8)
    real = np.array([-100.0, 0.0, 3.0, 100.0])
    np.testing.assert_array_equal(q.quantize(real), [-128, -10, -4, 127])  # clipped at both ends
    np.testing.assert_allclose(q.dequantize(q.quantize(np.array([3.0]))), [3.0])
    assert q.describe() == "int8, real = 0.5 \u00d7 (q \u2212 (-10))"
    plain = litert.Quantization(0.0, 0, np.float32)
    assert plain.describe() == "float32, no scaling"
    np.testing.assert_array_equal(plain.quantize(real), real.astype(np.float32))


def test_latency_is_a_positive_median(exported, images):
    model = litert.LiteRTModel(exported[litert.FLOAT32])
    assert 0 < model.median_latency_ms(images[0], runs=5, warmup=1) < 1000


def test_compare_counts_agreement_with_keras(exported, images):
    model = litert.LiteRTModel(exported[litert.FLOAT32])
    keras_probabilities = litert.sigmoid(exported["model"].predict_on_batch(images).reshape(-1))
    labels = (keras_probabilities > 0.5).astype(int)
    labels[0] = 1 - labels[0]  # one image the models get wrong
    row = litert.compare("float32", model, images, labels, keras_probabilities, latency=False)
    assert (row.agreed, row.images, row.agreement) == (12, 12, 1.0)
    assert row.accuracy == pytest.approx(11 / 12)
    assert row.max_probability_difference < 1e-4
    table = litert.comparison_table([row], keras_accuracy=11 / 12)
    assert "12 of 12" in table and "Keras" in table


def test_forced_fallback_runs_the_same_file_with_tensorflow(exported, images, monkeypatch):
    """Where ai-edge-litert cannot be imported, TensorFlow's interpreter runs the file and says so."""
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)  # import now fails
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)
    interpreter_type, runtime = litert.interpreter_class()
    assert interpreter_type is tf.lite.Interpreter
    assert "tf.lite.Interpreter" in runtime and "ai-edge-litert is not installed" in runtime
    fallback = litert.LiteRTModel(exported[litert.INT8])
    assert fallback.runtime == runtime
    preferred = litert.LiteRTModel.__new__(litert.LiteRTModel)  # compare with the real package
    monkeypatch.undo()
    preferred.__init__(exported[litert.INT8])
    assert preferred.runtime.startswith("ai-edge-litert")
    np.testing.assert_allclose(
        fallback.predict_logits(images), preferred.predict_logits(images), atol=1e-5
    )


def test_export_options_are_the_converter_attributes_keras_sets():
    """Keras 3.15 sets each option on TFLiteConverter; an unknown one is an error, not ignored."""
    options = litert.export_options(litert.INT8, representative_dataset=lambda: iter([]))
    function = tf.function(lambda x: x + 1.0).get_concrete_function(tf.TensorSpec([1], tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function])
    for key, value in options.items():
        if key == "target_spec":
            assert all(hasattr(converter.target_spec, name) for name in value)
        else:
            assert hasattr(converter, key), key
    assert litert.export_options(litert.FLOAT32) == {}
    with pytest.raises(ValueError, match="representative dataset"):
        litert.export_options(litert.INT8)
    with pytest.raises(ValueError, match="unknown quantization"):
        litert.export_options("int4")
    with pytest.raises(ValueError, match="Unknown converter attribute"):
        small_model().export(
            str(Path("/tmp/never-written.tflite")),
            format="litert",
            verbose=False,
            quantize_everything=True,
        )


def test_int8_tensors_weights_symmetric_per_channel_activations_asymmetric(exported):
    """LiteRT's 8-bit scheme, which notebook 06 teaches: convolution weights one scale per
    output channel, zero point 0, integers -127..127; activations one scale per tensor with
    zero points of their own (the input's is -128 here)."""
    int8 = litert.int8_tensors(litert.LiteRTModel(exported[litert.INT8]))
    assert int8.per_channel >= 2  # the two convolutions' kernels
    assert int8.per_channel_zero_points == (0, 0)
    assert -127 <= int8.per_channel_values[0] < 0 < int8.per_channel_values[1] <= 127
    assert int8.per_tensor > int8.per_channel
    assert int8.per_tensor_zero_points[0] == -128  # the raw-pixel input: pixel - 128
    dynamic = litert.int8_tensors(litert.LiteRTModel(exported[litert.DYNAMIC_RANGE]))
    # The converter leaves small tensors (the first kernel) in float: at least the second is int8.
    assert dynamic.per_channel >= 1 and dynamic.per_channel_zero_points == (0, 0)
    assert dynamic.per_tensor_zero_points == (0, 0)  # no int8 activations: weights only
    assert litert.int8_tensors(litert.LiteRTModel(exported[litert.FLOAT32])).per_channel == 0

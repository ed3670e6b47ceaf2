"""Each exercise is answered twice: in its master notebook and in helpers/reference.py.

Notebooks must run on their own, so both copies stay; these tests run the
master's answer (the `# GRADED FUNCTION` cell, defined with the notebook's own
imports) beside the reference version and require the same behaviour: the
same files in the same split, the same layers with the same settings, the
same predictions from the same weights, the same layers frozen and the same
compile settings. A change to one copy alone fails here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import nbformat
import numpy as np
import pytest
from fixtures.data_factory import image_set, write_tree

from helpers import config, model_facts, reference

SOLUTIONS = config.PROJECT_ROOT / "solutions"
# Keys of a layer's config that name or seed it: they differ between two builds of one answer.
_IDENTITY_KEYS = {"name", "seed"}


def master_function(notebook: str, function_name: str) -> Any:
    """The master's answer: its graded cell run after the import lines of the cells before it."""
    cells = nbformat.read(SOLUTIONS / notebook, as_version=4).cells
    code = [cell.source for cell in cells if cell.cell_type == "code"]
    header = f"{config.GRADED_FUNCTION_MARKER} {function_name}"
    position = next(i for i, source in enumerate(code) if header in source)
    graded = code[position]
    assert config.START_MARKER in graded and config.END_MARKER in graded, graded
    imports = [
        line
        for source in code[:position]
        for line in source.split("\n")
        if line.startswith(("import ", "from "))
    ]
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(imports), f"{notebook} imports", "exec"), namespace)
    exec(compile(graded, f"{notebook} {function_name}", "exec"), namespace)
    return namespace[function_name]


def layer_settings(layer: Any) -> tuple[str, dict[str, Any]]:
    """A layer's class and config, without the name and seed that every build changes."""
    settings = {k: v for k, v in layer.get_config().items() if k not in _IDENTITY_KEYS}
    return type(layer).__name__, settings


def path_settings(model: keras.Model) -> list[tuple[str, Any]]:
    """The operations from input to output: settings for layers, the class for the base and ops."""
    steps = []
    for operation, _node in model_facts.main_path(model):
        if model_facts.is_mobilenet_v2(operation) or not isinstance(operation, keras.layers.Layer):
            steps.append((type(operation).__name__, None))
        elif isinstance(operation, keras.Model):  # the augmenter: its leaf layers
            steps.append(
                ("Model", [layer_settings(leaf) for leaf in model_facts.flatten_layers(operation)])
            )
        else:
            steps.append(layer_settings(operation))
    return steps


# --- Notebook 01: create_datasets ---


def test_create_datasets_splits_like_the_reference(tmp_path: Path) -> None:
    directory = write_tree(tmp_path / "images", image_set())
    master_train, master_validation = master_function("01_create_dataset.ipynb", "create_datasets")(
        directory
    )
    reference_train, reference_validation = reference.make_datasets(directory)
    for master, expected in (
        (master_train, reference_train),
        (master_validation, reference_validation),
    ):
        assert (
            master.file_paths == expected.file_paths
        )  # same files, same order: same seed and split
        assert master.class_names == expected.class_names
        assert master.element_spec == expected.element_spec
        assert int(master.cardinality()) == int(expected.cardinality())


# --- Notebook 02: data_augmenter ---


def test_data_augmenter_builds_the_reference_layers() -> None:
    master = master_function("02_prefetch_and_augmentation.ipynb", "data_augmenter")()
    expected = reference.data_augmenter()
    assert isinstance(master, keras.Sequential)
    assert [layer_settings(layer) for layer in model_facts.flatten_layers(master)] == [
        layer_settings(layer) for layer in model_facts.flatten_layers(expected)
    ]


# --- Notebook 04: alpaca_model ---


@pytest.fixture(scope="module")
def alpaca_models() -> tuple[keras.Model, keras.Model]:
    """The master's and the reference's model, each with a fresh reference augmenter."""
    master = master_function("04_layer_freezing.ipynb", "alpaca_model")
    return (
        master(config.IMG_SIZE, reference.data_augmenter()),
        reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter()),
    )


def test_alpaca_model_has_the_reference_layers_and_freezing(alpaca_models) -> None:
    master, expected = alpaca_models
    assert path_settings(master) == path_settings(expected)
    assert master.count_params() == expected.count_params()
    assert len(master.trainable_weights) == len(expected.trainable_weights)
    master_base, expected_base = (model_facts.find_base_model(m) for m in alpaca_models)
    assert master_base.trainable is expected_base.trainable is False
    master_call = model_facts.find_base_call(master, model_facts.main_path(master))[1]
    expected_call = model_facts.find_base_call(expected, model_facts.main_path(expected))[1]
    assert master_call.arguments.kwargs.get("training") == expected_call.arguments.kwargs.get(
        "training"
    )


def test_alpaca_model_predicts_like_the_reference_with_the_same_weights(alpaca_models) -> None:
    master, expected = alpaca_models
    master.set_weights(expected.get_weights())
    images = (
        np.random.default_rng(config.SEED).uniform(0, 255, (2, *config.IMG_SHAPE)).astype("float32")
    )
    np.testing.assert_allclose(
        master.predict_on_batch(images), expected.predict_on_batch(images), rtol=1e-5, atol=1e-5
    )


# --- Notebook 05: prepare_fine_tuning ---


def _compile_settings(model: keras.Model, returned: tuple[Any, Any, Any]) -> dict[str, Any]:
    loss_function, optimizer, metrics = returned
    rate = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
    return {
        "loss": layer_settings(loss_function),
        "optimizer": (type(optimizer).__name__, round(rate, 12)),
        "metrics": [layer_settings(metric) for metric in metrics],
        "compiled": bool(model.compiled) and model.optimizer is optimizer,
    }


def test_prepare_fine_tuning_unfreezes_and_compiles_like_the_reference() -> None:
    master_function_ = master_function("05_fine_tuning.ipynb", "prepare_fine_tuning")
    master_model, expected_model = (reference.alpaca_model() for _ in range(2))
    master_returned = master_function_(master_model, config.FINE_TUNE_AT)
    expected_returned = reference.unfreeze_for_fine_tuning(expected_model, config.FINE_TUNE_AT)
    flags = [
        [layer.trainable for layer in reference.find_base_model(model).layers]
        for model in (master_model, expected_model)
    ]
    assert flags[0] == flags[1]
    assert flags[0].index(True) == config.FINE_TUNE_AT  # the reference itself follows the recipe
    assert _compile_settings(master_model, master_returned) == _compile_settings(
        expected_model, expected_returned
    )


# --- Notebook 06: make_representative_dataset ---


def test_make_representative_dataset_yields_what_the_reference_yields() -> None:
    """The same images in the same order, with the same shape, dtype and pixel values."""
    import tensorflow as tf

    master_function_ = master_function("06_export_litert.ipynb", "make_representative_dataset")
    rng = np.random.default_rng(config.SEED)
    images = rng.uniform(0, 255, (7, *config.IMG_SHAPE)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(7, dtype="int32"))).batch(3)
    samples = [
        [[np.asarray(part) for part in sample] for sample in make(dataset, 5)()]
        for make in (master_function_, reference.make_representative_dataset)
    ]
    assert len(samples[0]) == len(samples[1]) == 5
    for master_sample, reference_sample in zip(*samples):
        assert len(master_sample) == len(reference_sample) == 1
        assert master_sample[0].shape == reference_sample[0].shape == (1, *config.IMG_SHAPE)
        assert master_sample[0].dtype == reference_sample[0].dtype == np.float32
        np.testing.assert_array_equal(master_sample[0], reference_sample[0])

"""The reference's continuations set the same layers trainable whatever ran before on the model.

notebook 05 and the benchmark continue one phase-1 model several ways; each
way must train what it says (fine-tuning from FINE_TUNE_AT, BatchNorm frozen or
adapting, or the head alone), also when another way was prepared first.
"""

from __future__ import annotations

import itertools

import keras
import pytest

from helpers import config, reference


def _trainable(model: keras.Model) -> tuple[int, int]:
    """(trainable layers of the base, trainable BatchNorm layers of the base)."""
    base = reference.find_base_model(model)
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    return sum(layer.trainable for layer in base.layers), sum(layer.trainable for layer in norms)


@pytest.fixture(scope="module")
def expected() -> dict[str, tuple[int, int]]:
    """What each continuation gives on a freshly built model."""
    counts = {}
    for way in reference.CONTINUATIONS:
        model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
        reference.prepare_continuation(model, way)
        counts[way] = _trainable(model)
    return counts


def test_the_fresh_counts_are_what_each_continuation_means(expected):
    base_layers = config.BASE_MODEL_LAYERS_NO_TOP
    assert expected[reference.HEAD_ONLY] == (0, 0)
    layers_adapting, norms_adapting = expected[reference.BATCHNORM_ADAPTING]
    assert layers_adapting == base_layers - config.FINE_TUNE_AT and norms_adapting > 0
    assert expected[reference.BATCHNORM_FROZEN] == (layers_adapting - norms_adapting, 0)


@pytest.mark.parametrize("first, second", list(itertools.permutations(reference.CONTINUATIONS, 2)))
def test_a_continuation_prepared_after_another_trains_what_it_says(expected, first, second):
    """BatchNorm frozen, then adapting: `base.trainable = True` alone would leave BatchNorm frozen."""
    model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    reference.prepare_continuation(model, first)
    reference.prepare_continuation(model, second)
    assert _trainable(model) == expected[second]


def test_tensorflow_skips_setting_trainable_to_the_value_it_has():
    """The Keras-on-TensorFlow fact the reference works around (keep it: it fails when it changes).

    `AutoTrackable.__setattr__` returns early when the new value `is` the current
    one, so the setter that would pass True on to every sublayer never runs.
    """
    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1), keras.layers.Dense(1)])
    inner.trainable = True
    inner.layers[0].trainable = False
    inner.trainable = True  # already True: skipped on the TensorFlow backend
    assert inner.layers[0].trainable is False
    inner.trainable = False
    inner.trainable = True  # a change: reaches every layer
    assert inner.layers[0].trainable is True

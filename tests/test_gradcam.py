"""Grad-CAM on the nested MobileNetV2: the maps it computes, the models it reads, what it leaves alone.

The course's model comes from the shared fixture (stand-in ImageNet weights,
an untrained head, whose weights a fixture sets from a seed); learner-style
models are built here with `tf.keras` spellings and other layer names. Tests
that build another MobileNetV2 or copy the model are marked slow, except one
of each kind, so the fast suite still covers every claim once.
"""

from __future__ import annotations

import grader_answers as answers
import numpy as np
import pytest
from fixtures.pinned import import_pinned

from helpers import config, gradcam, model_facts, reference

keras = import_pinned("keras")
tf = import_pinned("tensorflow")

ROWS, COLS = 5, 5  # MobileNetV2's out_relu at 160 x 160 px: 160 / 32


@pytest.fixture(scope="module")
def validation_images() -> np.ndarray:
    """Eight real validation images (pixels in [0, 255]), both classes among them."""
    _train, validation = reference.make_datasets()
    images, labels = next(iter(validation))
    assert len(set(labels.numpy()[:8].tolist())) == 2
    return images.numpy()[:8]


@pytest.fixture
def course_model(phase1_model: keras.Model) -> keras.Model:
    """The course's model as notebook 04 leaves it, its head's weights drawn from the course seed."""
    dense = phase1_model.layers[-1]
    kernel, bias = dense.get_weights()
    rng = np.random.default_rng(config.SEED)
    dense.set_weights([rng.normal(0, 0.05, kernel.shape).astype("float32"), np.zeros_like(bias)])
    return phase1_model


def logits_of(model: keras.Model, images: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict_on_batch(images)).reshape(-1)


# --- The maps ----------------------------------------------------------------


def test_the_grid_is_5_by_5_at_160_px_and_heatmaps_fit_the_images(course_model, validation_images):
    reader = gradcam.reader_for(course_model)
    assert reader.layer_name == config.GRADCAM_LAYER == "out_relu"
    assert reader.grid == (ROWS, COLS)  # not 7 x 7: that is 224 px
    assert "5 x 5 cells of 32 x 32 px" in reader.describe()
    maps = reader.maps(validation_images)
    assert maps.signed.shape == (8, ROWS, COLS)
    for toward in ("predicted", 0, 1, "alpaca", "not alpaca", [0, 1] * 4):
        heatmaps = maps.heatmaps(toward)
        assert heatmaps.shape == (8, *config.IMG_SIZE) and heatmaps.dtype == np.float32
        assert heatmaps.min() >= 0.0 and heatmaps.max() <= 1.0
        coarse = maps.coarse(toward)
        peaks = coarse.max(axis=(1, 2))
        assert np.all((peaks == 1.0) | (peaks == 0.0)), "each map is divided by its own maximum"
    assert (maps.coarse("predicted").max(axis=(1, 2)) == 1.0).any()


def test_the_pipeline_is_the_models_own_in_inference_mode(course_model, validation_images):
    """Augmentation passes images through and preprocessing runs: the logits are the model's."""
    maps = gradcam.reader_for(course_model).maps(validation_images)
    np.testing.assert_allclose(maps.logits, logits_of(course_model, validation_images), atol=1e-4)


def test_behind_pooling_and_dense_gradcam_is_the_class_activation_map(
    course_model, validation_images
):
    """Worked out independently: d logit / d A[i, j, k] = w_k / 25 in every cell, so
    the signed map is sum_k w_k A_k / 25 (Zhou et al.'s CAM, scaled)."""
    images = validation_images[:3]
    base = model_facts.find_base_model(course_model)
    activation = np.asarray(
        base(keras.applications.mobilenet_v2.preprocess_input(images.copy()), training=False)
    )
    kernel = course_model.layers[-1].get_weights()[0][:, 0]
    expected = activation @ kernel / (ROWS * COLS)
    maps = gradcam.reader_for(course_model).maps(images)
    np.testing.assert_allclose(maps.signed, expected, rtol=1e-3, atol=1e-5)


def test_the_two_classes_are_the_two_signs_of_one_map(course_model, validation_images):
    maps = gradcam.reader_for(course_model).maps(validation_images)
    toward_not_alpaca, toward_alpaca = maps.coarse(1), maps.coarse(0)
    assert not np.any((toward_not_alpaca > 0) & (toward_alpaca > 0)), "a cell speaks for one class"
    np.testing.assert_array_equal(toward_not_alpaca > 0, maps.signed > 0)
    np.testing.assert_array_equal(toward_alpaca > 0, maps.signed < 0)
    predicted = (maps.logits > 0).astype(int)
    np.testing.assert_array_equal(maps.coarse("predicted"), maps.coarse(predicted))


def test_the_same_image_gives_the_same_map(course_model, validation_images):
    first = gradcam.gradcam_heatmaps(course_model, validation_images)
    again = gradcam.gradcam_heatmaps(course_model, validation_images)
    np.testing.assert_array_equal(first, again)
    alone = gradcam.gradcam_heatmaps(course_model, validation_images[3])  # one (H, W, 3) image
    np.testing.assert_allclose(alone[0], first[3], atol=1e-5)


def test_more_images_than_one_batch(course_model, validation_images):
    many = np.concatenate([validation_images] * 5)  # 40 > GRADCAM_BATCH_SIZE
    assert len(many) > config.GRADCAM_BATCH_SIZE
    heatmaps = gradcam.gradcam_heatmaps(course_model, many)
    np.testing.assert_allclose(heatmaps[32:40], heatmaps[:8], atol=1e-5)


def test_a_reader_is_reused_for_the_same_model_and_let_go_with_it():
    import gc

    base = answers.shared_base(weights=None)
    inputs = keras.Input(config.IMG_SHAPE)
    model = keras.Model(
        inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(base(inputs)))
    )
    reader = gradcam.reader_for(model)
    assert gradcam.reader_for(model) is reader
    count = len(gradcam._READERS)
    del model, reader
    gc.collect()
    assert len(gradcam._READERS) == count - 1, "the cache kept a model alive"


# --- Nothing changes -----------------------------------------------------------


def all_variables(model: keras.Model) -> list[np.ndarray]:
    """Every variable, seed generators' states included."""
    return [np.array(variable) for variable in model.variables]


@pytest.mark.parametrize(
    "unfrozen",
    [
        pytest.param(False, id="frozen-base"),
        pytest.param(True, id="fine-tuning", marks=pytest.mark.slow),
    ],
)
def test_nothing_of_the_model_changes(course_model, validation_images, unfrozen):
    if unfrozen:
        reference.unfreeze_for_fine_tuning(course_model)
    before, variables = answers.snapshot(course_model), all_variables(course_model)
    gradcam.GradCam(course_model).maps(validation_images)  # a new reader, not one cached earlier
    gradcam.gradcam_heatmaps(course_model, validation_images)
    gradcam.randomisation_check(course_model, validation_images[:2], cascade=("Conv_1",))
    answers.assert_same_snapshot(before, answers.snapshot(course_model))
    for old, new in zip(variables, all_variables(course_model)):
        np.testing.assert_array_equal(old, new)


# --- Learner-style models --------------------------------------------------------


def learner_sequential(base: keras.Model) -> keras.Model:
    """A Sequential with other names, Rescaling instead of preprocess_input and a longer head."""
    return keras.Sequential(
        [
            keras.Input(config.IMG_SHAPE, name="pixels"),
            answers.augmenter_tf_keras(),
            keras.layers.Rescaling(1 / 127.5, offset=-1, name="to_minus_one_one"),
            base,
            keras.layers.GlobalAveragePooling2D(name="pool"),
            keras.layers.Dense(16, activation="relu", name="hidden"),
            keras.layers.Dropout(0.3, name="drop"),
            keras.layers.Dense(1, name="logit"),
        ],
        name="my_alpaca_model",
    )


@pytest.mark.parametrize("build", [pytest.param("tf_keras", marks=pytest.mark.slow), "sequential"])
def test_learner_style_models(build, validation_images):
    if build == "tf_keras":
        model = answers.model_tf_keras(config.IMG_SIZE, answers.augmenter_tf_keras())
    else:
        base = keras.applications.MobileNetV2(
            input_shape=config.IMG_SHAPE, include_top=False, weights=None, name="my_backbone"
        )
        model = learner_sequential(base)
    before = answers.snapshot(model)
    maps = gradcam.GradCam(model).maps(validation_images[:4])
    assert maps.heatmaps().shape == (4, *config.IMG_SIZE)
    np.testing.assert_allclose(maps.logits, logits_of(model, validation_images[:4]), atol=1e-4)
    answers.assert_same_snapshot(before, answers.snapshot(model))


@pytest.mark.slow
def test_a_branch_around_the_base(validation_images):
    """The head may also read the input itself: the walk follows the whole graph."""
    base = answers.shared_base(weights=None)
    inputs = keras.Input(config.IMG_SHAPE)
    pooled = keras.layers.GlobalAveragePooling2D()(base(inputs))
    beside = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Concatenate()([pooled, beside])))
    maps = gradcam.GradCam(model).maps(validation_images[:2])
    np.testing.assert_allclose(maps.logits, logits_of(model, validation_images[:2]), atol=1e-4)


@pytest.mark.slow
def test_a_base_with_its_own_pooling(validation_images):
    """MobileNetV2(pooling="avg") pools inside the base: the map is read before that pooling."""
    base = keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=False, weights=None, pooling="avg"
    )
    inputs = keras.Input(config.IMG_SHAPE)
    outputs = keras.layers.Dense(1)(base(keras.applications.mobilenet_v2.preprocess_input(inputs)))
    model = keras.Model(inputs, outputs)
    reader = gradcam.GradCam(model)
    assert reader.layer_name == "out_relu" and reader.grid == (ROWS, COLS)
    maps = reader.maps(validation_images[:2])
    np.testing.assert_allclose(maps.logits, logits_of(model, validation_images[:2]), atol=1e-4)


def test_a_model_that_ends_in_a_sigmoid_predicts_at_one_half(validation_images):
    """Its output is a probability: class 1 above 0.5, not above 0 (a logit's threshold)."""
    base = answers.shared_base(weights=None)
    inputs = keras.Input(config.IMG_SHAPE)
    pooled = keras.layers.GlobalAveragePooling2D()(base(inputs))
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(pooled))
    kernel, _bias = dense.get_weights()
    dense.set_weights([kernel * 0.01, np.array([-3.0], np.float32)])  # P about 0.05: alpaca
    maps = gradcam.GradCam(model).maps(validation_images[:4])
    assert maps.threshold == 0.5 and (maps.logits > 0).all() and (maps.logits < 0.5).all()
    np.testing.assert_array_equal(maps.classes(), [0, 0, 0, 0])


# --- Models it cannot read: one sentence -------------------------------------------


def no_mobilenet() -> keras.Model:
    inputs = keras.Input(config.IMG_SHAPE)
    x = keras.layers.Conv2D(4, 3, strides=4)(inputs)
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x)))


def two_units() -> keras.Model:
    base = answers.shared_base(weights=None)
    inputs = keras.Input(config.IMG_SHAPE)
    return keras.Model(
        inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(base(inputs)))
    )


def base_called_twice() -> keras.Model:
    base = answers.shared_base(weights=None)
    inputs = keras.Input(config.IMG_SHAPE)
    pooled = [keras.layers.GlobalAveragePooling2D()(base(x)) for x in (inputs, inputs[:, ::-1])]
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Concatenate()(pooled)))


def never_built() -> keras.Model:
    return keras.Sequential([keras.layers.Rescaling(1 / 255), keras.layers.Dense(1)])


UNREADABLE = [
    (no_mobilenet, "No MobileNetV2"),
    (two_units, "one logit"),
    (base_called_twice, "calls its MobileNetV2 2 times"),
    (never_built, "not been built"),
    (lambda: answers.shared_base(weights=None), "bare MobileNetV2"),
    (lambda: "my_model.keras", "needs a Keras model"),
]


@pytest.mark.parametrize(("make", "phrase"), UNREADABLE, ids=[p for _, p in UNREADABLE])
def test_a_model_it_cannot_read_gets_one_sentence(make, phrase):
    with pytest.raises(gradcam.GradCamError) as caught:
        gradcam.gradcam_heatmaps(make(), np.zeros((1, *config.IMG_SHAPE), np.float32))
    message = str(caught.value)
    assert phrase in message
    assert "\n" not in message and message.endswith(".") and message.count(". ") == 0
    assert caught.value.__suppress_context__ or caught.value.__context__ is None, (
        "Keras' own error should not be chained under the sentence"
    )


def test_images_of_another_size_get_one_sentence(course_model):
    with pytest.raises(gradcam.GradCamError, match=r"give \(N, 160, 160, 3\) pixels"):
        gradcam.gradcam_heatmaps(course_model, np.zeros((2, 100, 160, 3)))
    with pytest.raises(gradcam.GradCamError, match="is no class"):
        gradcam.gradcam_heatmaps(course_model, np.zeros((1, *config.IMG_SHAPE)), toward="llama")


# --- Rank correlation -------------------------------------------------------------


def test_spearman_by_hand():
    assert gradcam.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert gradcam.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # Ties share their average rank: ranks (1, 2.5, 2.5, 4) against (1, 3, 2, 4).
    assert gradcam.spearman([1, 2, 2, 3], [1, 3, 2, 4]) == pytest.approx(4.5 / np.sqrt(4.5 * 5))
    # Monotone transforms keep the ranks: a rank correlation, not Pearson's.
    values = np.random.default_rng(0).normal(size=50)
    assert gradcam.spearman(values, np.exp(3 * values)) == pytest.approx(1.0)
    assert gradcam.spearman(np.zeros(4), np.zeros(4)) == 1.0  # nothing changed
    assert gradcam.spearman([0, 1, 2, 3], np.zeros(4)) == 0.0  # all order lost
    with pytest.raises(ValueError):
        gradcam.spearman([1, 2], [1, 2, 3])


# --- The randomisation sanity check (Adebayo et al., 2018) ---------------------------


def image_brightness(model, images, toward) -> np.ndarray:
    """A fake "map" that ignores the model: each image's own brightness."""
    return np.asarray(images, np.float32).mean(axis=-1) / 255.0


def test_the_check_fails_for_a_map_that_ignores_the_weights(course_model, validation_images):
    check = gradcam.randomisation_check(
        course_model, validation_images[:4], heatmap_function=image_brightness
    )
    assert not check.passed
    assert all(np.allclose(step.correlations, 1.0) for step in check.steps)
    assert check.verdict.startswith("FAILED") and "barely change" in check.verdict
    assert "FAILED" in str(check) and "median +1.00" in str(check)


def test_maps_that_go_blank_count_as_changed_and_are_reported(course_model, validation_images):
    """A map with no cell left for the class has lost all order: correlation 0, counted apart."""
    ramp = np.tile(np.linspace(0.0, 1.0, 16, dtype=np.float32), (16, 1))

    def blank_once_randomised(model, images, toward):
        maps = np.repeat(ramp[np.newaxis], len(images), axis=0)
        return maps if model is course_model else maps * 0.0

    check = gradcam.randomisation_check(
        course_model, validation_images[:3], heatmap_function=blank_once_randomised
    )
    assert check.passed
    for step in check.steps:
        assert step.blank.all() and np.all(step.correlations == 0.0)
        assert np.isnan(step.median_of_the_rest)
    assert "3 maps blank" in str(check)


@pytest.mark.slow
def test_the_check_passes_for_gradcam_on_the_course_model(course_model, validation_images):
    check = gradcam.randomisation_check(course_model, validation_images)
    assert check.passed, str(check)
    assert check.verdict.startswith("Passed")
    assert [step.first_layer for step in check.steps] == list(config.GRADCAM_RANDOMISE_FROM)
    assert check.steps[-1].median < config.GRADCAM_SANITY_MAX_CORRELATION
    layers_reset = [step.layers_reset for step in check.steps]
    assert layers_reset == sorted(layers_reset) and layers_reset[0] >= 1  # a cascade


@pytest.mark.slow
def test_reinitialising_changes_exactly_the_top_of_a_copy(course_model):
    copy = gradcam.model_copy(course_model)
    base, copied_base = model_facts.find_base_model(course_model), model_facts.find_base_model(copy)
    assert copied_base is not base
    reset = gradcam.reinitialise_from(copied_base, "block_16_expand", seed=config.SEED)
    names = [layer.name for layer in copied_base.layers]
    first = names.index("block_16_expand")
    for original, copied in zip(base.layers, copied_base.layers):
        same = all(
            np.array_equal(a, b) for a, b in zip(original.get_weights(), copied.get_weights())
        )
        in_top = names.index(copied.name) >= first
        assert same != (in_top and bool(copied.weights)), copied.name
    assert reset[0] == "block_16_expand" and reset[-1] == "Conv_1_bn"
    # The same seed gives the same weights again (the cascade's steps build on each other).
    again = gradcam.model_copy(course_model)
    gradcam.reinitialise_from(model_facts.find_base_model(again), "block_16_expand", config.SEED)
    for a, b in zip(copied_base.get_weights(), model_facts.find_base_model(again).get_weights()):
        np.testing.assert_array_equal(a, b)

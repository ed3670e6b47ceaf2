"""The explorers, driven like a learner would: set a control, check what is shown."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from fixtures.pinned import import_pinned
from matplotlib.figure import Figure

from helpers import config, plots, runtime, widgets

keras = import_pinned("keras")

CLASS_NAMES = list(config.CLASS_NAMES)
# MobileNetV2 1.0 at 160x160 without top, fine_tune_at=120: layers 120..153 train
# (block_13_depthwise on), 1,624,896 parameters (BatchNorm statistics excluded).
KNOWN_TRAINABLE_LAYERS_AT_120 = 34
KNOWN_TRAINABLE_PARAMS_AT_120 = 1_624_896


@pytest.fixture(autouse=True)
def auto_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in auto mode, whatever the caller's environment says."""
    monkeypatch.delenv(config.ENV_WIDGETS_MODE, raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    """Three random-texture images: any rotation or flip visibly changes them."""
    return np.random.default_rng(0).uniform(0, 255, (3, 48, 48, 3)).astype("float32")


# --- has_widget_frontend ---


def fake_kernel_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend to run inside an IPython kernel."""
    monkeypatch.setattr(runtime, "ipython_shell", lambda: SimpleNamespace(kernel=object()))


def test_no_frontend_outside_a_kernel() -> None:
    assert widgets.has_widget_frontend() is False


def test_kernel_started_by_jupyter_server_has_a_frontend(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_kernel_shell(monkeypatch)
    assert widgets.has_widget_frontend() is False  # nbval / nbclient: a kernel, no server
    monkeypatch.setenv("JPY_SESSION_NAME", "/course/02.ipynb")
    assert widgets.has_widget_frontend() is True


def test_environment_variable_forces_either_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_WIDGETS_MODE, "interactive")
    assert widgets.has_widget_frontend() is True
    fake_kernel_shell(monkeypatch)
    monkeypatch.setenv("JPY_SESSION_NAME", "/course/02.ipynb")
    monkeypatch.setenv(config.ENV_WIDGETS_MODE, "static")
    assert widgets.has_widget_frontend() is False
    assert widgets.has_widget_frontend(mode="interactive") is True


def test_argument_wins_over_environment(
    monkeypatch: pytest.MonkeyPatch, images: np.ndarray
) -> None:
    monkeypatch.setenv(config.ENV_WIDGETS_MODE, "static")
    assert isinstance(
        widgets.augmentation_explorer(images, interactive=True), widgets.AugmentationExplorer
    )
    monkeypatch.setenv(config.ENV_WIDGETS_MODE, "interactive")
    assert isinstance(widgets.augmentation_explorer(images, interactive=False), Figure)


# --- Static fallback ---


def test_fallbacks_are_static_figures_without_a_frontend(images: np.ndarray, base_model) -> None:
    augmentation = widgets.augmentation_explorer(images)
    assert isinstance(augmentation, Figure) and len(augmentation.axes) == 9
    assert all(len(ax.images) == 1 for ax in augmentation.axes)

    labels = np.array([0, 1, 0])
    probabilities = np.array([0.9, 0.8, 0.3])
    browser = widgets.prediction_browser(images, labels, probabilities, CLASS_NAMES)
    assert isinstance(browser, Figure) and len(browser.axes) == 3
    assert "WRONG" in browser.axes[0].get_title()  # the mistake comes first

    fine_tuning = widgets.fine_tuning_explorer(base_model)
    assert isinstance(fine_tuning, Figure) and len(fine_tuning.axes) == 1
    assert f"fine_tune_at = {config.FINE_TUNE_AT}" in fine_tuning.axes[0].get_title()


def test_explorer_text_form_is_stable_and_bundle_carries_a_picture(images: np.ndarray) -> None:
    explorer = widgets.augmentation_explorer(images, interactive=True)
    bundle = explorer._repr_mimebundle_()
    assert bundle["text/plain"] == repr(explorer)
    assert repr(explorer).startswith("AugmentationExplorer (")
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["image/png"]  # what viewers without widgets show


# --- Augmentation explorer ---


def test_no_rotation_and_no_flip_gives_the_original(images: np.ndarray) -> None:
    explorer = widgets.augmentation_explorer(images, interactive=True)
    explorer.image_picker.value = 2
    explorer.rotation_slider.value = 0.0
    explorer.flip_toggle.value = False
    assert len(explorer.augmented) == 9
    for augmented in explorer.augmented:
        np.testing.assert_array_equal(augmented, images[2])
    assert "rotation factor 0.00" in explorer.text and "flip off" in explorer.text


def test_flip_only_gives_the_original_or_its_mirror(images: np.ndarray) -> None:
    explorer = widgets.augmentation_explorer(images, interactive=True)
    explorer.rotation_slider.value = 0.0
    mirrored = [np.array_equal(a, images[0][:, ::-1]) for a in explorer.augmented]
    unchanged = [np.array_equal(a, images[0]) for a in explorer.augmented]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert any(mirrored), "nine draws with the flip on should mirror at least one image"


def test_rotation_slider_and_resample_change_the_picture(images: np.ndarray) -> None:
    explorer = widgets.augmentation_explorer(images, interactive=True)
    explorer.flip_toggle.value = False
    explorer.rotation_slider.value = 0.0
    still_png, still = explorer.picture.value, explorer.augmented.copy()
    assert all(np.array_equal(a, images[0]) for a in still)  # no flip, no rotation: unchanged

    explorer.rotation_slider.value = 0.25
    rotated_png, rotated = explorer.picture.value, explorer.augmented.copy()
    assert rotated_png != still_png
    assert not any(np.array_equal(a, images[0]) for a in rotated)

    explorer.resample_button.click()
    assert explorer.picture.value != rotated_png
    assert not np.array_equal(explorer.augmented, rotated)
    assert "draw 1" in explorer.text

    # The same draw and settings give the same pictures: what changes is the draw, not chance.
    explorer.draw = 0
    explorer.render()
    np.testing.assert_array_equal(explorer.augmented, rotated)


def test_custom_augmenter_factory_gets_the_controls(images: np.ndarray) -> None:
    calls = []

    def factory(rotation_factor: float, flip: bool, seed: int):
        calls.append((rotation_factor, flip, seed))
        return lambda batch, training: batch * 0

    explorer = widgets.augmentation_explorer(images, factory, interactive=True)
    explorer.flip_toggle.value = False
    assert calls == [
        (config.ROTATION_FACTOR, True, config.SEED),
        (config.ROTATION_FACTOR, False, config.SEED),
    ]
    assert not explorer.augmented.any()


# --- Prediction browser ---


LABELS = np.array([0, 1, 0, 1, 0, 1])
PROBABILITIES = np.array([0.1, 0.2, 0.9, 0.7, 0.4, 0.6])


@pytest.fixture()
def browser_images() -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (6, 32, 32, 3)).astype("float32")


def test_browser_steps_through_images_and_shows_the_prediction(browser_images: np.ndarray) -> None:
    browser = widgets.prediction_browser(
        browser_images, LABELS, PROBABILITIES, CLASS_NAMES, interactive=True
    )
    assert browser.current_index == 0
    assert "true label: alpaca" in browser.text and "P(not alpaca) = 0.10" in browser.text
    first_picture = browser.picture.value
    browser.next_button.click()
    assert browser.current_index == 1
    assert "true label: not alpaca" in browser.text and "P(not alpaca) = 0.20" in browser.text
    assert "WRONG" in browser.text
    assert browser.picture.value != first_picture
    np.testing.assert_array_equal(
        np.asarray(browser.figure.axes[0].images[0].get_array()),
        plots.displayable(browser_images[1]),
    )
    browser.prev_button.click()
    browser.prev_button.click()
    assert browser.current_index == 5  # wraps around


def test_misclassified_filter_keeps_exactly_the_mistakes(browser_images: np.ndarray) -> None:
    browser = widgets.prediction_browser(
        browser_images, LABELS, PROBABILITIES, CLASS_NAMES, interactive=True
    )
    expected = [i for i in range(len(LABELS)) if (PROBABILITIES[i] > 0.5) != bool(LABELS[i])]
    assert expected == [1, 2]
    browser.misclassified_only.value = True
    assert browser.visible_indices == expected
    shown = []
    for _ in expected:
        shown.append(browser.current_index)
        assert "WRONG" in browser.text
        browser.next_button.click()
    assert shown == expected and browser.current_index == expected[0]
    browser.misclassified_only.value = False
    assert browser.visible_indices == list(range(len(LABELS)))


def test_filter_with_no_mistakes_says_so(browser_images: np.ndarray) -> None:
    browser = widgets.prediction_browser(
        browser_images, LABELS, LABELS * 0.8 + 0.1, CLASS_NAMES, interactive=True
    )
    browser.misclassified_only.value = True
    assert browser.visible_indices == [] and browser.current_index is None
    assert "No misclassified images" in browser.text
    assert browser.figure is None and browser.picture.value == b""


def test_browser_shows_top5_imagenet_labels(browser_images: np.ndarray) -> None:
    top5 = [[("n", f"label{i}_{k}", 0.5 / (k + 1)) for k in range(5)] for i in range(6)]
    browser = widgets.prediction_browser(
        browser_images, LABELS, None, CLASS_NAMES, top5, interactive=True
    )
    assert browser.misclassified_only.disabled  # no predictions of our own yet (notebook 03)
    browser.position_slider.value = 3
    assert "label3_0 0.50" in browser.text and "label3_4 0.10" in browser.text
    bars = browser.figure.axes[1]
    assert [tick.get_text() for tick in bars.get_yticklabels()] == [
        f"label3_{k}" for k in range(4, -1, -1)
    ]


# --- Fine-tuning explorer ---


@pytest.fixture(scope="module")
def base_model():
    return keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=config.IMG_SHAPE
    )


@pytest.fixture(scope="module")
def scratch_model():
    """A second copy whose flags the tests set, to count trainable parts the way Keras does."""
    return keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=config.IMG_SHAPE
    )


def counted_by_keras(model, fine_tune_at: int) -> tuple[int, int]:
    """Unfreeze from `fine_tune_at` as notebook 05 does, then ask Keras what trains."""
    # Freeze first: in Keras 3.15 (TensorFlow backend) `trainable = True` on a model that is
    # already trainable does not reach sublayers frozen by an earlier fine_tune_at.
    model.trainable = False
    model.trainable = True
    for layer in model.layers[:fine_tune_at]:
        layer.trainable = False
    layers = sum(layer.trainable for layer in model.layers)
    params = sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)
    return layers, params


def trainable_flags(model) -> list[bool]:
    return [layer.trainable for layer in model.layers] + [
        weight.trainable for weight in model.weights
    ]


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen-base", "unfrozen-base"])
def test_fine_tune_slider_counts_what_keras_would_train(
    base_model, scratch_model, frozen: bool
) -> None:
    base_model.trainable = not frozen
    flags_before = trainable_flags(base_model)
    explorer = widgets.fine_tuning_explorer(base_model, interactive=True)
    assert explorer.fine_tune_slider.value == config.FINE_TUNE_AT == 120
    assert explorer.summary.trainable_layers == KNOWN_TRAINABLE_LAYERS_AT_120
    assert explorer.summary.trainable_params == KNOWN_TRAINABLE_PARAMS_AT_120
    assert "34 of 154 layers" in explorer.text and "1,624,896" in explorer.text
    assert "block_13 (5 of 9 layers), block_14, block_15, block_16, Conv_1" in explorer.text
    for fine_tune_at in (120, 100, 151, 0):
        explorer.fine_tune_slider.value = fine_tune_at
        summary = explorer.summary
        assert (summary.trainable_layers, summary.trainable_params) == counted_by_keras(
            scratch_model, fine_tune_at
        )
        assert summary.first_trainable_layer == base_model.layers[fine_tune_at].name
        legend = [text.get_text() for text in explorer.figure.axes[0].get_legend().get_texts()]
        assert f"fine_tune_at = {fine_tune_at}" in legend
    assert explorer.summary.trainable_params == explorer.summary.unfreezable_params
    assert trainable_flags(base_model) == flags_before, "the explorer changed the model's flags"


def test_fine_tune_slider_redraws_and_finds_the_base_inside_a_model(base_model) -> None:
    inputs = keras.Input(shape=config.IMG_SHAPE)
    outputs = keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(base_model(inputs)))
    model = keras.Model(inputs, outputs)
    explorer = widgets.fine_tuning_explorer(model, interactive=True)
    assert explorer.fine_tune_slider.max == len(base_model.layers)
    before = explorer.picture.value
    explorer.fine_tune_slider.value = 148
    assert explorer.picture.value != before
    assert explorer.summary.full_blocks == ("Conv_1",)
    assert explorer.summary.partial_blocks == (
        ("block_16", 3, 8),
    )  # block_16: layers 143-150, no shortcut


# --- Prediction browser: the heatmap toggle ---


def distinct_heatmaps(count: int, size: int = 32) -> np.ndarray:
    """One map per image, each a ramp of its own slope, so a shown map tells which image it is."""
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    return np.stack([np.tile(ramp ** (i + 1), (size, 1)) for i in range(count)])


def overlay_of(figure) -> np.ndarray | None:
    """The heatmap drawn over the browser's image, or None when only the image is drawn."""
    images = figure.axes[0].images
    return None if len(images) == 1 else np.asarray(images[1].get_array())


def test_heatmap_toggle_is_disabled_without_heatmaps(browser_images: np.ndarray) -> None:
    browser = widgets.prediction_browser(
        browser_images, LABELS, PROBABILITIES, CLASS_NAMES, interactive=True
    )
    assert browser.heatmap_toggle.disabled
    browser.heatmap_toggle.value = True  # a learner cannot, but nothing breaks if code does
    assert overlay_of(browser.figure) is None and "heatmap" not in browser.text


def test_heatmap_toggle_draws_the_current_images_map(browser_images: np.ndarray) -> None:
    heatmaps = distinct_heatmaps(len(LABELS))
    browser = widgets.prediction_browser(
        browser_images, LABELS, PROBABILITIES, CLASS_NAMES, heatmaps=heatmaps, interactive=True
    )
    assert not browser.heatmap_toggle.disabled and not browser.heatmap_toggle.value
    assert overlay_of(browser.figure) is None  # off at first: the image as it is
    plain = browser.picture.value
    browser.heatmap_toggle.value = True
    assert browser.picture.value != plain
    np.testing.assert_array_equal(overlay_of(browser.figure), heatmaps[0])
    # Image 0: P(not alpaca) = 0.10, so the map speaks for the predicted class, alpaca.
    assert "heatmap: Grad-CAM toward alpaca" in browser.text
    browser.next_button.click()
    np.testing.assert_array_equal(overlay_of(browser.figure), heatmaps[1])
    browser.misclassified_only.value = True  # the toggle stays on through the filter
    assert browser.current_index == 1 and overlay_of(browser.figure) is not None
    browser.heatmap_toggle.value = False
    assert overlay_of(browser.figure) is None and "heatmap" not in browser.text


def test_heatmap_toward_another_class_says_so(browser_images: np.ndarray) -> None:
    browser = widgets.prediction_browser(
        browser_images,
        LABELS,
        PROBABILITIES,
        CLASS_NAMES,
        heatmaps=distinct_heatmaps(len(LABELS)),
        heatmap_toward=1,
        interactive=True,
    )
    browser.heatmap_toggle.value = True
    assert "heatmap: Grad-CAM toward not alpaca" in browser.text


def test_heatmaps_must_match_the_images(browser_images: np.ndarray) -> None:
    with pytest.raises(ValueError, match="5 heatmaps for 6 images"):
        widgets.prediction_browser(
            browser_images,
            LABELS,
            PROBABILITIES,
            CLASS_NAMES,
            heatmaps=distinct_heatmaps(5),
            interactive=True,
        )


def test_static_browser_with_heatmaps_is_still_the_gallery(browser_images: np.ndarray) -> None:
    figure = widgets.prediction_browser(
        browser_images, LABELS, PROBABILITIES, CLASS_NAMES, heatmaps=distinct_heatmaps(6)
    )
    assert isinstance(figure, Figure) and len(figure.axes) == 6
    assert "WRONG" in figure.axes[0].get_title()

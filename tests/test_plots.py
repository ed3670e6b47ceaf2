"""The pictures show what they claim: axes, images, titles, markers and counts."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from fixtures.pinned import import_pinned
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from helpers import config, plots

CLASS_NAMES = list(config.CLASS_NAMES)


def solid_images(count: int, size: int = 16) -> np.ndarray:
    """`count` images, each one flat colour, so every image can be told apart by its pixels."""
    values = np.linspace(10, 245, count).round()
    return (
        np.broadcast_to(values[:, None, None, None], (count, size, size, 3))
        .astype("float32")
        .copy()
    )


def shown_pixels(ax) -> np.ndarray:
    """The image array an axes draws."""
    assert len(ax.images) == 1, "each panel should hold exactly one image"
    return np.asarray(ax.images[0].get_array())


def vertical_lines(ax) -> list[Line2D]:
    """Lines drawn with axvline (both x values equal, spanning the axes)."""
    return [
        line
        for line in ax.get_lines()
        if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]
    ]


def test_show_images_one_axes_and_title_per_image() -> None:
    images = solid_images(5)
    figure = plots.show_images(images, [f"t{i}" for i in range(5)], cols=3)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 5  # the sixth grid cell is removed, not left empty
    for index, ax in enumerate(figure.axes):
        assert ax.get_title() == f"t{index}"
        np.testing.assert_array_equal(shown_pixels(ax), plots.displayable(images[index]))


def test_show_image_grid_reads_across_batches_and_titles_with_class_names() -> None:
    tf = import_pinned("tensorflow")
    images = solid_images(10)
    labels = np.array([0, 1, 1, 0, 1, 0, 0, 1, 1, 0])
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    figure = plots.show_image_grid(dataset, CLASS_NAMES, rows=2, cols=3)
    assert len(figure.axes) == 6  # 6 images from batches of 4: the grid reads a second batch
    for index, ax in enumerate(figure.axes):
        assert ax.get_title() == CLASS_NAMES[labels[index]]
        np.testing.assert_array_equal(shown_pixels(ax), plots.displayable(images[index]))


def test_show_augmentations_draws_each_augmented_copy() -> None:
    image = np.arange(4 * 4 * 3, dtype="float32").reshape(4, 4, 3)

    def mirror(batch: np.ndarray, training: bool) -> np.ndarray:
        assert training, "augmenters only augment in training mode"
        return batch[:, :, ::-1, :]

    figure = plots.show_augmentations(image, mirror, n=4)
    assert len(figure.axes) == 4
    for ax in figure.axes:
        np.testing.assert_array_equal(shown_pixels(ax), plots.displayable(image[:, ::-1, :]))


def test_show_augmentations_with_keras_layers_gives_different_copies() -> None:
    keras = import_pinned("keras")
    image = np.random.default_rng(0).uniform(0, 255, (32, 32, 3)).astype("float32")
    augmenter = keras.Sequential([keras.layers.RandomRotation(0.2, seed=1)])
    figure = plots.show_augmentations(image, augmenter, n=9)
    assert len(figure.axes) == 9
    panels = [shown_pixels(ax) for ax in figure.axes]
    assert not any(np.array_equal(panels[0], other) for other in panels[1:])


def first_dataset_image() -> np.ndarray:
    """One real image of the course's data, resized as the datasets resize it."""
    files = sorted((config.DATASET_DIR / "alpaca").glob("*.jpg"))
    if not files:
        pytest.skip("dataset/ is empty: run `make data` to fetch the images")
    from PIL import Image

    with Image.open(files[0]) as picture:
        return np.asarray(picture.convert("RGB").resize(config.IMG_SIZE), dtype="float32")


def test_show_pixel_ranges_on_real_pixels() -> None:
    keras = import_pinned("keras")
    image = first_dataset_image()
    preprocessed = keras.applications.mobilenet_v2.preprocess_input(image.copy())
    figure = plots.show_pixel_ranges(image, preprocessed)
    image_axes = [ax for ax in figure.axes if ax.images]
    histogram_axes = [ax for ax in figure.axes if not ax.images]
    assert len(figure.axes) == 4 and len(image_axes) == 2
    assert f"max {image.max():.2f}" in image_axes[0].get_title()
    assert f"min {np.min(preprocessed):.2f}" in image_axes[1].get_title()
    assert -1.0 <= np.min(preprocessed) < 0 < np.max(preprocessed) <= 1.0
    bounds = [sorted(line.get_xdata()[0] for line in vertical_lines(ax)) for ax in histogram_axes]
    assert bounds == [[0, 255], [-1, 1]]
    # The histograms count every pixel value once.
    assert sum(patch.get_height() for patch in histogram_axes[1].patches) == preprocessed.size


def test_show_imagenet_predictions_titles_hold_top_two() -> None:
    images = solid_images(4)
    decoded = [
        [("n1", f"animal{i}", 0.8 - i / 10), ("n2", f"other{i}", 0.1), ("n3", "third", 0.05)]
        for i in range(4)
    ]
    figure = plots.show_imagenet_predictions(images, decoded, n=3)
    assert len(figure.axes) == 3
    for index, ax in enumerate(figure.axes):
        title = ax.get_title()
        assert f"animal{index} {0.8 - index / 10:.2f}" in title
        assert f"other{index} 0.10" in title
        assert "third" not in title


def history(epochs: list[int], accuracy: list[float], loss: list[float]) -> SimpleNamespace:
    """A stand-in for keras.callbacks.History."""
    return SimpleNamespace(
        epoch=epochs,
        history={
            "accuracy": accuracy,
            "val_accuracy": [value - 0.05 for value in accuracy],
            "loss": loss,
            "val_loss": [value + 0.1 for value in loss],
        },
    )


def test_learning_curves_phase_one_has_no_marker() -> None:
    figure = plots.plot_learning_curves(history([0, 1, 2], [0.5, 0.6, 0.7], [0.9, 0.8, 0.7]))
    assert len(figure.axes) == 2
    for ax in figure.axes:
        assert len(ax.get_lines()) == 2  # training and validation
        assert vertical_lines(ax) == []
        assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]
    assert list(figure.axes[0].get_lines()[0].get_ydata()) == [0.5, 0.6, 0.7]


def test_learning_curves_mark_the_start_of_fine_tuning() -> None:
    phase1 = history([0, 1, 2, 3, 4], [0.5, 0.6, 0.7, 0.75, 0.8], [0.9, 0.8, 0.7, 0.6, 0.5])
    phase2 = history([5, 6, 7], [0.85, 0.9, 0.92], [0.4, 0.3, 0.25])
    figure = plots.plot_learning_curves(phase1, phase2)
    for ax, key in zip(figure.axes, ("accuracy", "loss")):
        training = ax.get_lines()[0]
        assert list(training.get_xdata()) == [1, 2, 3, 4, 5, 6, 7, 8]
        assert list(training.get_ydata()) == phase1.history[key] + phase2.history[key]
        (marker,) = vertical_lines(ax)
        assert marker.get_xdata()[0] == 5.5  # between epoch 5 (phase 1) and 6 (phase 2)
        assert marker.get_label() == plots.FINE_TUNE_MARKER_LABEL
        legend_texts = [text.get_text() for text in ax.get_legend().get_texts()]
        assert plots.FINE_TUNE_MARKER_LABEL in legend_texts


def test_confusion_matrix_counts() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    probabilities = np.array([0.1, 0.7, 0.2, 0.9, 0.4, 0.8, 0.6])
    figure = plots.plot_confusion_matrix(labels, probabilities, CLASS_NAMES)
    (ax,) = figure.axes
    # Rows are true classes, columns predicted: TN=2, FP=1, FN=1, TP=3.
    cells = {
        (round(text.get_position()[1]), round(text.get_position()[0])): text.get_text()
        for text in ax.texts
    }
    assert cells == {(0, 0): "2", (0, 1): "1", (1, 0): "1", (1, 1): "3"}
    assert "5 of 7" in ax.get_title()
    assert [tick.get_text() for tick in ax.get_xticklabels()] == CLASS_NAMES


def test_decision_threshold_matches_logit_zero() -> None:
    # sigmoid(0) = 0.5 is class 0, like BinaryAccuracy(threshold=0.0) on a logit of 0.
    assert list(plots.predicted_classes([0.49, 0.5, 0.51])) == [0, 0, 1]


def test_gallery_puts_misclassified_first() -> None:
    images = solid_images(6)
    labels = np.array([0, 1, 0, 1, 0, 1])
    probabilities = np.array([0.2, 0.3, 0.95, 0.9, 0.6, 0.99])  # wrong: 1, 2, 4
    figure = plots.show_prediction_gallery(images, labels, probabilities, CLASS_NAMES, n=5)
    assert len(figure.axes) == 5
    expected_order = [2, 1, 4, 0, 3]  # mistakes by how wrong, then the least sure right ones
    for ax, index in zip(figure.axes, expected_order):
        np.testing.assert_array_equal(shown_pixels(ax), plots.displayable(images[index]))
        title = ax.get_title()
        assert f"true: {CLASS_NAMES[labels[index]]}" in title
        assert f"P(not alpaca)={probabilities[index]:.2f}" in title
        assert ("WRONG" in title) == (index in (1, 2, 4))
    assert "3 of 6 misclassified" in figure.get_suptitle()


def test_figure_text_form_does_not_depend_on_values() -> None:
    """nbval compares a figure's text/plain form; it must not change with the weights."""
    images = solid_images(12)
    labels = np.arange(12) % 2
    one = plots.show_prediction_gallery(images, labels, np.linspace(0, 1, 12), CLASS_NAMES)
    other = plots.show_prediction_gallery(images[::-1], labels, np.linspace(1, 0, 12), CLASS_NAMES)
    assert repr(one) == repr(other) == "<Figure size 960x760 with 12 Axes>"


def test_trainable_layers_chart_marks_fine_tune_at() -> None:
    counts = [0, 10, 20, 0, 30, 40]
    figure = plots.plot_trainable_layers(counts, 4, "title")
    (ax,) = figure.axes
    (marker,) = vertical_lines(ax)
    assert marker.get_xdata()[0] == 3.5
    colours = {
        round(patch.get_x() + patch.get_width() / 2): patch.get_facecolor() for patch in ax.patches
    }
    assert colours[1] == colours[2] != colours[4] == colours[5]
    assert ax.get_title() == "title"
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == ["frozen", "trainable", "fine_tune_at = 4"]


def test_figures_display_as_pictures_without_pyplot() -> None:
    """Jupyter shows the figures as PNG even when no inline backend is active (nbval runs Agg)."""
    from IPython.core.formatters import DisplayFormatter

    figure = plots.show_images(solid_images(2), ["a", "b"])
    data, _metadata = DisplayFormatter().format(figure)
    assert data["text/plain"] == repr(figure) == "<Figure size 480x240 with 2 Axes>"
    # Photographs go out as JPEG (small notebooks), never both formats at once.
    assert data["image/jpeg"][:3] == b"\xff\xd8\xff" and "image/png" not in data


def test_charts_display_as_png() -> None:
    from IPython.core.formatters import DisplayFormatter

    history = SimpleNamespace(
        epoch=[0, 1],
        history={
            "accuracy": [0.5, 0.6],
            "val_accuracy": [0.5, 0.7],
            "loss": [1.0, 0.8],
            "val_loss": [0.9, 0.7],
        },
    )
    data, _metadata = DisplayFormatter().format(plots.plot_learning_curves(history))
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n" and "image/jpeg" not in data


# --- Grad-CAM heatmaps ---


def ramps(count: int, size: int = 16) -> np.ndarray:
    """One heatmap per image, each a ramp of its own slope."""
    ramp = np.linspace(0.0, 1.0, size, dtype=np.float32)
    return np.stack([np.tile(ramp ** (i + 1), (size, 1)) for i in range(count)])


def test_heatmap_examples_are_the_mistakes_then_confident_right_ones_of_each_class() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 0, 1])
    probabilities = np.array([0.6, 0.1, 0.3, 0.2, 0.99, 0.7, 0.9, 0.4])
    # Wrong: 0 (0.6), 3 (0.2), 6 (0.9), 7 (0.4); most confidently wrong first.
    chosen = plots.heatmap_examples(labels, probabilities, n=6, min_right=3)
    assert chosen.tolist()[:3] == [6, 3, 0]
    # Right, most confident first, classes in turn: 1 (alpaca, 0.1), 4 (not alpaca, 0.99), 2.
    assert chosen.tolist()[3:] == [1, 4, 2]
    # Fewer mistakes than room: right ones fill up to n, so the figure keeps its size.
    expected = [6, 3, 0, 7, 1, 4]  # 0 and 7 are equally wrong (0.6): dataset order
    assert plots.heatmap_examples(labels, probabilities, n=6, min_right=1).tolist() == expected
    assert len(plots.heatmap_examples(labels, labels * 0.8 + 0.1, n=5)) == 5  # no mistakes


def test_show_heatmaps_pairs_each_image_with_its_map() -> None:
    images = solid_images(6)
    heatmaps = ramps(6)
    labels = np.array([0, 1, 0, 1, 0, 1])
    probabilities = np.array([0.8, 0.9, 0.1, 0.3, 0.2, 0.7])  # 0 and 3 are wrong
    figure = plots.show_heatmaps(images, heatmaps, labels, probabilities, CLASS_NAMES)
    chosen = plots.heatmap_examples(labels, probabilities)
    assert len(figure.axes) == 2 * len(chosen)
    for pair, index in enumerate(chosen):
        photo_ax, map_ax = figure.axes[2 * pair], figure.axes[2 * pair + 1]
        np.testing.assert_array_equal(shown_pixels(photo_ax), plots.displayable(images[index]))
        assert len(map_ax.images) == 2
        np.testing.assert_array_equal(np.asarray(map_ax.images[1].get_array()), heatmaps[index])
        predicted = CLASS_NAMES[int(probabilities[index] > 0.5)]
        assert map_ax.get_title().endswith(f"toward {predicted}")
        assert ("WRONG" in photo_ax.get_title()) == (index in (0, 3))
    assert "2 mistakes" in figure._suptitle.get_text()


def test_show_heatmaps_with_chosen_images_and_classes() -> None:
    figure = plots.show_heatmaps(
        solid_images(3),
        ramps(3),
        [0, 1, 0],
        [0.2, 0.8, 0.4],
        CLASS_NAMES,
        indices=[2],
        toward=[1, 1, 1],
    )
    assert len(figure.axes) == 2 and figure.axes[1].get_title().endswith("toward not alpaca")


def test_show_prediction_and_photo_predictions_take_a_heatmap() -> None:
    image, heatmap = solid_images(1)[0], ramps(1)[0]
    plain = plots.show_prediction(image, "caption")
    assert len(plain.axes[0].images) == 1
    with_map = plots.show_prediction(image, "caption", heatmap=heatmap)
    np.testing.assert_array_equal(np.asarray(with_map.axes[0].images[1].get_array()), heatmap)
    photo = plots.show_photo_predictions(
        image, [("Keras", 0.3)], CLASS_NAMES, "me.jpg", heatmap=heatmap, heatmap_title="map"
    )
    assert [ax.get_title() for ax in photo.axes][1] == "map" and len(photo.axes) == 3
    assert len(plots.show_photo_predictions(image, [("Keras", 0.3)], CLASS_NAMES, "x").axes) == 2


def test_overlay_fades_where_the_map_is_cold() -> None:
    figure = plots.show_prediction(solid_images(1)[0], "c", heatmap=ramps(1)[0])
    overlay = figure.axes[0].images[1]
    alpha = np.asarray(overlay.get_alpha())
    assert alpha.min() == 0.0 and alpha.max() == pytest.approx(plots.HEATMAP_OPACITY)

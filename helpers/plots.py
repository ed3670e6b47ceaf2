"""The course's pictures, drawn with matplotlib.

Every function returns a `matplotlib.figure.Figure` and shows nothing: the
notebook displays it (make the call the last line of a cell, or `display(fig)`;
`plt.show()` does not show it). The figures are built without `pyplot`, so
Jupyter's inline backend does not show them a second time and no global
pyplot state is left behind; `NotebookFigure` makes them display as a picture
under any backend. Inputs may be numpy arrays or TensorFlow tensors; images are in
[0, 255] as `image_dataset_from_directory` yields them.

A figure's plain-text form, `<Figure size WxH with N Axes>`, depends only on the
arguments' sizes (never on pixel values or probabilities), so it is stable
under nbval.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from helpers import config, histories

# Inches per image panel: big enough to see an alpaca, small enough for a 3x3 grid.
PANEL_INCHES = 2.4
RIGHT_COLOUR = "tab:green"
WRONG_COLOUR = "tab:red"
FROZEN_COLOUR = "lightgrey"
TRAINABLE_COLOUR = "tab:blue"
FINE_TUNE_MARKER_LABEL = "start fine-tuning"
PHASE_NAMES = ("phase 1", "fine-tuning")


class NotebookFigure(Figure):
    """A Figure that Jupyter shows as a picture whatever matplotlib's backend.

    Jupyter's inline backend only teaches IPython to draw figures once pyplot
    has been imported; these figures are made without pyplot, and nbval runs
    kernels with the Agg backend. `_repr_png_`/`_repr_jpeg_` make them display as an
    image everywhere, with the usual `<Figure size ... with N Axes>` as plain text.
    """

    def __repr__(self) -> str:
        # Read as any matplotlib figure does: "<Figure size 720x760 with 9 Axes>".
        return super().__repr__().replace(type(self).__name__, "Figure", 1)

    def _repr_png_(self) -> bytes | None:
        return None if self.shows_photos() else self._encode("png")

    def _repr_jpeg_(self) -> bytes | None:
        # Photographs compress ten times better as JPEG than as PNG, which keeps
        # the solution notebooks small; charts and text stay crisp PNGs.
        return self._encode("jpeg", pil_kwargs={"quality": 85}) if self.shows_photos() else None

    def shows_photos(self) -> bool:
        """True when any axes shows a colour image (a photograph), not only charts."""
        return any(image.get_array().ndim == 3 for ax in self.axes for image in ax.get_images())

    def _encode(self, image_format: str, **savefig_kwargs: Any) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format=image_format, bbox_inches="tight", **savefig_kwargs)
        return buffer.getvalue()


class HistoryLike(Protocol):
    """What `plot_learning_curves` needs: a Keras `History` or anything shaped like one."""

    history: dict[str, list[float]]
    epoch: list[int]


# --- Small conversions shared by the pictures and the explorers ---


def to_numpy(values: Any) -> np.ndarray:
    """A numpy array from a numpy array, a list or an eager TensorFlow tensor."""
    if hasattr(values, "numpy"):
        return np.asarray(values.numpy())
    return np.asarray(values)


def displayable(image: Any) -> np.ndarray:
    """An image in [0, 255] as uint8, which imshow draws without rescaling."""
    return np.clip(np.rint(to_numpy(image)), 0, 255).astype(np.uint8)


def predicted_classes(probabilities: Any) -> np.ndarray:
    """Class 1 ("not alpaca") where its probability is above the decision threshold."""
    return (to_numpy(probabilities).reshape(-1) > config.DECISION_THRESHOLD).astype(int)


def misclassified_indices(labels: Any, probabilities: Any) -> np.ndarray:
    """Indices, in order, of the images whose predicted class is not their label."""
    labels = to_numpy(labels).reshape(-1).astype(int)
    return np.flatnonzero(predicted_classes(probabilities) != labels)


def gallery_order(labels: Any, probabilities: Any) -> np.ndarray:
    """Misclassified images first, the most confidently wrong at the very front.

    Within each group images are sorted by how far the probability is from
    the true label, so the correct-but-unsure ones come right after the
    mistakes; ties keep the dataset's order (stable sort).
    """
    labels = to_numpy(labels).reshape(-1).astype(int)
    probabilities = to_numpy(probabilities).reshape(-1).astype(float)
    correct = predicted_classes(probabilities) == labels
    error = np.abs(probabilities - labels)
    # lexsort sorts by the last key first: correctness, then decreasing error.
    return np.lexsort((-error, correct))


def confusion_counts(labels: Any, probabilities: Any, n_classes: int = 2) -> np.ndarray:
    """counts[true, predicted] for the images' labels and predicted classes."""
    labels = to_numpy(labels).reshape(-1).astype(int)
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (labels, predicted_classes(probabilities)), 1)
    return counts


def augment_copies(image: Any, augmenter: Callable[..., Any], n: int) -> np.ndarray:
    """`n` augmented versions of one image, drawn in one batch.

    Keras 3's random layers draw a separate transformation for every image of
    a batch, so one call gives `n` different versions.
    """
    batch = np.repeat(to_numpy(image)[np.newaxis].astype("float32"), n, axis=0)
    return to_numpy(augmenter(batch, training=True))


# --- The generic image grid every picture below is made from ---


def _grid(n: int, cols: int, extra_height: float = 0.0) -> tuple[Figure, list[Axes]]:
    """A figure with exactly `n` axes in rows of `cols` (unused cells removed)."""
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    figure = NotebookFigure(
        figsize=(cols * PANEL_INCHES, rows * PANEL_INCHES + extra_height), layout="constrained"
    )
    axes = list(figure.subplots(rows, cols, squeeze=False).ravel())
    for spare in axes[n:]:
        spare.remove()
    return figure, axes[:n]


def show_images(
    images: Any,
    titles: Sequence[str] | None = None,
    cols: int = 3,
    suptitle: str | None = None,
    title_colours: Sequence[str] | None = None,
) -> Figure:
    """A grid with one image per axes, each with its title, axis ticks hidden."""
    images = to_numpy(images)
    figure, axes = _grid(len(images), cols, extra_height=0.4 if suptitle else 0.0)
    for index, (ax, image) in enumerate(zip(axes, images)):
        ax.imshow(displayable(image))
        if titles is not None:
            colour = title_colours[index] if title_colours is not None else "black"
            ax.set_title(titles[index], fontsize=9, color=colour)
        ax.axis("off")
    if suptitle:
        figure.suptitle(suptitle)
    return figure


def _first_examples(dataset: Iterable[Any], count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` (image, label) pairs of a batched or unbatched dataset."""
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for batch_images, batch_labels in dataset:
        batch_images, batch_labels = to_numpy(batch_images), to_numpy(batch_labels)
        if batch_images.ndim == 3:  # an unbatched dataset yields single images
            batch_images, batch_labels = batch_images[np.newaxis], batch_labels[np.newaxis]
        images.extend(batch_images)
        labels.extend(batch_labels)
        if len(images) >= count:
            break
    return np.asarray(images[:count]), np.asarray(labels[:count])


def _class_index(label: np.ndarray) -> int:
    """A label as a class index, whether it is an integer or one-hot."""
    label = np.asarray(label)
    return int(label.argmax()) if label.ndim > 0 and label.size > 1 else int(label.reshape(-1)[0])


# --- The pictures the notebooks show ---


def show_image_grid(
    dataset: Iterable[Any], class_names: Sequence[str], rows: int = 3, cols: int = 3
) -> Figure:
    """Notebook 01: the first `rows * cols` images of a dataset, titled with their class."""
    images, labels = _first_examples(dataset, rows * cols)
    titles = [class_names[_class_index(label)] for label in labels]
    return show_images(images, titles, cols=cols)


def show_augmentations(image: Any, augmenter: Callable[..., Any], n: int = 9) -> Figure:
    """Notebook 02: one image augmented `n` times (a new random draw in each panel)."""
    augmented = augment_copies(image, augmenter, n)
    titles = [f"augmented #{index + 1}" for index in range(n)]
    return show_images(augmented, titles, suptitle=f"One image, {n} random augmentations")


def _range_title(name: str, values: np.ndarray) -> str:
    """A title that states the range actually found in the pixels."""
    return f"{name}\nmin {values.min():.2f}, max {values.max():.2f}"


def show_pixel_ranges(image: Any, preprocessed: Any) -> Figure:
    """Notebook 02: the same pixels before and after `preprocess_input`.

    Top row: the two images (the preprocessed one mapped back from [-1, 1] to
    be drawable); bottom row: their pixel histograms with the range marked.
    """
    raw = to_numpy(image).astype("float32")
    scaled = to_numpy(preprocessed).astype("float32")
    figure = NotebookFigure(
        figsize=(2 * PANEL_INCHES * 1.4, 2 * PANEL_INCHES * 1.2), layout="constrained"
    )
    (raw_ax, scaled_ax), (raw_hist, scaled_hist) = figure.subplots(2, 2)
    raw_ax.imshow(displayable(raw))
    raw_ax.set_title(_range_title("raw pixels", raw), fontsize=9)
    scaled_ax.imshow(displayable((scaled + 1.0) * 127.5))
    scaled_ax.set_title(_range_title("after preprocess_input", scaled), fontsize=9)
    for ax in (raw_ax, scaled_ax):
        ax.axis("off")
    for ax, values, bounds, colour in (
        (raw_hist, raw, (0, 255), "tab:orange"),
        (scaled_hist, scaled, (-1, 1), "tab:blue"),
    ):
        ax.hist(values.ravel(), bins=64, color=colour)
        for bound in bounds:
            ax.axvline(bound, color="black", linestyle="--", linewidth=1)
        ax.set_xlabel(f"pixel value (expected range [{bounds[0]}, {bounds[1]}])")
        ax.set_ylabel("count")
    return figure


def prediction_lines(decoded: Sequence[Sequence[Any]], top: int) -> str:
    """`decode_predictions` entries as 'name probability' lines."""
    return "\n".join(f"{entry[1]} {float(entry[2]):.2f}" for entry in list(decoded)[:top])


def show_imagenet_predictions(
    images: Any, decoded: Sequence[Sequence[Any]], n: int = 9, top: int = 2
) -> Figure:
    """Notebook 03: images titled with their top ImageNet labels and probabilities."""
    images = to_numpy(images)[:n]
    titles = [prediction_lines(entries, top) for entries in list(decoded)[: len(images)]]
    return show_images(images, titles, suptitle=f"MobileNetV2's top-{top} ImageNet guesses")


def _metric_key(history: HistoryLike, word: str, metrics: Iterable[Any] | None) -> str | None:
    """The name under which one phase's history records `word` ('accuracy' or 'loss')."""
    if word == "accuracy":
        return histories.accuracy_key(history, metrics)
    return word if word in history.history else None


def plot_learning_curves(
    history: HistoryLike,
    fine_tune_history: HistoryLike | None = None,
    metrics: Iterable[Any] | None = None,
) -> Figure:
    """Notebooks 04 and 05: accuracy and loss per epoch, training and validation.

    Epochs are drawn 1-based with the numbers Keras recorded, so phase 2 trained
    with `initial_epoch=len(history.epoch)` continues where phase 1 ended.
    With `fine_tune_history`, a vertical line labelled "start fine-tuning"
    sits halfway between the last phase-1 epoch and the first phase-2 epoch.
    Each phase's accuracy is found under its own name (helpers.histories), so a
    phase compiled with `BinaryAccuracy(threshold=0.0)` (recorded as
    `binary_accuracy`) is drawn too; `metrics`, the list phase 2 was compiled
    with, names it when its name says nothing. A phase without an accuracy is
    named in the panel's title instead of silently left out.
    """
    phases = [history] if fine_tune_history is None else [history, fine_tune_history]
    phase_metrics = [None] if fine_tune_history is None else [None, metrics]
    figure = NotebookFigure(figsize=(10, 4), layout="constrained")
    axes = figure.subplots(1, 2)
    for ax, word in zip(axes, ("accuracy", "loss")):
        keys = [_metric_key(phase, word, named) for phase, named in zip(phases, phase_metrics)]
        for prefix, label, style in (("", "training", "-o"), ("val_", "validation", "-s")):
            # Pair epochs and values per phase, so a metric missing from one phase cannot shift the other.
            points = [
                (epoch + 1, value)
                for phase, key in zip(phases, keys)
                if key is not None
                for epoch, value in zip(phase.epoch, phase.history.get(prefix + key, []))
            ]
            if points:
                ax.plot(*zip(*points), style, label=label)
        if fine_tune_history is not None and history.epoch and fine_tune_history.epoch:
            boundary = (history.epoch[-1] + fine_tune_history.epoch[0]) / 2 + 1
            ax.axvline(boundary, color="tab:green", linestyle="--", label=FINE_TUNE_MARKER_LABEL)
        missing = [PHASE_NAMES[index] for index, key in enumerate(keys) if key is None]
        title = f"Training and validation {word}"
        ax.set_title(title + (f"\n(none recorded in {' and '.join(missing)})" if missing else ""))
        ax.set_xlabel("epoch")
        ax.set_ylabel(word)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return figure


def plot_confusion_matrix(labels: Any, probabilities: Any, class_names: Sequence[str]) -> Figure:
    """Notebook 05: counts of true class (rows) against predicted class (columns)."""
    counts = confusion_counts(labels, probabilities, len(class_names))
    figure = NotebookFigure(figsize=(4.5, 4), layout="constrained")
    ax = figure.subplots()
    ax.imshow(counts, cmap="Blues")
    for (row, col), count in np.ndenumerate(counts):
        # White text on the dark cells keeps every count readable.
        colour = "white" if count > counts.max() / 2 else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=colour, fontsize=14)
    ticks = range(len(class_names))
    ax.set_xticks(ticks, labels=class_names)
    ax.set_yticks(ticks, labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = counts.sum()
    right = int(np.trace(counts))
    ax.set_title(f"Accuracy {right / max(total, 1):.2f} ({right} of {total})")
    return figure


def prediction_caption(label: int, probability: float, class_names: Sequence[str]) -> str:
    """'true: alpaca / P(not alpaca)=0.91 -> WRONG' — right/wrong as a word, not only a colour."""
    predicted = int(probability > config.DECISION_THRESHOLD)
    verdict = "right" if predicted == label else "WRONG"
    return f"true: {class_names[label]}\nP({class_names[1]})={probability:.2f}: {verdict}"


def show_prediction_gallery(
    images: Any,
    labels: Any,
    probabilities: Any,
    class_names: Sequence[str],
    n: int = 12,
) -> Figure:
    """Notebook 05: validation images with true label and predicted probability, misclassified first.

    `probabilities` are those of class 1 ("not alpaca"), e.g. `sigmoid(logits)`.
    """
    images = to_numpy(images)
    labels = to_numpy(labels).reshape(-1).astype(int)
    probabilities = to_numpy(probabilities).reshape(-1).astype(float)
    order = gallery_order(labels, probabilities)[:n]
    wrong = set(misclassified_indices(labels, probabilities).tolist())
    titles = [prediction_caption(labels[i], probabilities[i], class_names) for i in order]
    colours = [WRONG_COLOUR if i in wrong else RIGHT_COLOUR for i in order]
    suptitle = f"{len(wrong)} of {len(labels)} misclassified (shown first)"
    return show_images(images[order], titles, cols=4, suptitle=suptitle, title_colours=colours)


def show_prediction(
    image: Any,
    caption: str,
    decoded: Sequence[Any] | None = None,
    heatmap: Any | None = None,
) -> Figure:
    """One image with a caption; with `decoded` (one `decode_predictions` list) a bar chart of it too.

    With `heatmap` (H, W) in [0, 1], the image carries it on top (`overlay_heatmap`).
    """
    figure = NotebookFigure(
        figsize=(PANEL_INCHES * (2.6 if decoded is not None else 1.3), PANEL_INCHES * 1.4),
        layout="constrained",
    )
    axes = figure.subplots(1, 2 if decoded is not None else 1, squeeze=False).ravel()
    axes[0].imshow(displayable(image))
    if heatmap is not None:
        overlay_heatmap(axes[0], heatmap)
    axes[0].set_title(caption, fontsize=9)
    axes[0].axis("off")
    if decoded is not None:
        entries = list(decoded)[:5]
        names = [str(entry[1]) for entry in entries]
        scores = [float(entry[2]) for entry in entries]
        # Reversed so the best guess sits at the top of the bar chart.
        axes[1].barh(names[::-1], scores[::-1], color="tab:blue")
        axes[1].set_xlim(0, 1)
        axes[1].set_xlabel("ImageNet probability")
        axes[1].set_title("top 5 ImageNet labels", fontsize=9)
    return figure


# --- Grad-CAM heatmaps (helpers/gradcam.py computes them) ---

HEATMAP_CMAP = "jet"
# The heatmap's opacity where it is 1; it fades with the value, so cold regions show the photo.
HEATMAP_OPACITY = 0.6


def overlay_heatmap(ax: Axes, heatmap: Any) -> None:
    """Draw a (H, W) heatmap in [0, 1] over the image already on `ax`, more opaque where hotter."""
    values = np.clip(to_numpy(heatmap).astype(float), 0.0, 1.0)
    ax.imshow(values, cmap=HEATMAP_CMAP, vmin=0.0, vmax=1.0, alpha=HEATMAP_OPACITY * values)


def heatmap_examples(labels: Any, probabilities: Any, n: int = 8, min_right: int = 2) -> np.ndarray:
    """`n` images to explain: the mistakes first (most confidently wrong first, leaving room for
    `min_right`), then right ones, the most confident of each class in turn.

    Always `n` (when there are that many images), so the figure's size does not depend on
    how many mistakes a run made.
    """
    labels = to_numpy(labels).reshape(-1).astype(int)
    probabilities = to_numpy(probabilities).reshape(-1).astype(float)
    order = gallery_order(labels, probabilities)
    correct = predicted_classes(probabilities) == labels
    wrong = [int(i) for i in order if not correct[i]][: max(n - min_right, 0)]
    # gallery_order puts the least sure right ones first; the most sure come last.
    by_class = [[int(i) for i in order[::-1] if correct[i] and labels[i] == c] for c in (0, 1)]
    right = [i for pair in zip(*by_class) for i in pair]
    right += [i for group in by_class for i in group[len(right) // 2 :]]
    return np.asarray(wrong + right[: n - len(wrong)], dtype=int)


def show_heatmaps(
    images: Any,
    heatmaps: Any,
    labels: Any,
    probabilities: Any,
    class_names: Sequence[str],
    indices: Sequence[int] | None = None,
    toward: Sequence[int] | None = None,
) -> Figure:
    """Notebook 05: chosen images twice, as they are and under their Grad-CAM heatmap.

    `heatmaps` (N, H, W) in [0, 1], one per image; `indices` which images
    (default `heatmap_examples`: the mistakes, then a few right ones); `toward`
    the class each map was made for (default: the predicted class, as
    `gradcam_heatmaps` makes them). Titles give the true label, P(class 1),
    right or WRONG as a word, and the class the map speaks for.
    """
    images, heatmaps = to_numpy(images), to_numpy(heatmaps)
    labels = to_numpy(labels).reshape(-1).astype(int)
    probabilities = to_numpy(probabilities).reshape(-1).astype(float)
    chosen = heatmap_examples(labels, probabilities) if indices is None else np.asarray(indices)
    classes = predicted_classes(probabilities) if toward is None else np.asarray(toward)
    wrong = set(misclassified_indices(labels, probabilities).tolist())
    figure, axes = _grid(2 * len(chosen), cols=4, extra_height=0.4)
    for pair, index in enumerate(chosen):
        photo_ax, map_ax = axes[2 * pair], axes[2 * pair + 1]
        colour = WRONG_COLOUR if index in wrong else RIGHT_COLOUR
        for ax in (photo_ax, map_ax):
            ax.imshow(displayable(images[index]))
            ax.axis("off")
        overlay_heatmap(map_ax, heatmaps[index])
        photo_ax.set_title(
            prediction_caption(labels[index], probabilities[index], class_names),
            fontsize=9,
            color=colour,
        )
        map_ax.set_title(
            f"image {index}: Grad-CAM\ntoward {class_names[classes[index]]}", fontsize=9
        )
    shown_wrong = sum(int(index) in wrong for index in chosen)
    figure.suptitle(
        f"Where the logit found its evidence: {shown_wrong} mistakes, "
        f"{len(chosen) - shown_wrong} right (red = strongest cell)"
    )
    return figure


def plot_trainable_layers(
    layer_params: Sequence[int], fine_tune_at: int, title: str | None = None
) -> Figure:
    """Notebook 05: parameters per layer of the base, frozen in grey, trainable in blue.

    `layer_params[i]` is the number of trainable-when-unfrozen parameters of
    layer `i`; layers from `fine_tune_at` on are the ones fine-tuning trains.
    """
    params = np.asarray(layer_params)
    indices = np.arange(len(params))
    figure = NotebookFigure(figsize=(10, 3.2), layout="constrained")
    ax = figure.subplots()
    frozen = indices < fine_tune_at
    ax.bar(indices[frozen], params[frozen], color=FROZEN_COLOUR, width=1.0)
    ax.bar(indices[~frozen], params[~frozen], color=TRAINABLE_COLOUR, width=1.0)
    marker = ax.axvline(fine_tune_at - 0.5, color="black", linestyle="--")
    # Legend entries drawn by hand: an empty bar group (nothing frozen) would get a wrong colour.
    handles = [Patch(color=FROZEN_COLOUR), Patch(color=TRAINABLE_COLOUR), marker]
    ax.legend(handles, ["frozen", "trainable", f"fine_tune_at = {fine_tune_at}"], loc="upper left")
    ax.set_yscale("symlog")
    ax.set_xlim(-0.5, len(params) - 0.5)
    ax.set_xlabel("layer index in the base model")
    ax.set_ylabel("parameters")
    if title:
        ax.set_title(title, fontsize=10)
    return figure


# --- Notebook 06: exported models and the learner's own photo ---

KERAS_COLOUR = "tab:blue"
LITERT_COLOUR = "tab:orange"


class ExportedModelFigures(Protocol):
    """What `plot_export_comparison` reads from each row (helpers.litert.Comparison)."""

    name: str
    size_kb: float
    latency_ms: float
    accuracy: float
    agreement: float


def plot_export_comparison(
    rows: Sequence[ExportedModelFigures], keras_accuracy: float | None = None
) -> Figure:
    """Notebook 06: file size, latency per image, and accuracy / agreement with Keras, per export."""
    names = [row.name for row in rows]
    figure = NotebookFigure(figsize=(11, 3.2), layout="constrained")
    size_ax, time_ax, quality_ax = figure.subplots(1, 3)
    size_ax.bar(names, [row.size_kb / 1000 for row in rows], color="tab:blue")
    size_ax.set_ylabel("MB")
    size_ax.set_title("file size", fontsize=10)
    time_ax.bar(names, [row.latency_ms for row in rows], color="tab:orange")
    time_ax.set_ylabel("ms per image (median)")
    time_ax.set_title("latency, one image at a time", fontsize=10)
    positions = np.arange(len(rows))
    quality_ax.bar(
        positions - 0.2,
        [row.accuracy for row in rows],
        width=0.4,
        label="accuracy",
        color="tab:green",
    )
    quality_ax.bar(
        positions + 0.2,
        [row.agreement for row in rows],
        width=0.4,
        label="agrees with Keras",
        color="tab:grey",
    )
    if keras_accuracy is not None:
        quality_ax.axhline(keras_accuracy, color="black", linestyle="--", label="Keras accuracy")
    quality_ax.set_xticks(positions, labels=names)
    # The interesting part is near 1: a full 0-1 axis would hide a one-image difference.
    quality_ax.set_ylim(0.8, 1.005)
    quality_ax.set_title("on the validation images", fontsize=10)
    # Below the axes: inside, it would cover the bars it explains.
    quality_ax.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, fontsize=7, frameon=False
    )
    for ax in (size_ax, time_ax, quality_ax):
        ax.tick_params(axis="x", labelsize=8)
    return figure


def show_photo_predictions(
    image: Any,
    probabilities: Sequence[tuple[str, float]],
    class_names: Sequence[str],
    title: str,
    heatmap: Any | None = None,
    heatmap_title: str = "Grad-CAM",
) -> Figure:
    """Notebook 06: a photo as the model sees it, beside each model's P(class 1).

    `probabilities` holds (model name, probability of class 1) pairs, e.g.
    Keras and the int8 LiteRT file, drawn as bars around the 0.5 boundary.
    With `heatmap` (H, W) in [0, 1], a middle panel shows it over the photo.
    """
    widths = [1, 1, 1.3] if heatmap is not None else [1, 1.3]
    figure = NotebookFigure(
        figsize=(PANEL_INCHES * (3.8 if heatmap is not None else 2.8), PANEL_INCHES * 1.25),
        layout="constrained",
    )
    image_ax, *map_ax, bars_ax = figure.subplots(1, len(widths), width_ratios=widths)
    image_ax.imshow(displayable(image))
    height, width = to_numpy(image).shape[:2]
    image_ax.set_title(f"{title}\nwhat the model sees: {width} \u00d7 {height}", fontsize=9)
    image_ax.axis("off")
    for ax in map_ax:
        ax.imshow(displayable(image))
        overlay_heatmap(ax, heatmap)
        ax.set_title(heatmap_title, fontsize=9)
        ax.axis("off")
    names = [name for name, _ in probabilities]
    values = [float(value) for _, value in probabilities]
    colours = [KERAS_COLOUR if "keras" in name.lower() else LITERT_COLOUR for name in names]
    # Reversed so the first model sits at the top.
    bars_ax.barh(names[::-1], values[::-1], color=colours[::-1])
    for position, value in enumerate(values[::-1]):
        bars_ax.text(min(value + 0.02, 0.82), position, f"{value:.3f}", va="center", fontsize=9)
    bars_ax.axvline(config.DECISION_THRESHOLD, color="black", linestyle="--")
    bars_ax.set_xlim(0, 1)
    bars_ax.set_xlabel(f"P({class_names[1]})")
    bars_ax.set_title(f"\u2190 {class_names[0]}   |   {class_names[1]} \u2192", fontsize=9)
    return figure

"""The prediction browser (notebooks 03 and 05): images, their labels and predictions, the mistakes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from helpers import config, plots
from helpers.explorers.base import Explorer, _as_image_batch, _label, _use_widgets

GALLERY_SIZE = 12  # images in the prediction browser's static fallback


class PredictionBrowser(Explorer):
    """Step through images with their true label, predicted probability and top-5 ImageNet labels.

    With `heatmaps` ((N, H, W) in [0, 1], e.g. from `helpers.gradcam.gradcam_heatmaps`)
    the "heatmap" toggle draws each image's map over it; `heatmap_toward` says
    which class each map was made for (default: the predicted class).

    Attributes for tests: `prev_button`, `next_button`, `position_slider` (a
    position among the images in view), `misclassified_only`, `heatmap_toggle`,
    `visible_indices` (dataset indices in view), `current_index`, `picture`,
    `figure`, `text`.
    """

    def __init__(
        self,
        images: Any,
        labels: Any,
        probabilities: Any | None,
        class_names: Sequence[str],
        top5: Sequence[Sequence[Any]] | None = None,
        heatmaps: Any | None = None,
        heatmap_toward: Any | None = None,
    ) -> None:
        self.images = _as_image_batch(images)
        self.labels = plots.to_numpy(labels).reshape(-1).astype(int)
        self.probabilities = (
            None
            if probabilities is None
            else plots.to_numpy(probabilities).reshape(-1).astype(float)
        )
        self.class_names = list(class_names)
        self.top5 = None if top5 is None else list(top5)
        self.heatmaps = None if heatmaps is None else plots.to_numpy(heatmaps)
        if self.heatmaps is not None and len(self.heatmaps) != len(self.images):
            raise ValueError(
                f"{len(self.heatmaps)} heatmaps for {len(self.images)} images: give one per image."
            )
        self.heatmap_toward = self._heatmap_classes(heatmap_toward)
        self.visible_indices: list[int] = list(range(len(self.images)))
        self.prev_button = _label(
            ipywidgets.Button(description="previous", icon="arrow-left"), "alpaca-prev"
        )
        self.next_button = _label(
            ipywidgets.Button(description="next", icon="arrow-right"), "alpaca-next"
        )
        self.position_slider = _label(
            ipywidgets.IntSlider(
                value=0,
                min=0,
                max=max(len(self.images) - 1, 0),
                description="image",
                continuous_update=False,
            ),
            "alpaca-position-slider",
        )
        self.misclassified_only = _label(
            ipywidgets.Checkbox(
                value=False,
                description="misclassified only",
                # Without predictions there is nothing to be wrong about.
                disabled=self.probabilities is None,
                indent=False,
            ),
            "alpaca-misclassified-only",
        )
        self.heatmap_toggle = _label(
            ipywidgets.Checkbox(
                value=False,
                description="heatmap (Grad-CAM)",
                # Without heatmaps there is nothing to toggle.
                disabled=self.heatmaps is None,
                indent=False,
            ),
            "alpaca-heatmap-toggle",
        )
        super().__init__(
            [
                self.prev_button,
                self.next_button,
                self.position_slider,
                self.misclassified_only,
                self.heatmap_toggle,
            ],
            "alpaca-prediction-browser",
        )
        self._refiltering = False
        self.prev_button.on_click(lambda _button: self.step(-1))
        self.next_button.on_click(lambda _button: self.step(+1))
        self.position_slider.observe(
            lambda _change: self._render_unless_refiltering(), names="value"
        )
        self.misclassified_only.observe(lambda _change: self.refilter(), names="value")
        self.heatmap_toggle.observe(lambda _change: self.render(), names="value")
        self.render()

    def _heatmap_classes(self, toward: Any | None) -> Any:
        """The class each heatmap speaks for: `toward` per image, else the predicted class."""
        if self.heatmaps is None:
            return None
        if toward is not None:
            return np.broadcast_to(
                plots.to_numpy(toward).astype(int).reshape(-1), (len(self.images),)
            )
        if self.probabilities is None:
            return None
        return plots.predicted_classes(self.probabilities)

    @property
    def showing_heatmap(self) -> bool:
        """Whether the picture carries the current image's heatmap."""
        return bool(self.heatmap_toggle.value) and self.heatmaps is not None

    @property
    def current_index(self) -> int | None:
        """The dataset index of the image shown, or None when no image is in view."""
        if not self.visible_indices:
            return None
        return self.visible_indices[self.position_slider.value]

    def step(self, delta: int) -> None:
        """Move `delta` images along, wrapping around at either end."""
        if self.visible_indices:
            self.position_slider.value = (self.position_slider.value + delta) % len(
                self.visible_indices
            )

    def refilter(self) -> None:
        """Apply the "misclassified only" filter and go back to the first image in view."""
        if self.misclassified_only.value and self.probabilities is not None:
            self.visible_indices = plots.misclassified_indices(
                self.labels, self.probabilities
            ).tolist()
        else:
            self.visible_indices = list(range(len(self.images)))
        # Changing the slider's range moves its value; render once, at the end.
        self._refiltering = True
        try:
            self.position_slider.value = 0
            self.position_slider.max = max(len(self.visible_indices) - 1, 0)
            self.position_slider.disabled = len(self.visible_indices) <= 1
        finally:
            self._refiltering = False
        self.render()

    def _render_unless_refiltering(self) -> None:
        if not self._refiltering:
            self.render()

    def describe(self, index: int) -> list[str]:
        """The text for one image: position, true label, prediction, top-5 guesses."""
        lines = [
            f"image {index} ({self.position_slider.value + 1} of {len(self.visible_indices)} in view)",
            f"true label: {self.class_names[self.labels[index]]}",
        ]
        if self.probabilities is not None:
            probability = self.probabilities[index]
            predicted = self.class_names[int(probability > config.DECISION_THRESHOLD)]
            verdict = "right" if index not in self._wrong() else "WRONG"
            lines.append(
                f"P({self.class_names[1]}) = {probability:.2f}: predicted {predicted}, {verdict}"
            )
        if self.showing_heatmap:
            toward = (
                ""
                if self.heatmap_toward is None
                else f" toward {self.class_names[int(self.heatmap_toward[index])]}"
            )
            lines.append(
                f"heatmap: Grad-CAM{toward}; red marks where the logit found the most evidence "
                "(a coarse map of the base's last block, smoothed to the image's size)"
            )
        if self.top5 is not None:
            lines.append(
                "ImageNet top 5: "
                + "; ".join(
                    f"{entry[1]} {float(entry[2]):.2f}" for entry in list(self.top5[index])[:5]
                )
            )
        return lines

    def _caption(self, index: int) -> str:
        """A short title for the picture (the full text sits above it)."""
        if self.probabilities is None:
            return f"true: {self.class_names[self.labels[index]]}"
        return plots.prediction_caption(
            self.labels[index], self.probabilities[index], self.class_names
        )

    def _wrong(self) -> set[int]:
        if self.probabilities is None:
            return set()
        return set(plots.misclassified_indices(self.labels, self.probabilities).tolist())

    def render(self) -> None:
        """Show the current image, or say that the filter leaves none."""
        index = self.current_index
        if index is None:
            self._show(None, ["No misclassified images: every prediction is right."])
            return
        lines = self.describe(index)
        decoded = None if self.top5 is None else self.top5[index]
        heatmap = self.heatmaps[index] if self.showing_heatmap else None
        figure = plots.show_prediction(self.images[index], self._caption(index), decoded, heatmap)
        self._show(figure, lines)


def prediction_browser(
    images: Any,
    labels: Any,
    probabilities: Any | None,
    class_names: Sequence[str],
    top5: Sequence[Sequence[Any]] | None = None,
    heatmaps: Any | None = None,
    *,
    heatmap_toward: Any | None = None,
    interactive: bool | None = None,
) -> PredictionBrowser | Figure:
    """Notebooks 03 and 05: browse images with their predictions; filter the mistakes.

    `probabilities` are those of class 1 ("not alpaca"), or None in 03 before
    there is a classifier; `top5` holds one `decode_predictions` list per image;
    `heatmaps` (one (H, W) map in [0, 1] per image) enable the heatmap toggle.
    Without a widget front end: the gallery of `show_prediction_gallery`
    (mistakes first), or with only `top5` the ImageNet guesses of the first images.
    """
    if _use_widgets(interactive):
        return PredictionBrowser(
            images, labels, probabilities, class_names, top5, heatmaps, heatmap_toward
        )
    if probabilities is not None:
        return plots.show_prediction_gallery(
            images, labels, probabilities, class_names, n=GALLERY_SIZE
        )
    if top5 is not None:
        return plots.show_imagenet_predictions(images, top5, top=5)
    titles = [class_names[int(label)] for label in plots.to_numpy(labels).reshape(-1)]
    return plots.show_images(plots.to_numpy(images)[:GALLERY_SIZE], titles[:GALLERY_SIZE], cols=4)

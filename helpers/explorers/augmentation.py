"""The augmentation explorer (notebook 02): RandomFlip and RandomRotation on the learner's images."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from helpers import config, plots
from helpers.explorers.base import Explorer, _as_image_batch, _label, _use_widgets

MAX_ROTATION_FACTOR = 0.5  # half a turn either way: beyond that every angle is possible
ROTATION_STEP = 0.05

AugmenterFactory = Callable[..., Callable[..., Any]]


def make_augmenter(rotation_factor: float, flip: bool, seed: int | None = None) -> Any:
    """A Keras augmenter: RandomFlip('horizontal') and/or RandomRotation(rotation_factor).

    With neither, an identity layer, so "no augmentation" gives the image back unchanged.
    """
    import keras

    steps: list[Any] = []
    if flip:
        steps.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation_factor > 0:
        # A different seed from the flip's, so the two random draws are not coupled.
        rotation_seed = None if seed is None else seed + 1
        steps.append(keras.layers.RandomRotation(rotation_factor, seed=rotation_seed))
    if not steps:
        return keras.layers.Identity()
    return keras.Sequential(steps, name="explorer_augmentation")


def _augmentation_view(
    image: np.ndarray,
    image_index: int,
    rotation_factor: float,
    flip: bool,
    draw: int,
    factory: AugmenterFactory,
    n: int,
    titled: bool,
) -> tuple[np.ndarray, Figure, list[str]]:
    """The augmented copies, their figure and the text for one setting of the controls.

    `titled` puts the settings above the grid; the widget shows them as text instead.

    The seed depends on `draw` only, so moving the rotation slider scales the
    same random angles and "resample" (a new draw) gives new ones.
    """
    augmenter = factory(rotation_factor=rotation_factor, flip=flip, seed=config.SEED + draw)
    augmented = plots.augment_copies(image, augmenter, n)
    degrees = rotation_factor * 360
    lines = [
        f"image {image_index}: rotation factor {rotation_factor:.2f} "
        f"(up to ±{degrees:.0f}°), horizontal flip {'on' if flip else 'off'}, draw {draw}"
    ]
    titles = [f"augmented #{index + 1}" for index in range(n)]
    figure = plots.show_images(augmented, titles, suptitle=lines[0] if titled else None)
    return augmented, figure, lines


class AugmentationExplorer(Explorer):
    """Pick an image, set the rotation factor and the flip, resample: see n augmented versions.

    Attributes for tests: `image_picker`, `rotation_slider`, `flip_toggle`,
    `resample_button`, `picture`, `figure`, `text`, `augmented` (the images
    shown) and `original` (the image they were made from).
    """

    def __init__(
        self, images: Any, augmenter_factory: AugmenterFactory | None = None, n: int = 9
    ) -> None:
        self.images = _as_image_batch(images)
        self.factory = augmenter_factory or make_augmenter
        self.n = n
        self.draw = 0
        self.augmented = np.empty((0,))
        self.image_picker = _label(
            ipywidgets.Dropdown(
                options=[(f"image {index}", index) for index in range(len(self.images))],
                value=0,
                description="image",
            ),
            "alpaca-image-picker",
        )
        self.rotation_slider = _label(
            ipywidgets.FloatSlider(
                value=config.ROTATION_FACTOR,
                min=0.0,
                max=MAX_ROTATION_FACTOR,
                step=ROTATION_STEP,
                description="rotation factor",
                readout_format=".2f",
                continuous_update=False,  # draw once on release, not at every pixel of a drag
                style={"description_width": "initial"},
            ),
            "alpaca-rotation-slider",
        )
        self.flip_toggle = _label(
            ipywidgets.ToggleButton(value=True, description="horizontal flip", icon="arrows-h"),
            "alpaca-flip-toggle",
        )
        self.resample_button = _label(
            ipywidgets.Button(description="resample", icon="refresh"), "alpaca-resample-button"
        )
        super().__init__(
            [self.image_picker, self.rotation_slider, self.flip_toggle, self.resample_button],
            "alpaca-augmentation-explorer",
        )
        for control in (self.image_picker, self.rotation_slider, self.flip_toggle):
            control.observe(lambda _change: self.render(), names="value")
        self.resample_button.on_click(lambda _button: self.resample())
        self.render()

    @property
    def original(self) -> np.ndarray:
        """The picked image, unaugmented."""
        return self.images[self.image_picker.value]

    def resample(self) -> None:
        """Draw new random transformations with the same settings."""
        self.draw += 1
        self.render()

    def render(self) -> None:
        """Augment the picked image with the current settings and show the grid."""
        self.augmented, figure, lines = _augmentation_view(
            self.original,
            self.image_picker.value,
            float(self.rotation_slider.value),
            bool(self.flip_toggle.value),
            self.draw,
            self.factory,
            self.n,
            titled=False,
        )
        self._show(figure, lines)


def augmentation_explorer(
    images: Any,
    augmenter_factory: AugmenterFactory | None = None,
    *,
    n: int = 9,
    interactive: bool | None = None,
) -> AugmentationExplorer | Figure:
    """Notebook 02: explore RandomFlip and RandomRotation on the learner's own images.

    `images`: (N, H, W, 3) in [0, 255]. `augmenter_factory(rotation_factor=,
    flip=, seed=)` builds the augmenter (default: `make_augmenter`). Without a
    widget front end: a Figure of the first image's `n` augmented versions at
    the course's rotation factor with the flip on.
    """
    if _use_widgets(interactive):
        return AugmentationExplorer(images, augmenter_factory, n=n)
    batch = _as_image_batch(images)
    _augmented, figure, _lines = _augmentation_view(
        batch[0],
        0,
        config.ROTATION_FACTOR,
        True,
        0,
        augmenter_factory or make_augmenter,
        n,
        titled=True,
    )
    return figure

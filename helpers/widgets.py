"""Interactive explorers (ipywidgets), with a static picture when no front end can show them.

Four explorers, each a function that returns either a widget or a Figure:

    augmentation_explorer(images)                              notebook 02
    prediction_browser(images, labels, probabilities, ...)     notebooks 03 and 05
    fine_tuning_explorer(base_model)                           notebook 05
    photo_explorer(keras_model, litert_model, path=None)       notebook 06

Where widgets render (a kernel that JupyterLab or Jupyter Notebook started),
they return an explorer: an `ipywidgets.VBox` whose controls and current
picture are attributes, so tests can drive it like a learner would. Elsewhere
(nbval, nbconvert, nbclient, a terminal) they return a static
`matplotlib.figure.Figure` of the explorer's first state instead of printing a
widget's repr. `has_widget_frontend()` decides; set the environment variable
`ALPACA_WIDGETS` to `interactive` or `static` (or pass `interactive=`) to force
either mode.

Stable under nbval: the static figure's text form `<Figure size WxH with N Axes>`
depends only on the inputs' sizes; an explorer's text form is its class name
only (its widget view and PNG are not compared by nbval).
"""

from __future__ import annotations

import base64
import html
import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from helpers import config, model_facts, plots, runtime
from helpers.model_facts import block_name, trainable_parameter_count

MODE_INTERACTIVE = "interactive"
MODE_STATIC = "static"
MODE_AUTO = "auto"
# Resolution of the pictures inside widgets: sharp enough, quick to encode on 2 cores.
WIDGET_DPI = 80
MAX_ROTATION_FACTOR = 0.5  # half a turn either way: beyond that every angle is possible
ROTATION_STEP = 0.05
GALLERY_SIZE = 12  # images in the prediction browser's static fallback

AugmenterFactory = Callable[..., Callable[..., Any]]


# --- Is there a front end that renders widgets? ---


def widget_mode() -> str:
    """`interactive`, `static` or `auto`, from $ALPACA_WIDGETS (unknown values mean auto)."""
    mode = os.environ.get(config.ENV_WIDGETS_MODE, MODE_AUTO).strip().lower()
    return mode if mode in (MODE_INTERACTIVE, MODE_STATIC) else MODE_AUTO


def _started_by_jupyter_server() -> bool:
    """True in a kernel that a Jupyter server (JupyterLab, Notebook 7) started for a notebook.

    Such a server sets JPY_SESSION_NAME in the kernel's environment, and its
    front ends render widgets. nbval, nbclient and nbconvert start kernels
    without a server, and a terminal has no kernel at all.
    """
    shell = runtime.ipython_shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    return "JPY_SESSION_NAME" in os.environ


def has_widget_frontend(mode: str | None = None) -> bool:
    """Whether explorers should be widgets: `mode` or $ALPACA_WIDGETS first, else detection."""
    mode = (mode or widget_mode()).lower()
    if mode == MODE_INTERACTIVE:
        return True
    if mode == MODE_STATIC:
        return False
    return _started_by_jupyter_server()


def _use_widgets(interactive: bool | None) -> bool:
    """An explicit `interactive=` argument wins over the environment and detection."""
    return has_widget_frontend() if interactive is None else bool(interactive)


def figure_png(figure: Figure, dpi: int = WIDGET_DPI) -> bytes:
    """The figure as PNG bytes, for an `ipywidgets.Image`."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


# --- What the explorers have in common ---


class Explorer(ipywidgets.VBox):
    """Controls on top, a line or two of text, then the picture.

    `figure` is the last Figure drawn, `picture` the `ipywidgets.Image` that
    shows it and `text` the plain text shown above it.
    """

    def __init__(self, controls: Sequence[ipywidgets.Widget], css_class: str) -> None:
        self.picture = ipywidgets.Image(format="png")
        self.picture.add_class("alpaca-picture")
        self.info = ipywidgets.HTML()
        self.figure: Figure | None = None
        self.text = ""
        row = ipywidgets.HBox(list(controls), layout=ipywidgets.Layout(flex_flow="row wrap"))
        super().__init__([row, self.info, self.picture])
        self.add_class("alpaca-explorer")
        self.add_class(css_class)

    def _show(self, figure: Figure | None, lines: Sequence[str]) -> None:
        """Display a new figure (None hides the picture) and its text."""
        self.figure = figure
        self.text = "\n".join(lines)
        self.info.value = "<br>".join(html.escape(line) for line in lines)
        self.picture.value = figure_png(figure) if figure is not None else b""
        self.picture.layout.display = None if figure is not None else "none"
        if figure is not None:
            # Show the PNG at its own size: the front end would otherwise stretch it, blurred.
            self.picture.width = str(round(figure.get_figwidth() * WIDGET_DPI))

    def __repr__(self) -> str:
        # Short and free of values, so the text/plain output is the same on every run.
        return (
            f"{type(self).__name__} (an interactive explorer; it shows as a widget in JupyterLab)"
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any] | None:
        """The widget view plus the current picture, which viewers without widgets show instead."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None and self.picture.value:
            bundle["image/png"] = base64.b64encode(self.picture.value).decode("ascii")
        return bundle


def _label(control: ipywidgets.Widget, css_class: str) -> ipywidgets.Widget:
    """Tag a control with a CSS class, so a browser test can find it."""
    control.add_class(css_class)
    return control


# --- Augmentation explorer (notebook 02) ---


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


def _as_image_batch(images: Any) -> np.ndarray:
    """(N, H, W, 3) float32, also from a single (H, W, 3) image."""
    array = plots.to_numpy(images).astype("float32")
    return array[np.newaxis] if array.ndim == 3 else array


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


# --- Prediction browser (notebooks 03 and 05) ---


class PredictionBrowser(Explorer):
    """Step through images with their true label, predicted probability and top-5 ImageNet labels.

    Attributes for tests: `prev_button`, `next_button`, `position_slider` (a
    position among the images in view), `misclassified_only`, `visible_indices`
    (dataset indices in view), `current_index`, `picture`, `figure`, `text`.
    """

    def __init__(
        self,
        images: Any,
        labels: Any,
        probabilities: Any | None,
        class_names: Sequence[str],
        top5: Sequence[Sequence[Any]] | None = None,
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
        super().__init__(
            [self.prev_button, self.next_button, self.position_slider, self.misclassified_only],
            "alpaca-prediction-browser",
        )
        self._refiltering = False
        self.prev_button.on_click(lambda _button: self.step(-1))
        self.next_button.on_click(lambda _button: self.step(+1))
        self.position_slider.observe(
            lambda _change: self._render_unless_refiltering(), names="value"
        )
        self.misclassified_only.observe(lambda _change: self.refilter(), names="value")
        self.render()

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
        figure = plots.show_prediction(self.images[index], self._caption(index), decoded)
        self._show(figure, lines)


def prediction_browser(
    images: Any,
    labels: Any,
    probabilities: Any | None,
    class_names: Sequence[str],
    top5: Sequence[Sequence[Any]] | None = None,
    *,
    interactive: bool | None = None,
) -> PredictionBrowser | Figure:
    """Notebooks 03 and 05: browse images with their predictions; filter the mistakes.

    `probabilities` are those of class 1 ("not alpaca"), or None in 03 before
    there is a classifier; `top5` holds one `decode_predictions` list per image.
    Without a widget front end: the gallery of `show_prediction_gallery`
    (mistakes first), or with only `top5` the ImageNet guesses of the first images.
    """
    if _use_widgets(interactive):
        return PredictionBrowser(images, labels, probabilities, class_names, top5)
    if probabilities is not None:
        return plots.show_prediction_gallery(
            images, labels, probabilities, class_names, n=GALLERY_SIZE
        )
    if top5 is not None:
        return plots.show_imagenet_predictions(images, top5, top=5)
    titles = [class_names[int(label)] for label in plots.to_numpy(labels).reshape(-1)]
    return plots.show_images(plots.to_numpy(images)[:GALLERY_SIZE], titles[:GALLERY_SIZE], cols=4)


# --- Fine-tuning explorer (notebook 05) ---


@dataclass(frozen=True)
class FineTuneSummary:
    """What `fine_tune_at` unfreezes: layers from that index on, their parameters and blocks."""

    fine_tune_at: int
    total_layers: int
    trainable_layers: int
    trainable_params: int
    unfreezable_params: int  # trained if the whole base were unfrozen
    total_params: int  # including BatchNorm statistics, as model.count_params() says
    first_trainable_layer: str | None
    full_blocks: tuple[str, ...]
    partial_blocks: tuple[tuple[str, int, int], ...]  # (block, trainable layers, layers)

    def lines(self) -> list[str]:
        """The summary as a few lines of text."""
        first = self.first_trainable_layer or "none"
        share = self.trainable_params / max(self.unfreezable_params, 1)
        partial = [f"{name} ({done} of {size} layers)" for name, done, size in self.partial_blocks]
        return [
            f"fine_tune_at = {self.fine_tune_at}: {self.trainable_layers} of {self.total_layers} "
            f"layers trainable, from {first}",
            f"trainable parameters: {self.trainable_params:,} of {self.unfreezable_params:,} "
            f"({share:.0%}; with the BatchNorm statistics, which fit updates without "
            f"gradients: {self.total_params:,} in all)",
            "trainable blocks: " + (", ".join(partial + list(self.full_blocks)) or "none"),
        ]


def find_base(model: Any) -> Any:
    """The MobileNetV2 base: the one inside the learner's model, else the model itself."""
    return model_facts.find_base_model(model) or model


def fine_tuning_summary(base_model: Any, fine_tune_at: int) -> FineTuneSummary:
    """What unfreezing `base_model.layers[fine_tune_at:]` trains; reads weights, changes no flag."""
    layers = list(find_base(base_model).layers)
    fine_tune_at = max(0, min(fine_tune_at, len(layers)))
    counts = [trainable_parameter_count(layer) for layer in layers]
    blocks: dict[str, list[bool]] = {}
    for index, layer in enumerate(layers):
        blocks.setdefault(block_name(layer.name), []).append(index >= fine_tune_at)
    full = tuple(name for name, flags in blocks.items() if all(flags))
    partial = tuple(
        (name, sum(flags), len(flags))
        for name, flags in blocks.items()
        if any(flags) and not all(flags)
    )
    return FineTuneSummary(
        fine_tune_at=fine_tune_at,
        total_layers=len(layers),
        trainable_layers=len(layers) - fine_tune_at,
        trainable_params=sum(counts[fine_tune_at:]),
        unfreezable_params=sum(counts),
        total_params=sum(int(np.prod(w.shape)) for layer in layers for w in layer.weights),
        first_trainable_layer=layers[fine_tune_at].name if fine_tune_at < len(layers) else None,
        full_blocks=full,
        partial_blocks=partial,
    )


def _fine_tuning_view(
    base_model: Any, fine_tune_at: int, titled: bool
) -> tuple[FineTuneSummary, Figure, list[str]]:
    """The summary, its bar chart and its text for one value of `fine_tune_at`.

    `titled` puts the first line of the summary above the chart; the widget shows it as text.
    """
    summary = fine_tuning_summary(base_model, fine_tune_at)
    counts = [trainable_parameter_count(layer) for layer in find_base(base_model).layers]
    lines = summary.lines()
    figure = plots.plot_trainable_layers(counts, summary.fine_tune_at, lines[0] if titled else None)
    return summary, figure, lines


class FineTuningExplorer(Explorer):
    """A `fine_tune_at` slider: how many layers and parameters of the base would train.

    It only reads the model; the model's `trainable` flags are never touched.
    Attributes for tests: `fine_tune_slider`, `summary` (a FineTuneSummary),
    `picture`, `figure`, `text`.
    """

    def __init__(self, base_model: Any) -> None:
        self.base_model = find_base(base_model)
        layer_count = len(self.base_model.layers)
        self.fine_tune_slider = _label(
            ipywidgets.IntSlider(
                value=min(config.FINE_TUNE_AT, layer_count),
                min=0,
                max=layer_count,
                description="fine_tune_at",
                continuous_update=False,
                style={"description_width": "initial"},
                layout=ipywidgets.Layout(width="60%"),
            ),
            "alpaca-fine-tune-slider",
        )
        super().__init__([self.fine_tune_slider], "alpaca-fine-tuning-explorer")
        self.fine_tune_slider.observe(lambda _change: self.render(), names="value")
        self.render()

    def render(self) -> None:
        """Recount for the slider's value and redraw."""
        self.summary, figure, lines = _fine_tuning_view(
            self.base_model, self.fine_tune_slider.value, titled=False
        )
        self._show(figure, lines)


def fine_tuning_explorer(
    base_model: Any, *, interactive: bool | None = None
) -> FineTuningExplorer | Figure:
    """Notebook 05: see what each `fine_tune_at` would unfreeze (the base or the whole model).

    Without a widget front end: the bar chart at the course's FINE_TUNE_AT.
    """
    if _use_widgets(interactive):
        return FineTuningExplorer(base_model)
    layer_count = len(find_base(base_model).layers)
    _summary, figure, _lines = _fine_tuning_view(
        base_model, min(config.FINE_TUNE_AT, layer_count), titled=True
    )
    return figure


# --- Your own photo (notebook 06) ---


def predicted_probability(model: Any, image: np.ndarray) -> float:
    """P(class 1) for one (H, W, 3) image from a Keras model (a logit) or a LiteRT model."""
    batch = np.asarray(image, dtype=np.float32)[np.newaxis]
    if hasattr(model, "predict_probabilities"):  # helpers.litert.LiteRTModel
        return float(np.asarray(model.predict_probabilities(batch)).reshape(-1)[0])
    logit = float(np.asarray(model.predict_on_batch(batch)).reshape(-1)[0])
    return float(0.5 * (1.0 + np.tanh(0.5 * logit)))  # the sigmoid, without overflow


@dataclass
class PhotoResult:
    """One photo through the models: what to show, or the message that replaces it."""

    photo: Any = None  # helpers.photos.Photo, None when the file was not usable
    probabilities: dict[str, float] | None = None  # model name -> P(class 1)
    figure: Figure | None = None
    lines: tuple[str, ...] = ()
    error: str | None = None


def read_photo_file(path: str | os.PathLike) -> tuple[bytes | None, str, str | None]:
    """A file's bytes and name, or None and a message when it cannot be read."""
    name = os.path.basename(os.fspath(path))
    try:
        with open(path, "rb") as handle:
            return handle.read(), name, None
    except OSError as error:
        return None, name, f"Cannot read {os.fspath(path)!r}: {error.strerror or error}."


def predict_photo(
    data: bytes, name: str, models: dict[str, Any], class_names: Sequence[str] = config.CLASS_NAMES
) -> PhotoResult:
    """Decode an upload and run it through every model; never raises, says what went wrong."""
    from helpers import photos

    try:
        photo = photos.load_photo(data, name)
    except photos.PhotoError as error:
        return PhotoResult(error=str(error), lines=(str(error),))
    try:
        probabilities = {
            label: predicted_probability(model, photo.image) for label, model in models.items()
        }
    except Exception as error:  # a broken model must not leave a traceback in the widget
        message = (
            f"'{name}' was read, but predicting failed: {type(error).__name__}: "
            f"{' '.join(str(error).split())[:200]}"
        )
        return PhotoResult(error=message, lines=(message,))
    width, height = photo.original_size
    lines = [
        f"{name}: {width} \u00d7 {height} pixels, shown as the model sees it "
        f"({config.IMG_SIZE[0]} \u00d7 {config.IMG_SIZE[1]})"
    ]
    verdicts = set()
    for label, probability in probabilities.items():
        predicted = class_names[int(probability > config.DECISION_THRESHOLD)]
        verdicts.add(predicted)
        lines.append(f"{label}: P({class_names[1]}) = {probability:.3f} \u2192 {predicted}")
    if len(probabilities) > 1:
        lines.append(
            "The models agree."
            if len(verdicts) == 1
            else "The models disagree: this photo sits close to the boundary between the classes."
        )
    lines.extend(photo.notes)
    figure = plots.show_photo_predictions(
        photo.image, list(probabilities.items()), class_names, name
    )
    return PhotoResult(photo, probabilities, figure, tuple(lines))


class PhotoExplorer(Explorer):
    """Upload a photo; see it at 160 x 160 with P("not alpaca") from Keras and from LiteRT.

    A file that is not a usable image gets a sentence in the widget, never a
    traceback. Attributes for tests: `upload` (the FileUpload), `photo` (the
    last photo shown, a helpers.photos.Photo), `probabilities` (model name ->
    P(class 1)), `error` (the last message instead of a photo, or None),
    `picture`, `figure`, `text`.
    """

    def __init__(
        self,
        models: dict[str, Any],
        path: str | os.PathLike | None = None,
        class_names: Sequence[str] = config.CLASS_NAMES,
    ) -> None:
        self.models = dict(models)
        self.class_names = list(class_names)
        self.result = PhotoResult()
        self.photo: Any = None
        self.probabilities: dict[str, float] = {}
        self.error: str | None = None
        self.upload = _label(
            ipywidgets.FileUpload(
                accept="image/*",
                multiple=False,
                description="upload a photo",
                layout=ipywidgets.Layout(width="auto"),
            ),
            "alpaca-photo-upload",
        )
        super().__init__([self.upload], "alpaca-photo-explorer")
        self.upload.observe(lambda _change: self._on_upload(), names="value")
        if path is not None:
            self.show_file(path)
        else:
            self._show(
                None, ["Upload a photo (JPEG, PNG, GIF, BMP or WebP): an alpaca, or anything else."]
            )

    def _on_upload(self) -> None:
        """Show the file just uploaded, then forget it so the same file can be chosen again."""
        uploaded = self.upload.value
        if not uploaded:
            return
        item = uploaded[0] if isinstance(uploaded, (list, tuple)) else next(iter(uploaded.values()))
        self.show_bytes(bytes(item.get("content", b"")), str(item.get("name", "the upload")))
        self.upload.value = ()

    def show_file(self, path: str | os.PathLike) -> None:
        """Show a photo from disk (what the static fallback shows)."""
        data, name, error = read_photo_file(path)
        if data is None:
            self.show_result(PhotoResult(error=error, lines=(error or "",)))
        else:
            self.show_bytes(data, name)

    def show_bytes(self, data: bytes, name: str) -> None:
        """Decode the bytes, predict with every model, show the result or a message."""
        self.show_result(predict_photo(data, name, self.models, self.class_names))

    def show_result(self, result: PhotoResult) -> None:
        """Show a photo's figure and text, or only the message when it was not usable."""
        self.result = result
        self.photo, self.error = result.photo, result.error
        self.probabilities = dict(result.probabilities or {})
        self._show(result.figure, result.lines)


def _message_figure(message: str) -> Figure:
    """A small figure holding only a message (the static fallback's way to say what is wrong)."""
    import textwrap

    figure = plots.NotebookFigure(figsize=(6, 1.2), layout="constrained")
    ax = figure.subplots()
    ax.text(0.0, 0.5, textwrap.fill(message, 90), va="center", fontsize=9)
    ax.axis("off")
    return figure


def photo_explorer(
    keras_model: Any,
    litert_model: Any,
    path: str | os.PathLike | None = None,
    *,
    litert_name: str = "LiteRT int8",
    class_names: Sequence[str] = config.CLASS_NAMES,
    interactive: bool | None = None,
) -> PhotoExplorer | Figure:
    """Notebook 06: your own photo through the Keras model and the exported LiteRT model.

    In JupyterLab: an upload button; `path` (optional) is shown first. Without
    a widget front end: the figure for `path`, or a figure saying what to pass.
    """
    models = {"Keras": keras_model, litert_name: litert_model}
    if _use_widgets(interactive):
        return PhotoExplorer(models, path, class_names)
    if path is None:
        return _message_figure(
            "Uploading needs JupyterLab. Here, pass a photo's file: "
            "photo_explorer(model, litert_model, path='my_photo.jpg')."
        )
    data, name, error = read_photo_file(path)
    result = predict_photo(data, name, models, class_names) if data is not None else None
    if result is None or result.figure is None:
        return _message_figure(error if result is None else result.error or "")
    return result.figure

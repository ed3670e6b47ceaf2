"""The photo explorer (notebook 06): the learner's own photo through the Keras and LiteRT models,
with the Keras model's Grad-CAM heatmap of it."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets
import numpy as np
from matplotlib.figure import Figure

from helpers import config, plots
from helpers.explorers.base import Explorer, _label, _use_widgets


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
    heatmap: np.ndarray | None = None  # Grad-CAM of the Keras model, (H, W) in [0, 1]


def read_photo_file(path: str | os.PathLike) -> tuple[bytes | None, str, str | None]:
    """A file's bytes and name, or None and a message when it cannot be read."""
    name = os.path.basename(os.fspath(path))
    try:
        with open(path, "rb") as handle:
            return handle.read(), name, None
    except OSError as error:
        return None, name, f"Cannot read {os.fspath(path)!r}: {error.strerror or error}."


def photo_heatmap(
    model: Any, image: np.ndarray, class_names: Sequence[str] = config.CLASS_NAMES
) -> tuple[np.ndarray | None, str]:
    """The Grad-CAM heatmap of one photo through a Keras model, and a line that says what it is.

    No heatmap (None) when the model cannot be read for Grad-CAM; the line says why.
    """
    from helpers import gradcam

    try:
        reader = gradcam.reader_for(model)
        maps = reader.maps(np.asarray(image, dtype=np.float32)[np.newaxis])
    except gradcam.GradCamError as error:
        return None, f"No heatmap: {error}"
    except Exception as error:  # the probabilities still show; a heatmap is extra
        return None, f"No heatmap: Grad-CAM failed ({type(error).__name__}: {str(error)[:200]})."
    toward = class_names[int(maps.classes("predicted")[0])]
    rows, cols = reader.grid
    return maps.heatmaps("predicted")[0], (
        f"Heatmap: Grad-CAM of the Keras model (not of the int8 file), toward {toward}, "
        f"its prediction: {rows} \u00d7 {cols} cells, red where the logit found the most evidence."
    )


def predict_photo(
    data: bytes,
    name: str,
    models: dict[str, Any],
    class_names: Sequence[str] = config.CLASS_NAMES,
    heatmap_model: Any | None = None,
) -> PhotoResult:
    """Decode an upload and run it through every model; never raises, says what went wrong.

    With `heatmap_model` (the Keras model), the figure also shows its Grad-CAM heatmap.
    """
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
    heatmap = None
    if heatmap_model is not None:
        heatmap, heatmap_line = photo_heatmap(heatmap_model, photo.image, class_names)
        lines.append(heatmap_line)
    lines.extend(photo.notes)
    figure = plots.show_photo_predictions(
        photo.image,
        list(probabilities.items()),
        class_names,
        name,
        heatmap=heatmap,
        heatmap_title="Grad-CAM of the Keras model,\ntoward its prediction",
    )
    return PhotoResult(photo, probabilities, figure, tuple(lines), heatmap=heatmap)


class PhotoExplorer(Explorer):
    """Upload a photo; see it at 160 x 160 with P("not alpaca") from Keras and from LiteRT.

    A file that is not a usable image gets a sentence in the widget, never a
    traceback. With `heatmap_model` (the Keras model) the photo's Grad-CAM
    heatmap is shown beside the probabilities. Attributes for tests: `upload`
    (the FileUpload), `photo` (the last photo shown, a helpers.photos.Photo),
    `probabilities` (model name -> P(class 1)), `heatmap` (the last heatmap or
    None), `error` (the last message instead of a photo, or None), `picture`,
    `figure`, `text`.
    """

    def __init__(
        self,
        models: dict[str, Any],
        path: str | os.PathLike | None = None,
        class_names: Sequence[str] = config.CLASS_NAMES,
        heatmap_model: Any | None = None,
    ) -> None:
        self.models = dict(models)
        self.heatmap_model = heatmap_model
        self.heatmap: np.ndarray | None = None
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
        self.show_result(
            predict_photo(data, name, self.models, self.class_names, self.heatmap_model)
        )

    def show_result(self, result: PhotoResult) -> None:
        """Show a photo's figure and text, or only the message when it was not usable."""
        self.result = result
        self.photo, self.error = result.photo, result.error
        self.probabilities = dict(result.probabilities or {})
        self.heatmap = result.heatmap
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
    heatmap: bool = True,
    interactive: bool | None = None,
) -> PhotoExplorer | Figure:
    """Notebook 06: your own photo through the Keras model and the exported LiteRT model.

    In JupyterLab: an upload button; `path` (optional) is shown first. Without
    a widget front end: the figure for `path`, or a figure saying what to pass.
    With `heatmap` (default) the Keras model's Grad-CAM heatmap of the photo
    is shown too (`helpers.gradcam`; the int8 file has no gradients to read).
    """
    models = {"Keras": keras_model, litert_name: litert_model}
    heatmap_model = keras_model if heatmap else None
    if _use_widgets(interactive):
        return PhotoExplorer(models, path, class_names, heatmap_model)
    if path is None:
        return _message_figure(
            "Uploading needs JupyterLab. Here, pass a photo's file: "
            "photo_explorer(model, litert_model, path='my_photo.jpg')."
        )
    data, name, error = read_photo_file(path)
    result = (
        predict_photo(data, name, models, class_names, heatmap_model) if data is not None else None
    )
    if result is None or result.figure is None:
        return _message_figure(error if result is None else result.error or "")
    return result.figure

"""Notebook 06's own-photo explorer: uploads of every ordinary kind, good and bad.

The files are made here with Pillow (nothing is committed): a colour JPEG, a
PNG with a transparent background, a grayscale JPEG, a 40-megapixel JPEG, a
16-bit PNG, an EXIF-rotated phone photo, an empty file, a text file, a cut-off
JPEG. A usable file shows as the model sees it (160 x 160) with the Keras and
LiteRT probabilities; an unusable one shows a sentence, never a traceback.
"""

from __future__ import annotations

import datetime
import io
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from helpers import config, photos, widgets

SIDE = config.IMG_SIZE[0]


def encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def gradient(width: int, height: int) -> Image.Image:
    """A colour image whose left half is red and right half blue, with a vertical ramp of green."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2, 0] = 220
    pixels[:, width // 2 :, 2] = 220
    pixels[:, :, 1] = np.linspace(0, 255, height, dtype=np.uint8)[:, np.newaxis]
    return Image.fromarray(pixels)


def colour_jpeg() -> bytes:
    return encode(gradient(320, 240), "JPEG", quality=95)


def transparent_png() -> bytes:
    image = gradient(200, 200).convert("RGBA")
    alpha = np.full((200, 200), 255, np.uint8)
    alpha[:, :100] = 0  # the left half is fully transparent
    image.putalpha(Image.fromarray(alpha))
    return encode(image, "PNG")


def grayscale_jpeg() -> bytes:
    return encode(gradient(300, 300).convert("L"), "JPEG")


def huge_jpeg() -> bytes:
    """40 megapixels (7744 x 5164), as a recent phone takes; flat colours keep the file small."""
    return encode(gradient(7744, 5164), "JPEG", quality=50)


def sixteen_bit_png() -> bytes:
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (64, 1))
    return encode(Image.fromarray(ramp), "PNG")


def rotated_phone_photo() -> bytes:
    """Stored sideways (240 wide, 320 high) with EXIF orientation 6: shown upright it is 320 x 240."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(gradient(240, 320), "JPEG", exif=exif)


class FakeKeras:
    """Answers like a Keras model: one logit per image (here, the mean red minus blue)."""

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        assert batch.shape == (1, *config.IMG_SHAPE) and batch.dtype == np.float32
        return ((batch[..., 0].mean(axis=(1, 2)) - batch[..., 2].mean(axis=(1, 2))) / 50.0)[:, None]


class FakeLiteRT:
    """Answers like helpers.litert.LiteRTModel: probabilities, one per image."""

    def __init__(self, probability: float = 0.25) -> None:
        self.probability = probability

    def predict_probabilities(self, batch: np.ndarray) -> np.ndarray:
        assert batch.shape == (1, *config.IMG_SHAPE)
        return np.array([self.probability], np.float32)


class BrokenModel:
    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("the model file is damaged")


MODELS = {"Keras": FakeKeras(), "LiteRT int8": FakeLiteRT()}


# --- Decoding: what the model sees ---


def test_a_colour_photo_becomes_160_by_160_raw_pixels_resized_like_training():
    import tensorflow as tf

    data = colour_jpeg()
    photo = photos.load_photo(data, "alpaca.jpg")
    assert photo.image.shape == config.IMG_SHAPE and photo.image.dtype == np.float32
    assert photo.original_size == (320, 240)
    # The same result as the training pipeline's decode + bilinear resize.
    expected = tf.image.resize(tf.io.decode_jpeg(data, channels=3), config.IMG_SIZE).numpy()
    # Pillow and TensorFlow decode JPEG with slightly different rounding: a few levels apart.
    np.testing.assert_allclose(photo.image, expected, atol=4.0)
    assert photo.notes == []


def test_transparent_parts_go_on_white_and_say_so():
    photo = photos.load_photo(transparent_png(), "logo.png")
    assert photo.image.shape == config.IMG_SHAPE
    np.testing.assert_allclose(
        photo.image[:, :70], 255.0, atol=1.0
    )  # the transparent half is white
    assert photo.image[:, -40:, 2].mean() > 200  # the opaque half keeps its blue
    assert any("transparent" in note for note in photo.notes)


def test_a_grayscale_photo_is_copied_into_three_channels_and_says_so():
    photo = photos.load_photo(grayscale_jpeg(), "old.jpg")
    assert photo.image.shape == config.IMG_SHAPE
    np.testing.assert_allclose(photo.image[..., 0], photo.image[..., 1], atol=1.0)
    np.testing.assert_allclose(photo.image[..., 1], photo.image[..., 2], atol=1.0)
    assert any("black-and-white" in note for note in photo.notes)


def test_a_40_megapixel_photo_is_shrunk_quickly():
    data = huge_jpeg()
    started = time.perf_counter()
    photo = photos.load_photo(data, "phone.jpg")
    seconds = time.perf_counter() - started
    assert photo.original_size == (7744, 5164)
    assert photo.image.shape == config.IMG_SHAPE
    assert any("40.0 megapixels" in note for note in photo.notes)
    assert seconds < 5, (
        f"decoding took {seconds:.1f} s: the JPEG should be decoded at reduced scale"
    )
    # Still the same picture: red on the left, blue on the right.
    assert photo.image[:, :60, 0].mean() > 180 and photo.image[:, -60:, 2].mean() > 180


def test_a_16_bit_png_is_scaled_to_8_bits():
    photo = photos.load_photo(sixteen_bit_png(), "scan.png")
    assert photo.image.min() < 10 and photo.image.max() > 245
    assert any("black-and-white" in note for note in photo.notes)


def test_a_phone_photo_is_turned_upright():
    photo = photos.load_photo(rotated_phone_photo(), "sideways.jpg")
    assert any("upright" in note for note in photo.notes)
    # Upright, the red and blue halves are top and bottom instead of left and right.
    top, bottom = photo.image[:40].mean(axis=(0, 1)), photo.image[-40:].mean(axis=(0, 1))
    assert {int(np.argmax(top[[0, 2]])), int(np.argmax(bottom[[0, 2]]))} == {0, 1}


def test_a_wide_photo_says_it_was_squashed():
    photo = photos.load_photo(encode(gradient(800, 200), "PNG"), "panorama.png")
    assert any("Squashed" in note for note in photo.notes)


@pytest.mark.parametrize(
    "data, phrase",
    [
        (b"", "is empty"),
        (b"These are my notes about alpacas.\n" * 20, "not an image"),
        (b"%PDF-1.7\n" + bytes(range(256)) * 4, "not an image"),
        (colour_jpeg()[:400], "could not be decoded"),
    ],
    ids=["empty", "text", "pdf", "cut-off-jpeg"],
)
def test_unusable_files_get_a_sentence(data, phrase):
    with pytest.raises(photos.PhotoError) as raised:
        photos.load_photo(data, "upload.bin")
    message = str(raised.value)
    assert phrase in message and "'upload.bin'" in message
    assert "Traceback" not in message and "\n" not in message


def test_an_oversized_upload_is_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(config, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(photos.PhotoError, match="more than the 0 MB|MB this explorer accepts"):
        photos.load_photo(colour_jpeg(), "big.jpg")


def test_an_image_with_too_many_pixels_is_refused(monkeypatch):
    monkeypatch.setattr(config, "MAX_PHOTO_PIXELS", 10_000)
    with pytest.raises(photos.PhotoError, match="larger than"):
        photos.load_photo(colour_jpeg(), "wide.jpg")


# --- The explorer, driven like a learner would ---


def upload(explorer: widgets.PhotoExplorer, data: bytes, name: str) -> None:
    """What JupyterLab sends when a file is chosen (ipywidgets 8's FileUpload value)."""
    explorer.upload.value = (
        {
            "name": name,
            "type": "image/jpeg",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc),
        },
    )


def test_uploading_a_photo_shows_it_with_both_probabilities():
    explorer = widgets.photo_explorer(MODELS["Keras"], MODELS["LiteRT int8"], interactive=True)
    assert isinstance(explorer, widgets.PhotoExplorer)
    assert "Upload a photo" in explorer.text and explorer.picture.value == b""
    upload(explorer, colour_jpeg(), "alpaca.jpg")
    assert explorer.error is None and explorer.photo.image.shape == config.IMG_SHAPE
    assert set(explorer.probabilities) == {"Keras", "LiteRT int8"}
    assert explorer.probabilities["LiteRT int8"] == pytest.approx(0.25)
    assert "LiteRT int8: P(not alpaca) = 0.250 \u2192 alpaca" in explorer.text
    assert "shown as the model sees it (160 \u00d7 160)" in explorer.text
    assert bytes(explorer.picture.value).startswith(b"\x89PNG")
    shown = np.asarray(explorer.figure.axes[0].images[0].get_array())
    assert shown.shape == config.IMG_SHAPE  # the 160 x 160 view, not the 320 x 240 upload
    assert explorer.upload.value == ()  # ready for the next file, the same one included


@pytest.mark.parametrize(
    "make, name, phrase",
    [(lambda: b"", "empty.jpg", "is empty"), (lambda: b"hello", "notes.txt", "not an image")],
    ids=["empty", "text"],
)
def test_a_bad_upload_shows_a_message_and_no_picture(make, name, phrase):
    explorer = widgets.photo_explorer(MODELS["Keras"], MODELS["LiteRT int8"], interactive=True)
    upload(explorer, colour_jpeg(), "alpaca.jpg")
    upload(explorer, make(), name)
    assert phrase in explorer.error and explorer.text == explorer.error
    assert explorer.picture.value == b"" and explorer.photo is None and explorer.probabilities == {}
    upload(explorer, colour_jpeg(), "again.jpg")  # and the explorer still works afterwards
    assert explorer.error is None and "again.jpg" in explorer.text


@pytest.mark.parametrize(
    "make, note",
    [
        (transparent_png, "transparent"),
        (grayscale_jpeg, "black-and-white"),
        (huge_jpeg, "megapixels"),
    ],
    ids=["alpha", "grayscale", "40mp"],
)
def test_unusual_photos_are_shown_with_a_note(make, note):
    explorer = widgets.photo_explorer(MODELS["Keras"], MODELS["LiteRT int8"], interactive=True)
    upload(explorer, make(), "photo")
    assert explorer.error is None and note in explorer.text
    assert explorer.figure is not None


def test_a_failing_model_is_a_message_not_a_traceback():
    explorer = widgets.photo_explorer(BrokenModel(), MODELS["LiteRT int8"], interactive=True)
    upload(explorer, colour_jpeg(), "alpaca.jpg")
    assert "predicting failed: RuntimeError: the model file is damaged" in explorer.error


def test_disagreeing_models_say_so():
    explorer = widgets.photo_explorer(FakeKeras(), FakeLiteRT(0.9), interactive=True)
    upload(explorer, colour_jpeg(), "alpaca.jpg")  # red beats blue only a little: Keras says alpaca
    assert "disagree" in explorer.text or "agree" in explorer.text
    keras_says = explorer.probabilities["Keras"] > config.DECISION_THRESHOLD
    assert ("disagree" in explorer.text) == (not keras_says)


# --- Static fallback: a path argument ---


def test_static_fallback_shows_the_file_given(tmp_path: Path):
    path = tmp_path / "my alpaca.jpg"
    path.write_bytes(colour_jpeg())
    figure = widgets.photo_explorer(MODELS["Keras"], MODELS["LiteRT int8"], path=path)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert "my alpaca.jpg" in figure.axes[0].get_title()
    bars = figure.axes[1]
    assert [label.get_text() for label in bars.get_yticklabels()] == ["LiteRT int8", "Keras"]


@pytest.mark.parametrize(
    "content, phrase", [(None, "Cannot read"), (b"", "is empty")], ids=["missing", "empty"]
)
def test_static_fallback_says_what_is_wrong_in_a_figure(tmp_path: Path, content, phrase):
    path = tmp_path / "photo.jpg"
    if content is not None:
        path.write_bytes(content)
    figure = widgets.photo_explorer(MODELS["Keras"], MODELS["LiteRT int8"], path=path)
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    assert phrase in figure.axes[0].texts[0].get_text()


def test_static_fallback_without_a_path_says_what_to_pass():
    figure = widgets.photo_explorer(MODELS["Keras"], MODELS["LiteRT int8"])
    assert "path=" in figure.axes[0].texts[0].get_text()


def test_an_explorer_with_a_path_shows_it_first(tmp_path: Path):
    path = tmp_path / "first.png"
    path.write_bytes(transparent_png())
    explorer = widgets.photo_explorer(
        MODELS["Keras"], MODELS["LiteRT int8"], path=path, interactive=True
    )
    assert "first.png" in explorer.text and explorer.picture.value


# --- The Keras model's Grad-CAM heatmap of the photo ---


@pytest.fixture(scope="module")
def keras_model_with_mobilenet():
    """The course's architecture with an untrained MobileNetV2 (quick to build, nothing loaded)."""
    import keras

    base = keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=False, weights=None
    )
    inputs = keras.Input(config.IMG_SHAPE)
    x = base(keras.applications.mobilenet_v2.preprocess_input(inputs), training=False)
    return keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x)))


def test_the_photo_gets_the_keras_models_heatmap_and_says_whose(keras_model_with_mobilenet):
    explorer = widgets.photo_explorer(
        keras_model_with_mobilenet, MODELS["LiteRT int8"], interactive=True
    )
    upload(explorer, colour_jpeg(), "alpaca.jpg")
    assert explorer.error is None
    assert explorer.heatmap.shape == config.IMG_SIZE
    assert 0.0 <= explorer.heatmap.min() and explorer.heatmap.max() <= 1.0
    assert "Grad-CAM of the Keras model (not of the int8 file)" in explorer.text
    assert "5 \u00d7 5 cells" in explorer.text
    photo_ax, map_ax, _bars = explorer.figure.axes
    assert map_ax.get_title() == "Grad-CAM of the Keras model,\ntoward its prediction"
    np.testing.assert_array_equal(np.asarray(map_ax.images[1].get_array()), explorer.heatmap)
    assert len(photo_ax.images) == 1  # the photo itself stays clean beside it


def test_a_model_without_mobilenet_shows_no_heatmap_and_says_why():
    explorer = widgets.photo_explorer(MODELS["Keras"], MODELS["LiteRT int8"], interactive=True)
    upload(explorer, colour_jpeg(), "alpaca.jpg")
    assert explorer.error is None and explorer.heatmap is None
    assert "No heatmap: Grad-CAM needs a Keras model, not a FakeKeras" in explorer.text
    assert len(explorer.figure.axes) == 2  # the photo and the bars, as before


def test_the_heatmap_can_be_left_out(keras_model_with_mobilenet, tmp_path: Path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(colour_jpeg())
    figure = widgets.photo_explorer(
        keras_model_with_mobilenet, MODELS["LiteRT int8"], path=path, heatmap=False
    )
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    with_map = widgets.photo_explorer(keras_model_with_mobilenet, MODELS["LiteRT int8"], path=path)
    assert len(with_map.axes) == 3  # the static fallback shows the heatmap too

"""A learner's own photo, made into what the model sees: 160 x 160 RGB pixels in [0, 255].

    load_photo(data, name)  ->  Photo (the image, notes on what was changed)
                            raises PhotoError with a message for the learner

The training images went through `image_dataset_from_directory`: decoded to
RGB and resized to IMG_SIZE with bilinear interpolation, the aspect ratio not
kept. A photo is treated the same way, so the model sees it as it saw the
training images. Uploads go wrong in ordinary ways (a PDF, an empty file, a
PNG with a transparent background, a black-and-white JPEG, a 40-megapixel
phone photo); each gets a sentence, never a traceback.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from helpers import config

if TYPE_CHECKING:  # Pillow is imported when a photo is opened, not with this module
    from PIL import Image


# The EXIF tag in which cameras record how the photo must be turned to be upright.
_EXIF_ORIENTATION = 0x0112


class PhotoError(ValueError):
    """The upload cannot be made into an image; the message says why, for the learner."""


@dataclass
class Photo:
    """The image as the model sees it, and what was done to the upload to get there."""

    image: np.ndarray  # (160, 160, 3) float32 in [0, 255]
    name: str
    original_size: tuple[int, int]  # (width, height) of the upload
    notes: list[str] = field(default_factory=list)


def _size_text(width: int, height: int) -> str:
    """'7744 x 5164 (40.0 megapixels)', or the pixel count for small images."""
    megapixels = width * height / 1e6
    shown = f"{megapixels:.1f} megapixels" if megapixels >= 1 else f"{width * height:,} pixels"
    return f"{width} \u00d7 {height} ({shown})"


def _open(data: bytes, name: str) -> Image.Image:
    """Open the bytes as an image, or say in one sentence why they are not one."""
    from PIL import Image, UnidentifiedImageError

    if len(data) == 0:
        raise PhotoError(f"'{name}' is empty (0 bytes): choose the photo again, or another one.")
    if len(data) > config.MAX_UPLOAD_BYTES:
        raise PhotoError(
            f"'{name}' is {len(data) / 2**20:.0f} MB, more than the "
            f"{config.MAX_UPLOAD_BYTES // 2**20} MB this explorer accepts: "
            "save a smaller copy of the photo and upload that."
        )
    try:
        with warnings.catch_warnings():
            # Pillow warns about very large images; the size check below says it in words.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise PhotoError(
            f"'{name}' is not an image this explorer can read: upload a photo "
            "(JPEG, PNG, GIF, BMP or WebP)."
        ) from None
    except Image.DecompressionBombError:
        raise PhotoError(
            f"'{name}' claims more pixels than any photo has: upload an ordinary photo."
        ) from None
    width, height = image.size
    if width * height > config.MAX_PHOTO_PIXELS:
        raise PhotoError(
            f"'{name}' is {_size_text(width, height)}, larger than the "
            f"{config.MAX_PHOTO_PIXELS / 1e6:.0f} megapixels this explorer decodes: "
            "upload a smaller copy."
        )
    return image


def _decode(image: Image.Image, name: str, notes: list[str]) -> Image.Image:
    """Decode (at a reduced scale when the photo is large), turn it upright, make it RGB.

    Adds a note for the learner for each change that is not a plain resize.
    """
    from PIL import Image, ImageOps

    width, height = image.size
    target = max(config.IMG_SIZE)
    if image.format == "JPEG" and min(width, height) > 4 * target:
        # JPEG can decode at 1/2, 1/4 or 1/8 scale directly: a 40-megapixel photo
        # then costs a fraction of the memory and time. Still at least 4x the
        # model's size, so the final resize is as smooth as from the full photo.
        image.draft("RGB", (4 * target, 4 * target))
    image.load()  # truncated or corrupt files fail here, not at open(): see load_photo
    if image.getexif().get(_EXIF_ORIENTATION, 1) not in (0, 1):
        image = ImageOps.exif_transpose(image)
        notes.append("Turned upright, as the camera's orientation tag says.")
    if getattr(image, "n_frames", 1) > 1:
        notes.append("An animation: the first frame is used.")
    mode = image.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba).convert("RGB")
        notes.append(
            "The image has transparent parts: they were put on white, because the "
            "model takes three colour channels and no transparency."
        )
    elif mode in ("L", "1", "I", "I;16", "F"):
        if mode in ("I", "I;16", "F"):
            # 16-bit or float grey: scale to 8 bits before copying into three channels.
            array = np.asarray(image, dtype=np.float64)
            top = array.max() or 1.0
            image = Image.fromarray((array / top * 255).astype(np.uint8))
        image = image.convert("RGB")
        notes.append(
            "A black-and-white image: its grey copied into all three colour channels. "
            "The model learned from colour photos, so trust its answer less."
        )
    elif mode != "RGB":
        image = image.convert("RGB")
    factor = min(image.size) // (4 * target)
    if factor >= 2:
        # Formats without JPEG's draft mode (PNG...): average blocks of pixels first,
        # so a huge image never becomes a huge float array.
        image = image.reduce(factor)
    return image


def load_photo(data: bytes | memoryview, name: str = "the upload") -> Photo:
    """Decode an upload into the model's view of it: (160, 160, 3) float32 in [0, 255].

    Raises PhotoError (a ValueError) with a sentence for the learner when the
    bytes are not a usable image; anything else unexpected is wrapped the same way.
    """
    data = bytes(data)
    notes: list[str] = []
    try:
        image = _open(data, name)
        original = image.size
        if original[0] * original[1] > 12_000_000:
            notes.append(
                f"A large photo, {_size_text(*original)}: shrunk to "
                f"{config.IMG_SIZE[0]} \u00d7 {config.IMG_SIZE[1]} like every image."
            )
        image = _decode(image, name, notes)
        pixels = np.asarray(image, dtype=np.float32)
    except PhotoError:
        raise
    except OSError as error:  # Pillow's word for a file cut short or damaged inside
        raise PhotoError(
            f"'{name}' could not be decoded ({' '.join(str(error).split())[:120]}): "
            "the file may be cut short or damaged. Upload it again, or another "
            "photo."
        ) from None
    except Exception as error:  # Pillow's less common failures: still one sentence
        raise PhotoError(
            f"'{name}' could not be read as an image "
            f"({type(error).__name__}: {' '.join(str(error).split())[:120]})."
        ) from None
    resized = resize_like_training(pixels)
    width, height = original
    if max(width, height) > 1.5 * min(width, height):
        notes.append(
            f"Squashed from {width} \u00d7 {height} to a square, as the training "
            "images were: an alpaca may look thinner or wider to the model than to you."
        )
    return Photo(image=resized, name=name, original_size=original, notes=notes)


def resize_like_training(pixels: np.ndarray) -> np.ndarray:
    """Resize (H, W, 3) pixels to IMG_SIZE the way image_dataset_from_directory does.

    It uses tf.image.resize, bilinear, without antialiasing, ignoring the aspect ratio.
    """
    import tensorflow as tf

    resized = tf.image.resize(pixels, config.IMG_SIZE, method="bilinear", antialias=False)
    return np.clip(resized.numpy(), 0.0, 255.0).astype(np.float32)

"""Checking a dataset folder against the manifest: what is there, what is missing, what is broken.

verify_dataset(directory)    the full check: checksums and a decode of every image
require_dataset(directory)   the quick check every notebook runs; raises DataError with the fix
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from helpers import config
from helpers.data.common import (
    DataError,
    _fetch_hint,
    _listing,
    _parallel,
    _sha256,
    _show,
)

# Written into dataset/ when a source that differs from the manifest is installed
# on purpose (--accept-different); later checks compare against it instead.
ACCEPTED_MANIFEST_NAME = "accepted.sha256"
# What TensorFlow's decode_image reads; Pillow reads more (WebP, TIFF...), which
# would pass a Pillow check and then crash training.
TF_DECODABLE_FORMATS = frozenset({"JPEG", "PNG", "GIF", "BMP"})
# Names the tools of other systems leave in folders; never images.
_JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
_EXTRA_CLASS_ALIASES = {"notalpaca": config.CLASS_NAMES[1], "non alpaca": config.CLASS_NAMES[1]}


def _is_junk(name: str) -> bool:
    """Hidden files (.DS_Store, .ipynb_checkpoints) and other systems' leftovers."""
    return name.startswith(".") or name in _JUNK_NAMES


def class_for_folder(name: str) -> str | None:
    """The class a folder name stands for ('not_alpaca', 'Not Alpaca' -> 'not alpaca'), or None."""
    key = " ".join(re.split(r"[\s_\-]+", name.strip().lower())).strip()
    for class_name in config.CLASS_NAMES:
        if key == class_name:
            return class_name
    return _EXTRA_CLASS_ALIASES.get(key)


def _walk_files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Image files (by extension, recursively, junk skipped) under a folder, and the other files.

    Recursive because Keras' image_dataset_from_directory also reads sub-folders.
    """
    images: list[Path] = []
    others: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(name for name in dirnames if not _is_junk(name))
        for name in sorted(filenames):
            if _is_junk(name):
                continue
            path = Path(dirpath) / name
            is_image = path.suffix.lower() in config.IMAGE_EXTENSIONS
            (images if is_image else others).append(path)
    return images, others


def _image_problem(path: Path) -> str | None:
    """Why TensorFlow could not read this file as an image, or None when it can."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as image:
            image_format = image.format
            image.load()  # decodes every pixel: truncated files fail here, not in training
    except UnidentifiedImageError:
        return "not an image file"
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError... for bad data
        return f"corrupt or truncated image ({exc})"
    if image_format not in TF_DECODABLE_FORMATS:
        return f"a {image_format} image, which TensorFlow cannot decode; convert it to JPEG or PNG"
    return None


# --------------------------------------------------------------------------- manifest


def read_manifest(path: Path = config.DATASET_MANIFEST) -> dict[str, str]:
    """The manifest as {'class/file.jpg': sha256}; lines are `sha256  class/file.jpg`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(
            f"The manifest {_show(path)} cannot be read ({exc.strerror}). It is part of the course: "
            f"restore it with `git checkout -- {path.name}` in its folder."
        ) from exc
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line)
        if match is None:
            raise DataError(
                f"Line {number} of the manifest {_show(path)} is not `sha256  class/file`: {line!r}. "
                "Restore the file from git."
            )
        entries[match[2]] = match[1].lower()
    return entries


def _class_counts(relative_paths: Iterable[str]) -> dict[str, int]:
    """Images per class folder, in the order of config.CLASS_NAMES."""
    counts = Counter(path.split("/", 1)[0] for path in relative_paths)
    return {name: counts.get(name, 0) for name in config.CLASS_NAMES}


# --------------------------------------------------------------------------- checking


@dataclass
class VerifyReport:
    """What a check of a dataset folder found. `.ok` is False when training would break."""

    directory: Path
    manifest: Path
    expected_counts: dict[str, int]
    counts: dict[str, int] = field(default_factory=dict)
    differ: list[str] = field(default_factory=list)  # in the manifest, other content
    missing: list[str] = field(default_factory=list)  # in the manifest, not on disk
    extra: list[str] = field(default_factory=list)  # on disk, not in the manifest
    undecodable: dict[str, str] = field(default_factory=dict)  # path -> reason
    missing_classes: list[str] = field(default_factory=list)
    empty_classes: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # non-image files Keras skips too
    decoded_all: bool = False

    @property
    def total(self) -> int:
        """Images found in the class folders."""
        return sum(self.counts.values())

    @property
    def ok(self) -> bool:
        """Every manifest file present and intact, every image decodable. Extra images are fine."""
        return not (
            self.missing_classes
            or self.empty_classes
            or self.differ
            or self.missing
            or self.undecodable
        )

    def problems(self) -> list[str]:
        """One sentence per problem, each naming the file or folder and the fix."""
        where = self.directory
        hint = _fetch_hint(where)
        if not where.is_dir():
            return [
                f"The dataset is missing: there is no folder {_show(where)}. To get it, {hint}. "
                f"Offline: copy the folders 'alpaca' and 'not alpaca' into {_show(where)}, or set "
                f"{config.ENV_DATASET_SOURCE} to a folder that holds them and run the fetch command."
            ]
        found: list[str] = []
        for name in self.missing_classes:
            found.append(_missing_class_sentence(where, name))
        for name in self.empty_classes:
            found.append(
                f"The folder {_show(where / name)} has no images "
                f"({', '.join(config.IMAGE_EXTENSIONS)}). To restore the course's images, {hint}."
            )
        for relative, reason in self.undecodable.items():
            fix = "delete it" + (
                f", or restore the course's copy: {hint}" if relative in self.differ else ""
            )
            found.append(
                f"{_show(where / relative)} cannot be used as an image: {reason}. Fix: {fix}."
            )
        changed = [path for path in self.differ if path not in self.undecodable]
        if changed:
            found.append(
                f"{len(changed)} file(s) differ from the course's copy (corrupt or edited): "
                f"{_listing(changed)} in {_show(where)}. To restore them, {hint}."
            )
        gone = set(self.missing_classes + self.empty_classes)  # already said above
        absent = [path for path in self.missing if path.split("/", 1)[0] not in gone]
        if absent:
            found.append(
                f"{len(absent)} image(s) of the course are missing from {_show(where)}: "
                f"{_listing(absent)}. To restore them, {hint}."
            )
        return found

    def summary(self) -> str:
        """'327 images OK (...)' or the list of problems."""
        if not self.ok:
            return "\n".join(f"- {problem}" for problem in self.problems())
        per_class = ", ".join(f"{name} {count}" for name, count in self.counts.items())
        checks = "match the manifest" + (" and decode" if self.decoded_all else "")
        text = (
            f"{self.total} images OK ({per_class}) in {_show(self.directory)}: all files {checks}."
        )
        if self.manifest.name == ACCEPTED_MANIFEST_NAME:
            text += (
                f" Checked against {ACCEPTED_MANIFEST_NAME} (installed with --accept-different)."
            )
        if self.extra:
            text += f" {len(self.extra)} of them are not in the manifest (your own?): {_listing(self.extra)}."
        if self.ignored:
            text += f" Ignored {len(self.ignored)} non-image file(s): {_listing(self.ignored)}."
        return text


def _missing_class_sentence(directory: Path, class_name: str) -> str:
    """A missing class folder, with a hint when it exists under another spelling."""
    sentence = f"The dataset is missing the folder {_show(directory / class_name)}."
    near = [
        child.name
        for child in sorted(directory.iterdir())
        if child.is_dir()
        and child.name != class_name
        and class_for_folder(child.name) == class_name
    ]
    if near:
        return (
            sentence
            + f" Rename {_show(directory / near[0])} to '{class_name}', or {_fetch_hint(directory)}."
        )
    return sentence + f" To get it, {_fetch_hint(directory)}."


def _inspect(directory: Path, manifest: Path, decode_all: bool) -> VerifyReport:
    """Hash every image against the manifest; decode all of them, or only those it cannot vouch for."""
    directory = Path(directory)
    accepted = directory / ACCEPTED_MANIFEST_NAME
    used_manifest = accepted if accepted.is_file() else Path(manifest)
    expected = read_manifest(used_manifest)
    report = VerifyReport(directory, used_manifest, _class_counts(expected), decoded_all=decode_all)
    files: dict[str, Path] = {}
    for name in config.CLASS_NAMES:
        folder = directory / name
        if not folder.is_dir():
            report.missing_classes.append(name)
            continue
        images, others = _walk_files(folder)
        report.counts[name] = len(images)
        report.ignored += [path.relative_to(directory).as_posix() for path in others]
        if not images:
            report.empty_classes.append(name)
        files.update({path.relative_to(directory).as_posix(): path for path in images})
    for relative, digest in zip(files, _parallel(_sha256, files.values()), strict=True):
        wanted = expected.get(relative)
        if wanted is None:
            report.extra.append(relative)
        elif wanted != digest:
            report.differ.append(relative)
    report.missing = sorted(relative for relative in expected if relative not in files)
    # A file whose checksum matches the manifest is a known-good image: decoding it again is wasted time.
    to_decode = list(files) if decode_all else report.extra + report.differ
    for relative, reason in zip(
        to_decode, _parallel(_image_problem, [files[r] for r in to_decode]), strict=True
    ):
        if reason is not None:
            report.undecodable[relative] = reason
    return report


def verify_dataset(
    directory: Path = config.DATASET_DIR, *, manifest: Path = config.DATASET_MANIFEST
) -> VerifyReport:
    """The full check: checksums against the manifest and a Pillow decode of every file."""
    return _inspect(Path(directory), Path(manifest), decode_all=True)


def require_dataset(
    directory: Path = config.DATASET_DIR, *, manifest: Path = config.DATASET_MANIFEST
) -> Path:
    """Raise DataError (with the fix) unless the dataset is complete and intact; return its folder.

    Fast (checksums only; files not in the manifest are decoded), so every notebook can call it.
    """
    report = _inspect(Path(directory), Path(manifest), decode_all=False)
    if not report.ok:
        problems = report.problems()
        if len(problems) == 1:
            raise DataError(problems[0])
        raise DataError(
            f"The dataset in {_show(report.directory)} cannot be used:\n"
            + "\n".join(f"- {problem}" for problem in problems)
        )
    return Path(directory)

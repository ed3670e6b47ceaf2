"""Find, fetch and verify the Alpaca / Not Alpaca images and the ImageNet weights.

Command line (run from the course folder)::

    python -m helpers.data fetch [--source DIR] [--url URL] [--weights-source DIR]
                                 [--weights-url URL] [--force] [--accept-different]
    python -m helpers.data verify [--dir DIR]
    python -m helpers.data info

`make data` runs `fetch`. The dataset comes from, in order: what is already in
`dataset/`, a local folder (`--source` or $ALPACA_DATASET_SOURCE), an archive
URL (`--url` or $ALPACA_DATASET_URL), the public Kaggle dataset. The weights go
into Keras' own cache from a local folder (`--weights-source` or
$ALPACA_WEIGHTS_SOURCE) or Keras' download address ($ALPACA_WEIGHTS_BASE_URL
overrides it). Every failure raises `DataError`, whose message names the file
or folder at fault and the command that fixes it.

Importing this module is cheap: Keras (and so TensorFlow) is imported only
inside the functions that download, so `verify` and `info` start quickly.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import logging
import os
import posixpath
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from PIL import Image, UnidentifiedImageError

from helpers import config, runtime

__all__ = [
    "DataError",
    "VerifyReport",
    "fetch_dataset",
    "fetch_weights",
    "main",
    "read_manifest",
    "require_dataset",
    "verify_dataset",
    "weights_provenance",
]

log = logging.getLogger(__name__)

FETCH_HINT = "run `make data` (or `python -m helpers.data fetch`) in the course folder"
# Written into dataset/ when a source that differs from the manifest is installed
# on purpose (--accept-different); later checks compare against it instead.
ACCEPTED_MANIFEST_NAME = "accepted.sha256"
# What TensorFlow's decode_image reads; Pillow reads more (WebP, TIFF...), which
# would pass a Pillow check and then crash training.
TF_DECODABLE_FORMATS = frozenset({"JPEG", "PNG", "GIF", "BMP"})
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# Names the tools of other systems leave in folders; never images.
_JUNK_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
_EXTRA_CLASS_ALIASES = {"notalpaca": config.CLASS_NAMES[1], "non alpaca": config.CLASS_NAMES[1]}

# git blob sha1 (`git hash-object`) of the official Keras files, as distributed
# with the original assignment (see ../shared/data/SOURCES.md, section 3).
OFFICIAL_WEIGHTS_GIT_SHA1: dict[str, str] = {
    config.WEIGHT_FILES["with_top"]: "d1d3b6107ff66816e04221a899d71cd2fc3fb8a4",
    config.WEIGHT_FILES["no_top"]: "cdb94f326acb4f24c2d181da1b5608b163e1ff49",
}
# sha256 of the rebuilt stand-ins used by tests and CI (keras-standin/README.md).
STANDIN_WEIGHTS_SHA256: dict[str, str] = {
    config.WEIGHT_FILES["with_top"]: "1b72ce56804bcb0b68c48d9c9b89b60280f44d7b1965a4b0e3900f8786b2800a",
    config.WEIGHT_FILES["no_top"]: "71e4c4ec4aa24c9c951b9265d6de42e1336dcf614c2214fa6a989208615e232c",
}
PROVENANCE_OFFICIAL = "official Keras weights"
PROVENANCE_STANDIN = "stand-in weights (rebuilt, not the official files)"
PROVENANCE_UNKNOWN = "unknown weights"

_T = TypeVar("_T")
_R = TypeVar("_R")


class DataError(RuntimeError):
    """The dataset or the weights are missing or unusable; the message says how to fix it."""


# --------------------------------------------------------------------------- helpers


def _show(path: Path | str) -> str:
    """A path for messages: relative to the course folder when inside it, quoted (names have spaces)."""
    absolute = Path(os.path.abspath(path))
    try:
        text = absolute.relative_to(config.PROJECT_ROOT).as_posix()
    except ValueError:
        text = str(absolute)
    return f"'{text}/'" if absolute.is_dir() else f"'{text}'"


def _listing(items: Sequence[str], limit: int = 5) -> str:
    """'a', 'b' and 3 more: enough names to act on without flooding the screen."""
    shown = ", ".join(f"'{item}'" for item in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _fetch_hint(directory: Path) -> str:
    """The command that fills `directory`: `make data` for the course's own dataset/ folder."""
    if Path(os.path.abspath(directory)) == config.DATASET_DIR:
        return FETCH_HINT
    return f"run `python -m helpers.data fetch --dir {_show(directory)}`"


def _parallel(func: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """Map over files with a few threads: hashing and Pillow decoding release the GIL."""
    items = list(items)
    if len(items) < 8:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        return list(pool.map(func, items))


def _file_digest(path: Path, algorithm: str = "sha256", prefix: bytes = b"") -> str:
    """Hex digest of a file read in chunks (weights are megabytes; no need to hold them)."""
    digest = hashlib.new(algorithm, prefix)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    """sha256 of a file, as in the manifest."""
    return _file_digest(path, "sha256")


def git_blob_sha1(path: Path) -> str:
    """What `git hash-object FILE` prints: sha1 of b"blob <size>\\0" + content."""
    return _file_digest(path, "sha1", prefix=b"blob %d\0" % Path(path).stat().st_size)


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
            self.missing_classes or self.empty_classes or self.differ or self.missing or self.undecodable
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
            fix = "delete it" + (f", or restore the course's copy: {hint}" if relative in self.differ else "")
            found.append(f"{_show(where / relative)} cannot be used as an image: {reason}. Fix: {fix}.")
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
        text = f"{self.total} images OK ({per_class}) in {_show(self.directory)}: all files {checks}."
        if self.manifest.name == ACCEPTED_MANIFEST_NAME:
            text += f" Checked against {ACCEPTED_MANIFEST_NAME} (installed with --accept-different)."
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
        if child.is_dir() and child.name != class_name and class_for_folder(child.name) == class_name
    ]
    if near:
        return (
            sentence + f" Rename {_show(directory / near[0])} to '{class_name}', or {_fetch_hint(directory)}."
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


# --------------------------------------------------------------------------- sources


def _find_class_folders(root: Path) -> dict[str, list[Path]]:
    """Folders under root named like a class, innermost ones only.

    Innermost, so that a top folder called 'alpaca' holding 'alpaca/' and 'not alpaca/'
    is not itself taken for a class; several per class when the source is split into
    train/ and test/.
    """
    candidates: list[tuple[str, Path]] = []
    for dirpath, dirnames, _ in os.walk(root):
        dirnames[:] = sorted(name for name in dirnames if not _is_junk(name))
        for name in dirnames:
            class_name = class_for_folder(name)
            if class_name is not None:
                candidates.append((class_name, Path(dirpath) / name))
    found: dict[str, list[Path]] = {}
    for class_name, folder in candidates:
        if not any(folder in other.parents for _, other in candidates):
            found.setdefault(class_name, []).append(folder)
    return found


def _plan_copy(root: Path, origin: str) -> dict[str, dict[str, Path]]:
    """{class: {name in dataset/: source file}}, merging split folders and dropping duplicates."""
    folders = _find_class_folders(root)
    absent = [name for name in config.CLASS_NAMES if name not in folders]
    if absent:
        raise DataError(
            f"{origin} has no folder for {_listing(absent)}. A source must hold the folders "
            f"'alpaca' and 'not alpaca' with the images (also accepted: 'not_alpaca', an extra "
            f"top folder, train/ and test/ splits). Nothing was installed."
        )
    plan: dict[str, dict[str, Path]] = {}
    for class_name in config.CLASS_NAMES:
        chosen: dict[str, Path] = {}
        for folder in folders[class_name]:
            for path in _walk_files(folder)[0]:
                name = path.relative_to(folder).as_posix()
                if name in chosen and _sha256(chosen[name]) == _sha256(path):
                    continue  # the same image in train/ and test/
                while name in chosen:  # same name, other image: keep both
                    name = f"{folder.parent.name}_{name}"
                chosen[name] = path
        plan[class_name] = chosen
    return plan


def _copy_into(plan: Mapping[str, Mapping[str, Path]], target: Path, move: bool) -> None:
    """Lay the planned files out as target/<class>/<name>; move when they are ours to take."""
    for class_name, files in plan.items():
        (target / class_name).mkdir(parents=True)
        for name, source in files.items():
            destination = target / class_name / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            if move:
                os.replace(source, destination)
            else:
                shutil.copyfile(source, destination)


@contextlib.contextmanager
def _temporary_dir(parent: Path, prefix: str) -> Iterator[Path]:
    """A scratch folder in `parent` (same filesystem, so os.replace is atomic), always removed."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    except OSError as exc:
        raise DataError(
            f"Cannot write in {_show(parent)} ({exc.strerror}). Make it writable, or for the weights "
            "set KERAS_HOME to a folder you can write to, then run the command again."
        ) from exc
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _keras_get_file() -> Callable[..., str]:
    """keras.utils.get_file, imported on first use (importing Keras starts TensorFlow)."""
    runtime.quiet_tensorflow_logs()
    with runtime.native_stderr_silenced():  # TensorFlow's C++ start-up lines are not for learners
        from keras.utils import get_file

    return get_file


def _exception_chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes: Keras re-raises URL errors as a bare Exception."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _download_failure(url: str, exc: BaseException, what: str, fix: str) -> DataError:
    """A DataError that says why a download failed and what to do instead."""
    chain = _exception_chain(exc)

    def first(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((item for item in chain if isinstance(item, kind)), None)

    if (error := first(urllib.error.HTTPError)) is not None:
        cause = f"the server answered {error.code} {error.reason} (wrong address, or the file has moved)"
    elif (error := first((urllib.error.ContentTooShortError, http.client.IncompleteRead))) is not None:
        cause = f"the transfer was interrupted ({error}); run the command again"
    elif (error := first((urllib.error.URLError, ConnectionError, TimeoutError))) is not None:
        cause = f"no connection ({getattr(error, 'reason', error)}): no network, or a wrong address"
    elif isinstance(exc, ValueError) and "hash" in str(exc):
        cause = "the downloaded file's checksum is wrong (a corrupted download, or another file)"
    else:
        cause = f"{type(exc).__name__}: {exc}"
    return DataError(f"Could not download {what} from {url}: {cause}. Nothing was changed. {fix}")


def _dataset_offline_fix(directory: Path) -> str:
    """What to do about the dataset without a network."""
    return (
        f"Without a network: copy the folders 'alpaca' and 'not alpaca' (from a machine where "
        f"`make data` worked) into {_show(directory)}, or set {config.ENV_DATASET_SOURCE} to a "
        f"folder that holds them (or pass --source DIR), then run `python -m helpers.data fetch` again."
    )


def _check_archive_member(archive: str, name: str, link: str | None, hard_link: bool) -> None:
    """Refuse an entry that would land outside the extraction folder (Keras would only warn)."""
    posix = name.replace("\\", "/")
    path = PurePosixPath(posix)
    escapes = posix.startswith("/") or bool(re.match(r"^[A-Za-z]:", posix)) or ".." in path.parts
    if not escapes and link is not None:
        # Symlinks resolve from their own folder, hard links from the archive's root.
        base = "" if hard_link else str(path.parent)
        resolved = posixpath.normpath(posixpath.join(base, link.replace("\\", "/")))
        escapes = link.startswith("/") or resolved == ".." or resolved.startswith("../")
    if escapes:
        target = f" -> {link!r}" if link is not None else ""
        raise DataError(
            f"The archive {archive} holds the entry {name!r}{target}, which points outside the "
            "folder it is extracted into. Refusing to extract it (nothing was installed): use an "
            "archive from a source you trust, with only 'alpaca/' and 'not alpaca/' inside."
        )


def _safe_extract(archive: Path, target: Path, label: str) -> None:
    """Check every member of a zip/tar archive, then let the standard library extract it."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                is_link = stat.S_ISLNK(info.external_attr >> 16)
                link = bundle.read(info).decode("utf-8", "replace") if is_link else None
                _check_archive_member(label, info.filename, link, hard_link=False)
        archive_format = "zip"
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            for member in bundle.getmembers():
                if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
                    raise DataError(
                        f"The archive {label} holds {member.name!r}, which is not a file or folder "
                        "(a device or pipe). Refusing to extract it; nothing was installed."
                    )
                link = member.linkname if (member.issym() or member.islnk()) else None
                _check_archive_member(label, member.name, link, hard_link=member.islnk())
        archive_format = "tar"  # tarfile detects gzip/bz2/xz compression by itself
    else:
        raise DataError(
            f"The download {label} is not a .zip or .tar(.gz) archive (an error page?). "
            f"Check the address in --url or {config.ENV_DATASET_URL}."
        )
    # tarfile's "data" filter (Python >= 3.11.4) is a second line of defence; zipfile has no such option.
    options = {"filter": "data"} if archive_format == "tar" and hasattr(tarfile, "data_filter") else {}
    try:
        shutil.unpack_archive(archive, target, archive_format, **options)
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(
            f"The archive {label} cannot be extracted ({exc}); it may be truncated. Nothing was "
            "installed; run the command again."
        ) from exc


def _download_archive(url: str, scratch: Path, directory: Path) -> Path:
    """Download an archive with keras.utils.get_file into scratch, check and extract it there."""
    name = PurePosixPath(urllib.parse.urlsplit(url).path).name or "alpaca-dataset-archive"
    log.info("Dataset: downloading %s", url)
    try:
        archive = Path(
            _keras_get_file()(fname=name, origin=url, cache_dir=str(scratch), cache_subdir="download")
        )
    except Exception as exc:  # get_file raises a bare Exception for every URL error
        fix = f"Check --url / {config.ENV_DATASET_URL}. " + _dataset_offline_fix(directory)
        raise _download_failure(url, exc, "the dataset", fix) from exc
    extracted = scratch / "extracted"
    _safe_extract(archive, extracted, f"from {url}")
    archive.unlink()  # only the extracted images are needed now
    return extracted


def _download_kaggle(directory: Path) -> Path:
    """The public Kaggle dataset, through kagglehub (which caches it in ~/.cache/kagglehub)."""
    log.info("Dataset: downloading the Kaggle dataset %s", config.KAGGLE_DATASET)
    try:
        import kagglehub

        return Path(kagglehub.dataset_download(config.KAGGLE_DATASET))
    except Exception as exc:  # network, HTTP and credential errors all end the same way
        raise DataError(
            f"Could not download the Kaggle dataset {config.KAGGLE_DATASET} "
            f"({type(exc).__name__}: {exc}). If Kaggle asks for credentials, create an API token "
            "on kaggle.com (Settings) and set KAGGLE_USERNAME and KAGGLE_KEY. Or set "
            f"{config.ENV_DATASET_URL} to an archive of the images. Nothing was changed. "
            + _dataset_offline_fix(directory)
        ) from exc


def _judge_source(report: VerifyReport, origin: str, directory: Path, allow_different: bool) -> bool:
    """Refuse a source that would break training or differs from the manifest; True if it differs."""
    unusable = [f"'{path}': {reason}" for path, reason in list(report.undecodable.items())[:5]]
    unusable += [f"no images for '{name}'" for name in report.empty_classes]
    if unusable:
        raise DataError(
            f"The images from {origin} cannot be used: "
            + "; ".join(unusable)
            + f". Nothing was installed; {_show(directory)} is unchanged. Fix or remove those files "
            "in the source, or use another source."
        )
    if not (report.differ or report.missing or report.extra):
        return False
    facts = (
        f"The images from {origin} do not match the course's manifest "
        f"({report.total} found, {sum(report.expected_counts.values())} expected): "
        f"{len(report.differ)} differ, {len(report.missing)} missing, "
        f"{len(report.extra)} not in the manifest"
        f" (e.g. {_listing(report.differ + report.missing + report.extra, 3)})."
    )
    if not allow_different:
        raise DataError(
            f"{facts} Nothing was installed; {_show(directory)} is unchanged. The course's outputs "
            "and graders expect the manifest's images. If you trust this source anyway, run "
            "`python -m helpers.data fetch --accept-different` with the same source "
            "(allow_different=True in Python)."
        )
    log.warning(
        "%s Installing it anyway (--accept-different); recorded in %s.", facts, ACCEPTED_MANIFEST_NAME
    )
    return True


def _install(staged: Path, directory: Path, scratch: Path, accepted: str | None) -> None:
    """Swap the staged class folders into directory; put the old ones back if a move fails.

    Class folders are swapped one by one (not dataset/ as a whole) because dataset/
    also holds README.md, which is tracked by git.
    """
    directory.mkdir(parents=True, exist_ok=True)
    old = scratch / "old"
    old.mkdir()
    moved_away: list[str] = []
    placed: list[str] = []
    try:
        for name in config.CLASS_NAMES:
            target = directory / name
            if target.exists() or target.is_symlink():
                os.replace(target, old / name)
                moved_away.append(name)
            os.replace(staged / name, target)
            placed.append(name)
    except OSError as exc:
        for name in placed:
            os.replace(directory / name, staged / name)
        for name in moved_away:
            os.replace(old / name, directory / name)
        raise DataError(
            f"Could not move the new images into {_show(directory)} ({exc}); the old folders were "
            "put back. Check that the folder is writable and not open elsewhere, then run the "
            "command again."
        ) from exc
    record = directory / ACCEPTED_MANIFEST_NAME
    if accepted is None:
        record.unlink(missing_ok=True)
    else:
        (scratch / ACCEPTED_MANIFEST_NAME).write_text(accepted, encoding="utf-8")
        os.replace(scratch / ACCEPTED_MANIFEST_NAME, record)


def _manifest_text(directory: Path) -> str:
    """The `sha256  class/file` lines of what is in directory's class folders."""
    lines = []
    for name in config.CLASS_NAMES:
        for path in _walk_files(directory / name)[0]:
            lines.append(f"{_sha256(path)}  {path.relative_to(directory).as_posix()}")
    return "\n".join(sorted(lines, key=lambda line: line[66:])) + "\n"


def _pick_dataset_source(
    source: Path | str | None, url: str | None, scratch: Path, directory: Path
) -> tuple[Path, str, bool]:
    """(folder holding the images, description, whether its files may be moved) from the first source set."""
    folder = source or os.environ.get(config.ENV_DATASET_SOURCE)
    if folder:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            named = "--source" if source else f"${config.ENV_DATASET_SOURCE}"
            raise DataError(
                f"The dataset source {_show(folder)} (from {named}) is not a folder. Point it at the "
                "folder that holds 'alpaca/' and 'not alpaca/', or unset it to download the images."
            )
        log.info("Dataset: copying from %s", _show(folder))
        return folder, _show(folder), False
    address = url or os.environ.get(config.ENV_DATASET_URL)
    if address:
        return _download_archive(address, scratch, directory), address, True
    return _download_kaggle(directory), f"the Kaggle dataset {config.KAGGLE_DATASET}", False


def fetch_dataset(
    source: Path | str | None = None,
    url: str | None = None,
    force: bool = False,
    *,
    allow_different: bool = False,
    directory: Path = config.DATASET_DIR,
    manifest: Path = config.DATASET_MANIFEST,
) -> Path:
    """Make sure `directory` holds the verified images; fetch them only when it does not.

    Sources, in order: `directory` itself (unless force); `source` or $ALPACA_DATASET_SOURCE;
    `url` or $ALPACA_DATASET_URL (a .zip/.tar.gz); the Kaggle dataset. The new images are
    built and checked in a scratch folder beside `directory`, then swapped in, so a failure
    leaves the old state as it was. A source that differs from the manifest is refused
    unless allow_different is True.
    """
    directory = Path(directory)
    if not force:
        current = _inspect(directory, Path(manifest), decode_all=False)
        if current.ok:
            log.info("Dataset: %s Nothing downloaded or copied.", current.summary())
            return directory
        if directory.is_dir() and current.missing_classes != list(config.CLASS_NAMES):
            log.info("Dataset: %s has problems; fetching a fresh copy.", _show(directory))
    parent = Path(os.path.abspath(directory)).parent
    with _temporary_dir(parent, prefix=f".{directory.name}-staging-") as scratch:
        root, origin, movable = _pick_dataset_source(source, url, scratch, directory)
        staged = scratch / "new"
        try:
            _copy_into(_plan_copy(root, origin), staged, move=movable)
        except OSError as exc:  # a full disk, an unreadable file in the source
            raise DataError(
                f"Could not copy the images from {origin} ({exc}). Nothing was installed; "
                f"{_show(directory)} is unchanged. Free some disk space or fix the file, then try again."
            ) from exc
        report = _inspect(staged, Path(manifest), decode_all=False)
        differs = _judge_source(report, origin, directory, allow_different)
        _install(staged, directory, scratch, _manifest_text(staged) if differs else None)
    log.info("Dataset: installed %d images in %s from %s.", report.total, _show(directory), origin)
    return directory


# --------------------------------------------------------------------------- weights


def _weight_files() -> list[str]:
    """The files `fetch_weights` puts in Keras' cache."""
    return list(config.KERAS_CACHE_FILES)


def _weight_file_problem(path: Path) -> str | None:
    """Why a cached weight/class-index file would not work, or None when it looks right."""
    if not path.is_file():
        return "missing"
    if path.name == config.CLASS_INDEX_FILE:
        md5 = _file_digest(path, "md5")
        if md5 != config.CLASS_INDEX_MD5:
            return f"its md5 is {md5}, not {config.CLASS_INDEX_MD5} (the file Keras checks for)"
        return None
    with open(path, "rb") as handle:
        if handle.read(len(HDF5_SIGNATURE)) != HDF5_SIGNATURE:
            return "not an HDF5 weight file (an error page, or a truncated download?)"
    return None


def _weights_offline_fix(models: Path, names: Sequence[str]) -> str:
    """What to do about the weights without a network."""
    return (
        f"Without a network: copy {_listing(list(names), 3)} from the Keras cache of a machine where "
        f"`make data` worked (~/.keras/models) into {_show(models)}, or set "
        f"{config.ENV_WEIGHTS_SOURCE} to a folder that holds them (or pass --weights-source DIR), "
        "then run `make data` (or `python -m helpers.data fetch`) again."
    )


def _weight_url(name: str, base_url: str, mirror: bool) -> str:
    """Where one file comes from: a mirror holds all three; Keras' own index lives elsewhere."""
    if name == config.CLASS_INDEX_FILE and not mirror:
        return config.CLASS_INDEX_URL
    return base_url.rstrip("/") + "/" + name


def _stage_weight(
    name: str, folder: Path | None, base_url: str, mirror: bool, scratch: Path, models: Path
) -> str:
    """Copy or download one file into scratch; return where it came from."""
    if folder is not None and (folder / name).is_file():
        shutil.copyfile(folder / name, scratch / name)
        return _show(folder / name)
    url = _weight_url(name, base_url, mirror)
    md5 = config.CLASS_INDEX_MD5 if name == config.CLASS_INDEX_FILE else None
    log.info("Weights: downloading %s", url)
    try:
        _keras_get_file()(fname=name, origin=url, file_hash=md5, cache_dir=str(scratch), cache_subdir="")
    except Exception as exc:  # get_file raises a bare Exception for every URL error
        fix = _weights_offline_fix(models, _weight_files())
        if mirror:
            fix = f"Check --weights-url / {config.ENV_WEIGHTS_BASE_URL}. " + fix
        raise _download_failure(url, exc, name, fix) from exc
    return url


def fetch_weights(source: Path | str | None = None, base_url: str | None = None) -> Path:
    """Put the 160-px MobileNetV2 weights and the ImageNet class index in Keras' cache.

    Files already there (and sound) are kept. The others come from `source` or
    $ALPACA_WEIGHTS_SOURCE when that folder has them, else are downloaded from
    `base_url`, $ALPACA_WEIGHTS_BASE_URL or Keras' own address. All new files are
    staged and checked in a scratch folder inside the cache, then renamed into
    place, so a failure leaves the cache as it was. Returns the cache folder.
    """
    models = config.keras_models_dir()
    todo = [name for name in _weight_files() if _weight_file_problem(models / name) is not None]
    if not todo:
        log.info("Weights: already in %s: %s. Nothing downloaded.", _show(models), weights_provenance(models))
        return models
    folder_text = source or os.environ.get(config.ENV_WEIGHTS_SOURCE)
    folder = Path(folder_text).expanduser() if folder_text else None
    if folder is not None and not folder.is_dir():
        named = "--weights-source" if source else f"${config.ENV_WEIGHTS_SOURCE}"
        raise DataError(
            f"The weights source {_show(folder)} (from {named}) is not a folder. Point it at a folder "
            f"holding {_listing(_weight_files(), 3)}, or unset it to download them."
        )
    chosen_base = base_url or os.environ.get(config.ENV_WEIGHTS_BASE_URL)
    with _temporary_dir(models, prefix=".alpaca-download-") as scratch:
        origins = {
            name: _stage_weight(
                name, folder, chosen_base or config.KERAS_WEIGHTS_BASE_URL, bool(chosen_base), scratch, models
            )
            for name in todo
        }
        for name in todo:
            problem = _weight_file_problem(scratch / name)
            if problem is not None:
                raise DataError(
                    f"{name} from {origins[name]} is not usable: {problem}. Nothing was changed in "
                    f"{_show(models)}. " + _weights_offline_fix(models, [name])
                )
        for name in todo:  # only now that every file is sound
            os.replace(scratch / name, models / name)
            log.info("Weights: %s <- %s", name, origins[name])
    log.info("Weights: ready in %s: %s.", _show(models), weights_provenance(models))
    return models


def _file_provenance(path: Path) -> str:
    """Which weights one file holds, judged by its checksums."""
    if git_blob_sha1(path) in OFFICIAL_WEIGHTS_GIT_SHA1.values():
        return PROVENANCE_OFFICIAL
    if _sha256(path) in STANDIN_WEIGHTS_SHA256.values():
        return PROVENANCE_STANDIN
    return PROVENANCE_UNKNOWN


def weights_provenance(path: Path | str | None = None) -> str:
    """'official Keras weights', 'stand-in weights (...)' or 'unknown weights'.

    `path` is a weight file, or a folder holding the course's two weight files
    (default: Keras' cache). A folder with files of different kinds gets one
    phrase per file.
    """
    target = Path(path) if path is not None else config.keras_models_dir()
    if target.is_file():
        return _file_provenance(target)
    present = [target / name for name in config.WEIGHT_FILES.values() if (target / name).is_file()]
    if not present:
        return f"no MobileNetV2 weights in {_show(target)}"
    kinds = {file.name: _file_provenance(file) for file in present}
    if len(set(kinds.values())) == 1 and len(present) == len(config.WEIGHT_FILES):
        return next(iter(kinds.values()))
    missing = [name for name in config.WEIGHT_FILES.values() if name not in kinds]
    return "; ".join(
        [f"{name}: {kind}" for name, kind in kinds.items()] + [f"{name}: missing" for name in missing]
    )


# --------------------------------------------------------------------------- command line


def _cmd_fetch(args: argparse.Namespace) -> int:
    """`fetch`: the dataset, then the weights."""
    fetch_dataset(
        args.source,
        args.url,
        args.force,
        allow_different=args.accept_different,
        directory=args.dir,
        manifest=args.manifest,
    )
    fetch_weights(args.weights_source, args.weights_url)
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    """`verify`: the full check, every image decoded."""
    report = verify_dataset(args.dir, manifest=args.manifest)
    if report.ok:
        print(report.summary())
        return 0
    print(f"error: the dataset in {_show(args.dir)} has problems:\n{report.summary()}", file=sys.stderr)
    return 1


def _size(path: Path) -> str:
    """A file size for people."""
    size = path.stat().st_size
    return f"{size / 1e6:.1f} MB" if size >= 1e6 else f"{size / 1e3:.0f} kB"


def _cmd_info(args: argparse.Namespace) -> int:
    """`info`: where everything is and what state it is in; never fails."""
    report = _inspect(args.dir, args.manifest, decode_all=False)
    print(f"Dataset folder  {_show(args.dir)}")
    for name in config.CLASS_NAMES:
        count = report.counts.get(name)
        expected = report.expected_counts.get(name, 0)
        print(
            f"  {name:<12}  " + (f"{count} images (manifest: {expected})" if count is not None else "missing")
        )
    print("  status        " + (report.summary() if report.ok else "problems:\n" + report.summary()))
    models = config.keras_models_dir()
    origin = "$KERAS_HOME" if "KERAS_HOME" in os.environ else "default"
    print(f"Keras cache     {_show(models)} ({origin})")
    for name in _weight_files():
        path = models / name
        if not path.is_file():
            state = "missing"
        elif name == config.CLASS_INDEX_FILE:
            state = f"{_size(path)}  " + (_weight_file_problem(path) or "md5 OK")
        else:
            state = f"{_size(path)}  " + (_weight_file_problem(path) or _file_provenance(path))
        print(f"  {name:<66}  {state}")
    print("Sources (environment)")
    defaults = {config.ENV_WEIGHTS_BASE_URL: config.KERAS_WEIGHTS_BASE_URL}
    for variable in (
        config.ENV_DATASET_SOURCE,
        config.ENV_DATASET_URL,
        config.ENV_WEIGHTS_SOURCE,
        config.ENV_WEIGHTS_BASE_URL,
    ):
        value = os.environ.get(variable)
        fallback = f"(not set: {defaults[variable]})" if variable in defaults else "(not set)"
        print(f"  {variable:<24}  {value or fallback}")
    return 0


def _parser() -> argparse.ArgumentParser:
    """The `python -m helpers.data` command line."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.data", description="Fetch, verify and describe the course's data."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir", type=Path, default=config.DATASET_DIR, help="dataset folder (default: dataset/)"
    )
    common.add_argument("--manifest", type=Path, default=config.DATASET_MANIFEST, help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser(
        "fetch", parents=[common], help="get the dataset and the weights (skipped when already there)"
    )
    fetch.add_argument(
        "--source", type=Path, help=f"a folder holding the images (or ${config.ENV_DATASET_SOURCE})"
    )
    fetch.add_argument("--url", help=f"a .zip/.tar.gz of the images (or ${config.ENV_DATASET_URL})")
    fetch.add_argument(
        "--weights-source",
        type=Path,
        help=f"a folder holding the weight files (or ${config.ENV_WEIGHTS_SOURCE})",
    )
    fetch.add_argument(
        "--weights-url", help=f"where to download the weight files from (or ${config.ENV_WEIGHTS_BASE_URL})"
    )
    fetch.add_argument(
        "--force", action="store_true", help="fetch the dataset again even if dataset/ is fine"
    )
    fetch.add_argument(
        "--accept-different",
        action="store_true",
        help="install a source whose images differ from the manifest",
    )
    fetch.set_defaults(func=_cmd_fetch)
    commands.add_parser("verify", parents=[common], help="check and decode every image").set_defaults(
        func=_cmd_verify
    )
    commands.add_parser("info", parents=[common], help="where the data and the weights are").set_defaults(
        func=_cmd_info
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; a DataError becomes its message and exit status 1, never a traceback."""
    args = _parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)  # the current stdout, so tests can capture it
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    previous_level = log.level
    log.setLevel(logging.INFO)
    try:
        return args.func(args)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted. Nothing half-done was left behind; run the command again.", file=sys.stderr)
        return 130
    finally:
        log.removeHandler(handler)
        log.setLevel(previous_level)


if __name__ == "__main__":
    sys.exit(main())

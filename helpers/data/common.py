"""What every data tool shares: the error class, paths in messages, hashing, scratch folders, downloads.

Every failure of the data tools raises `DataError`, whose message names the
file or folder at fault and the command that fixes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from helpers import config, runtime
from helpers.setup_errors import SetupError

# One logger for the whole package: `python -m helpers.data` shows its INFO lines.
log = logging.getLogger("helpers.data")

FETCH_HINT = "run `make data` (or `python -m helpers.data fetch`) in the course folder"

_T = TypeVar("_T")
_R = TypeVar("_R")


class DataError(SetupError):
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
    elif (
        error := first((urllib.error.ContentTooShortError, http.client.IncompleteRead))
    ) is not None:
        cause = f"the transfer was interrupted ({error}); run the command again"
    elif (error := first((urllib.error.URLError, ConnectionError, TimeoutError))) is not None:
        cause = f"no connection ({getattr(error, 'reason', error)}): no network, or a wrong address"
    elif isinstance(exc, ValueError) and "hash" in str(exc):
        cause = "the downloaded file's checksum is wrong (a corrupted download, or another file)"
    else:
        cause = f"{type(exc).__name__}: {exc}"
    return DataError(f"Could not download {what} from {url}: {cause}. Nothing was changed. {fix}")

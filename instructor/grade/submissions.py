"""Find each learner's notebooks in what an instructor collected.

Accepted layouts (a `.zip` of either is unpacked first, safely):

- a folder with one subfolder per learner, holding any of their `NN_*.ipynb`
  files (at any depth; `.ipynb_checkpoints` and hidden folders are ignored);
- a flat folder of `<learner>_NN_*.ipynb` files, as LMS exports name them
  (`jo_smith_01_create_dataset.ipynb` is learner `jo_smith`, notebook 01).

A zip is unpacked into a temporary folder after checking every member: no
absolute paths, no `..`, no links, and a bounded total size (zip-slip and
zip-bomb safe). A single top-level folder that holds learners is looked into.

Only files are read, never followed links, and each notebook is read as
bytes (at most `config.GRADE_MAX_NOTEBOOK_BYTES`): what they hold is looked
at by the worker, in its sandbox.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from helpers import config
from instructor.grade.tasks import LearnerTask, SubmittedNotebook

IN_FOLDER = re.compile(r"^(?P<number>\d\d)_.*\.ipynb$", re.IGNORECASE)
FLAT = re.compile(r"^(?P<learner>.+?)_(?P<number>\d\d)_.*\.ipynb$", re.IGNORECASE)


class SubmissionsError(ValueError):
    """SUBMISSIONS is neither a folder nor a readable, safe zip."""


@dataclass
class LearnerFiles:
    """Where one learner's notebooks are, by number; read only when their task is sent."""

    learner: str
    files: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def task(self) -> LearnerTask:
        """The learner's task, with each notebook's bytes."""
        return LearnerTask(
            self.learner, {n: _read(p, n) for n, p in self.files.items()}, list(self.notes)
        )


def _ignored(path: Path, root: Path) -> bool:
    """Hidden folders and Jupyter's checkpoints hold no submissions."""
    return any(part.startswith(".") for part in path.relative_to(root).parts[:-1])


def _read(path: Path, number: str) -> SubmittedNotebook:
    """A notebook file as bytes, or why it cannot be read."""
    size = path.lstat().st_size
    if size > config.GRADE_MAX_NOTEBOOK_BYTES:
        return SubmittedNotebook(number, path.name, None, f"file too large ({size // 1024**2} MB)")
    try:
        return SubmittedNotebook(number, path.name, path.read_bytes())
    except OSError as error:
        return SubmittedNotebook(number, path.name, None, f"could not be read ({error.strerror})")


def _add(learner: LearnerFiles, path: Path, number: str, display: str) -> None:
    """Put a notebook into `learner`; of two files for one number, keep the first (sorted) and say so."""
    if number in learner.files:
        learner.notes.append(
            f"two files for notebook {number}: graded {learner.files[number].name}, left out {display}"
        )
        return
    learner.files[number] = path


def _regular_files(folder: Path) -> list[Path]:
    """Every regular file under `folder`, links not followed, sorted (shallowest first)."""
    files = [
        p for p in folder.rglob("*") if stat.S_ISREG(p.lstat().st_mode) and not _ignored(p, folder)
    ]
    return sorted(files, key=lambda p: (len(p.relative_to(folder).parts), str(p)))


def find_learners(root: Path) -> dict[str, LearnerFiles]:
    """Learners in an unpacked SUBMISSIONS folder, by name, with their notebooks."""
    learners: dict[str, LearnerFiles] = {}
    for entry in sorted(root.iterdir()):
        if entry.name.startswith(".") or entry.is_symlink():
            continue
        if entry.is_dir():
            task = learners.setdefault(entry.name, LearnerFiles(entry.name))
            for path in _regular_files(entry):
                match = IN_FOLDER.match(path.name) or FLAT.match(path.name)
                if match:
                    _add(task, path, match.group("number"), str(path.relative_to(entry)))
        elif entry.is_file():
            match = FLAT.match(entry.name)
            if match:
                learner = match.group("learner")
                task = learners.setdefault(learner, LearnerFiles(learner))
                _add(task, entry, match.group("number"), entry.name)
    return learners


def _looks_like_wrapper(folder: Path) -> bool:
    """A zip's single top folder that holds the class rather than being one learner."""
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    holds_own_notebooks = any(e.is_file() and IN_FOLDER.match(e.name) for e in entries)
    return not holds_own_notebooks and any(e.is_dir() or FLAT.match(e.name) for e in entries)


def _safe_member_path(name: str) -> PurePosixPath:
    """A zip member's relative path, or SubmissionsError when it would land outside the folder."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise SubmissionsError(f"unsafe path in the zip: {name!r}")
    return path


def unpack_zip(archive: Path, destination: Path) -> Path:
    """Unpack `archive` into `destination` after checking every member; return the class folder."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            total = sum(member.file_size for member in members)
            if total > config.GRADE_MAX_ZIP_BYTES:
                raise SubmissionsError(f"the zip unpacks to {total // 1024**2} MB, over the limit")
            for member in members:
                relative = _safe_member_path(member.filename)
                mode = member.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise SubmissionsError(f"link in the zip: {member.filename!r}")
                target = destination.joinpath(*relative.parts)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(member) as source, open(target, "wb") as sink:
                    # Copy at most what the header declared: a lying header cannot fill the disk.
                    shutil.copyfileobj(_Bounded(source, member.file_size), sink)
    except zipfile.BadZipFile as error:
        raise SubmissionsError(f"not a readable zip: {error}") from error
    folder = destination
    entries = [e for e in folder.iterdir() if not e.name.startswith(".") and e.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and _looks_like_wrapper(entries[0]):
        folder = entries[0]
    return folder


class _Bounded:
    """A file-like reader that stops after `limit` bytes."""

    def __init__(self, source: object, limit: int) -> None:
        self.source, self.left = source, limit

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return b""
        size = self.left if size < 0 else min(size, self.left)
        data = self.source.read(size)  # type: ignore[attr-defined]
        self.left -= len(data)
        return data


@contextlib.contextmanager
def opened(submissions: Path) -> Iterator[dict[str, LearnerFiles]]:
    """Every learner in SUBMISSIONS (a folder or a .zip), by name; a zip stays unpacked until exit."""
    submissions = Path(submissions)
    if submissions.is_dir():
        yield find_learners(submissions)
    elif submissions.is_file() and zipfile.is_zipfile(submissions):
        with tempfile.TemporaryDirectory(prefix="alpaca-submissions-") as unpacked:
            yield find_learners(unpack_zip(submissions, Path(unpacked)))
    else:
        raise SubmissionsError(f"{submissions} is neither a folder nor a zip file")

"""Reading what an untrusted kernel may have touched, without being fooled or blocked by it.

A kernel can put a FIFO, a symbolic link, a device or a huge file where a
grading run expects a small regular file. Every read of such a place goes
through `read_regular`: opened with O_NOFOLLOW and O_NONBLOCK (a FIFO never
blocks the open), accepted only when `fstat` says it is a regular file, and
read up to a cap. `copy_out` copies a folder the kernel wrote (its evidence)
into a trusted folder the same way: regular files and folders only, links
and everything else left behind, bounded in files, depth and bytes.

Used after the kernel is dead, so nothing changes while it is read; the
checks hold even when it is not (each file is checked on the open handle).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from helpers.runtime import READ_FLAGS, UnsafeFile, read_regular

# read_regular and UnsafeFile live in helpers.runtime (the evidence reader uses them too).
__all__ = [
    "CopyLimits",
    "CopyReport",
    "UnsafeFile",
    "copy_out",
    "open_folder",
    "read_regular",
    "read_text",
]

DIRECTORY_FLAGS = READ_FLAGS | getattr(os, "O_DIRECTORY", 0)


def read_text(path: Path | str, max_bytes: int) -> str | None:
    """`read_regular` as text (undecodable bytes replaced), or None when it is missing or unsafe."""
    try:
        return read_regular(path, max_bytes).decode("utf-8", errors="replace")
    except OSError:
        return None


@dataclass
class CopyLimits:
    """How much `copy_out` copies at most."""

    max_files: int = 200
    max_file_bytes: int = 64 * 1024**2
    max_total_bytes: int = 256 * 1024**2
    max_depth: int = 8


@dataclass
class CopyReport:
    """What `copy_out` copied, and what it left behind and why."""

    copied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    total_bytes: int = 0


def open_folder(base: Path, relative: Path | str = ".") -> int:
    """A descriptor of the folder `relative` under `base`, never through a link.

    `base` is a folder the caller made (a kernel cannot replace it); each
    component of `relative` is opened from its parent's descriptor with
    O_NOFOLLOW, so a link the kernel put anywhere on the way is refused.
    """
    descriptor = os.open(base, DIRECTORY_FLAGS)
    try:
        for part in Path(relative).parts:
            child = os.open(part, DIRECTORY_FLAGS, dir_fd=descriptor)
            os.close(descriptor)
            descriptor = child
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def copy_out(
    source: Path,
    destination: Path,
    limits: CopyLimits | None = None,
    *,
    under: Path | None = None,
) -> CopyReport:
    """Copy the regular files under `source` into `destination` (a new folder); never follows a link.

    With `under`, `source` is a path relative to that trusted folder and
    each of its components is checked too (`open_folder`). Every folder is
    opened relative to its parent's descriptor with O_NOFOLLOW, so a link
    planted anywhere in the tree (the top included) is skipped, not followed.
    """
    limits = limits or CopyLimits()
    report = CopyReport()
    destination.mkdir(mode=0o700, parents=True, exist_ok=False)
    try:
        top = open_folder(source) if under is None else open_folder(under, source)
    except OSError as error:
        report.skipped.append(f".: {type(error).__name__}")
        return report
    try:
        _copy_folder(top, destination, "", 0, limits, report)
    finally:
        os.close(top)
    return report


def _copy_folder(
    folder_fd: int,
    destination: Path,
    prefix: str,
    depth: int,
    limits: CopyLimits,
    report: CopyReport,
) -> None:
    """Copy what `folder_fd` holds into `destination`; `prefix` names it in the report."""
    try:
        entries = sorted(os.listdir(folder_fd))
    except OSError:
        return
    for name in entries:
        relative = f"{prefix}{name}"
        if len(report.copied) >= limits.max_files:
            report.skipped.append(f"{relative}: more than {limits.max_files} files")
            continue
        try:
            info = os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            if depth + 1 >= limits.max_depth:
                report.skipped.append(f"{relative}/: deeper than {limits.max_depth}")
                continue
            try:
                child = os.open(name, DIRECTORY_FLAGS, dir_fd=folder_fd)
            except OSError:
                report.skipped.append(f"{relative}/: cannot be opened")
                continue
            try:
                (destination / name).mkdir(mode=0o700)
                _copy_folder(child, destination / name, f"{relative}/", depth + 1, limits, report)
            finally:
                os.close(child)
            continue
        if not stat.S_ISREG(info.st_mode):
            report.skipped.append(f"{relative}: not a regular file")
            continue
        room = min(limits.max_file_bytes, limits.max_total_bytes - report.total_bytes)
        try:
            data = read_regular(name, room, dir_fd=folder_fd)
        except OSError as error:
            report.skipped.append(f"{relative}: {error.__class__.__name__}")
            continue
        target = os.open(
            destination / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600
        )
        with os.fdopen(target, "wb") as handle:
            handle.write(data)
        report.copied.append(relative)
        report.total_bytes += len(data)

"""Where the course's code runs: quiet TensorFlow start-up, the IPython shell, whole-file writes.

One home for what the notebooks' set-up, the data tools, the build, the
benchmark's child processes and the test configuration all need:

    quiet_tensorflow_logs(environment)   TF_CPP_MIN_LOG_LEVEL=2 unless already set
    native_stderr_silenced()             C++-level stderr to /dev/null for a block
    ipython_shell()                      the running IPython shell, or None
    write_atomically(path, content)      replace a file whole: readers see the old or the new
    read_regular(path, max_bytes)        a regular file's bytes, capped; links, FIFOs, devices refused

It imports nothing of the course and no TensorFlow, so any module (and the
root conftest, before TensorFlow is imported) can use it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

# TensorFlow's C++ log level: 2 hides INFO and WARNING lines (CUDA probes, oneDNN notes).
TF_LOG_LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
QUIET_TF_LOG_LEVEL = "2"


def quiet_tensorflow_logs(environment: MutableMapping[str, str] | None = None) -> None:
    """Hide TensorFlow's C++ start-up chatter, unless the user chose a level.

    `environment` defaults to this process's `os.environ`; pass a child
    process's environment to quiet that one instead. It must be set before
    TensorFlow is imported to have an effect.
    """
    target = os.environ if environment is None else environment
    target.setdefault(TF_LOG_LEVEL_VARIABLE, QUIET_TF_LOG_LEVEL)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send C++-level stderr to /dev/null for the duration of the block.

    TensorFlow 2.21 prints absl and CUDA-probe lines at import and at its
    first device query whatever TF_CPP_MIN_LOG_LEVEL says; JupyterLab shows
    them as a red block that looks like an error. Python exceptions are not
    affected: they are raised after stderr is restored.
    """
    sys.stderr.flush()
    saved_fd = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)


def ipython_shell() -> Any | None:
    """The running IPython shell (a notebook kernel, or the IPython REPL), or None."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    try:
        return get_ipython()
    except Exception:  # an IPython half torn down at exit: behave as outside IPython
        return None


def write_atomically(path: Path | str, content: str | bytes, *, durable: bool = False) -> Path:
    """Replace the file at `path` with `content` (text is written as UTF-8) in one step.

    The content goes into a temporary file beside `path` (same file system),
    which is then renamed over it: a reader, or a run that crashes halfway,
    finds the old file or the new one, never half of one. `durable` also
    flushes the data to disk before the rename (a grades file that must
    survive a power cut). The folder is created when missing; the temporary
    file is removed when writing fails. Returns `path`.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unique per process and thread, so two writers never share a temporary file.
    temporary = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    data = content.encode("utf-8") if isinstance(content, str) else content
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


# Never follow a link, never block on a FIFO, never leak the descriptor into a child.
READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class UnsafeFile(OSError):
    """The path is not a regular file (a FIFO, a device...) or holds more than allowed."""


class NotRegularFile(UnsafeFile):
    """The path is a FIFO, a device, a folder...: anything but a regular file."""


class FileTooLarge(UnsafeFile):
    """The regular file holds more bytes than the reader allows."""


def read_regular(path: Path | str, max_bytes: int, *, dir_fd: int | None = None) -> bytes:
    """The bytes of the regular file at `path` (relative to `dir_fd` when given), at most `max_bytes`.

    For files that something untrusted may have put in place (a learner's
    evidence, what a graded kernel wrote). Opened with O_NOFOLLOW (a link
    raises OSError) and O_NONBLOCK (a FIFO never blocks the open); accepted
    only when `fstat` on the open handle says regular file (else
    NotRegularFile), and read to the cap (FileTooLarge past it, also when the
    file grows while being read).
    """
    descriptor = os.open(path, READ_FLAGS, dir_fd=dir_fd)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(f"{path}: not a regular file")
        if info.st_size > max_bytes:
            raise FileTooLarge(f"{path}: {info.st_size} bytes, more than {max_bytes}")
        chunks, size = [], 0
        while chunk := os.read(descriptor, min(1 << 20, max_bytes + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # it grew while being read
                raise FileTooLarge(f"{path}: more than {max_bytes} bytes")
        return b"".join(chunks)
    finally:
        os.close(descriptor)

"""One notebook's sandbox folder, its kernel's allow-listed environment, the judge's folder, and sweeping up.

Layout of a sandbox (a new private temporary folder per notebook, removed afterwards):

    owner.pid   the grading process that made it (for `sweep`); never visible to the kernel
    control/    read-only to the kernel: its connection file, the sandbox's passwd and group
    sockets/    where the kernel creates its Unix sockets; renamed away once the grader is
                connected, so no path the grader ever resolves again is one the kernel wrote
    work/       the kernel's folder, the only one it can write: the notebook, and .grading/
                (evidence/ where its checks store what the judge needs, progress.json,
                artifacts/ with the stand-in copies)
    trusted/    the evidence copied out after the kernel is dead (safe_files.copy_out), when
                there is no judge inbox to copy it into
    home/, tmp/ HOME and TMPDIR, only with `--isolation off` (bwrap gives the kernel empty tmpfs)

Inside bwrap the kernel sees `control`, `sockets` and `work` at the same
paths as the grader, and nothing else of the sandbox or of /tmp.

Each grading worker process also has ONE judge folder (`judge_folder()`),
swept like a sandbox when its worker died:

    owner.pid   the worker process
    inbox/      the trusted evidence copies, one folder per sandbox (read-only to the judge)
    homes/      the judge process's private Keras home (writable by the judge only)
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psutil

from helpers import config
from instructor.grade import bwrap, safe_files

# Variables copied from the grading process when set: locale and time zone only.
PASSED_THROUGH_ENV: tuple[str, ...] = ("LANG", "LC_ALL", "TZ")
SANDBOX_PREFIX = "alpaca-grade-"
JUDGE_PREFIX = f"{SANDBOX_PREFIX}judge-"
OWNER_FILE = "owner.pid"
MAX_OWNER_FILE_BYTES = 64


@dataclass
class Sandbox:
    """The folders of one notebook's run (see the module docstring)."""

    root: Path

    @property
    def control(self) -> Path:
        return self.root / "control"

    @property
    def sockets(self) -> Path:
        return self.root / "sockets"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def grading(self) -> Path:
        return self.work / ".grading"

    @property
    def evidence(self) -> Path:
        return self.grading / "evidence"

    @property
    def artifacts(self) -> Path:
        return self.grading / "artifacts"

    @property
    def trusted(self) -> Path:
        return self.root / "trusted"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def connection_file(self) -> Path:
        return self.control / "kernel.json"

    @classmethod
    def create(cls, artifacts_source: Path | None) -> Sandbox:
        """A new sandbox holding copies of the phase-1 stand-in (the notebook may overwrite them)."""
        sandbox = cls(Path(tempfile.mkdtemp(prefix=SANDBOX_PREFIX)))
        (sandbox.root / OWNER_FILE).write_text(str(os.getpid()))
        for folder in (
            sandbox.control,
            sandbox.sockets,
            sandbox.evidence,
            sandbox.artifacts,
            sandbox.home,
            sandbox.tmp,
        ):
            folder.mkdir(parents=True)
        for name, text in bwrap.account_files().items():
            (sandbox.control / name).write_text(text)
        if artifacts_source is not None:
            for item in artifacts_source.iterdir():
                if item.is_file():
                    shutil.copyfile(item, sandbox.artifacts / item.name)
        return sandbox

    def seed_weights(self, weights_dir: Path | None) -> None:
        """Copies of the weight files in home/.keras/models (`--isolation off` only; bwrap binds them)."""
        models = self.home / ".keras" / "models"
        models.mkdir(parents=True, exist_ok=True)
        for name, source in weight_files(weights_dir).items():
            shutil.copyfile(source, models / name)

    def remove(self) -> None:
        """Delete the sandbox and everything the notebook wrote into it (links are not followed)."""
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def sweep() -> int:
        """Delete the sandboxes left by grading processes that died (a killed worker); return how many.

        A sandbox names the process that made it; one whose process is gone
        can never be removed by it. The owner file is read as a regular file
        only: nothing planted there can block the sweep.
        """
        removed = 0
        for root in Path(tempfile.gettempdir()).glob(f"{SANDBOX_PREFIX}*"):
            text = safe_files.read_text(root / OWNER_FILE, MAX_OWNER_FILE_BYTES)
            try:
                owner = int(text or "")
            except ValueError:
                continue  # not ours, or still being made
            if not psutil.pid_exists(owner):
                shutil.rmtree(root, ignore_errors=True)
                removed += 1
        return removed


@dataclass
class JudgeFolder:
    """This worker's judge folder (see the module docstring)."""

    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def homes(self) -> Path:
        return self.root / "homes"

    @classmethod
    def create(cls) -> JudgeFolder:
        """A new judge folder owned by this process."""
        folder = cls(Path(tempfile.mkdtemp(prefix=JUDGE_PREFIX)))
        (folder.root / OWNER_FILE).write_text(str(os.getpid()))
        folder.inbox.mkdir()
        folder.homes.mkdir()
        return folder

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


_JUDGE_FOLDERS: dict[tuple[int, str], JudgeFolder] = {}


def judge_folder() -> JudgeFolder:
    """This process's judge folder (in the current temporary directory), made once, removed at exit."""
    key = (os.getpid(), tempfile.gettempdir())
    folder = _JUDGE_FOLDERS.get(key)
    if folder is None or not folder.root.is_dir():
        folder = _JUDGE_FOLDERS[key] = JudgeFolder.create()
        atexit.register(folder.remove)  # registered before the judge's close: runs after it
    return folder


def weight_files(weights_dir: Path | None) -> dict[str, Path]:
    """The instructor's weight files (and class index) a kernel may read, by name."""
    if weights_dir is None:
        return {}
    names = [*config.WEIGHT_FILES.values(), config.CLASS_INDEX_FILE]
    return {name: weights_dir / name for name in names if (weights_dir / name).is_file()}


def kernel_environment(
    sandbox: Sandbox, notebook_name: str, confined: bool, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The kernel's whole environment: an allow-list, never the instructor's own variables.

    Tokens, credentials and anything else the instructor has set do not reach
    the learner's code; `extra` adds names the instructor passed on purpose.
    No PYTHONPATH: the kernel imports `helpers` from the environment's
    installed (editable) package, which is read-only inside the sandbox.
    """
    home = bwrap.SANDBOX_HOME if confined else str(sandbox.home)
    environment = {
        "PATH": os.pathsep.join(
            [str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "HOME": home,
        "USER": bwrap.SANDBOX_USER,
        "LOGNAME": bwrap.SANDBOX_USER,
        "KERAS_HOME": f"{home}/.keras",
        "TMPDIR": "/tmp" if confined else str(sandbox.tmp),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",  # grading runs on the CPU: no driver probing, same results everywhere
        "MPLBACKEND": "Agg",
        "JPY_SESSION_NAME": notebook_name,
        config.ENV_WIDGETS_MODE: "static",
        config.ENV_PROGRESS_FILE: str(sandbox.grading / "progress.json"),
        config.ENV_ARTIFACTS_DIR: str(sandbox.artifacts),
        config.ENV_EVIDENCE_DIR: str(sandbox.evidence),
    }
    environment["LANG"] = "C.UTF-8"
    for name in PASSED_THROUGH_ENV:
        if name in os.environ:
            environment[name] = os.environ[name]
    environment.update(extra or {})
    return environment

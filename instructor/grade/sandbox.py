"""One notebook's sandbox: a fresh folder, a reduced environment, a confined kernel, a watchdog.

Layout of a sandbox (a new temporary folder per notebook, removed afterwards):

    work/       the kernel's working directory: the submitted notebook and nothing else
    home/       HOME; home/.keras/models holds copies of the instructor's weight files
    artifacts/  ALPACA_ARTIFACTS_DIR: a copy of the phase-1 stand-in model (notebook 05)
    run/        the verdicts file, the progress file, the kernel's connection file and sockets
    tmp/        TMPDIR

The kernel imports `helpers` from THIS repository (PYTHONPATH), never from
the submission: nothing the learner sent besides the notebook is copied.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from jupyter_client.manager import AsyncKernelManager

from helpers import config
from instructor.grade import confine

# Variables copied from the grading process when set: locale and time zone only.
PASSED_THROUGH_ENV: tuple[str, ...] = ("LANG", "LC_ALL", "TZ")
WATCHDOG_PERIOD_S = 0.2
SANDBOX_PREFIX = "alpaca-grade-"
OWNER_FILE = (
    "owner.pid"  # the grading process that made the sandbox (the kernel may overwrite it: harmless)
)


@dataclass
class Sandbox:
    """The folders of one notebook's run (see the module docstring)."""

    root: Path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def keras_home(self) -> Path:
        return self.home / ".keras"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def verdicts_file(self) -> Path:
        return self.run / "verdicts.jsonl"

    @classmethod
    def create(cls, weights_dir: Path | None, artifacts_source: Path | None) -> Sandbox:
        """A new sandbox seeded with copies of the weight files and of the phase-1 stand-in.

        Copies, not links: a notebook may write to what is in its sandbox, and
        must not be able to change the instructor's cache through it.
        """
        sandbox = cls(Path(tempfile.mkdtemp(prefix=SANDBOX_PREFIX)))
        (sandbox.root / OWNER_FILE).write_text(str(os.getpid()))
        for folder in (
            sandbox.work,
            sandbox.keras_home / "models",
            sandbox.artifacts,
            sandbox.run,
            sandbox.tmp,
        ):
            folder.mkdir(parents=True)
        if weights_dir is not None:
            for name in [*config.WEIGHT_FILES.values(), config.CLASS_INDEX_FILE]:
                if (weights_dir / name).is_file():
                    shutil.copyfile(weights_dir / name, sandbox.keras_home / "models" / name)
        if artifacts_source is not None:
            for item in artifacts_source.iterdir():
                if item.is_file():
                    shutil.copyfile(item, sandbox.artifacts / item.name)
        return sandbox

    def remove(self) -> None:
        """Delete the sandbox and everything the notebook wrote into it."""
        shutil.rmtree(self.root, ignore_errors=True)

    @staticmethod
    def sweep() -> int:
        """Delete the sandboxes left by grading processes that died (a killed worker); return how many.

        A sandbox names the process that made it; one whose process is gone
        can never be removed by it.
        """
        removed = 0
        for root in Path(tempfile.gettempdir()).glob(f"{SANDBOX_PREFIX}*"):
            try:
                owner = int((root / OWNER_FILE).read_text())
            except (OSError, ValueError):
                continue  # not ours, or still being made
            if not psutil.pid_exists(owner):
                shutil.rmtree(root, ignore_errors=True)
                removed += 1
        return removed


def kernel_environment(
    sandbox: Sandbox, notebook_name: str, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The kernel's whole environment: an allow-list, never the instructor's own variables.

    Tokens, credentials and anything else the instructor has set do not reach
    the learner's code; `extra` adds names the instructor passed on purpose.
    """
    python_bin = str(Path(sys.executable).parent)
    environment = {
        "PATH": os.pathsep.join([python_bin, "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(sandbox.home),
        "KERAS_HOME": str(sandbox.keras_home),
        "TMPDIR": str(sandbox.tmp),
        "PYTHONPATH": str(config.PROJECT_ROOT),  # this repository's helpers, first on sys.path
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",  # grading runs on the CPU: no driver probing, same results everywhere
        "MPLBACKEND": "Agg",
        "JPY_SESSION_NAME": notebook_name,
        config.ENV_WIDGETS_MODE: "static",
        config.ENV_PROGRESS_FILE: str(sandbox.run / "progress.json"),
        config.ENV_ARTIFACTS_DIR: str(sandbox.artifacts),
        config.ENV_VERDICTS_FILE: str(sandbox.verdicts_file),
    }
    environment.setdefault("LANG", "C.UTF-8")
    for name in PASSED_THROUGH_ENV:
        if name in os.environ:
            environment[name] = os.environ[name]
    environment.update(extra or {})
    return environment


class ConfinedKernelManager(AsyncKernelManager):
    """A `python3` kernel started through `instructor.grade.confine` (see there).

    Asynchronous, as nbclient expects: with a blocking client, waiting for a
    message would stall nbclient's loop, and a killed kernel would never be noticed.
    """

    launch_prefix: list[str] = []

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        """The kernel's usual command line, behind the confinement launcher."""
        return [*self.launch_prefix, *super().format_kernel_cmd(extra_arguments)]


def kernel_manager(sandbox: Sandbox, namespaces: bool) -> ConfinedKernelManager:
    """A kernel manager whose kernel starts confined to `sandbox`.

    In a new network namespace the kernel cannot reach the grading process's
    TCP ports, so it talks over Unix sockets in `sandbox/run` instead.
    """
    options: dict[str, object] = {
        "kernel_name": "python3",
        "connection_file": str(sandbox.run / "kernel.json"),
    }
    if namespaces:
        options.update(transport="ipc", ip=str(sandbox.run / "k"))
    manager = ConfinedKernelManager(**options)
    manager.launch_prefix = confine.launch_prefix(sandbox.root, namespaces)
    return manager


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (children first collected, then all killed)."""
    try:
        root = psutil.Process(pid)
        family = [*root.children(recursive=True), root]
    except psutil.Error:
        return
    for process in family:
        try:
            process.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(family, timeout=5)


def tree_usage(pid: int) -> tuple[float, float]:
    """Resident memory (MiB) and CPU time (user + system, s) of a process and its descendants."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0, 0.0
    rss = cpu = 0.0
    for process in family:
        try:
            with process.oneshot():
                rss += process.memory_info().rss
                times = process.cpu_times()
                cpu += times.user + times.system
        except psutil.Error:
            pass
    return rss / 1024**2, cpu


@dataclass
class Watchdog:
    """Kills a kernel's process tree past a wall-clock deadline or a resident-memory ceiling.

    RLIMIT_AS would not do: TensorFlow reserves far more virtual memory than
    it uses. The watchdog polls the tree's RSS instead; `reason` says why it
    killed ("timeout" or "memory"), None when it did not.
    """

    kernel_pid: Callable[[], int | None]
    timeout_s: float
    memory_mb: float
    reason: str | None = None
    peak_mb: float = 0.0
    cpu_s: float = 0.0  # the tree's CPU time (user + system) when last seen
    started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Watchdog:
        self._thread = threading.Thread(
            target=self._watch, name="alpaca-grade-watchdog", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(WATCHDOG_PERIOD_S):
            pid = self.kernel_pid()
            if pid is not None:
                rss, cpu = tree_usage(pid)
                self.cpu_s = max(self.cpu_s, cpu)
                self.peak_mb = max(self.peak_mb, rss)
                if rss > self.memory_mb:
                    self._kill(pid, "memory")
                    return
            if time.monotonic() - self.started > self.timeout_s:
                if pid is not None:
                    self._kill(pid, "timeout")
                else:
                    self.reason = "timeout"
                return

    def _kill(self, pid: int, reason: str) -> None:
        self.reason = reason
        kill_tree(pid)

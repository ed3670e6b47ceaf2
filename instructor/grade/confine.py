"""Start a notebook's kernel confined to its sandbox folder (Linux user namespaces).

A grading run starts each kernel as

    python -m instructor.grade.confine outer SANDBOX [--namespaces] -- KERNEL_COMMAND...

`outer` asks the kernel to be killed when the grading thread that started it
dies (Linux `PR_SET_PDEATHSIG`, so a killed Dask worker leaves no kernel
behind), then, with `--namespaces`, re-executes itself through `unshare` in
new user, mount, network and PID namespaces as `inner`, which

- bind-mounts SANDBOX onto itself, then remounts every other file system
  read-only (only SANDBOX stays writable);
- mounts a fresh, private `/dev/shm`;
- sees only its own processes (`/proc` is remounted for the new PID namespace,
  so no other process's environment can be read);
- has no network (only a loopback interface, down);

writes what it did to `SANDBOX/run/confinement.json` and executes the kernel.
Without `--namespaces` the kernel is started directly: the documented fallback.

This module imports nothing but the standard library: it runs before every
kernel.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

UNSHARE_OPTIONS: tuple[str, ...] = (
    "--user",
    "--map-root-user",
    "--mount",
    "--net",
    "--pid",
    "--fork",
    "--kill-child",
    "--mount-proc",
)
# Kernel file systems that stay as they are (they are not where files are written).
SPECIAL_MOUNTS: tuple[str, ...] = ("/proc", "/sys", "/dev")
CONFINEMENT_REPORT = "confinement.json"
PR_SET_PDEATHSIG = 1


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether `unshare` can create the namespaces a confined kernel needs, here and now."""
    unshare = shutil.which("unshare")
    if not sys.platform.startswith("linux") or unshare is None:
        return False
    try:
        completed = subprocess.run(
            [unshare, *UNSHARE_OPTIONS, "sh", "-c", "mount -o remount,bind,ro / && exit 0"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return completed.returncode == 0


def launch_prefix(sandbox: Path, namespaces: bool) -> list[str]:
    """The command that goes before the kernel's own command line."""
    prefix = [sys.executable, "-m", "instructor.grade.confine", "outer", str(sandbox)]
    return [*prefix, "--namespaces", "--"] if namespaces else [*prefix, "--"]


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when the thread that started it ends (kept across exec)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the watchdog still kills the kernel on time and memory


def _mount_points() -> list[str]:
    """Every mount point this process sees (octal escapes such as `\\040` decoded)."""
    points = []
    with open("/proc/self/mounts", encoding="utf-8") as mounts:
        for line in mounts:
            fields = line.split()
            if len(fields) >= 2:
                points.append(fields[1].encode("latin-1").decode("unicode_escape"))
    return points


def _mount(*arguments: str) -> bool:
    """Run `mount` with `arguments`; True when it succeeded."""
    completed = subprocess.run(
        ["mount", *arguments], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return completed.returncode == 0


def _confine_file_systems(sandbox: Path) -> dict[str, object]:
    """Inside the new mount namespace: only `sandbox` stays writable. Returns what was done."""
    sandbox_text = str(sandbox)
    points = _mount_points()
    report: dict[str, object] = {"sandbox_writable": _mount("--bind", sandbox_text, sandbox_text)}
    left_writable = []
    for point in sorted(set(points)):
        if point == sandbox_text or point.startswith(SPECIAL_MOUNTS):
            continue
        if not _mount("-o", "remount,bind,ro", point):
            left_writable.append(point)
    report["left_writable"] = left_writable
    report["private_dev_shm"] = os.path.isdir("/dev/shm") and _mount(
        "-t", "tmpfs", "-o", "size=256m", "tmpfs", "/dev/shm"
    )
    report["namespaces"] = True
    return report


def main(argv: list[str] | None = None) -> int:
    """`outer SANDBOX [--namespaces] -- CMD...` or `inner SANDBOX -- CMD...`; never returns on success."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) < 4 or arguments[0] not in ("outer", "inner") or "--" not in arguments:
        print(__doc__, file=sys.stderr)
        return 2
    split = arguments.index("--")
    stage, sandbox, options, command = (
        arguments[0],
        Path(arguments[1]),
        arguments[2:split],
        arguments[split + 1 :],
    )
    run_dir = sandbox / "run"
    if stage == "outer":
        _die_with_parent()
        if "--namespaces" in options:
            inner = [
                sys.executable,
                "-m",
                "instructor.grade.confine",
                "inner",
                str(sandbox),
                "--",
                *command,
            ]
            os.execvp("unshare", ["unshare", *UNSHARE_OPTIONS, *inner])
        (run_dir / CONFINEMENT_REPORT).write_text(json.dumps({"namespaces": False}))
        os.execvp(command[0], command)
    report = _confine_file_systems(sandbox)
    (run_dir / CONFINEMENT_REPORT).write_text(json.dumps(report))
    os.execvp(command[0], command)
    return 1  # pragma: no cover - execvp does not return


if __name__ == "__main__":
    sys.exit(main())

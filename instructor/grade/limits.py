"""Limits on one grading kernel that count everything it uses, and the watchdog that enforces them.

Memory and processes are held by a cgroup v2 of the kernel's own where this
machine delegates one (`memory.max` with swap off and `memory.oom.group`,
`pids.max`: the kernel counts anonymous memory, tmpfs, memfds and SysV
segments, and stops a fork bomb at the limit). Elsewhere (cgroup v1, no
delegation, not Linux) the watchdog counts them itself, five times a second:
the PSS of every process in the kernel's tree (shared memory mapped
included), the memfds and deleted shared-memory files they hold, the space
used in the sandbox's own tmpfs (/tmp, /run, /dev/shm, HOME, read through
/proc/PID/root), and the SysV segments of its IPC namespace (read from
inside that namespace where this process may enter it: root); processes are
counted the same way. Either way the watchdog also enforces the wall-clock
deadline and the disk limit (the size of the kernel's writable folder, one
file capped at once by RLIMIT_FSIZE, see confine.py), and kills the whole
tree when one is passed. `reason` says which.

Cgroup v2 delegation: `Cgroups.find()` looks at this process's own cgroup.
Kernels get sibling cgroups when the parent already enables memory and pids
for its children and is writable (a worker under a grading command that set
this up); otherwise, when this process's own cgroup is writable, offers both
controllers and holds no other process, it moves itself into a `supervisor`
child and enables them (the way `systemd-run --user --scope -p Delegate=yes
python -m instructor.grade ...` leaves it).
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from instructor import processes

WATCHDOG_PERIOD_S = 0.2
DISK_PERIOD_S = 1.0
SYSV_PERIOD_S = 1.0
CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS: frozenset[str] = frozenset({"memory", "pids"})
SUPERVISOR = "supervisor"
KERNEL_PREFIX = "alpaca-kernel-"
# The tmpfs a sandbox mounts for itself: their contents are memory.
SANDBOX_TMPFS: tuple[str, ...] = ("tmp", "run", "dev/shm", "home/learner")
# Stop counting a folder's size past this many entries: more is over any sane limit.
MAX_DISK_ENTRIES = 20_000
CLONE_NEWIPC = 0x08000000


@dataclass(frozen=True)
class Limits:
    """What one kernel may use."""

    timeout_s: float
    memory_mb: float
    max_tasks: int  # processes and threads together (what pids.max counts)
    disk_mb: float

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_mb * 1024**2)

    @property
    def disk_bytes(self) -> int:
        return int(self.disk_mb * 1024**2)


# --- cgroup v2 ---------------------------------------------------------------


def own_cgroup(
    root: Path = CGROUP_ROOT, proc_self: Path = Path("/proc/self/cgroup")
) -> Path | None:
    """This process's cgroup v2 folder, or None without a unified hierarchy."""
    try:
        lines = proc_self.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):
            folder = root / line[3:].lstrip("/")
            return folder if (folder / "cgroup.controllers").is_file() else None
    return None


def _words(path: Path) -> set[str]:
    try:
        return set(path.read_text().split())
    except OSError:
        return set()


def _delegated(folder: Path) -> bool:
    """Whether `folder` enables memory and pids for its children and we may make children there."""
    return CONTROLLERS <= _words(folder / "cgroup.subtree_control") and os.access(
        folder, os.W_OK | os.X_OK
    )


@dataclass
class Cgroups:
    """Where this process makes kernel cgroups (a folder whose subtree has memory and pids)."""

    parent: Path

    @classmethod
    def find(
        cls, root: Path = CGROUP_ROOT, proc_self: Path = Path("/proc/self/cgroup")
    ) -> Cgroups | None:
        """The delegated parent for kernel cgroups, set up if need be; None where there is none."""
        own = own_cgroup(root, proc_self)
        if own is None:
            return None
        if own.parent != own and own.parent.is_relative_to(root) and _delegated(own.parent):
            return cls(own.parent)
        if not (CONTROLLERS <= _words(own / "cgroup.controllers") and os.access(own, os.W_OK)):
            return None
        members = _words(own / "cgroup.procs")
        if members - {str(os.getpid())}:
            return None  # other processes live here: moving them is not ours to do
        try:
            supervisor = own / SUPERVISOR
            supervisor.mkdir(exist_ok=True)
            (supervisor / "cgroup.procs").write_text(str(os.getpid()))
            (own / "cgroup.subtree_control").write_text(
                " ".join(f"+{c}" for c in sorted(CONTROLLERS))
            )
        except OSError:
            return None  # the kernel refused: not delegated after all
        return cls(own)

    def create(self, limits: Limits) -> KernelCgroup:
        """A new cgroup for one kernel, its limits written."""
        folder = self.parent / f"{KERNEL_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        folder.mkdir()
        cgroup = KernelCgroup(folder)
        try:
            cgroup.write("memory.max", str(limits.memory_bytes))
            cgroup.write("memory.swap.max", "0", required=False)
            cgroup.write("memory.oom.group", "1", required=False)
            cgroup.write("pids.max", str(limits.max_tasks))
        except OSError:
            cgroup.remove()
            raise
        return cgroup


@dataclass
class KernelCgroup:
    """One kernel's cgroup v2."""

    folder: Path

    def write(self, name: str, value: str, required: bool = True) -> None:
        try:
            (self.folder / name).write_text(value)
        except OSError:
            if required:
                raise

    def _number(self, name: str) -> int:
        try:
            return int((self.folder / name).read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0

    def memory_bytes(self) -> int:
        return self._number("memory.current")

    def peak_bytes(self) -> int:
        return max(self._number("memory.peak"), self.memory_bytes())

    def processes(self) -> int:
        return self._number("pids.current")

    def events(self, name: str) -> dict[str, int]:
        counts = {}
        try:
            for line in (self.folder / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                counts[key] = int(value or 0)
        except (OSError, ValueError):
            pass
        return counts

    def killed_for_memory(self) -> bool:
        return self.events("memory.events").get("oom_kill", 0) > 0

    def hit_process_limit(self) -> bool:
        return self.events("pids.events").get("max", 0) > 0

    def kill(self) -> None:
        """SIGKILL every process in the cgroup (cgroup.kill where the kernel has it)."""
        try:
            (self.folder / "cgroup.kill").write_text("1")
            return
        except OSError:
            pass
        for pid in _words(self.folder / "cgroup.procs"):
            try:
                os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass

    def remove(self) -> None:
        """Kill what is left and remove the cgroup (retried while its processes exit)."""
        for _ in range(50):
            try:
                self.folder.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                self.kill()
                time.sleep(0.02)


# --- what the watchdog counts without a cgroup --------------------------------


def tmpfs_bytes(sandbox_pid: int) -> int:
    """Space used in the sandbox's own tmpfs, seen through /proc/PID/root (0 when gone).

    Only once the process is in a mount namespace of its own, and only the
    mounts that are tmpfs there: read through a process that has not entered
    its sandbox yet, `/tmp` would be the host's disk, and its used space would
    count as the kernel's memory (a real learner was once killed for it).
    """
    if not processes.in_own_namespace(sandbox_pid, "mnt"):
        return 0
    mounted = {m.point for m in processes.mounts(sandbox_pid) if m.fstype == "tmpfs"}
    total = 0
    for mount in SANDBOX_TMPFS:
        if f"/{mount}" not in mounted:
            continue
        try:
            usage = os.statvfs(f"/proc/{sandbox_pid}/root/{mount}")
        except OSError:
            continue
        total += (usage.f_blocks - usage.f_bfree) * usage.f_frsize
    return total


def sysv_shm_bytes(pid: int) -> int | None:
    """Resident bytes of the SysV segments in `pid`'s IPC namespace; None when it cannot be entered.

    Entered from a short-lived thread (setns changes only the calling thread),
    which needs CAP_SYS_ADMIN over the namespace: root can, others cannot.
    0 while `pid` is still in this process's IPC namespace: those are the host's segments.
    """
    if not processes.in_own_namespace(pid, "ipc"):
        return 0
    result: list[int | None] = [None]

    def read() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            descriptor = os.open(f"/proc/{pid}/ns/ipc", os.O_RDONLY)
        except OSError:
            return
        try:
            if libc.setns(descriptor, CLONE_NEWIPC) != 0:
                return
            total = 0
            with open("/proc/sysvipc/shm") as table:
                header = table.readline().split()
                column = header.index("rss") if "rss" in header else header.index("size")
                for line in table:
                    fields = line.split()
                    if len(fields) > column:
                        total += int(fields[column])
            result[0] = total
        except (OSError, ValueError):
            return
        finally:
            os.close(descriptor)

    reader = threading.Thread(target=read, name="alpaca-grade-sysv", daemon=True)
    reader.start()
    reader.join(5)
    return result[0]


def folder_bytes(folder: Path, max_entries: int = MAX_DISK_ENTRIES) -> int:
    """Bytes allocated under `folder` (links not followed); past `max_entries` entries, a huge number."""
    total, seen, pending = 0, 0, [str(folder)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                seen += 1
                if seen > max_entries:
                    return 1 << 62
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                total += info.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    pending.append(entry.path)
    return total


# --- the watchdog ---------------------------------------------------------------


@dataclass
class Watchdog:
    """Kills a kernel's tree past its deadline, memory, process or disk limit.

    `kernel_pid()` gives the launcher's pid once there is one (the tree
    under it is the kernel); `writable` is the kernel's folder. `reason` is
    "timeout", "memory", "processes", "disk" (or what `more` returned) once it
    killed, else None.
    """

    kernel_pid: Callable[[], int | None]
    limits: Limits
    writable: Path
    cgroup: KernelCgroup | None = None
    more: Callable[[], str | None] | None = None  # another check (the kernel client's), polled too
    reason: str | None = None
    peak_mb: float = 0.0
    cpu_s: float = 0.0
    started: float = field(default_factory=time.monotonic)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _disk_at: float = 0.0
    _sysv_at: float = 0.0
    _sysv_bytes: int = 0

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

    def remaining_s(self) -> float:
        return self.limits.timeout_s - (time.monotonic() - self.started)

    def _sandbox_pid(self, pid: int) -> int | None:
        """A process inside the sandbox (the launcher itself stays outside its namespaces)."""
        members = processes.family(pid)
        return members[1].pid if len(members) > 1 else None

    def _memory(self, pid: int, usage: processes.TreeUsage) -> int:
        if self.cgroup is not None:
            return self.cgroup.memory_bytes()
        inside = self._sandbox_pid(pid)
        extra = 0
        if inside is not None:
            extra += tmpfs_bytes(inside)
            now = time.monotonic()
            if now - self._sysv_at >= SYSV_PERIOD_S:
                self._sysv_at = now
                self._sysv_bytes = sysv_shm_bytes(inside) or 0
            extra += self._sysv_bytes
        return usage.memory_bytes + extra

    def check(self, pid: int) -> str | None:
        """One look at the tree under `pid`: the limit it is over, or None."""
        usage = processes.tree_memory(pid)
        self.cpu_s = max(self.cpu_s, usage.cpu_s)
        memory = self._memory(pid, usage)
        self.peak_mb = max(self.peak_mb, memory / 1024**2)
        if self.cgroup is not None and self.cgroup.killed_for_memory():
            return "memory"
        if memory > self.limits.memory_bytes:
            return "memory"
        count = self.cgroup.processes() if self.cgroup is not None else usage.tasks
        if count > self.limits.max_tasks or (
            self.cgroup is not None and self.cgroup.hit_process_limit()
        ):
            return "processes"
        if self.more is not None and (reason := self.more()) is not None:
            return reason
        now = time.monotonic()
        if now - self._disk_at >= DISK_PERIOD_S:
            self._disk_at = now
            if folder_bytes(self.writable) > self.limits.disk_bytes:
                return "disk"
        return None

    def _watch(self) -> None:
        while not self._stop.wait(WATCHDOG_PERIOD_S):
            pid = self.kernel_pid()
            reason = self.check(pid) if pid is not None else None
            if reason is None and self.remaining_s() <= 0:
                reason = "timeout"
            if reason is not None:
                self.reason = reason
                if pid is not None:
                    self.kill(pid)
                return

    def kill(self, pid: int) -> None:
        """Kill the kernel's whole tree (and its cgroup's processes)."""
        if self.cgroup is not None:
            self.cgroup.kill()
        processes.kill_tree(pid)

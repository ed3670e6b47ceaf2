"""Process trees: who belongs to one, how much memory and CPU it uses, and killing it; what
/proc says of a process's namespaces and mounts.

One home for what the grading run's watchdog, its confinement report and the benchmark measure.
`tree_rss_bytes` is resident memory (what the benchmark reports);
`tree_memory` is what a grading kernel is charged: the proportional share
of every page its processes map (PSS, shared memory included) plus the
shared memory they hold without mapping it (memfds, deleted files in a
memory file system), which RSS alone does not see.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass

import psutil

# Links in /proc/PID/fd that name memory, not a file on a disk.
MEMORY_FD_PREFIXES: tuple[str, ...] = ("/memfd:", "/dev/shm/", "/SYSV")
# Never look at more open files than this per process (a kernel with more is over its limits).
MAX_FDS_PER_PROCESS = 4096


def family(pid: int) -> list[psutil.Process]:
    """The process `pid` and all its descendants (empty once it is gone)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


@dataclass(frozen=True)
class Mount:
    """One line of /proc/PID/mountinfo: where, with which options, of which file system type."""

    point: str  # as the process sees it, octal escapes (\\040 for a space) decoded
    options: tuple[str, ...]
    fstype: str


def mounts(pid: int) -> list[Mount]:
    """The process's mount table, read from /proc (which it cannot forge); empty once it is gone."""
    try:
        with open(f"/proc/{pid}/mountinfo", encoding="latin-1") as table:
            lines = table.read(1 << 20).splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) < 7 or "-" not in fields[6:]:
            continue
        separator = fields.index("-", 6)
        point = fields[4].encode("latin-1").decode("unicode_escape")
        fstype = fields[separator + 1] if separator + 1 < len(fields) else ""
        found.append(Mount(point, tuple(fields[5].split(",")), fstype))
    return found


def in_own_namespace(pid: int, kind: str) -> bool:
    """Whether `pid` has a `kind` namespace ("mnt", "ipc", "user"...) other than this process's.

    False once it is gone. A sandbox's first process starts in the grader's
    namespaces and enters its own a moment later: until then, what is read
    through it is the host's.
    """
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}") != os.readlink(f"/proc/self/ns/{kind}")
    except OSError:
        return False


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, in bytes (0 once gone)."""
    total = 0
    for member in family(pid):
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass  # a process that ended between listing and reading
    return total


def tree_cpu_s(members: Iterable[psutil.Process]) -> float:
    """CPU time (user + system, seconds) of `members`."""
    total = 0.0
    for member in members:
        try:
            times = member.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def pss_bytes(pid: int) -> int:
    """Proportional set size of one process (its share of every page it maps), 0 when unreadable."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:  # not Linux, or a kernel without smaps_rollup
        return psutil.Process(pid).memory_info().rss
    except psutil.Error:
        return 0


def held_memory_objects(pid: int) -> dict[tuple[int, int], int]:
    """Shared-memory objects the process holds open ((device, inode) -> bytes allocated).

    A memfd or a deleted /dev/shm file that is written but not mapped uses
    memory that no process's RSS or PSS shows.
    """
    objects: dict[tuple[int, int], int] = {}
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)[:MAX_FDS_PER_PROCESS]
    except OSError:
        return objects
    for name in names:
        try:
            target = os.readlink(f"{folder}/{name}")
            if not target.startswith(MEMORY_FD_PREFIXES):
                continue
            info = os.stat(f"{folder}/{name}")
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            objects[(info.st_dev, info.st_ino)] = info.st_blocks * 512
    return objects


@dataclass
class TreeUsage:
    """What a process tree uses now."""

    memory_bytes: int = 0  # PSS of every member plus the memory objects they hold
    cpu_s: float = 0.0
    tasks: int = 0  # processes and their threads, as a cgroup's pids.max counts them


def tree_memory(pid: int) -> TreeUsage:
    """Memory charged to the tree under `pid` (PSS + held shared memory), CPU time, tasks.

    Memory mapped AND held open is counted twice: the figure errs high, never low.
    """
    members = family(pid)
    objects: dict[tuple[int, int], int] = {}
    memory = tasks = 0
    for member in members:
        memory += pss_bytes(member.pid)
        objects.update(held_memory_objects(member.pid))
        try:
            tasks += member.num_threads()
        except psutil.Error:
            pass
    return TreeUsage(memory + sum(objects.values()), tree_cpu_s(members), tasks)


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (children first collected, then all killed)."""
    members = family(pid)
    for member in members:
        try:
            member.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(members, timeout=5)

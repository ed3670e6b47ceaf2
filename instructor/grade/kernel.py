"""One graded kernel, owned from start to kill: its sandbox, confinement, limits, client and report.

    with GradedKernel(options, name="01_submission.ipynb") as kernel:
        run = kernel.run(notebook)       # a KernelRun: why it stopped, cell errors, the evidence

`GradedKernel` makes the sandbox, starts the kernel under bubblewrap (or
unconfined with `--isolation off`), inside its cgroup where one is
delegated, runs the notebook's cells through nbclient under the watchdog,
measures the confinement from outside (the kernel's /proc status and mount
table, which it cannot forge), kills the whole tree, copies the evidence out
as regular files only (`EVIDENCE_COPY`: two levels deep, size-capped) into
the judge's inbox, and on exit removes that copy, the cgroup and the
sandbox. The notebook-level code (notebook_run) only asks it for a run and
has the copy judged.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import zmq
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from helpers import config
from instructor import processes
from instructor.grade import bwrap, confine, limits, safe_files
from instructor.grade.sandbox import Sandbox, kernel_environment, weight_files

# nbclient's own per-cell limit, a backstop behind the watchdog's whole-notebook limit.
CELL_TIMEOUT_MARGIN_S = 30
# A message larger than this from the kernel drops that connection (nbclient goes on without it).
MAX_MESSAGE_BYTES = 32 * 1024**2
# Error names and messages kept per cell (the rest of what a kernel prints is dropped).
MAX_ERROR_NAME, MAX_ERROR_TEXT = 200, 1000
NAMESPACES: tuple[str, ...] = ("user", "pid", "net", "ipc", "uts", "mnt")
# Mounts a confined kernel may write besides its folder and sockets: the empty tmpfs bwrap gives it.
EXPECTED_WRITABLE: tuple[str, ...] = ("/tmp", "/run", "/dev/shm", bwrap.SANDBOX_HOME, "/proc")
# What is copied out of a dead kernel's evidence folder: <exercise>/<file>, two levels deep; a file
# as large as a model may be, all of them within EVIDENCE_MAX_TOTAL_BYTES.
EVIDENCE_COPY = safe_files.CopyLimits(
    max_files=64,
    max_file_bytes=config.EVIDENCE_MAX_MODEL_BYTES,
    max_total_bytes=config.EVIDENCE_MAX_TOTAL_BYTES,
    max_depth=2,
)


@dataclass(frozen=True)
class KernelOptions:
    """How every kernel of a grading run is started and limited."""

    limits: limits.Limits
    confined: bool
    weights_dir: Path | None = None
    artifacts: Path | None = None  # the phase-1 stand-in to copy in
    pass_env: dict[str, str] = field(default_factory=dict)
    # Where the trusted copy of the evidence goes (the judge's inbox); else the sandbox's trusted/.
    evidence_inbox: Path | None = None


@dataclass
class KernelRun:
    """What one run gave. `evidence` (trusted copy) lives until the GradedKernel is closed."""

    problem: str | None = None
    cell_errors: dict[int, str] = field(default_factory=dict)  # cell index -> "Name: message"
    evidence: Path | None = None
    confinement: str = ""
    cpu_s: float = 0.0
    peak_mb: float = 0.0
    evidence_skipped: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def cgroups() -> limits.Cgroups | None:
    """This process's delegated cgroup v2 parent, found once (None: the watchdog counts)."""
    return limits.Cgroups.find()


class ConfinedKernelManager(AsyncKernelManager):
    """A `python3` kernel started by our own command line (the launcher, bwrap, `python -I`).

    Asynchronous, as nbclient expects: with a blocking client, waiting for a
    message would stall nbclient's loop, and a killed kernel would never be noticed.
    """

    command_for: Any = None  # (connection file) -> the full command line

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return list(self.command_for(self.connection_file))

    def client(self, **kwargs: Any) -> Any:
        """A client whose sockets drop any message over MAX_MESSAGE_BYTES."""
        self.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        client = super().client(**kwargs)
        client.context.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
        return client


class DisconnectMonitor:
    """Notices when a kernel's shell or iopub connection drops (a message over MAX_MESSAGE_BYTES).

    zmq drops a peer that sends more than MAXMSGSIZE; nbclient would then
    wait for a reply that never comes until the deadline. The watchdog polls
    this instead and kills the kernel at once. Monitor sockets are created in
    the client's thread and read only by the watchdog's.
    """

    def __init__(self, kernel_client: Any) -> None:
        self.finished = False  # set before the kernel is shut down on purpose
        self._lock = threading.Lock()
        self._sockets: list[Any] = []
        self._pairs: list[zmq.Socket] = []
        for channel in (kernel_client.shell_channel, kernel_client.iopub_channel):
            socket = channel.socket
            context = zmq.Context.shadow(socket.context.underlying)  # inproc needs the same context
            address = f"inproc://alpaca-grade-monitor-{id(self)}-{id(socket)}"
            socket.monitor(address, zmq.EVENT_DISCONNECTED)
            pair = context.socket(zmq.PAIR)
            pair.connect(address)
            self._sockets.append(socket)
            self._pairs.append(pair)

    def disconnected(self) -> bool:
        """Whether a monitored connection dropped since the last look (never once closed)."""
        dropped = False
        with self._lock:
            for pair in self._pairs:
                try:
                    while pair.poll(0):
                        pair.recv_multipart(zmq.NOBLOCK)
                        dropped = True
                except zmq.ZMQError:
                    pass
            return dropped and not self.finished

    def close(self) -> None:
        """Stop watching, before the client's zmq context ends: its `term()` waits for these sockets."""
        with self._lock:
            self.finished = True
            for socket in self._sockets:
                try:
                    socket.disable_monitor()
                except zmq.ZMQError:
                    pass
            for pair in self._pairs:
                pair.close(linger=0)
            self._pairs, self._sockets = [], []


class _GradingClient(NotebookClient):
    """Keeps only each cell's first error of everything a kernel sends, and no comm or widget state.

    Verdicts come from the evidence, so printed output is not needed; a
    notebook printing or opening comms without end must not fill the
    worker's memory.
    """

    on_connected: Any = None
    on_finished: Any = None

    async def async_start_new_kernel_client(self) -> Any:
        client = await super().async_start_new_kernel_client()
        if self.on_connected is not None:
            self.on_connected(client)
        return client

    async def _async_cleanup_kernel(self) -> None:
        if self.on_finished is not None:
            self.on_finished()
        await super()._async_cleanup_kernel()

    def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
        return None

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> object:
        if msg.get("msg_type") != "error" or outs:
            return None
        content = msg.get("content", {})
        msg = {
            **msg,
            "content": {
                "ename": str(content.get("ename", ""))[:MAX_ERROR_NAME],
                "evalue": str(content.get("evalue", ""))[:MAX_ERROR_TEXT],
                "traceback": [],
            },
        }
        return super().output(outs, msg, display_id, cell_index)


def _kernel_pid(manager: AsyncKernelManager) -> int | None:
    """The pid of the process the kernel manager started (the launcher), once it has one."""
    process = getattr(manager.provisioner, "process", None) if manager.provisioner else None
    return getattr(process, "pid", None)


def _status_fields(pid: int) -> dict[str, str]:
    fields = {}
    text = safe_files.read_text(f"/proc/{pid}/status", 1 << 16) or ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def _writable_mounts(pid: int) -> list[str]:
    """The mount points the process sees as writable (from its mountinfo, which it cannot forge)."""
    return [mount.point for mount in processes.mounts(pid) if "rw" in mount.options]


def measure_confinement(launcher_pid: int, allowed: list[str]) -> str:
    """How the kernel under `launcher_pid` is confined, measured from outside: one line."""
    members = processes.family(launcher_pid)[1:]  # the launcher itself stays outside
    if not members:
        return "confinement not measured (the kernel was gone)"
    pid = members[-1].pid
    status = _status_fields(pid)
    shared = [name for name in NAMESPACES if not processes.in_own_namespace(pid, name)]
    writable = [
        point
        for point in _writable_mounts(pid)
        if point not in allowed
        and point not in EXPECTED_WRITABLE
        and not point.startswith(("/dev/", "/proc/"))  # device nodes, the terminal, /proc itself
    ]
    problems = []
    if status.get("CapEff", "").strip("0"):
        problems.append(f"capabilities {status.get('CapEff')}")
    if status.get("NoNewPrivs") != "1":
        problems.append("no_new_privs not set")
    if shared:
        problems.append("shares the " + "/".join(shared) + " namespace(s)")
    if writable:
        problems.append("writable: " + ", ".join(writable[:5]))
    if problems:
        return "bwrap, NOT CONFINED AS EXPECTED: " + "; ".join(problems)
    return "bwrap: own user/pid/net/ipc/uts/mount namespaces, no capabilities, no_new_privs, writes only its folder"


def stopped_because(error: BaseException | None, reason: str | None, limit: limits.Limits) -> str:
    """A short, learner-independent explanation of why a notebook did not run to its end."""
    if reason == "timeout":
        return f"timeout after {limit.timeout_s:.0f} s"
    if reason == "memory":
        return f"kernel killed: memory above {limit.memory_mb:.0f} MB"
    if reason == "processes":
        return f"kernel killed: more than {limit.max_tasks} processes and threads"
    if reason == "disk":
        return f"kernel killed: its folder above {limit.disk_mb:.0f} MB"
    if reason == "message":
        return f"kernel killed: a message above {MAX_MESSAGE_BYTES // 1024**2} MB"
    name = type(error).__name__
    if name == "DeadKernelError":
        return "kernel died"
    if name == "CellTimeoutError":
        return f"timeout after {limit.timeout_s:.0f} s"
    if "didn't respond" in str(error) or "did not respond" in str(error):
        return "kernel did not start"
    return f"could not run ({name})"


class GradedKernel:
    """Owns one graded kernel's life (see the module docstring). Use as a context manager."""

    def __init__(self, options: KernelOptions, name: str) -> None:
        self.options = options
        self.name = name
        self.sandbox: Sandbox | None = None
        self.cgroup: limits.KernelCgroup | None = None
        self.manager: ConfinedKernelManager | None = None
        self.monitor: DisconnectMonitor | None = None
        self.confinement = ""

    def __enter__(self) -> GradedKernel:
        self.sandbox = Sandbox.create(self.options.artifacts)
        if not self.options.confined:
            self.sandbox.seed_weights(self.options.weights_dir)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._kill()
        if self.monitor is not None:
            self.monitor.close()
        if self.cgroup is not None:
            self.cgroup.remove()
        if self.sandbox is not None:
            if self.options.evidence_inbox is not None:
                shutil.rmtree(self._trusted_folder(), ignore_errors=True)
            self.sandbox.remove()

    def _trusted_folder(self) -> Path:
        """Where this kernel's evidence is copied once it is dead (a folder of its own)."""
        assert self.sandbox is not None
        inbox = self.options.evidence_inbox
        return self.sandbox.trusted if inbox is None else inbox / self.sandbox.root.name

    # --- the command line -------------------------------------------------

    def _command(self, connection_file: str) -> list[str]:
        """Launcher, then bwrap (when confined), then the kernel, with `python -I`."""
        box = self.sandbox
        assert box is not None
        kernel = [sys.executable, "-I", "-m", "ipykernel_launcher", "-f", connection_file]
        launcher = [sys.executable, "-I", "-S", confine.__file__]
        launcher += ["--fsize", str(self.options.limits.disk_bytes)]
        if self.cgroup is not None:
            launcher += ["--cgroup", str(self.cgroup.folder)]
        if not self.options.confined:
            return [*launcher, "--", *kernel]
        mounts = bwrap.KernelMounts(
            work=box.work,
            control=box.control,
            sockets=box.sockets,
            read_only=bwrap.course_paths(),
            home_files={
                f".keras/models/{name}": path
                for name, path in weight_files(self.options.weights_dir).items()
            },
        )
        binary = bwrap.binary()
        assert binary is not None
        return [*launcher, "--", *bwrap.command(binary, mounts, kernel)]

    def _manager(self) -> ConfinedKernelManager:
        box = self.sandbox
        assert box is not None
        options: dict[str, Any] = {
            "kernel_name": config.NOTEBOOK_KERNELSPEC["name"],
            "connection_file": str(box.connection_file),
        }
        if self.options.confined:  # no network inside: Unix sockets in a folder of its own
            options.update(transport="ipc", ip=str(box.sockets / "k"))
        manager = ConfinedKernelManager(**options)
        manager.command_for = self._command
        return manager

    # --- the run ------------------------------------------------------------

    def _on_connected(self, kernel_client: Any) -> None:
        """Once the grader is connected: watch the connections, measure the confinement, move the sockets."""
        box, manager = self.sandbox, self.manager
        assert box is not None and manager is not None
        self.monitor = DisconnectMonitor(kernel_client)
        pid = _kernel_pid(manager)
        if not self.options.confined:
            self.confinement = "none (--isolation off)"
        elif pid is not None:
            self.confinement = measure_confinement(pid, [str(box.work), str(box.sockets)])
        if self.options.confined:
            # The kernel can replace its socket files with links to any socket; the grader's
            # reconnects then find nothing at the old path instead of following them.
            os.rename(box.sockets, box.root / "sockets.connected")

    def run(self, notebook: nbformat.NotebookNode) -> KernelRun:
        """Run `notebook`'s cells (those not tagged skip-execution) in a new confined kernel."""
        box = self.sandbox
        assert box is not None, "use GradedKernel as a context manager"
        limit = self.options.limits
        (box.work / self.name).write_text(nbformat.writes(notebook), encoding="utf-8")
        if cgroups() is not None:
            self.cgroup = cgroups().create(limit)
        self.manager = self._manager()
        client = _GradingClient(
            notebook,
            km=self.manager,
            allow_errors=True,
            skip_cells_with_tag="skip-execution",
            timeout=int(limit.timeout_s + CELL_TIMEOUT_MARGIN_S),
            startup_timeout=int(limit.timeout_s),
            record_timing=True,
            shutdown_kernel="immediate",  # it is killed below anyway
        )
        client.on_connected = self._on_connected
        client.on_finished = self._on_finished
        environment = kernel_environment(
            box, self.name, self.options.confined, self.options.pass_env
        )
        outcome = KernelRun()
        manager = self.manager
        with limits.Watchdog(
            lambda: _kernel_pid(manager), limit, box.work, self.cgroup, self._message_too_large
        ) as watchdog:
            try:
                client.execute(
                    cleanup_kc=True,
                    env=environment,
                    cwd=str(box.work),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,  # the kernel's own chatter
                )
            except Exception as error:  # the notebook did not run to its end
                outcome.problem = stopped_because(error, self._reason(watchdog), limit)
            finally:
                self._on_finished()
                self._kill()
        if outcome.problem is None and self._reason(watchdog) is not None:
            outcome.problem = stopped_because(None, self._reason(watchdog), limit)
        outcome.cell_errors = {
            index: f"{output.get('ename', '')}: {output.get('evalue', '')}"
            for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if output.get("output_type") == "error"
        }
        outcome.confinement = self.confinement or (
            "bwrap (not measured: the kernel did not start)"
            if self.options.confined
            else "none (--isolation off)"
        )
        outcome.cpu_s, outcome.peak_mb = watchdog.cpu_s, watchdog.peak_mb
        trusted = self._trusted_folder() / "evidence"
        copied = safe_files.copy_out(
            box.evidence.relative_to(box.work), trusted, EVIDENCE_COPY, under=box.work
        )
        outcome.evidence, outcome.evidence_skipped = trusted, copied.skipped
        return outcome

    def _on_finished(self) -> None:
        """The cells are done (or given up): from now on a dropped connection is expected."""
        if self.monitor is not None:
            self.monitor.close()

    def _message_too_large(self) -> str | None:
        """For the watchdog: "message" when a connection dropped while the cells still ran."""
        return "message" if self.monitor is not None and self.monitor.disconnected() else None

    def _reason(self, watchdog: limits.Watchdog) -> str | None:
        if watchdog.reason is None and self.cgroup is not None:
            if self.cgroup.killed_for_memory():
                return "memory"
            if self.cgroup.hit_process_limit():
                return "processes"
        return watchdog.reason

    def _kill(self) -> None:
        """Kill the kernel's whole tree, whatever state it is in (idempotent)."""
        manager = self.manager
        if manager is None:
            return
        pid = _kernel_pid(manager)
        if self.cgroup is not None:
            self.cgroup.kill()
        if pid is not None:
            processes.kill_tree(pid)
        try:
            if manager.has_kernel:
                run_sync(manager.shutdown_kernel)(now=True)  # also removes its connection file
        except Exception:
            pass

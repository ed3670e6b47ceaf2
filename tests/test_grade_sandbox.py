"""The grading sandbox's parts, each on its own (fast): bwrap's command line and a confined process,
the safe reader, limits and their accounting, cgroup v2 set-up (on a fake tree), malformed notebooks,
control characters, the feedback template. The hostile class itself runs in test_grade_class.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from helpers import config
from instructor import processes
from instructor.grade import bwrap, confine, feedback, kernel, limits, notebook_run, safe_files
from instructor.grade.results import (
    ExerciseInfo,
    ExerciseResult,
    LearnerResult,
    one_line,
    printable,
)
from instructor.grade.sandbox import OWNER_FILE, SANDBOX_PREFIX, JudgeFolder, Sandbox

needs_bwrap = pytest.mark.skipif(
    bwrap.probe() is not None, reason=f"no bwrap here: {bwrap.probe()}"
)


# --- reading what a kernel touched ----------------------------------------------------


def finishes_within(seconds: float, function, *args):
    """Run `function(*args)` in a thread; its result, or fail when it blocks longer than `seconds`."""
    box: dict[str, object] = {}

    def call() -> None:
        try:
            box["value"] = function(*args)
        except BaseException as error:  # noqa: BLE001 - handed back to the test
            box["error"] = error

    worker = threading.Thread(target=call, daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"{function.__name__} blocked"
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box.get("value")


def test_the_safe_reader_reads_regular_files_only_and_never_blocks(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"12345")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "link").symlink_to(tmp_path / "file")
    assert safe_files.read_regular(tmp_path / "file", 5) == b"12345"
    with pytest.raises(safe_files.UnsafeFile):
        safe_files.read_regular(tmp_path / "file", 4)  # over the cap
    with pytest.raises(safe_files.UnsafeFile):  # a plain open blocks here
        finishes_within(5, safe_files.read_regular, tmp_path / "fifo", 100)
    with pytest.raises(OSError):
        safe_files.read_regular(tmp_path / "link", 100)  # O_NOFOLLOW
    assert safe_files.read_text(tmp_path / "fifo", 100) is None


def test_copy_out_copies_files_and_leaves_links_fifos_and_excess_behind(tmp_path: Path) -> None:
    source = tmp_path / "evidence"
    (source / "models").mkdir(parents=True)
    (source / "verdicts.jsonl").write_text("{}\n")
    (source / "models" / "m.keras").write_bytes(b"x" * 100)
    (source / "big").write_bytes(b"x" * 1000)
    os.mkfifo(source / "fifo")
    (source / "link").symlink_to("/etc/hostname")
    (source / "dirlink").symlink_to(tmp_path)
    deep = source
    for level in range(5):
        deep = deep / f"d{level}"
    deep.mkdir(parents=True)
    (deep / "deep.txt").write_text("deep")
    limits_ = safe_files.CopyLimits(max_file_bytes=500, max_depth=4)
    report = finishes_within(10, safe_files.copy_out, source, tmp_path / "trusted", limits_)
    assert sorted(report.copied) == ["models/m.keras", "verdicts.jsonl"]
    assert {entry.split(":")[0] for entry in report.skipped} >= {"big", "fifo", "link", "dirlink"}
    copied = sorted(
        str(p.relative_to(tmp_path / "trusted")) for p in (tmp_path / "trusted").rglob("*")
    )
    assert "link" not in copied and "fifo" not in copied and "dirlink" not in copied
    assert not any(part.startswith("d3") for part in copied)
    # A link in place of the whole folder is not followed either.
    (tmp_path / "evil").symlink_to(source)
    assert safe_files.copy_out(tmp_path / "evil", tmp_path / "trusted2").copied == []


def test_the_evidence_is_copied_from_the_kernels_folder_never_through_a_link(
    tmp_path: Path,
) -> None:
    """The kernel owns its folder: it can put a link where `.grading` was; the copy refuses it."""
    elsewhere = tmp_path / "elsewhere" / "evidence" / "datasets"  # a folder of the grader's
    elsewhere.mkdir(parents=True)
    (elsewhere / "facts.json").write_text("{}")
    work = tmp_path / "work"
    (work / ".grading" / "evidence" / "datasets").mkdir(parents=True)
    (work / ".grading" / "evidence" / "datasets" / "facts.json").write_text('{"own": 1}')
    report = safe_files.copy_out(
        Path(".grading/evidence"), tmp_path / "t1", kernel.EVIDENCE_COPY, under=work
    )
    assert report.copied == ["datasets/facts.json"]
    (work / ".grading").rename(work / "moved")
    (work / ".grading").symlink_to(tmp_path / "elsewhere")
    report = safe_files.copy_out(
        Path(".grading/evidence"), tmp_path / "t2", kernel.EVIDENCE_COPY, under=work
    )
    assert report.copied == [] and [entry[:3] for entry in report.skipped] == [".: "]
    assert list((tmp_path / "t2").iterdir()) == []


def test_the_evidence_copy_keeps_two_levels_and_a_total_cap(tmp_path: Path) -> None:
    source = tmp_path / "evidence"
    (source / "datasets" / "deeper").mkdir(parents=True)
    (source / "datasets" / "facts.json").write_text("{}")
    (source / "datasets" / "deeper" / "x.json").write_text("{}")
    assert kernel.EVIDENCE_COPY.max_total_bytes == config.EVIDENCE_MAX_TOTAL_BYTES
    report = safe_files.copy_out(source, tmp_path / "trusted", kernel.EVIDENCE_COPY)
    assert report.copied == ["datasets/facts.json"]
    assert report.skipped == ["datasets/deeper/: deeper than 2"]


def test_the_sweep_never_blocks_on_what_a_kernel_planted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fifo_box, link_box = tmp_path / f"{SANDBOX_PREFIX}fifo", tmp_path / f"{SANDBOX_PREFIX}link"
    for box in (fifo_box, link_box):
        box.mkdir()
    os.mkfifo(fifo_box / OWNER_FILE)
    (link_box / OWNER_FILE).symlink_to("/dev/zero")
    assert finishes_within(10, Sandbox.sweep) == 0
    assert fifo_box.exists() and link_box.exists()  # not recognisably ours: left alone


# --- what is printed and stored -------------------------------------------------------


def test_control_characters_never_reach_the_terminal_or_the_csv() -> None:
    hostile = "ann\x1b[2J\x1b]0;owned\x07\u202eevil\rbo"
    assert "\x1b" not in printable(hostile) and "\u202e" not in printable(hostile)
    assert "\r" not in printable(hostile) and "\x07" not in printable(hostile)
    assert printable("plain text\nline two") == "plain text\nline two"
    assert "\x1b" not in one_line(hostile) and "\u202e" not in one_line(hostile)


# --- malformed notebooks ------------------------------------------------------------


def notebook_bytes(change) -> bytes:
    document = json.loads(
        nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]))
    )
    change(document)
    return json.dumps(document).encode()


def nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda d: d["cells"][0]["metadata"].update(tags=5), "tags are not a list"),
        (lambda d: d["cells"][0]["metadata"].update(tags=["ok", 5]), "tags are not a list"),
        (lambda d: d["cells"][0].update(metadata=[]), "metadata is not an object"),
        (lambda d: d["cells"][0].update(source=7), "without source"),
        (lambda d: d["cells"].append(5), "not an object"),
        (lambda d: d["cells"][0]["metadata"].update(deep=nested(200)), "nested more than"),
        (lambda d: d.update(cells={"a": 1}), "not a notebook"),
    ],
)
def test_malformed_notebooks_are_that_notebooks_problem(change, problem: str) -> None:
    notebook, why = notebook_run.parse_notebook(notebook_bytes(change))
    assert notebook is None and problem in why


def test_json_nested_past_the_parsers_stack_is_a_problem_not_a_crash() -> None:
    data = b"[" * 200_000 + b"]" * 200_000
    assert notebook_run.parse_notebook(data) == (None, "not a notebook (not JSON)")


# --- the feedback page ----------------------------------------------------------------


EXERCISES = [
    ExerciseInfo("datasets", "01", "Datasets"),
    ExerciseInfo("augmenter", "02", "Augmenter"),
]


def test_the_feedback_template_escapes_caps_and_keeps_the_policy(tmp_path: Path) -> None:
    from helpers import verdicts

    result = LearnerResult(
        '<b onmouseover="x">ann</b>',
        {
            "datasets": ExerciseResult("passed", ["`ok` <script>alert(1)</script>"]),
            "augmenter": ExerciseResult("failed", ["y" * 500_000]),
        },
        problems=["02: <img src=x>"],
    )
    page = feedback.write_page(tmp_path, result, EXERCISES).read_text()
    assert "default-src 'none'" in page
    assert "<script>" not in page and "<img" not in page and "<b onmouseover" not in page
    assert "<code>ok</code>" in page  # the graders' markup survives escaping
    assert verdicts.HEADLINES["passed"][0] in page and verdicts.GRADING_LABELS["failed"][0] in page
    assert len(page) < feedback.MAX_PAGE_MESSAGE_CHARS + 10_000
    assert "shortened" in page


# --- nbclient keeps no comm or widget state ---------------------------------------------


def test_the_grading_client_keeps_no_comm_state() -> None:
    client = kernel._GradingClient(nbformat.v4.new_notebook())
    message = {
        "msg_type": "comm_open",
        "content": {
            "comm_id": "c1",
            "target_name": "jupyter.widget",
            "data": {"state": {"value": "x" * 1000}, "buffer_paths": []},
        },
        "buffers": [],
    }
    client.handle_comm_msg([], message, 0)
    assert client.widget_state == {} and client.comm_objects == {}


# --- memory accounting, limits, the launcher --------------------------------------------

HOLD_MEMFD = (
    "import os, sys, time\n"
    "fd = os.memfd_create('held')\n"
    "os.write(fd, b'x' * 64 * 1024**2)\n"
    "print('ready', flush=True)\n"
    "time.sleep(30)\n"
)


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memfds are Linux's")
def test_memory_held_in_a_memfd_is_charged_though_rss_does_not_show_it() -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_MEMFD], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        usage = processes.tree_memory(holder.pid)
        rss = processes.tree_rss_bytes(holder.pid)
        assert usage.memory_bytes - rss > 50 * 1024**2
        assert usage.tasks >= 1
    finally:
        processes.kill_tree(holder.pid)
    assert holder.poll() is not None


def test_the_launcher_caps_file_size_and_refuses_bad_arguments(tmp_path: Path) -> None:
    launcher = [sys.executable, "-I", "-S", confine.__file__]
    write = f"open({str(tmp_path / 'big')!r}, 'wb').write(b'x' * 5000)"
    subprocess.run(
        [*launcher, "--fsize", "1000", "--", sys.executable, "-c", write], capture_output=True
    )
    assert (tmp_path / "big").stat().st_size <= 1000  # Python ignores SIGXFSZ: its write fails
    assert (
        subprocess.run([*launcher, "--bogus", "1", "--", "true"], capture_output=True).returncode
        == 2
    )
    missing = subprocess.run(
        [*launcher, "--cgroup", str(tmp_path / "none"), "--", "true"], capture_output=True
    )
    assert missing.returncode == confine.CANNOT_CONFINE  # no cgroup to join: nothing runs


def test_folder_size_counts_allocated_bytes_without_following_links(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(os.urandom(200_000))
    (tmp_path / "link").symlink_to("/usr")
    assert 200_000 <= limits.folder_bytes(tmp_path) < 400_000
    assert limits.folder_bytes(tmp_path, max_entries=1) == 1 << 62


def test_the_watchdog_kills_on_time_and_says_why(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        limit = limits.Limits(timeout_s=0.5, memory_mb=10_000, max_tasks=1000, disk_mb=100)
        with limits.Watchdog(lambda: sleeper.pid, limit, tmp_path) as watchdog:
            sleeper.wait(timeout=20)
        assert watchdog.reason == "timeout" and sleeper.returncode is not None
    finally:
        sleeper.kill()


def test_the_watchdog_kills_a_folder_over_its_disk_limit(tmp_path: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (tmp_path / "filler").write_bytes(os.urandom(3 * 1024**2))
    try:
        limit = limits.Limits(timeout_s=30, memory_mb=10_000, max_tasks=1000, disk_mb=1)
        with limits.Watchdog(lambda: sleeper.pid, limit, tmp_path) as watchdog:
            sleeper.wait(timeout=20)
        assert watchdog.reason == "disk"
    finally:
        sleeper.kill()


# --- cgroup v2, on a fake tree (this machine may have none) -----------------------------


def fake_cgroup_tree(
    tmp_path: Path, own: str, procs: list[int], controllers: str = "cpu memory pids"
):
    root = tmp_path / "cgroup"
    folder = root / own.strip("/")
    folder.mkdir(parents=True)
    (folder / "cgroup.controllers").write_text(controllers + "\n")
    (folder / "cgroup.subtree_control").write_text("\n")
    (folder / "cgroup.procs").write_text("".join(f"{pid}\n" for pid in procs))
    proc_self = tmp_path / "proc-self-cgroup"
    proc_self.write_text(f"0::{own}\n")
    return root, folder, proc_self


def test_a_delegated_cgroup_of_our_own_is_split_and_kernels_get_limited_children(
    tmp_path: Path,
) -> None:
    root, own, proc_self = fake_cgroup_tree(tmp_path, "/user.slice/grade.scope", [os.getpid()])
    cgroups = limits.Cgroups.find(root, proc_self)
    assert cgroups is not None and cgroups.parent == own
    assert (own / limits.SUPERVISOR / "cgroup.procs").read_text() == str(os.getpid())
    assert (own / "cgroup.subtree_control").read_text() == "+memory +pids"
    cgroup = cgroups.create(limits.Limits(timeout_s=1, memory_mb=100, max_tasks=64, disk_mb=1))
    assert cgroup.folder.parent == own and cgroup.folder.name.startswith(limits.KERNEL_PREFIX)
    assert (cgroup.folder / "memory.max").read_text() == str(100 * 1024**2)
    assert (cgroup.folder / "pids.max").read_text() == "64"
    assert (cgroup.folder / "memory.swap.max").read_text() == "0"
    (cgroup.folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    assert cgroup.killed_for_memory()


def test_a_worker_uses_its_parents_delegation_and_nothing_is_moved_that_is_not_ours(
    tmp_path: Path,
) -> None:
    root, supervisor, proc_self = fake_cgroup_tree(
        tmp_path, "/grade.scope/supervisor", [os.getpid()]
    )
    (supervisor.parent / "cgroup.subtree_control").write_text("cpu memory pids\n")
    assert limits.Cgroups.find(root, proc_self) == limits.Cgroups(supervisor.parent)
    # A cgroup shared with other processes (a login session) is left as it is.
    root2, shared, proc_self2 = fake_cgroup_tree(tmp_path / "b", "/session.scope", [os.getpid(), 1])
    assert limits.Cgroups.find(root2, proc_self2) is None
    assert not (shared / limits.SUPERVISOR).exists()
    # No memory controller offered: no cgroup.
    root3, _, proc_self3 = fake_cgroup_tree(tmp_path / "c", "/x.scope", [os.getpid()], "cpu")
    assert limits.Cgroups.find(root3, proc_self3) is None


# --- bubblewrap ---------------------------------------------------------------------------


def test_the_command_line_drops_everything_and_binds_only_what_grading_needs(
    tmp_path: Path,
) -> None:
    box = Sandbox.create(None)
    try:
        mounts = bwrap.KernelMounts(
            work=box.work,
            control=box.control,
            sockets=box.sockets,
            read_only=bwrap.course_paths(),
            home_files={".keras/models/w.h5": Path("/usr/bin/env")},
        )
        line = bwrap.command("bwrap", mounts, ["python", "-I"], sized=True)
        for flag in (
            *bwrap.NAMESPACE_OPTIONS,
            "--die-with-parent",
            "--new-session",
            "--disable-userns",
        ):
            assert flag in line
        assert line[line.index("--cap-drop") + 1] == "ALL"
        writable = [line[i + 2] for i, word in enumerate(line) if word == "--bind"]
        assert sorted(writable) == sorted([str(box.work), str(box.sockets)])
        read_only = [line[i + 2] for i, word in enumerate(line) if word == "--ro-bind"]
        assert (
            "/etc" not in read_only and str(Path.home()) not in read_only and "/" not in read_only
        )
        assert all(p in read_only for p in map(str, bwrap.course_paths()))
        assert line[line.index("--remount-ro") + 1] == "/"
        tmpfs = [line[i + 1] for i, word in enumerate(line) if word == "--tmpfs"]
        assert set(tmpfs) == {"/tmp", "/run", "/dev/shm", bwrap.SANDBOX_HOME}
        assert line.count("--size") == 4
        assert line[-3:] == ["--", "python", "-I"]
    finally:
        box.remove()


CONFINED_REPORT = """
import json, os, subprocess
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
attempts = {}
for command in (["mount", "-o", "remount,rw", "/usr"], ["umount", "-l", "/proc"]):
    attempts[command[0]] = subprocess.run(command, capture_output=True).returncode
writes = {}
for path in ("/usr/x", "/x", "/etc/x", os.environ["WORK"] + "/x"):
    try:
        open(path, "w").write("x"); writes[path] = True
    except OSError:
        writes[path] = False
print(json.dumps({"cap": status["CapEff"].strip(), "nnp": status["NoNewPrivs"].strip(),
    "attempts": attempts, "writes": writes, "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "home": sorted(os.listdir(os.environ["HOME"])), "etc": sorted(os.listdir("/etc"))}))
"""


@needs_bwrap
def test_a_confined_process_has_no_privilege_and_writes_only_its_folder(tmp_path: Path) -> None:
    box = Sandbox.create(None)
    try:
        mounts = bwrap.KernelMounts(work=box.work, control=box.control, sockets=box.sockets)
        line = bwrap.command(bwrap.binary(), mounts, [sys.executable, "-I", "-c", CONFINED_REPORT])
        environment = {"PATH": "/usr/bin:/bin", "HOME": bwrap.SANDBOX_HOME, "WORK": str(box.work)}
        completed = subprocess.run(
            line, capture_output=True, text=True, env=environment, timeout=60
        )
        report = json.loads(completed.stdout)
        assert report["cap"] == "0000000000000000" and report["nnp"] == "1"
        assert report["attempts"]["mount"] != 0 and report["attempts"]["umount"] != 0
        assert report["writes"] == {
            "/usr/x": False,
            "/x": False,
            "/etc/x": False,
            f"{box.work}/x": True,
        }
        assert len(report["pids"]) <= 3  # bwrap's init, python, the last `umount`'s zombie at most
        assert report["home"] == [] and "shadow" not in report["etc"] and "passwd" in report["etc"]
    finally:
        box.remove()


@needs_bwrap
def test_the_confinement_is_measured_from_outside(tmp_path: Path) -> None:
    box = Sandbox.create(None)
    try:
        mounts = bwrap.KernelMounts(work=box.work, control=box.control, sockets=box.sockets)
        line = bwrap.command(
            bwrap.binary(), mounts, [sys.executable, "-I", "-c", "import time; time.sleep(30)"]
        )
        launched = subprocess.Popen(line, env={"PATH": "/usr/bin:/bin"})
        try:
            deadline = time.monotonic() + 20
            while len(processes.family(launched.pid)) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            report = kernel.measure_confinement(launched.pid, [str(box.work), str(box.sockets)])
            assert report.startswith("bwrap: own user/pid/net/ipc/uts/mount"), report
            # Measured, not assumed: this test process itself is not confined.
            assert "NOT CONFINED" in kernel.measure_confinement(os.getppid(), [])
        finally:
            processes.kill_tree(launched.pid)
    finally:
        box.remove()


def test_a_process_outside_any_sandbox_is_charged_no_host_tmp_or_segments(tmp_path: Path) -> None:
    """The race that once killed a genuine learner: a sandbox's first process, read before it
    entered its namespaces, showed the host's /tmp (a disk) as the kernel's tmpfs."""
    host_tmp = os.statvfs(f"/proc/{os.getpid()}/root/tmp")
    assert (host_tmp.f_blocks - host_tmp.f_bfree) > 0  # what the old reading charged
    assert not processes.in_own_namespace(os.getpid(), "mnt")
    assert limits.tmpfs_bytes(os.getpid()) == 0
    assert limits.sysv_shm_bytes(os.getpid()) == 0


@needs_bwrap
def test_what_a_sandbox_writes_into_its_tmpfs_is_charged(tmp_path: Path) -> None:
    box = Sandbox.create(None)
    try:
        mounts = bwrap.KernelMounts(work=box.work, control=box.control, sockets=box.sockets)
        fill = "open('/tmp/x', 'wb').write(b'x' * (30 << 20)); print('ready', flush=True); input()"
        line = bwrap.command(bwrap.binary(), mounts, [sys.executable, "-I", "-c", fill])
        launched = subprocess.Popen(
            line, env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        try:
            assert launched.stdout.readline().strip() == b"ready"
            inside = processes.family(launched.pid)[1].pid
            assert processes.in_own_namespace(inside, "mnt")
            assert "tmpfs" in {m.fstype for m in processes.mounts(inside) if m.point == "/tmp"}
            assert 30 << 20 <= limits.tmpfs_bytes(inside) < 40 << 20
        finally:
            processes.kill_tree(launched.pid)
    finally:
        box.remove()


def judge_mounts(folder: JudgeFolder, course: Path) -> bwrap.JudgeMounts:
    return bwrap.JudgeMounts(
        read_only=[course, folder.inbox], writable=[folder.homes], scratch=Path("/tmp")
    )


def test_the_judges_command_line_drops_everything_and_writes_only_its_home(
    tmp_path: Path,
) -> None:
    folder = JudgeFolder.create()
    try:
        line = bwrap.judge_prefix("bwrap", judge_mounts(folder, config.PROJECT_ROOT), sized=True)
        for flag in (
            *bwrap.NAMESPACE_OPTIONS,
            "--die-with-parent",
            "--new-session",
            "--disable-userns",
        ):
            assert flag in line
        assert line[line.index("--cap-drop") + 1] == "ALL"
        assert [line[i + 2] for i, w in enumerate(line) if w == "--bind"] == [str(folder.homes)]
        read_only = [line[i + 2] for i, word in enumerate(line) if word == "--ro-bind"]
        assert str(config.PROJECT_ROOT) in read_only and str(folder.inbox) in read_only
        assert "/etc" not in read_only and str(Path.home()) not in read_only
        # The tmpfs comes first: the judge folder, which lies in TMPDIR, is bound on top of it.
        assert line.index("--tmpfs") < line.index(str(folder.inbox))
        assert line[line.index("--tmpfs") - 2 : line.index("--tmpfs") + 2] == [
            "--size",
            str(bwrap.JUDGE_TMPFS_BYTES),
            "--tmpfs",
            "/tmp",
        ]
        assert line[-3:] == ["--remount-ro", "/", "--"]
    finally:
        folder.remove()


JUDGE_REPORT = """
import json, os, socket, sys
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
writes = {}
for path in sys.argv[1:]:
    try:
        open(path, "w").write("x"); writes[path] = True
    except OSError:
        writes[path] = False
try:
    socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=2).close()
    network = True
except OSError:
    network = False
print(json.dumps({"cap": status["CapEff"].strip(), "nnp": status["NoNewPrivs"].strip(),
    "writes": writes, "network": network, "evidence": open(os.environ["EVIDENCE"]).read(),
    "pids": len([p for p in os.listdir("/proc") if p.isdigit()])}))
"""


@needs_bwrap
def test_the_judge_runs_confined(tmp_path: Path) -> None:
    """What the judge's prefix gives the process it starts: read-only but for its home and TMPDIR."""
    import socket

    folder = JudgeFolder.create()
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        (folder.inbox / "facts.json").write_text("evidence")
        course = tmp_path / "course"  # stands for the repository
        course.mkdir()
        targets = [
            str(course / "sitecustomize.py"),
            str(folder.inbox / "facts.json"),
            str(folder.homes / "keras.json"),
            "/tmp/scratch",
            "/usr/x",
        ]
        prefix = bwrap.judge_prefix(bwrap.binary(), judge_mounts(folder, course))
        environment = {
            "PATH": "/usr/bin:/bin",
            "PORT": str(listener.getsockname()[1]),
            "EVIDENCE": str(folder.inbox / "facts.json"),
        }
        completed = subprocess.run(
            [*prefix, sys.executable, "-I", "-c", JUDGE_REPORT, *targets],
            capture_output=True,
            text=True,
            env=environment,
            timeout=60,
        )
        report = json.loads(completed.stdout)
        assert report["cap"] == "0000000000000000" and report["nnp"] == "1"
        assert report["writes"] == {
            targets[0]: False,
            targets[1]: False,
            targets[2]: True,
            targets[3]: True,
            targets[4]: False,
        }
        assert report["network"] is False and report["evidence"] == "evidence"
        assert report["pids"] <= 2  # bwrap's init and python: no other process is visible
        assert not (course / "sitecustomize.py").exists()
        assert not Path("/tmp/scratch").exists()  # its TMPDIR was a tmpfs of its own
    finally:
        listener.close()
        folder.remove()


# --- where kernels cannot be confined ------------------------------------------------------


def test_the_run_refuses_where_kernels_cannot_be_confined(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from instructor.grade import __main__ as grade_command

    monkeypatch.setattr(bwrap, "probe", lambda: "no user namespaces\x1b[31m here")
    (tmp_path / "class" / "ann").mkdir(parents=True)
    code = grade_command.main(
        [str(tmp_path / "class"), "--out", str(tmp_path / "g.csv"), "--quiet"]
    )
    error = capsys.readouterr().err
    assert code == 2 and "Refusing to grade" in error and "--isolation off" in error
    assert "\x1b" not in error  # printed through results.printable
    assert not (tmp_path / "g.csv").exists()
    with pytest.raises(notebook_run.ConfinementUnavailable):
        notebook_run.confined("bwrap")
    assert notebook_run.confined("off") is False

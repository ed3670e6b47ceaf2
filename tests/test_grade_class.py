"""`python -m instructor.grade` on the example class: every kind of submission gets its row (slow).

ONE run (a module-scoped fixture; every check reads its result) grades the
learners of instructor/grade/examples.py on a LocalCluster of 2 workers, as an
instructor would: the masters, the untouched copies, an endless loop, a memory
hog, one hunting for an instructor's variable, one writing outside its
folder, a file that is not JSON, an empty file, nbformat 3, a learner's own
helpers/, a missing module, and the hostile class of issue 19 (remount,
umount /proc, planted code, forged evidence, a fake graders module, the
reference answer, FIFOs, memfd and SysV memory, a comm flood, a huge
message, a Unix socket and a TCP port, other learners' files, malformed
notebooks), then a genuine pass graded after them. Verdicts come from each
worker's confined judge. The test sets up what the attackers reach for (a
listening Unix socket and TCP port, the CSV, another learner's notebook, a
file outside) and checks that nothing is left behind: no file outside a
sandbox, no process, no SysV segment, no sandbox or judge folder.
"""

from __future__ import annotations

import contextlib
import csv
import html
import io
import os
import re
import socket
import subprocess
import sysconfig
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from helpers import config
from helpers.exercises import EXERCISES
from instructor.grade import __main__ as grade_command
from instructor.grade import bwrap, examples, feedback, notebook_run, submissions
from instructor.grade.sandbox import SANDBOX_PREFIX
from instructor.grade.stand_in import cache_root
from instructor.grade.tasks import GradeSettings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap.probe() is not None, reason=f"cannot confine here: {bwrap.probe()}"),
]

SECRET_NAME = "ALPACA_TEST_INSTRUCTOR_TOKEN"
SECRET_VALUE = "tok-8c1f0e5d9b7a-never-show-me"
# Per notebook. A graded notebook takes about 6 s with two graded side by side on 2 cores
# (benchmark: grade_s_per_learner, 31 s for five); 60 s leaves ten times that. The endless
# loop holds a worker this long, so each second here is about half a second of the test.
TIMEOUT_S = 60
MEMORY_MB = 1800
ONLY_01 = ("missing", "missing", "missing", "missing")
# Attackers that report what they got away with ("loot: [...]" in their error); it must be nothing.
LOOTERS = ("remount", "umount_proc", "plants_code", "unix_socket", "reads_others")
# Attackers that claim a pass they did not earn, and what their page must say instead.
FORGERS = {
    "forges_verdicts": ("the recorded verdict has status 'passed'", "Keras' safe mode"),
    "replaces_graders": ("the recorded verdict has status 'passed'",),
    "reference_answer": ("uses the course's own answer to this exercise",),
}

EXPECTED = {  # learner: (datasets, data_augmenter, alpaca_model, fine_tuning,
    # representative_dataset, status)
    "solutions": ("passed", "passed", "passed", "passed", "passed", "graded"),
    "untouched": ("not yet", "not yet", "not yet", "not yet", "not yet", "graded"),
    "endless_loop": ("error", "missing", "missing", "missing", "missing", "incomplete"),
    "memory_hog": ("error", "missing", "missing", "missing", "missing", "incomplete"),
    "reads_secret": ("failed", "missing", "missing", "missing", "missing", "graded"),
    "writes_outside": ("passed", "missing", "missing", "missing", "missing", "graded"),
    "not_json": ("error", "missing", "missing", "missing", "missing", "incomplete"),
    "empty": ("error", "missing", "missing", "missing", "missing", "incomplete"),
    "nbformat3": ("passed", "missing", "missing", "missing", "missing", "graded"),
    "own_helpers": ("not yet", "missing", "missing", "missing", "missing", "graded"),
    "missing_module": ("failed", "missing", "missing", "missing", "missing", "graded"),
    "forges_verdicts": ("failed", "failed", "missing", "missing", "missing", "graded"),
    "replaces_graders": ("failed", *ONLY_01, "graded"),
    "reference_answer": ("failed", *ONLY_01, "graded"),
    **{name: ("failed", *ONLY_01, "graded") for name in LOOTERS},
    "fifos": ("failed", *ONLY_01, "graded"),
    "memfd_hog": ("error", *ONLY_01, "incomplete"),
    "sysv_hog": ("error", *ONLY_01, "incomplete"),
    "comm_flood": ("passed", *ONLY_01, "graded"),
    "huge_message": ("error", *ONLY_01, "incomplete"),
    "bad_tags": ("error", *ONLY_01, "incomplete"),
    "deep_json": ("error", *ONLY_01, "incomplete"),
    "zz_after_attacks": ("passed", *ONLY_01, "graded"),
}
PROBLEMS = {
    "endless_loop": f"01: timeout after {TIMEOUT_S} s",
    "memory_hog": f"01: kernel killed: memory above {MEMORY_MB} MB",
    "not_json": "01: not a notebook (not JSON)",
    "empty": "01: empty file",
    "memfd_hog": f"01: kernel killed: memory above {MEMORY_MB} MB",
    "sysv_hog": f"01: kernel killed: memory above {MEMORY_MB} MB",
    "huge_message": "01: kernel killed: a message above 32 MB",
    "bad_tags": "01: not a notebook (a cell whose tags are not a list of words)",
    "deep_json": "01: not a notebook (nested more than 64 deep)",
}
# SysV segments a kernel detached are counted only where root can enter its IPC namespace.
if os.geteuid() != 0:
    EXPECTED.pop("sysv_hog")
MASTER_01 = config.course_notebooks(config.SOLUTIONS_DIR)[0]
PLANTED = (
    config.PROJECT_ROOT / "sitecustomize.py",
    config.PROJECT_ROOT / "escaped-from-sandbox.txt",
    config.PROJECT_ROOT / "helpers" / "sitecustomize.py",
    Path(sysconfig.get_paths()["purelib"]) / "sitecustomize.py",
    Path(sysconfig.get_paths()["purelib"]) / "zz_alpaca_planted.pth",
)


@contextlib.contextmanager
def instructor_secret() -> Iterator[None]:
    """The instructor's variable in this process, and a process started with it (what /proc would show)."""
    os.environ[SECRET_NAME] = SECRET_VALUE
    holder = subprocess.Popen(["sleep", "900"], env=dict(os.environ))
    try:
        yield
    finally:
        holder.kill()
        holder.wait()
        os.environ.pop(SECRET_NAME, None)


def sysv_segments() -> int:
    """SysV shared-memory segments on this machine (the host's IPC namespace)."""
    return len(Path("/proc/sysvipc/shm").read_text().splitlines()) - 1


@contextlib.contextmanager
def listening_sockets() -> Iterator[tuple[Path, int, list[bytes]]]:
    """A Unix socket under /tmp (what ssh-agent would be) and a TCP port on the loopback (what
    a local service would be), recording what every connection sends."""
    folder = Path(tempfile.mkdtemp(prefix="alpaca-listener-", dir="/tmp"))
    path, received = folder / "agent.sock", []
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(path))
    tcp = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(server: socket.socket) -> None:
        server.listen()
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                try:
                    received.append(connection.recv(1000) or b"(connected)")
                except OSError:
                    received.append(b"(connected)")

    threads = [threading.Thread(target=serve, args=(s,), daemon=True) for s in (unix, tcp)]
    for thread in threads:
        thread.start()
    try:
        yield path, tcp.getsockname()[1], received
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        unix.close()
        tcp.close()
        path.unlink(missing_ok=True)
        folder.rmdir()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Write the example class, grade it with the command line, return what it wrote."""
    root = tmp_path_factory.mktemp("grade-class")
    out, pages = root / "grades.csv", root / "feedback"
    private_tmp = root / "tmp"  # the run's sandboxes go here: what is left of them is ours to see
    private_tmp.mkdir()
    with listening_sockets() as (listener, port, received):
        targets = examples.Targets(
            outside=root / "outside" / "escaped.txt",
            other_notebook=root / "class" / "solutions" / MASTER_01.name,
            grades=out,
            listener=listener,
            tcp_port=port,
        )
        examples.write_examples(root / "class", secret_name=SECRET_NAME, targets=targets)
        arguments = [
            str(root / "class"),
            "--out",
            str(out),
            "--feedback",
            str(pages),
            "--workers",
            "2",
            "--timeout",
            str(TIMEOUT_S),
            "--memory-mb",
            str(MEMORY_MB),
            "--quiet",
        ]
        printed = io.StringIO()
        segments_before = sysv_segments()
        saved = {name: os.environ.get(name) for name in ("TMPDIR", config.ENV_GRADE_CACHE)}
        os.environ["TMPDIR"] = str(private_tmp)
        os.environ[config.ENV_GRADE_CACHE] = str(cache_root())  # the usual cache, not one in TMPDIR
        tempfile.tempdir = None
        try:
            with instructor_secret(), contextlib.redirect_stdout(printed):
                exit_code = grade_command.main(arguments)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            tempfile.tempdir = None
        received_copy = list(received)
    with open(out, newline="") as handle:
        rows = {row["learner"]: row for row in csv.DictReader(handle)}
    return {
        "rows": rows,
        "out": out,
        "pages": pages,
        "outside": targets.outside,
        "printed": printed.getvalue(),
        "exit_code": exit_code,
        "arguments": arguments,
        "root": root,
        "private_tmp": private_tmp,
        "received": received_copy,
        "segments": (segments_before, sysv_segments()),
    }


def page(graded: dict, learner: str) -> str:
    """The learner's feedback page, unescaped."""
    return html.unescape((graded["pages"] / feedback.page_name(learner)).read_text())


def test_every_learner_gets_one_row_with_the_expected_verdicts(graded: dict) -> None:
    rows = graded["rows"]
    assert graded["exit_code"] == 0
    assert set(EXPECTED) <= set(rows) and set(rows) - set(EXPECTED) <= {"sysv_hog"}
    for learner, expected in EXPECTED.items():
        row = rows[learner]
        got = (
            row["datasets"],
            row["data_augmenter"],
            row["alpaca_model"],
            row["fine_tuning"],
            row["representative_dataset"],
            row["status"],
        )
        assert got == expected, (learner, row)
        assert row["passed_count"] == str(got[:5].count("passed"))
        assert row["problem"] == PROBLEMS.get(learner, ""), (learner, row)


def test_the_columns_are_the_registrys_exercise_keys(graded: dict) -> None:
    header = graded["out"].read_text().splitlines()[0].split(",")
    assert header == ["learner", *EXERCISES, "passed_count", "status", "problem"]


def test_the_instructors_variable_never_appears_in_the_csv_or_the_feedback(graded: dict) -> None:
    assert SECRET_VALUE not in graded["out"].read_text()
    pages = list(graded["pages"].glob("*.html"))
    assert len(pages) == len(graded["rows"])
    for page in pages:
        assert SECRET_VALUE not in page.read_text()
    hunted = (graded["pages"] / feedback.page_name("reads_secret")).read_text()
    assert "leaked: " in hunted  # the learner's error reached the feedback...
    assert "[redacted]" not in hunted  # ...and confined, it found nothing to leak at all


def test_nothing_was_written_outside_the_sandbox(graded: dict) -> None:
    assert not graded["outside"].exists()
    assert not list(Path("/tmp").glob("escaped-from-sandbox.txt"))
    assert not [path for path in PLANTED if path.exists()]


@pytest.mark.parametrize("learner", LOOTERS)
def test_each_attack_got_nothing(graded: dict, learner: str) -> None:
    """remount, umount /proc, planting code, a Unix socket, other learners' files: "loot: []"."""
    found = re.findall(r"loot: (\[[^\]]*\])", page(graded, learner))
    assert found and set(found) == {"[]"}, (learner, found)


@pytest.mark.parametrize("learner", FORGERS)
def test_no_forged_pass(graded: dict, learner: str) -> None:
    """Forged evidence, a replaced graders module, the course's answer: failed, and why."""
    assert graded["rows"][learner]["datasets"] == "failed"
    text = page(graded, learner)
    for reason in FORGERS[learner]:
        assert reason in text, (learner, reason)
    assert "Passed (f" not in text  # neither "Passed (forged)" nor "Passed (fake)" reached it


def test_the_unix_socket_and_tcp_listeners_heard_nothing(graded: dict) -> None:
    assert graded["received"] == []


def test_nothing_is_left_behind(graded: dict) -> None:
    before, after = graded["segments"]
    assert after <= before  # the SysV segments died with their IPC namespace
    assert not list(graded["private_tmp"].glob(f"{SANDBOX_PREFIX}*"))
    sandboxes = str(graded["private_tmp"])
    leftovers = [
        " ".join(process.info["cmdline"])[:200]
        for process in psutil.process_iter(["cmdline"])
        if sandboxes in " ".join(process.info["cmdline"] or [])
    ]
    assert leftovers == []


def test_a_huge_message_gives_a_small_page(graded: dict) -> None:
    text = (graded["pages"] / feedback.page_name("huge_message")).read_text()
    assert len(text) < 300_000


def test_the_confinement_was_measured_from_outside(graded: dict) -> None:
    assert "isolation: bwrap: own user/pid/net/ipc/uts/mount namespaces" in graded["printed"]
    assert "NOT CONFINED" not in graded["printed"]


def test_a_learners_own_helpers_are_never_imported(graded: dict) -> None:
    page = (graded["pages"] / feedback.page_name("own_helpers")).read_text()
    assert "Not yet" in page and "Passed" not in page


def test_the_summary_is_printed_and_a_second_run_resumes_with_nothing_to_do(graded: dict) -> None:
    assert f"{len(graded['rows'])} learners:" in graded["printed"]
    assert "isolation:" in graded["printed"]
    before = graded["out"].read_text()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert grade_command.main(graded["arguments"]) == 0
    assert (
        "graded 0 learner(s)" in printed.getvalue()
        and f"{len(graded['rows'])} already in" in printed.getvalue()
    )
    assert graded["out"].read_text() == before


def test_with_isolation_off_a_leaked_variable_is_still_redacted(tmp_path: Path) -> None:
    examples.write_examples(tmp_path / "class", secret_name=SECRET_NAME, kinds=["reads_secret"])
    settings = GradeSettings(
        list(EXERCISES.values()),
        timeout_s=TIMEOUT_S,
        isolation="off",
        phase1_stand_in=False,
    )
    with instructor_secret(), submissions.opened(tmp_path / "class") as learners:
        result = notebook_run.grade_learner(learners["reads_secret"].task(), settings)
    message = " ".join(result.exercises["datasets"].messages)
    assert SECRET_VALUE not in message
    # /proc gave it away; the redactor caught it.
    assert "leaked: " in message and "[redacted]" in message

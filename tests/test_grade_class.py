"""`python -m instructor.grade` on the example class: every kind of submission gets its row (slow).

One run grades the learners of instructor/grade/examples.py (the masters, the
untouched copies, an endless loop, a memory hog, one hunting for an
instructor's variable, one writing outside its folder, a file that is not
JSON, an empty file, nbformat 3, a learner's own helpers/, a missing module)
on a LocalCluster of 2 workers, as an instructor would.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.exercises import EXERCISES
from instructor.grade import __main__ as grade_command
from instructor.grade import confine, examples, feedback, notebook_run, submissions
from instructor.grade.tasks import GradeSettings

pytestmark = pytest.mark.slow

SECRET_NAME = "ALPACA_TEST_INSTRUCTOR_TOKEN"
SECRET_VALUE = "tok-8c1f0e5d9b7a-never-show-me"
# Per notebook. A graded notebook takes 4-8 s on 2 idle cores (benchmark: grade_s_per_learner
# for five); 90 s leaves room for a loaded machine. The endless loop waits this long.
TIMEOUT_S = 90
MEMORY_MB = 1800

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
}
PROBLEMS = {
    "endless_loop": f"01: timeout after {TIMEOUT_S} s",
    "memory_hog": f"01: kernel killed: memory above {MEMORY_MB} MB",
    "not_json": "01: not a notebook (not JSON)",
    "empty": "01: empty file",
}


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


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Write the example class, grade it with the command line, return what it wrote."""
    root = tmp_path_factory.mktemp("grade-class")
    outside = root / "outside" / "escaped.txt"
    examples.write_examples(root / "class", secret_name=SECRET_NAME, outside=outside)
    out, pages = root / "grades.csv", root / "feedback"
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
    with instructor_secret(), contextlib.redirect_stdout(printed):
        exit_code = grade_command.main(arguments)
    with open(out, newline="") as handle:
        rows = {row["learner"]: row for row in csv.DictReader(handle)}
    return {
        "rows": rows,
        "out": out,
        "pages": pages,
        "outside": outside,
        "printed": printed.getvalue(),
        "exit_code": exit_code,
        "arguments": arguments,
        "root": root,
    }


def test_every_learner_gets_one_row_with_the_expected_verdicts(graded: dict) -> None:
    rows = graded["rows"]
    assert graded["exit_code"] == 0
    assert sorted(rows) == sorted(EXPECTED)
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


def test_the_columns_are_the_graders_exercise_keys(graded: dict) -> None:
    from helpers.graders import EXERCISES

    header = graded["out"].read_text().splitlines()[0].split(",")
    assert header == ["learner", *EXERCISES, "passed_count", "status", "problem"]


def test_the_instructors_variable_never_appears_in_the_csv_or_the_feedback(graded: dict) -> None:
    assert SECRET_VALUE not in graded["out"].read_text()
    pages = list(graded["pages"].glob("*.html"))
    assert len(pages) == len(EXPECTED)
    for page in pages:
        assert SECRET_VALUE not in page.read_text()
    hunted = (graded["pages"] / feedback.page_name("reads_secret")).read_text()
    assert "leaked: " in hunted  # the learner's error reached the feedback...
    if confine.namespaces_available():
        assert "[redacted]" not in hunted  # ...and with namespaces it found nothing to leak at all


def test_nothing_was_written_outside_the_sandbox(graded: dict) -> None:
    if not confine.namespaces_available():
        pytest.skip(
            "no user namespaces here: the fallback does not stop writes outside the sandbox"
        )
    assert not graded["outside"].exists()
    assert not list(Path("/tmp").glob("escaped-from-sandbox.txt"))


def test_a_learners_own_helpers_are_never_imported(graded: dict) -> None:
    page = (graded["pages"] / feedback.page_name("own_helpers")).read_text()
    assert "Not yet" in page and "Passed" not in page


def test_the_summary_is_printed_and_a_second_run_resumes_with_nothing_to_do(graded: dict) -> None:
    assert f"{len(EXPECTED)} learners:" in graded["printed"]
    assert "isolation:" in graded["printed"]
    before = graded["out"].read_text()
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert grade_command.main(graded["arguments"]) == 0
    assert (
        "graded 0 learner(s)" in printed.getvalue()
        and f"{len(EXPECTED)} already in" in printed.getvalue()
    )
    assert graded["out"].read_text() == before


def test_without_namespaces_a_leaked_variable_is_still_redacted(tmp_path: Path) -> None:
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
    assert (
        "leaked: " in message and "[redacted]" in message
    )  # /proc gave it away; the redactor caught it

"""Grading a class, the parts that need no kernel: submissions, verdicts, CSV, feedback (fast)."""

from __future__ import annotations

import csv
import os
import stat
import zipfile
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from helpers import config
from instructor import pipeline
from instructor.grade import feedback, notebook_run, submissions
from instructor.grade.results import (
    ExerciseInfo,
    ExerciseResult,
    GradeSheet,
    LearnerResult,
    Redactor,
    columns,
    one_line,
)

EXERCISES = [
    ExerciseInfo("datasets", "01", "create_datasets"),
    ExerciseInfo("fine_tuning", "05", "fine tuning"),
]


def result_for(learner: str, status: str = "passed", **extra: object) -> LearnerResult:
    exercises = {e.key: ExerciseResult(status, [f"{e.key}: {status}"]) for e in EXERCISES}
    return LearnerResult(learner, exercises, **extra)  # type: ignore[arg-type]


# --- what counts as a notebook ---


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "empty file"),
        (b"  \n", "empty file"),
        (b"this is not a notebook", "not a notebook (not JSON)"),
        (b"[1, 2]", "not a notebook"),
        (b'{"cells": 3}', "not a notebook"),
    ],
)
def test_files_that_are_not_notebooks_say_why(data: bytes, problem: str) -> None:
    notebook, why = notebook_run.parse_notebook(data)
    assert notebook is None and why is not None and why.startswith(problem)


def test_nbformat_3_is_converted_and_skip_tags_become_nbclient_tags() -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("print(1)", metadata={"tags": [config.GRADE_SKIP_TAG]}),
            nbformat.v4.new_code_cell(
                "# GRADED FUNCTION: f\ndef f(): pass", metadata={"tags": [config.GRADE_SKIP_TAG]}
            ),
            nbformat.v4.new_code_cell("graders.check_datasets(f())"),
            nbformat.v4.new_code_cell("print('after the last grader')"),
        ]
    )
    v3 = nbformat.writes(nbformat.convert(notebook, 3), version=3).encode()
    parsed, problem = notebook_run.parse_notebook(v3)
    assert problem is None and parsed is not None and parsed.nbformat == 4
    parsed, _ = notebook_run.parse_notebook(nbformat.writes(notebook).encode())
    pipeline.prepare_for_grading(parsed)
    skips = ["skip-execution" in cell.metadata["tags"] for cell in parsed.cells]
    assert skips == [
        True,
        False,
        False,
        True,
    ]  # tagged, protected despite its tag, grader, after the last grader


# --- finding learners ---


def write_notebook(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_one_folder_per_learner_any_depth_checkpoints_and_links_ignored(tmp_path: Path) -> None:
    write_notebook(tmp_path / "ann" / "01_create_dataset.ipynb")
    write_notebook(tmp_path / "ann" / "work" / "05_fine_tuning.ipynb")
    write_notebook(tmp_path / "ann" / ".ipynb_checkpoints" / "02_x-checkpoint.ipynb")
    write_notebook(tmp_path / "ann" / "notes.ipynb")
    write_notebook(tmp_path / "bo" / "02_a.ipynb")
    write_notebook(tmp_path / "bo" / "deeper" / "02_b.ipynb")
    (tmp_path / "bo" / "04_link.ipynb").symlink_to(tmp_path / "ann" / "01_create_dataset.ipynb")
    learners = submissions.find_learners(tmp_path)
    assert sorted(learners) == ["ann", "bo"]
    assert sorted(learners["ann"].files) == ["01", "05"]
    assert list(learners["bo"].files) == ["02"] and learners["bo"].files["02"].name == "02_a.ipynb"
    assert any("two files for notebook 02" in note for note in learners["bo"].notes)


def test_a_flat_lms_export_is_split_by_learner(tmp_path: Path) -> None:
    for name in [
        "jo_smith_01_create_dataset.ipynb",
        "jo_smith_05_fine_tuning.ipynb",
        "ann_2024_02_x.ipynb",
        "readme.txt",
        "01_no_learner.ipynb",
    ]:
        write_notebook(tmp_path / name)
    learners = submissions.find_learners(tmp_path)
    assert sorted(learners) == ["ann_2024", "jo_smith"]
    assert sorted(learners["jo_smith"].files) == ["01", "05"]


def make_zip(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
        if link:
            info = zipfile.ZipInfo(link)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            bundle.writestr(info, "/etc/passwd")
    return path


def test_a_zip_of_either_layout_is_unpacked_and_a_wrapper_folder_looked_into(
    tmp_path: Path,
) -> None:
    per_learner = make_zip(
        tmp_path / "a.zip", {"class/ann/01_x.ipynb": b"{}", "class/bo/02_y.ipynb": b"{}"}
    )
    with submissions.opened(per_learner) as learners:
        assert sorted(learners) == ["ann", "bo"]
        assert learners["ann"].task().notebooks["01"].data == b"{}"
    flat = make_zip(tmp_path / "b.zip", {"ann_01_x.ipynb": b"{}", "bo_04_y.ipynb": b"[]"})
    with submissions.opened(flat) as learners:
        assert sorted(learners) == ["ann", "bo"]
    single = make_zip(tmp_path / "c.zip", {"ann/01_x.ipynb": b"{}"})
    with submissions.opened(single) as learners:
        assert sorted(learners) == ["ann"]


@pytest.mark.parametrize(
    "bad_name", ["../evil_01_x.ipynb", "/tmp/evil_01_x.ipynb", "a/../../evil_01_x.ipynb"]
)
def test_zip_slip_is_refused(tmp_path: Path, bad_name: str) -> None:
    archive = make_zip(tmp_path / "evil.zip", {"ann/01_x.ipynb": b"{}", bad_name: b"{}"})
    with pytest.raises(submissions.SubmissionsError, match="unsafe path"):
        with submissions.opened(archive):
            pass
    assert not (tmp_path / "evil_01_x.ipynb").exists()


def test_links_in_a_zip_are_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "link.zip", {"ann/01_x.ipynb": b"{}"}, link="ann/02_y.ipynb")
    with pytest.raises(submissions.SubmissionsError, match="link"):
        with submissions.opened(archive):
            pass


def test_neither_folder_nor_zip_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(submissions.SubmissionsError):
        with submissions.opened(write_notebook(tmp_path / "x.txt", "hello")):
            pass


def test_too_large_a_notebook_is_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_notebook(tmp_path / "ann" / "01_x.ipynb", "x" * 100)
    monkeypatch.setattr(config, "GRADE_MAX_NOTEBOOK_BYTES", 10)
    notebook = submissions.find_learners(tmp_path)["ann"].task().notebooks["01"]
    assert notebook.data is None and "too large" in (notebook.problem or "")


# --- the CSV ---


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_columns_come_from_the_registry_given() -> None:
    assert columns(EXERCISES) == [
        "learner",
        "datasets",
        "fine_tuning",
        "passed_count",
        "status",
        "problem",
    ]


def test_the_sheet_is_complete_after_every_write_and_resumes_from_disk(tmp_path: Path) -> None:
    out = tmp_path / "grades.csv"
    sheet = GradeSheet(out, EXERCISES, min_interval_s=0)
    sheet.add(result_for("ann"))
    sheet.add(result_for("bo", "not yet", problems=["05: timeout after 300 s"]))
    sheet.add(
        result_for("cy", "error", problems=["grading failed: KilledWorker"], task_failed=True)
    )
    rows = read_csv(out)
    assert [r["learner"] for r in rows] == ["ann", "bo", "cy"]
    assert rows[0]["passed_count"] == "2" and rows[0]["status"] == "graded"
    assert rows[1]["status"] == "incomplete" and rows[1]["problem"] == "05: timeout after 300 s"
    assert rows[2]["status"] == "error"
    assert not list(tmp_path.glob(".*tmp"))

    resumed = GradeSheet(out, EXERCISES)
    assert resumed.done() == {"ann", "bo"}  # failed gradings are graded again
    resumed.add(result_for("cy"))
    resumed.flush()
    assert [r["status"] for r in read_csv(out)] == ["graded", "incomplete", "graded"]


def test_text_cannot_become_a_spreadsheet_formula_or_break_a_row() -> None:
    assert one_line('=HYPERLINK("x")').startswith("'=")
    assert one_line("a\nb\r\nc") == "a b c"
    assert len(one_line("x" * 5000)) <= 2000


def test_the_instructors_variables_are_redacted() -> None:
    redact = Redactor(
        {"TOKEN": "s3cr3t-value", "SHORT": "ab", "HOME": "/root", "LANG": "C.UTF-8"}, keep=["LANG"]
    )
    result = result_for("ann", problems=["saw s3cr3t-value"])
    result.exercises["datasets"].messages = ["leaked: s3cr3t-value in /root"]
    redact.result(result)
    assert result.exercises["datasets"].messages == ["leaked: [redacted] in /root"]
    assert result.problems == ["saw [redacted]"]


# --- feedback pages ---


def test_feedback_escapes_everything_a_learner_wrote(tmp_path: Path) -> None:
    learner = '<script>alert("x")</script>/../../evil'
    result = result_for(learner, "failed", problems=["01: <b>bold</b>"])
    result.exercises["datasets"].messages = ["Your `model` said <img src=x onerror=alert(1)>"]
    page = feedback.write_page(tmp_path / "pages", result, EXERCISES)
    assert page.parent == tmp_path / "pages" and page.name.endswith(".html")
    text = page.read_text()
    assert "<script>" not in text and "<img" not in text and "<b>bold" not in text
    assert "&lt;script&gt;" in text and "<code>model</code>" in text
    assert "Not passed" in text and "0 of 2 exercises passed" in text


def test_page_names_are_distinct_and_safe() -> None:
    names = {feedback.page_name(n) for n in ["ann", "a/n/n", "a_n_n", "..", "", "ann smith"]}
    assert len(names) == 6
    assert all("/" not in n and not n.startswith(".") for n in names)
    assert feedback.page_name("ann") == "ann.html"


def test_no_temporary_files_are_left_next_to_the_csv(tmp_path: Path) -> None:
    sheet = GradeSheet(tmp_path / "g.csv", EXERCISES, min_interval_s=3600)
    sheet.add(result_for("ann"))  # first add writes (nothing written yet)
    sheet.add(result_for("bo"))  # throttled
    assert [r["learner"] for r in read_csv(tmp_path / "g.csv")] == ["ann"]
    sheet.flush()
    assert [r["learner"] for r in read_csv(tmp_path / "g.csv")] == ["ann", "bo"]
    assert sorted(os.listdir(tmp_path)) == ["g.csv"]


def test_sandboxes_of_dead_grading_processes_are_swept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import subprocess
    import tempfile

    from instructor.grade import sandbox

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    finished = subprocess.Popen(["true"])
    finished.wait()
    orphan, live = (tmp_path / f"{sandbox.SANDBOX_PREFIX}{name}" for name in ("orphan", "live"))
    for root, owner in ((orphan, finished.pid), (live, os.getpid())):
        root.mkdir()
        (root / sandbox.OWNER_FILE).write_text(str(owner))
    (tmp_path / f"{sandbox.SANDBOX_PREFIX}cache-0").mkdir()  # not a sandbox: no owner file
    assert sandbox.Sandbox.sweep() == 1
    assert (
        not orphan.exists()
        and live.exists()
        and (tmp_path / f"{sandbox.SANDBOX_PREFIX}cache-0").exists()
    )


# --- the stand-in models a grading worker builds once and caches ---


def fake_builder(calls: list[str]):
    """Stands in for the build subprocess: writes every stand-in file, notes that it ran."""

    def run(command: list[str], **_: object) -> SimpleNamespace:
        from instructor.grade import stand_in

        calls.append(command[-1])
        for name in stand_in.STAND_IN_FILES:
            (Path(command[-1]) / name).write_text("model")
        return SimpleNamespace(returncode=0, stdout="", stderr="")

    return run


def test_the_stand_in_is_built_once_and_rebuilt_when_incomplete(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from instructor.grade import stand_in

    calls: list[str] = []
    monkeypatch.setenv(config.ENV_GRADE_CACHE, str(tmp_path / "cache"))
    monkeypatch.setattr(stand_in.subprocess, "run", fake_builder(calls))
    folder = stand_in.phase1_stand_in(None)
    assert sorted(os.listdir(folder)) == sorted(stand_in.STAND_IN_FILES)
    assert stand_in.phase1_stand_in(None) == folder and len(calls) == 1  # cached
    # What an older build (one without notebook 06's model) left behind is not reused.
    (folder / config.FINE_TUNED_MODEL_FILE).unlink()
    assert stand_in.phase1_stand_in(None) == folder and len(calls) == 2
    assert (folder / config.FINE_TUNED_MODEL_FILE).is_file()


def test_the_stand_in_cache_key_follows_the_build_script(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from instructor.grade import stand_in

    before = stand_in._cache_key(None)
    monkeypatch.setattr(stand_in, "_BUILD_SCRIPT", stand_in._BUILD_SCRIPT + "\n# changed\n")
    assert stand_in._cache_key(None) != before

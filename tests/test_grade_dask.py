"""Grading on a Dask LocalCluster: a killed worker, an interrupted run resumed (slow: real kernels).

The notebooks here are light (no TensorFlow in the kernel): each sleeps a
moment, then stores the evidence the datasets check stores for the course's
own datasets, which each worker's judge process passes. These tests exercise
the plumbing (tasks, kernels, judge, CSV) without running the graders.
"""

from __future__ import annotations

import csv
import functools
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import nbformat
import psutil
import pytest

from instructor.grade import feedback, run
from instructor.grade.results import ExerciseInfo
from instructor.grade.tasks import GradeSettings

pytestmark = pytest.mark.slow

EXERCISES = [ExerciseInfo("datasets", "01", "create_datasets")]
SETTINGS = GradeSettings(EXERCISES, timeout_s=120, memory_mb=1024, phase1_stand_in=False)


@functools.cache
def passing_datasets_facts() -> str:
    """The facts.json the datasets check stores for the course's own datasets (a pass)."""
    from helpers import evidence, reference
    from helpers.rules.datasets import DatasetFacts, DatasetsEvidence

    train, validation = reference.make_datasets()
    facts = DatasetsEvidence(DatasetFacts.of(train), DatasetFacts.of(validation)).write(None)
    record = {"format": evidence.FORMAT, "exercise": "datasets", "screened": None, "facts": facts}
    return json.dumps(record)


def light_notebook(seconds: float) -> str:
    """A notebook that sleeps, then stores passing evidence for `datasets`."""
    store = (
        "import os, pathlib\n"
        "folder = pathlib.Path(os.environ['ALPACA_EVIDENCE_DIR']) / 'datasets'\n"
        "folder.mkdir(parents=True, exist_ok=True)\n"
        f"(folder / 'facts.json').write_text({passing_datasets_facts()!r})"
    )
    return nbformat.writes(
        nbformat.v4.new_notebook(
            cells=[
                nbformat.v4.new_code_cell(f"import time\ntime.sleep({seconds})"),
                nbformat.v4.new_code_cell(store),
            ]
        )
    )


def make_class(folder: Path, learners: list[str], seconds: float) -> Path:
    for learner in learners:
        (folder / learner).mkdir(parents=True)
        (folder / learner / "01_create_dataset.ipynb").write_text(light_notebook(seconds))
    return folder


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    """A LocalCluster of 2 single-threaded worker processes, as `--workers 2` makes."""
    with run.dask_client(None, 2) as dask_client:
        dask_client.wait_for_workers(2, timeout=120)
        yield dask_client


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def test_a_worker_killed_mid_run_still_gives_every_learner_exactly_one_row(
    client, tmp_path: Path
) -> None:
    learners = [f"learner{n}" for n in range(6)]
    submissions = make_class(tmp_path / "class", learners, seconds=4)
    worker_pids = list(client.run(os.getpid).values())
    killed: dict[str, object] = {}

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for pid in worker_pids:
                kernels = descendants(pid)
                if kernels:  # this worker is running a learner's kernel right now
                    time.sleep(1)
                    killed["kernels"] = descendants(pid)
                    psutil.Process(pid).kill()
                    killed["pid"] = pid
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    report = run.grade_class(
        submissions, tmp_path / "grades.csv", SETTINGS, client=client, progress=False
    )
    killer.join()

    assert "pid" in killed, "no worker was busy to kill"
    rows = read_rows(tmp_path / "grades.csv")
    assert sorted(row["learner"] for row in rows) == learners  # exactly one row each
    assert all(row["datasets"] == "passed" and row["status"] == "graded" for row in rows), rows
    assert report.graded == len(learners)
    # The killed worker's kernels died with it (PR_SET_PDEATHSIG), no orphan keeps running.
    time.sleep(1)
    assert not [
        p for p in killed["kernels"] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    ]


def test_an_interrupted_run_leaves_a_complete_csv_and_resumes_where_it_stopped(
    client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    learners = ["ann", "bo", "cy", "di"]
    submissions = make_class(tmp_path / "class", learners, seconds=0.5)
    out = tmp_path / "grades.csv"
    written = []
    real_write_page = feedback.write_page

    def interrupt_after_two(*args: object, **kwargs: object) -> Path:
        if len(written) == 2:
            raise KeyboardInterrupt  # as Ctrl-C would, in the middle of the run
        written.append(args[1].learner)  # type: ignore[attr-defined]
        return real_write_page(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(feedback, "write_page", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        run.grade_class(
            submissions,
            out,
            SETTINGS,
            client=client,
            progress=False,
            feedback_dir=tmp_path / "pages",
        )
    first = read_rows(out)
    assert len(first) == 3  # two with pages, the third was in the CSV when Ctrl-C came
    assert sorted(os.listdir(tmp_path)) == ["class", "grades.csv", "pages"]  # no half-written file

    monkeypatch.setattr(feedback, "write_page", real_write_page)
    report = run.grade_class(submissions, out, SETTINGS, client=client, progress=False)
    assert report.skipped == 3 and report.graded == 1
    rows = read_rows(out)
    assert sorted(row["learner"] for row in rows) == learners
    assert [
        row for row in rows if row["learner"] in {r["learner"] for r in first}
    ] == first  # not graded again

    again = run.grade_class(submissions, out, SETTINGS, client=client, progress=False)
    assert again.graded == 0 and again.skipped == 4

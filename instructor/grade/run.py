"""Grade a class on Dask: one task per learner, results written as they complete.

Without `--scheduler` a `LocalCluster` of `--workers` single-threaded worker
processes runs on this machine; with `--scheduler ADDRESS` the same tasks go
to an existing Dask cluster. Either way: tasks are sent a few at a time (so
a class of thousands is never all in memory), each result replaces that
learner's row in the CSV and writes their feedback page at once, a task
whose worker died is run again by Dask on another worker (and recorded as
`error` if Dask gives up), and Ctrl-C leaves a complete CSV that a second
run resumes from.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from instructor.grade import feedback, sandbox, stand_in, submissions
from instructor.grade.results import (
    ERROR,
    ExerciseResult,
    GradeSheet,
    LearnerResult,
    Redactor,
    learner_key,
    printable,
)
from instructor.grade.tasks import GradeSettings

# Tasks in flight per worker: enough to keep every worker busy, few enough to bound memory.
TASKS_PER_WORKER = 2
# How often the loop looks for results and for tasks past their deadline.
WAIT_PERIOD_S = 1.0


@dataclass
class RunReport:
    """What a grading run did, for the summary and the benchmark."""

    sheet: GradeSheet
    graded: int = 0
    skipped: int = 0  # already in the CSV (resumed)
    seconds_per_learner: list[float] = field(default_factory=list)
    # CPU time of each learner's kernels.
    cpu_s_per_learner: list[float] = field(default_factory=list)
    peak_kernel_mb: float = 0.0  # the largest resident memory one kernel reached
    wall_s: float = 0.0
    isolation: set[str] = field(default_factory=set)

    @property
    def median_s_per_learner(self) -> float | None:
        return statistics.median(self.seconds_per_learner) if self.seconds_per_learner else None


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int) -> Iterator[Any]:
    """A client of the cluster at `scheduler`, or of a new LocalCluster with `workers` processes."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    # One thread per worker: one learner at a time each, as TensorFlow wants the cores to itself.
    # No Dask memory limit: a worker process stays small, each kernel has its own watchdog.
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            memory_limit=0,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def _failed(learner: str, settings: GradeSettings, error: BaseException) -> LearnerResult:
    """The row of a learner whose task could not run (its workers kept dying, say)."""
    message = f"grading failed: {type(error).__name__}: {error}"
    exercises = {e.key: ExerciseResult(ERROR, [message]) for e in settings.exercises}
    return LearnerResult(learner, exercises, problems=[message], task_failed=True)


def _worker_count(client: Any) -> int:
    """How many workers the cluster has now (at least 1)."""
    try:
        return max(1, len(client.scheduler_info()["workers"]))
    except Exception:
        return 1


def _record(
    report: RunReport, result: LearnerResult, settings: GradeSettings, feedback_dir: Path | None
) -> None:
    """One learner's result into the CSV, their feedback page and the report."""
    report.sheet.add(result)
    if feedback_dir is not None:
        feedback.write_page(feedback_dir, result, settings.exercises)
    report.graded += 1
    if not result.task_failed:
        report.seconds_per_learner.append(result.seconds)
        report.cpu_s_per_learner.append(result.cpu_s)
        report.peak_kernel_mb = max(report.peak_kernel_mb, result.peak_mb)
    if result.isolation:
        report.isolation.add(result.isolation)


def task_deadline_s(settings: GradeSettings) -> float:
    """How long after it was sent a learner's task is given up (it may wait for one before it)."""
    return TASKS_PER_WORKER * (settings.learner_deadline_s() + stand_in.BUILD_TIMEOUT_S)


def _gather(
    client: Any,
    todo: list[submissions.LearnerFiles],
    settings: GradeSettings,
    report: RunReport,
    feedback_dir: Path | None,
    bar: Any,
) -> None:
    """Send the tasks a window at a time, record each result as it completes, give up on late ones.

    A task past `task_deadline_s` (its worker stuck, say) is cancelled and
    recorded as `error`, graded again on resume: the run always ends.
    """
    from dask.distributed import wait

    from instructor.grade.notebook_run import grade_learner

    redact = Redactor(dict(os.environ))
    pending = iter(todo)
    in_flight: dict[str, tuple[Any, str, float]] = {}  # future key -> (future, learner, sent at)
    deadline_s = task_deadline_s(settings)

    def submit_next() -> None:
        files = next(pending, None)
        if files is not None:
            future = client.submit(
                grade_learner,
                files.task(),
                settings,
                pure=False,
                key=f"grade-learner-{time.time_ns()}-{len(in_flight)}",
            )
            in_flight[future.key] = (future, files.learner, time.monotonic())

    def finish(key: str, result: LearnerResult) -> None:
        future, learner, _ = in_flight.pop(key)
        future.release()
        _record(report, redact.result(result), settings, feedback_dir)
        bar.set_postfix_str(
            f"{printable(learner[:20])}: {result.passed_count}/{len(settings.exercises)} passed"
        )
        bar.update()
        submit_next()

    for _ in range(TASKS_PER_WORKER * _worker_count(client)):
        submit_next()
    try:
        while in_flight:
            try:
                done, _ = wait(
                    [future for future, _, _ in in_flight.values()],
                    timeout=WAIT_PERIOD_S,
                    return_when="FIRST_COMPLETED",
                )
            except TimeoutError:
                done = set()
            for future in done:
                learner = in_flight[future.key][1]
                try:
                    result = future.result()
                except Exception as error:  # Dask gave up (KilledWorker), or the task broke
                    result = _failed(learner, settings, error)
                finish(future.key, result)
            now = time.monotonic()
            for key, (future, learner, sent) in list(in_flight.items()):
                if now - sent > deadline_s:
                    client.cancel([future])
                    late = TimeoutError(f"no result {deadline_s:.0f} s after it was sent")
                    finish(key, _failed(learner, settings, late))
    finally:  # interrupted: no task keeps running for a result nobody will read
        if in_flight:
            client.cancel([future for future, _, _ in in_flight.values()])


def grade_class(
    submissions_path: Path,
    out: Path,
    settings: GradeSettings,
    *,
    client: Any = None,
    scheduler: str | None = None,
    workers: int | None = None,
    feedback_dir: Path | None = None,
    progress: bool = True,
) -> RunReport:
    """Grade every learner in `submissions_path` not already in `out`; return what was done.

    `client`: a dask.distributed Client to use (tests pass one); otherwise one
    is made from `scheduler` or a LocalCluster of `workers` processes. The CSV
    is complete on disk whenever this returns or raises (Ctrl-C included).
    """
    from tqdm import tqdm

    started = time.monotonic()
    sheet = GradeSheet(out, settings.exercises)
    report = RunReport(sheet)
    done = sheet.done()
    try:
        with submissions.opened(submissions_path) as learners:
            todo = [
                files for name, files in sorted(learners.items()) if learner_key(name) not in done
            ]
            report.skipped = len(learners) - len(todo)
            if todo:
                with contextlib.ExitStack() as stack:
                    if client is None:
                        client = stack.enter_context(
                            dask_client(scheduler, workers or os.cpu_count() or 1)
                        )
                    bar = stack.enter_context(
                        tqdm(
                            total=len(todo),
                            unit="learner",
                            desc="grading",
                            disable=not progress,
                            file=sys.stderr,
                        )
                    )
                    _gather(client, todo, settings, report, feedback_dir, bar)
    finally:
        sheet.flush()  # also on Ctrl-C: what is done stays done
        if scheduler is None:
            # What local workers that were killed left (sandboxes, judge folders): theirs only.
            sandbox.Sandbox.sweep()
    report.wall_s = time.monotonic() - started
    return report

"""How long grading a class takes: `python -m instructor.grade` on generated submissions.

    python -m benchmarks.grading --learners 8 --workers 2 --out grading.json

Generates a class of `learners` submissions, each with every notebook that
holds a graded exercise (alternately the masters and the untouched learner
copies, so half pass everything and half are "not yet"), and grades it as
the command line does: a LocalCluster of `workers` processes, every notebook
in its own confined kernel with the training cells skipped.

- `grade_s_per_learner`: median over the learners of one learner's grading
  (all their notebooks, kernel starts included), as their worker measured it;
- `grade_class_wall_s`: the whole run, from starting the cluster to the last row;
- `grade_cpu_s_per_learner`: median CPU time of a learner's kernels.

The phase-1 stand-in model and the exercise registry are prepared before the
clock starts (an instructor's first run pays that once: `grade_stand_in_s`).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.child import out_argument, write_json
from helpers.exercises import EXERCISES
from instructor.grade import examples, notebook_run, run, stand_in
from instructor.grade.tasks import GradeSettings


def generate_class(folder: Path, learners: int) -> None:
    """`learners` subfolders, alternately holding the masters and the untouched learner copies."""
    kinds = ["solutions", "untouched"]
    for number in range(learners):
        kind = kinds[number % 2]
        staging = folder / ".staging"
        examples.write_examples(staging, kinds=[kind])
        (staging / kind).rename(folder / f"learner{number:02d}_{kind}")
        staging.rmdir()


def measure(learners: int, workers: int) -> dict[str, object]:
    """Grade a generated class; return the figures."""
    exercises = list(EXERCISES.values())
    settings = GradeSettings(exercises)
    started = time.perf_counter()
    stand_in.phase1_stand_in(notebook_run.weights_dir(settings))
    stand_in_s = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="alpaca-bench-grading-") as scratch:
        folder = Path(scratch) / "class"
        folder.mkdir()
        generate_class(folder, learners)
        started = time.perf_counter()
        report = run.grade_class(
            folder, Path(scratch) / "grades.csv", settings, workers=workers, progress=False
        )
        wall_s = time.perf_counter() - started
        rows = report.sheet.rows.values()
        passed = sum(int(row["passed_count"]) for row in rows)
        statuses = sorted({row["status"] for row in rows})
    seconds = report.seconds_per_learner
    return {
        "grade_s_per_learner": statistics.median(seconds) if seconds else None,
        "grade_s_per_learner_all": [round(s, 2) for s in seconds],
        "grade_class_wall_s": wall_s,
        "grade_cpu_s_per_learner": statistics.median(report.cpu_s_per_learner) if seconds else None,
        "grade_peak_kernel_rss_mb": report.peak_kernel_mb,
        "grade_learners": learners,
        "grade_workers": workers,
        "grade_exercises_passed": passed,
        "grade_statuses": statuses,
        "grade_isolation": sorted(report.isolation),
        "grade_stand_in_s": stand_in_s,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line for the benchmark's child process."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.grading", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--learners", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    out_argument(parser)
    arguments = parser.parse_args(argv)
    write_json(arguments.out, measure(arguments.learners, arguments.workers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`python -m instructor.grade SUBMISSIONS --out grades.csv`: grade a class (see instructor/grade/__init__.py)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from helpers import config
from helpers.exercises import EXERCISES
from instructor.grade import bwrap, kernel, results, run, submissions
from instructor.grade.tasks import ISOLATION_MODES, GradeSettings

REFUSAL = (
    "Refusing to grade: kernels cannot be confined on this machine: {why}.\n"
    "A submitted notebook is untrusted code. Grade on a Linux machine where unprivileged user "
    "namespaces work, or, inside a container that isolates the run by itself, say "
    "--isolation off (see 'What isolates a submission' in the instructor's guide)."
)
OFF_WARNING = (
    "--isolation off: kernels run WITHOUT confinement (they can read what your user can read, "
    "write where it can write, use the network and see other processes); only a private "
    "folder, the environment allow-list and the time, memory and disk limits hold."
)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m instructor.grade",
        description="Grade submitted notebooks: one CSV row and one feedback page per learner.",
    )
    parser.add_argument(
        "submissions",
        type=Path,
        help="a folder with one subfolder per learner, a flat folder of "
        "<learner>_NN_*.ipynb files, or a .zip of either",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("grades.csv"),
        help="the CSV (default: grades.csv); learners already in it are skipped (resume)",
    )
    parser.add_argument(
        "--feedback", type=Path, metavar="DIR", help="write one HTML page per learner here"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="local worker processes (default: the number of cores)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="a Dask scheduler (tcp://host:8786) to send the tasks to instead",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=config.GRADE_NOTEBOOK_TIMEOUT_S,
        help="wall-clock seconds per notebook (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-mb",
        type=float,
        default=config.GRADE_MEMORY_LIMIT_MB,
        help="memory per notebook kernel, shared memory included (default: %(default)s)",
    )
    parser.add_argument(
        "--isolation",
        choices=ISOLATION_MODES,
        default="bwrap",
        help="bwrap: every kernel confined by bubblewrap, refused where impossible (default); "
        "off: no confinement (only inside a container that isolates the run)",
    )
    parser.add_argument(
        "--weights",
        metavar="DIR",
        help="the folder with the MobileNetV2 weight files (default: "
        f"${config.ENV_WEIGHTS_SOURCE}, else Keras' cache)",
    )
    parser.add_argument(
        "--pass-env",
        action="append",
        default=[],
        metavar="NAME",
        help="also give the kernels this variable of yours (repeatable; never a secret)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Grade, print a summary; exit 0, or 1 when some learner's grading failed (rerun to resume)."""
    arguments = parse_arguments(argv)
    if arguments.isolation == "off":
        print(OFF_WARNING, file=sys.stderr)
    elif (why := bwrap.probe()) is not None:
        print(REFUSAL.format(why=results.printable(why)), file=sys.stderr)
        return 2
    if arguments.scheduler is None:
        kernel.cgroups()  # a delegated cgroup v2 is set up before the workers start, if there is one
    exercises = list(EXERCISES.values())
    settings = GradeSettings(
        exercises,
        timeout_s=arguments.timeout,
        memory_mb=arguments.memory_mb,
        isolation=arguments.isolation,
        weights_dir=arguments.weights,
        pass_env={name: os.environ[name] for name in arguments.pass_env if name in os.environ},
    )
    try:
        report = run.grade_class(
            arguments.submissions,
            arguments.out,
            settings,
            scheduler=arguments.scheduler,
            workers=arguments.workers,
            feedback_dir=arguments.feedback,
            progress=not arguments.quiet,
        )
    except submissions.SubmissionsError as error:
        print(f"Cannot read the submissions: {results.printable(str(error))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"\nInterrupted: {arguments.out} holds every learner graded so far; run the same command "
            "again to grade the rest.",
            file=sys.stderr,
        )
        return 130
    print(results.summary_table(report.sheet))
    median = report.median_s_per_learner
    print(
        f"graded {report.graded} learner(s) in {report.wall_s:.0f} s"
        + (f" (median {median:.1f} s per learner)" if median is not None else "")
        + (f"; {report.skipped} already in {arguments.out}" if report.skipped else "")
    )
    if report.isolation:
        print("isolation: " + results.printable("; ".join(sorted(report.isolation))))
    print(
        f"CSV: {arguments.out}"
        + (f"; feedback pages: {arguments.feedback}/" if arguments.feedback else "")
    )
    failed = [r for r in report.sheet.rows.values() if r.get(results.STATUS) == results.TASK_ERROR]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

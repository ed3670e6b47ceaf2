"""What grading a learner produces, and the grades CSV it goes into.

A `LearnerResult` holds one verdict per exercise of the course; `GradeSheet`
keeps one row per learner in `grades.csv`, rewritten whole (temporary file,
then rename) as results arrive, so the file on disk is always complete and a
rerun can resume from it.

CSV columns: `learner`, one per exercise key (`helpers.exercises`, the one
registry of the course's exercises), `passed_count`, `status`, `problem`.

- exercise cells: `passed`, `failed`, `not yet`, `error`, `missing` (the
  verdict vocabulary of `helpers.verdicts`)
- `status`: `graded` (every submitted notebook ran to its end), `incomplete`
  (one or more could not be graded: see `problem`), `no submission`, or
  `error` (the grading itself failed, e.g. its worker was lost; such rows are
  graded again when the run is resumed)
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from helpers import runtime
from helpers.exercises import Exercise

# The verdict words, imported from their home; notebook_run and feedback take them from here.
from helpers.verdicts import ERROR, EXERCISE_STATUSES, FAILED, MISSING, NOT_YET, PASSED  # noqa: F401

GRADED, INCOMPLETE, NO_SUBMISSION, TASK_ERROR = "graded", "incomplete", "no submission", "error"
# Statuses a resumed run grades again: the grading failed, not the learner.
REGRADE_STATUSES: frozenset[str] = frozenset({TASK_ERROR})
LEARNER_COLUMN, PASSED_COUNT, STATUS, PROBLEM = "learner", "passed_count", "status", "problem"
# A spreadsheet would run a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_TEXT = 2000
REDACTED = "[redacted]"
MIN_SECRET_LENGTH = 6
# C0 and C1 controls (ESC starts terminal escapes), DEL, and the bidirectional overrides that
# make text read differently from what it is.
CONTROL_CHARACTERS = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


# One graded exercise (key: a CSV column, notebook "01", title): the registry's own type.
ExerciseInfo = Exercise


@dataclass
class ExerciseResult:
    """One exercise's verdict for one learner, with the grader's messages."""

    status: str
    messages: list[str] = field(default_factory=list)


@dataclass
class LearnerResult:
    """Everything grading one learner produced."""

    learner: str
    exercises: dict[str, ExerciseResult]
    problems: list[str] = field(default_factory=list)  # why a notebook could not be graded
    # Worth knowing, not a problem (two files for 01...).
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cpu_s: float = 0.0  # CPU time of the learner's kernels, added up
    peak_mb: float = 0.0  # the largest resident memory of one of their kernels
    isolation: str = ""
    # The grading itself failed (a lost worker, a bug): graded again on resume.
    task_failed: bool = False

    @property
    def passed_count(self) -> int:
        return sum(result.status == PASSED for result in self.exercises.values())

    @property
    def status(self) -> str:
        if self.task_failed:
            return TASK_ERROR
        if self.exercises and all(result.status == MISSING for result in self.exercises.values()):
            return NO_SUBMISSION
        return INCOMPLETE if self.problems else GRADED


def printable(text: str) -> str:
    """`text` without control characters (terminal escapes, bidi overrides): safe to print or store."""
    return CONTROL_CHARACTERS.sub("\ufffd", str(text))


def one_line(text: str, limit: int = MAX_TEXT) -> str:
    """Text made safe for one CSV cell: one line, bounded, no control characters, never a formula."""
    flat = printable(re.sub(r"\s+", " ", str(text)).strip())
    flat = flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"
    return "'" + flat if flat.startswith(FORMULA_STARTS) else flat


class Redactor:
    """Replaces the values of the instructor's environment variables wherever they appear.

    The kernels never get these variables (see sandbox.kernel_environment);
    this is the second line: a value that leaked anyway (through /proc where
    there are no namespaces, say) does not reach the CSV or the feedback.
    Short values and paths are left alone: they would blank out ordinary text.
    """

    def __init__(self, environment: dict[str, str], keep: Iterable[str] = ()) -> None:
        kept = set(keep)
        values = {
            value
            for name, value in environment.items()
            if name not in kept
            and len(value) >= MIN_SECRET_LENGTH
            and not value.startswith(("/", "."))
        }
        self.values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        return text

    def result(self, result: LearnerResult) -> LearnerResult:
        """`result` with every learner-influenced string redacted (in place, and returned)."""
        for exercise in result.exercises.values():
            exercise.messages = [self(message) for message in exercise.messages]
        result.problems = [self(problem) for problem in result.problems]
        result.notes = [self(note) for note in result.notes]
        return result


def learner_key(name: str) -> str:
    """How a learner's name is written in the CSV's learner column (what resuming compares)."""
    return one_line(name, 200)


def columns(exercises: list[ExerciseInfo]) -> list[str]:
    """The CSV header."""
    return [
        LEARNER_COLUMN,
        *(exercise.key for exercise in exercises),
        PASSED_COUNT,
        STATUS,
        PROBLEM,
    ]


def row(result: LearnerResult, exercises: list[ExerciseInfo]) -> dict[str, str]:
    """One CSV row."""
    cells = {LEARNER_COLUMN: learner_key(result.learner)}
    for exercise in exercises:
        outcome = result.exercises.get(exercise.key)
        cells[exercise.key] = outcome.status if outcome else MISSING
    cells[PASSED_COUNT] = str(result.passed_count)
    cells[STATUS] = result.status
    cells[PROBLEM] = one_line("; ".join(result.problems))
    return cells


class GradeSheet:
    """`grades.csv`, one row per learner, always complete on disk.

    Rows already in the file are kept (a resumed run skips those learners,
    except rows whose status is in REGRADE_STATUSES). `add` replaces a
    learner's row; the file is rewritten atomically at most every
    `min_interval_s` seconds and on `flush()`.
    """

    def __init__(
        self, path: Path, exercises: list[ExerciseInfo], min_interval_s: float = 1.0
    ) -> None:
        self.path = Path(path)
        self.exercises = exercises
        self.min_interval_s = min_interval_s
        self.rows: dict[str, dict[str, str]] = {}
        self._written_at: float | None = None  # never written yet: the first add writes at once
        self._dirty = False
        if self.path.is_file():
            with open(self.path, newline="", encoding="utf-8") as existing:
                for record in csv.DictReader(existing):
                    learner = record.get(LEARNER_COLUMN)
                    if learner:
                        self.rows[learner] = {
                            k: v or "" for k, v in record.items() if k is not None
                        }

    def done(self) -> set[str]:
        """Learners whose rows a resumed run keeps (as written in the CSV's learner column)."""
        return {
            name for name, record in self.rows.items() if record.get(STATUS) not in REGRADE_STATUSES
        }

    def add(self, result: LearnerResult) -> None:
        """Put `result`'s row in (replacing any earlier one) and write the file if it is time."""
        record = row(result, self.exercises)
        self.rows[record[LEARNER_COLUMN]] = record
        self._dirty = True
        if self._written_at is None or time.monotonic() - self._written_at >= self.min_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write every row in one step (runtime.write_atomically, flushed to disk)."""
        if not self._dirty and self.path.exists():
            return
        header = columns(self.exercises)
        buffer = io.StringIO()
        writer = csv.DictWriter(
            buffer, fieldnames=header, extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        for learner in sorted(self.rows):
            writer.writerow({name: self.rows[learner].get(name, "") for name in header})
        runtime.write_atomically(self.path, buffer.getvalue(), durable=True)
        self._written_at = time.monotonic()
        self._dirty = False


def summary_table(sheet: GradeSheet) -> str:
    """Counts per exercise and status, as a plain-text table (for the end of a run)."""
    keys = [exercise.key for exercise in sheet.exercises]
    width = max([len("exercise"), *(len(key) for key in keys)])
    lines = [f"{'exercise':<{width}}  " + "  ".join(f"{status:>7}" for status in EXERCISE_STATUSES)]
    for key in keys:
        counts = [
            sum(record.get(key) == status for record in sheet.rows.values())
            for status in EXERCISE_STATUSES
        ]
        lines.append(f"{key:<{width}}  " + "  ".join(f"{count:>7}" for count in counts))
    statuses: dict[str, int] = {}
    for record in sheet.rows.values():
        statuses[record.get(STATUS, "")] = statuses.get(record.get(STATUS, ""), 0) + 1
    lines.append(
        f"{len(sheet.rows)} learners: "
        + ", ".join(f"{count} {name}" for name, count in sorted(statuses.items()))
    )
    return "\n".join(lines)

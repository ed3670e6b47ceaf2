"""How every check runs: evidence collected, then judged in place or recorded for grading.

`grader(exercise, success, judge, evidence_type)` turns a function that
COLLECTS evidence from the learner's objects into a public `check_*`. The
check calls it (a `Verdict` it raises, or a bug of the grader's own, becomes
a `Screened` verdict), hands the evidence to `helpers.recording` (which
judges it and records the learner's progress, or, in a grading run, only
stores the evidence), times it, displays the result (`helpers.verdicts.show`)
and returns it. Nothing a check does can raise into the learner's notebook.

`verdict(exercise, evidence)` judges evidence with the exercise's rules: the
same function in the notebook and in `instructor.grade.judge`, which reads
stored evidence back with `judge_stored(folder)`.

`helpers.graders` decorates each of its checks with `grader`; what a check
collects is there, how its evidence is judged in `helpers.rules`.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers import recording
from helpers.evidence import EvidenceError, ModelNotLoadable, Screened, not_loadable_message
from helpers.evidence import read_record as _read_record
from helpers.learner_calls import error_line
from helpers.verdicts import ERROR, FAILED, PASSED, Findings, GradeResult, Verdict, show


@dataclass(frozen=True)
class Judging:
    """How one exercise's evidence is judged: its rules, its evidence type, its success message."""

    exercise: str
    success: str
    judge: Callable[[Any], Findings]
    evidence_type: Any  # a class with `read(facts, folder)`


# Every exercise's judging, registered by @grader when helpers.graders is imported.
JUDGING: dict[str, Judging] = {}


def internal_error(exercise: str, error: BaseException) -> GradeResult:
    """A bug of the grader's own: reported as such, never raised."""
    return GradeResult(
        exercise,
        ERROR,
        [
            f"The grader hit an internal error: {error_line(error)}. Your code may be "
            "fine; please report this."
        ],
        ["internal-error"],
    )


def verdict(exercise: str, evidence: Any) -> GradeResult:
    """Judge `evidence` (or repeat a `Screened` verdict) with the exercise's rules."""
    if isinstance(evidence, Screened):
        return GradeResult(exercise, evidence.status, [evidence.message], [evidence.code])
    judging = JUDGING[exercise]
    try:
        findings = judging.judge(evidence)
    except Verdict as early:
        return GradeResult(exercise, early.status, [early.message], [early.code])
    except Exception as error:  # a bug in the rules: report it, never raise
        return internal_error(exercise, error)
    if findings:
        return GradeResult(exercise, FAILED, findings.messages, findings.codes)
    return GradeResult(exercise, PASSED, [judging.success], [])


def _collected(
    collect: Callable[..., Any], exercise: str, args: tuple, kwargs: dict, timings: dict
) -> Any:
    """The evidence `collect` gathers, or the verdict it reached before there was any."""
    try:
        return collect(*args, _timings=timings, **kwargs)
    except Verdict as early:
        return Screened(early.status, early.code, early.message)
    except Exception as error:  # a bug in the grader: reported, never raised
        result = internal_error(exercise, error)
        return Screened(result.status, result.codes[0], result.messages[0])


def grader(
    exercise: str, success: str, judge: Callable[[Any], Findings], evidence_type: Any
) -> Callable[[Callable[..., Any]], Callable[..., GradeResult]]:
    """Turn a function that collects evidence into a safe, recording, displaying check."""
    JUDGING[exercise] = Judging(exercise, success, judge, evidence_type)

    def decorate(collect: Callable[..., Any]) -> Callable[..., GradeResult]:
        def check(*args: Any, **kwargs: Any) -> GradeResult:
            started = time.perf_counter()
            timings: dict[str, float] = {}
            evidence = _collected(collect, exercise, args, kwargs, timings)
            result = recording.record(exercise, evidence, functools.partial(verdict, exercise))
            total = time.perf_counter() - started
            timings["total"] = total
            timings["grader"] = total - timings.get("learner", 0.0)
            result.timings = timings
            show(result)
            return result

        functools.update_wrapper(check, collect)
        del check.__wrapped__  # type: ignore[attr-defined]
        signature = inspect.signature(collect)
        check.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p for n, p in signature.parameters.items() if n != "_timings"],
            return_annotation="GradeResult",
        )
        return check

    return decorate


def _invalid(exercise: str, why: str) -> GradeResult:
    return GradeResult(
        exercise,
        FAILED,
        [
            f"The evidence this check recorded for grading is missing or damaged ({why[:300]}), "
            "so it was not graded: run the notebook from the top and let the check cell finish."
        ],
        ["evidence-invalid"],
    )


def judge_stored(folder: Path) -> GradeResult:
    """Judge one exercise's stored evidence (`helpers.evidence`); whatever is wrong with it is a
    failed verdict, never an exception and never a pass. The folder's name is the exercise."""
    exercise = folder.name
    if exercise not in JUDGING:
        return _invalid(exercise, "no such exercise")
    try:
        recorded, screened, facts = _read_record(folder)
        if recorded != exercise:
            raise EvidenceError(f"the facts name another exercise, {recorded[:60]!r}")
        if screened is not None:
            return verdict(exercise, screened)
        evidence = JUDGING[exercise].evidence_type.read(facts, folder)
    except ModelNotLoadable as error:
        return GradeResult(
            exercise, FAILED, [not_loadable_message(str(error))], ["model-not-loadable"]
        )
    except EvidenceError as error:
        return _invalid(exercise, str(error))
    except Exception as error:  # anything else odd in what the kernel left
        return _invalid(exercise, error_line(error, 200))
    return verdict(exercise, evidence)

"""How every check runs: safely, displayed, recorded.

`grader(exercise, success)` turns a function that collects `Findings` into a
public `check_*`: it calls the function, turns its findings (or the `Verdict`
it raised, or a bug of the grader's own) into a `GradeResult`, times it,
records the outcome in the progress file, displays it and returns it. Nothing
a check does can raise into the learner's notebook.

`helpers.graders` decorates each of its checks with it; what a check looks at
is there and in `helpers.rules`.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable
from typing import Any

from helpers import verdict_log
from helpers.learner_calls import error_line
from helpers.progress import record_progress
from helpers.verdicts import ERROR, FAILED, PASSED, Findings, GradeResult, Verdict


def grader(
    exercise: str, success: str
) -> Callable[[Callable[..., Findings]], Callable[..., GradeResult]]:
    """Turn a function that collects findings into a safe, displaying, recording check."""

    def decorate(collect: Callable[..., Findings]) -> Callable[..., GradeResult]:
        def check(*args: Any, **kwargs: Any) -> GradeResult:
            started = time.perf_counter()
            timings: dict[str, float] = {}
            try:
                findings = collect(*args, _timings=timings, **kwargs)
                if findings:
                    result = GradeResult(exercise, FAILED, findings.messages, findings.codes)
                else:
                    result = GradeResult(exercise, PASSED, [success], [])
            except Verdict as verdict:
                result = GradeResult(exercise, verdict.status, [verdict.message], [verdict.code])
            except Exception as error:  # a bug in the grader: report it, never raise
                result = GradeResult(
                    exercise,
                    ERROR,
                    [
                        f"The grader hit an internal error: {error_line(error)}. Your code may be "
                        "fine; please report this."
                    ],
                    ["internal-error"],
                )
            total = time.perf_counter() - started
            timings["total"] = total
            timings["grader"] = total - timings.get("learner", 0.0)
            result.timings = timings
            record_progress(result)
            verdict_log.record(result)
            try:
                result._show()
            except Exception:  # displaying must never break the learner's cell
                pass
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

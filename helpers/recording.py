"""Where a check's outcome goes, in one step: the learner's progress, or the grading evidence.

In a learner's own notebook the evidence is judged in place and the result
is recorded in the progress file (`helpers.progress`). In a grading run
(`config.ENV_EVIDENCE_DIR` set for the kernel) nothing is judged in the
kernel: the evidence is stored (`helpers.evidence.store`) for
`instructor.grade.judge`, and the learner's cell shows a neutral "recorded
for grading" line. Recording never raises into the notebook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helpers.evidence import evidence_root, store
from helpers.learner_calls import error_line
from helpers.progress import record_progress
from helpers.verdicts import ERROR, RECORDED, GradeResult

RECORDED_MESSAGE = (
    "Recorded for grading: what this check needs was saved, and the grading run judges it "
    "outside this notebook."
)


def record(exercise: str, evidence: Any, judge: Callable[[Any], GradeResult]) -> GradeResult:
    """Judge and record progress (a learner's notebook), or store the evidence (a grading run)."""
    root = evidence_root()
    if root is None:
        result = judge(evidence)
        record_progress(result)
        return result
    try:
        store(root, exercise, evidence)
    except Exception as error:
        return GradeResult(
            exercise,
            ERROR,
            [f"The check could not record its evidence for grading: {error_line(error)}."],
            ["evidence-not-written"],
        )
    return GradeResult(exercise, RECORDED, [RECORDED_MESSAGE], [])

"""Grade one learner: run each submitted notebook in its own confined kernel and collect the verdicts.

`grade_learner(task, settings)` is the unit of work a Dask worker runs. It
never raises for anything a submission does: a notebook that is not JSON (or
is JSON no notebook has: tags that are not a list, nesting hundreds deep),
loops forever, eats memory or kills its kernel becomes a `problem` on that
learner's row, and the learner's other notebooks are graded as usual.

Per notebook: parse it (nbformat 3 is converted), prepare it as the
authoring pipeline prepares a submission (`pipeline.prepare_for_grading`:
skip tags, outputs cleared, the course's kernel), and ask a
`kernel.GradedKernel` (which owns the sandbox, the confined kernel, its
limits and its clean-up) for a run of every cell except those tagged
`skip-when-grading` (cells with a graded function or a grader call always
run), errors allowed. The kernel's checks only store evidence; once the
kernel is dead its evidence folder is copied out as regular files only into
this worker's judge inbox, and `judged_verdicts` has this worker's judge
process (confined by bubblewrap, read-only, no network) judge the copy, then
applies the not-own-answer rule to the submitted cells' source, outside any
kernel. The whole learner has a deadline too.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from helpers import config
from instructor import pipeline
from instructor.grade import bwrap, judge, kernel, limits, sandbox, stand_in
from instructor.grade.results import (
    ERROR,
    FAILED,
    MISSING,
    ExerciseInfo,
    ExerciseResult,
    LearnerResult,
    Redactor,
)
from instructor.grade.tasks import GradeSettings, LearnerTask

CELL_TYPES: tuple[str, ...] = ("code", "markdown", "raw")
# Deeper JSON than this is no notebook (nbformat's own documents nest about 10 deep).
MAX_NOTEBOOK_DEPTH = 64
# What one verdict may carry into the CSV and the feedback.
MAX_MESSAGES, MAX_MESSAGE_CHARS = 20, 2000


class ConfinementUnavailable(RuntimeError):
    """This worker cannot confine kernels and the run did not say `--isolation off`."""


@dataclass
class NotebookOutcome:
    """What running one notebook gave: the verdicts, and the problem that stopped it (if any)."""

    verdicts: list[dict]
    problem: str | None = None
    cell_errors: dict[int, str] = field(default_factory=dict)  # cell index -> "Name: message"
    notebook: nbformat.NotebookNode | None = None
    isolation: str = ""
    cpu_s: float = 0.0  # the kernel's CPU time
    peak_mb: float = 0.0  # the kernel's peak memory


def weights_dir(settings: GradeSettings) -> Path | None:
    """The folder whose weight files every kernel may read."""
    candidates = [
        settings.weights_dir,
        os.environ.get(config.ENV_WEIGHTS_SOURCE),
        str(config.keras_models_dir()),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / config.WEIGHT_FILES["no_top"]).is_file():
            return Path(candidate)
    return None


def confined(isolation: str) -> bool:
    """Whether kernels run under bwrap; raises ConfinementUnavailable where they cannot."""
    if isolation == "off":
        return False
    why_not = bwrap.probe()
    if why_not is not None:
        raise ConfinementUnavailable(f"{why_not}; grade elsewhere, or say --isolation off")
    return True


def _json_depth(value: object) -> int:
    """How deep `value` nests (iteratively: a deep document must not exhaust the stack here)."""
    deepest, pending = 0, [(value, 1)]
    while pending:
        item, depth = pending.pop()
        deepest = max(deepest, depth)
        if depth > MAX_NOTEBOOK_DEPTH:
            return depth
        if isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
    return deepest


def _cell_problem(cell: object) -> str | None:
    """What makes `cell` no notebook cell, or None."""
    if not isinstance(cell, dict):
        return "a cell that is not an object"
    if cell.get("cell_type") not in CELL_TYPES:
        return "a cell without a known type"
    if not isinstance(cell.get("source"), str):
        return "a cell without source"
    metadata = cell.get("metadata", {})
    if not isinstance(metadata, dict):
        return "a cell whose metadata is not an object"
    tags = metadata.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        return "a cell whose tags are not a list of words"
    return None


def _with_joined_source(cell: object) -> object:
    """A raw JSON cell with its source joined as nbformat joins it (a list of lines is allowed)."""
    if isinstance(cell, dict) and isinstance(cell.get("source"), list):
        if all(isinstance(line, str) for line in cell["source"]):
            return {**cell, "source": "".join(cell["source"])}
    return cell


def parse_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The notebook as nbformat 4, or None and why it is not one. Never raises."""
    if not data.strip():
        return None, "empty file"
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return None, "not a notebook (not JSON)"
    if _json_depth(document) > MAX_NOTEBOOK_DEPTH:
        return None, f"not a notebook (nested more than {MAX_NOTEBOOK_DEPTH} deep)"
    if not isinstance(document, dict):
        return None, "not a notebook (not a JSON object)"
    for cell in document.get("cells", []) if isinstance(document.get("cells"), list) else []:
        problem = _cell_problem(_with_joined_source(cell))
        if problem:  # said before nbformat trips over it with a message of its own
            return None, f"not a notebook ({problem})"
    try:
        notebook = nbformat.reads(data.decode("utf-8", errors="replace"), as_version=4)
        if not isinstance(notebook.get("cells"), list):
            raise ValueError("no cells")
        for cell in notebook.cells:
            if isinstance(cell, dict):
                cell.setdefault("metadata", nbformat.NotebookNode())
            problem = _cell_problem(cell)
            if problem:
                return None, f"not a notebook ({problem})"
        if not isinstance(notebook.get("metadata"), dict):
            raise ValueError("metadata is not an object")
    except Exception as error:
        return None, f"not a notebook ({type(error).__name__})"
    return notebook, None


def kernel_options(
    settings: GradeSettings, artifacts: Path | None, timeout_s: float
) -> kernel.KernelOptions:
    """How this learner's kernels start and what they may use, and where their evidence goes."""
    return kernel.KernelOptions(
        limits=limits.Limits(
            timeout_s=timeout_s,
            memory_mb=settings.memory_mb,
            max_tasks=settings.max_tasks,
            disk_mb=settings.disk_mb,
        ),
        confined=confined(settings.isolation),
        weights_dir=weights_dir(settings),
        artifacts=artifacts,
        pass_env=dict(settings.pass_env),
        evidence_inbox=sandbox.judge_folder().inbox,
    )


def run_notebook(
    number: str,
    data: bytes,
    settings: GradeSettings,
    artifacts: Path | None,
    timeout_s: float | None = None,
) -> NotebookOutcome:
    """Run one submitted notebook in a fresh confined kernel; never raises for the notebook's doing."""
    notebook, problem = parse_notebook(data)
    if notebook is None:
        return NotebookOutcome([], problem)
    pipeline.prepare_for_grading(notebook)
    options = kernel_options(settings, artifacts, timeout_s or settings.timeout_s)
    name = f"{number}_submission.ipynb"  # the learner's file name never becomes a path
    with kernel.GradedKernel(options, name) as graded:
        run = graded.run(notebook)  # the kernel is dead; run.evidence is the trusted copy
        verdicts = judged_verdicts(run.evidence, notebook, number, settings)
    return NotebookOutcome(
        verdicts, run.problem, run.cell_errors, notebook, run.confinement, run.cpu_s, run.peak_mb
    )


# --- Verdicts: the evidence judged outside the kernel (instructor.grade.judge) -----------------


def judge_launch_prefix(settings: GradeSettings) -> list[str]:
    """The command line before the judge's `python -I`: bubblewrap, unless `--isolation off`.

    The judge runs no learner code, but it opens what a learner's kernel
    wrote (Keras archives, arrays), so it is confined too: read-only views
    of the repository, this environment, the weights and this worker's
    judge inbox (the trusted copies); its private Keras homes writable; an
    empty tmpfs as TMPDIR; no network; dying with its worker.
    """
    if settings.isolation == "off":
        return []
    folder = sandbox.judge_folder()
    weights = Path(weights_dir(settings) or config.keras_models_dir()).resolve()
    binary = bwrap.binary()
    assert binary is not None, "confined() said bwrap works here"
    mounts = bwrap.JudgeMounts(
        read_only=[config.PROJECT_ROOT, weights, folder.inbox],
        writable=[folder.homes],
        scratch=Path(tempfile.gettempdir()),
    )
    return bwrap.judge_prefix(binary, mounts)


def worker_judge(settings: GradeSettings) -> judge.Judge:
    """This worker's judge process (started once, kept for every learner), confined."""
    return judge.worker_judge(
        weights_dir(settings), judge_launch_prefix(settings), sandbox.judge_folder().homes
    )


def judged_verdicts(
    evidence: Path | None,
    notebook: nbformat.NotebookNode,
    number: str,
    settings: GradeSettings,
) -> list[dict]:
    """The verdicts of one notebook, once its kernel is dead.

    `evidence` is the trusted copy of what its checks stored; this worker's
    judge judges the exercises of notebook `number` found there, then the
    not-own-answer rule is applied to the submitted cells' source (static,
    here). A judge that dies or times out leaves those exercises not graded
    (`error`); one that cannot start at all fails the task (graded again on
    resume).
    """
    exercises = [e.key for e in settings.exercises if e.notebook == number]
    present = [key for key in exercises if evidence is not None and (evidence / key).is_dir()]
    verdicts: list[dict] = []
    if present:
        assert evidence is not None
        try:
            verdicts = worker_judge(settings).judge(evidence, exercises)
        except judge.JudgeFailed as failure:
            verdicts = judge.not_judged(present, f"the judge failed ({failure})")
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    return judge.with_own_answers(verdicts, sources, number)


def _no_verdict_reason(exercise: ExerciseInfo, outcome: NotebookOutcome) -> str:
    """Why a notebook that ran gave no verdict for `exercise`."""
    call = config.grader_call(exercise.key)
    notebook = outcome.notebook
    cells = (
        [i for i, c in enumerate(notebook.cells) if c.cell_type == "code" and call in c.source]
        if notebook
        else []
    )
    if not cells:
        return f"No verdict: no cell calls `{call}` (the grader cell was deleted or changed)."
    failing = [i for i in cells if i in outcome.cell_errors]
    if not failing:
        return f"No verdict: the grader cell ran but `{call}` was not called."
    reason = f"No verdict: the grader cell stopped with {outcome.cell_errors[failing[-1]][:300]} before the grader ran"
    earlier = [i for i in outcome.cell_errors if i < failing[-1]]
    if earlier:  # the grader cell's error is usually a consequence: say what broke first
        reason += f"; an earlier cell stopped with {outcome.cell_errors[earlier[0]][:300]}"
    return reason + "."


def _exercise_result(verdict: dict) -> ExerciseResult:
    """A verdict as the CSV and the feedback keep it: bounded in messages and length."""
    messages = [str(message)[:MAX_MESSAGE_CHARS] for message in verdict["messages"][:MAX_MESSAGES]]
    return ExerciseResult(verdict["status"], messages)


def grade_learner(task: LearnerTask, settings: GradeSettings) -> LearnerResult:
    """Grade every notebook of one learner; one result, whatever the notebooks do."""
    started = time.monotonic()
    exercises = {
        e.key: ExerciseResult(MISSING, [f"No notebook {e.notebook} was submitted."])
        for e in settings.exercises
    }
    result = LearnerResult(task.learner, exercises, notes=list(task.notes))
    redact = Redactor(dict(os.environ), keep=sandbox.PASSED_THROUGH_ENV)
    sandbox.Sandbox.sweep()  # what a killed worker on this machine left behind
    try:
        confined(settings.isolation)  # a worker that cannot confine grades nobody
        wanted = [number for number in settings.notebooks() if number in task.notebooks]
        artifacts = (
            stand_in.phase1_stand_in(weights_dir(settings))
            if wanted and settings.phase1_stand_in
            else None
        )
        deadline = time.monotonic() + settings.learner_deadline_s()
        isolation = set()
        for number in wanted:
            submitted = task.notebooks[number]
            remaining = deadline - time.monotonic()
            if submitted.data is None:
                outcome = NotebookOutcome([], submitted.problem or "could not be read")
            elif remaining <= 0:
                outcome = NotebookOutcome([], "not graded: the learner's time was up")
            else:
                timeout = min(settings.timeout_s, remaining)
                outcome = run_notebook(number, submitted.data, settings, artifacts, timeout)
            if outcome.isolation:
                isolation.add(outcome.isolation)
            result.cpu_s += outcome.cpu_s
            result.peak_mb = max(result.peak_mb, outcome.peak_mb)
            if outcome.problem:
                result.problems.append(f"{number}: {outcome.problem}")
            # A later call replaces an earlier one.
            last = {v["exercise"]: v for v in outcome.verdicts}
            for exercise in settings.exercises:
                if exercise.notebook != number:
                    continue
                if exercise.key in last:
                    exercises[exercise.key] = _exercise_result(last[exercise.key])
                elif outcome.problem:
                    exercises[exercise.key] = ExerciseResult(
                        ERROR, [f"Not graded: notebook {number}: {outcome.problem}."]
                    )
                else:
                    exercises[exercise.key] = ExerciseResult(
                        FAILED, [_no_verdict_reason(exercise, outcome)]
                    )
        result.isolation = ", ".join(sorted(isolation))
    # The grading machinery failed, not the learner: graded again on resume.
    except Exception as error:
        result.task_failed = True
        result.problems.append(f"grading failed: {type(error).__name__}: {error}")
    result.seconds = time.monotonic() - started
    return redact.result(result)

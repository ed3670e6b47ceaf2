"""Grade one learner: run each submitted notebook in its own sandbox and collect the verdicts.

`grade_learner(task, settings)` is the unit of work a Dask worker runs. It
never raises for anything a submission does: a notebook that is not JSON,
loops forever, eats memory or kills its kernel becomes a `problem` on that
learner's row, and the learner's other notebooks are graded as usual.

Per notebook: parse it (nbformat 3 is converted), copy it alone into a fresh
sandbox, start a confined kernel with a reduced environment, run every cell
except those tagged `skip-when-grading` (cells with a graded function or a
grader call always run), errors allowed, under a wall-clock and a memory
watchdog; then judge the evidence the checks stored (`judged_verdicts`, outside
the kernel) and delete the sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbclient import NotebookClient

from helpers import config
from instructor import pipeline
from instructor.grade import confine, judge, sandbox, stand_in
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

# nbclient's own per-cell limit, a backstop behind the watchdog's whole-notebook limit.
CELL_TIMEOUT_MARGIN_S = 30


@dataclass
class NotebookOutcome:
    """What running one notebook gave: the verdicts, and the problem that stopped it (if any)."""

    verdicts: list[dict]
    problem: str | None = None
    cell_errors: dict[int, str] = field(default_factory=dict)  # cell index -> "Name: message"
    notebook: nbformat.NotebookNode | None = None
    isolation: str = ""
    cpu_s: float = 0.0  # the kernel's CPU time
    peak_mb: float = 0.0  # the kernel's peak resident memory


def weights_dir(settings: GradeSettings) -> Path | None:
    """The folder whose weight files every sandbox gets a copy of."""
    candidates = [
        settings.weights_dir,
        os.environ.get(config.ENV_WEIGHTS_SOURCE),
        str(config.keras_models_dir()),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / config.WEIGHT_FILES["no_top"]).is_file():
            return Path(candidate)
    return None


def use_namespaces(isolation: str) -> bool:
    """Whether kernels run in namespaces; `namespaces` insists and fails where there are none."""
    if isolation == "off":
        return False
    available = confine.namespaces_available()
    if isolation == "namespaces" and not available:
        raise RuntimeError(
            "--isolation namespaces: this machine cannot create user namespaces (see README)"
        )
    return available


def parse_notebook(data: bytes) -> tuple[nbformat.NotebookNode | None, str | None]:
    """The notebook as nbformat 4, or None and why it is not one."""
    if not data.strip():
        return None, "empty file"
    try:
        json.loads(data)
    except ValueError:
        return None, "not a notebook (not JSON)"
    try:
        notebook = nbformat.reads(data.decode("utf-8", errors="replace"), as_version=4)
        if not isinstance(notebook.get("cells"), list):
            raise ValueError("no cells")
        for cell in notebook.cells:
            cell.setdefault("metadata", nbformat.NotebookNode())
            if not isinstance(cell.get("source"), str) or cell.get("cell_type") not in (
                "code",
                "markdown",
                "raw",
            ):
                raise ValueError("a cell without source or type")
    except Exception as error:
        return None, f"not a notebook ({type(error).__name__})"
    return notebook, None


class _ErrorsOnlyClient(NotebookClient):
    """Keeps only each cell's first error (name and message, trimmed) of everything a kernel sends.

    Verdicts come from the verdicts file, so printed output is not needed; a
    notebook printing without end must not fill the worker's memory.
    """

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> object:
        if msg.get("msg_type") != "error" or outs:
            return None
        content = msg.get("content", {})
        msg = {
            **msg,
            "content": {
                "ename": str(content.get("ename", ""))[:200],
                "evalue": str(content.get("evalue", ""))[:1000],
                "traceback": [],
            },
        }
        return super().output(outs, msg, display_id, cell_index)


def _kernel_pid(manager: sandbox.ConfinedKernelManager) -> int | None:
    """The pid of the process the kernel manager started, once it has one."""
    process = getattr(manager.provisioner, "process", None) if manager.provisioner else None
    return getattr(process, "pid", None)


def _stopped_because(error: BaseException, reason: str | None, settings: GradeSettings) -> str:
    """A short, learner-independent explanation of why a notebook did not run to its end."""
    if reason == "timeout":
        return f"timeout after {settings.timeout_s:.0f} s"
    if reason == "memory":
        return f"kernel killed: memory above {settings.memory_mb:.0f} MB"
    name = type(error).__name__
    if name == "DeadKernelError":
        return "kernel died"
    if name == "CellTimeoutError":
        return f"timeout after {settings.timeout_s:.0f} s"
    if "didn't respond" in str(error) or "did not respond" in str(error):
        return "kernel did not start"
    return f"could not run ({name})"


def run_notebook(
    number: str, name: str, data: bytes, settings: GradeSettings, artifacts: Path | None
) -> NotebookOutcome:
    """Run one submitted notebook in a fresh sandbox; never raises for the notebook's doing."""
    notebook, problem = parse_notebook(data)
    if notebook is None:
        return NotebookOutcome([], problem)
    pipeline.prepare_for_grading(notebook)
    namespaces = use_namespaces(settings.isolation)
    box = sandbox.Sandbox.create(weights_dir(settings), artifacts)
    safe_name = f"{number}_submission.ipynb"  # the learner's file name never becomes a path
    try:
        (box.work / safe_name).write_text(nbformat.writes(notebook), encoding="utf-8")
        manager = sandbox.kernel_manager(box, namespaces)
        client = _ErrorsOnlyClient(
            notebook,
            km=manager,
            allow_errors=True,
            skip_cells_with_tag="skip-execution",
            timeout=int(settings.timeout_s + CELL_TIMEOUT_MARGIN_S),
            startup_timeout=int(settings.timeout_s),
            record_timing=True,
            # The kernel is killed below anyway; a graceful shutdown costs about a second.
            shutdown_kernel="immediate",
        )
        environment = sandbox.kernel_environment(box, safe_name, settings.pass_env)
        environment[config.ENV_EVIDENCE_DIR] = str(evidence_folder(box))
        problem = None
        with sandbox.Watchdog(
            lambda: _kernel_pid(manager), settings.timeout_s, settings.memory_mb
        ) as watchdog:
            try:
                client.execute(
                    cleanup_kc=True,
                    env=environment,
                    cwd=str(box.work),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,  # the kernel's own chatter
                )
            except Exception as error:  # the notebook did not run to its end
                problem = _stopped_because(error, watchdog.reason, settings)
            finally:
                pid = _kernel_pid(manager)
                if pid is not None:
                    sandbox.kill_tree(pid)
                try:
                    if manager.has_kernel:
                        run_sync(manager.shutdown_kernel)(
                            now=True
                        )  # also removes its files and sockets
                except Exception:
                    pass
        if problem is None and watchdog.reason is not None:
            problem = _stopped_because(RuntimeError(), watchdog.reason, settings)
        errors = {
            index: f"{output.get('ename', '')}: {output.get('evalue', '')}"
            for index, cell in enumerate(notebook.cells)
            if cell.cell_type == "code"
            for output in cell.get("outputs", [])
            if output.get("output_type") == "error"
        }
        isolation = _isolation_report(box, namespaces)
        return NotebookOutcome(
            judged_verdicts(box, notebook, number, settings),
            problem,
            errors,
            notebook,
            isolation,
            watchdog.cpu_s,
            watchdog.peak_mb,
        )
    finally:
        box.remove()


# --- Verdicts: the evidence judged outside the kernel (instructor.grade.judge) -----------------


def evidence_folder(box: sandbox.Sandbox) -> Path:
    """Where the kernel's checks store their evidence (config.ENV_EVIDENCE_DIR)."""
    return box.run / "evidence"


def judged_verdicts(
    box: sandbox.Sandbox, notebook: nbformat.NotebookNode, number: str, settings: GradeSettings
) -> list[dict]:
    """The verdicts of one notebook, once its kernel is dead: the stored evidence of its
    exercises judged by this worker's judge process, then the not-own-answer rule applied to
    the submitted cells' source. A judge that dies or times out leaves those exercises not
    graded (`error`); one that cannot start at all fails the task (graded again on resume)."""
    exercises = [e.key for e in settings.exercises if e.notebook == number]
    folder = evidence_folder(box)  # the sandbox lane hands its trusted copy here instead
    present = [key for key in exercises if (folder / key).is_dir()]
    verdicts: list[dict] = []
    if present:
        try:
            verdicts = judge.worker_judge(weights_dir(settings)).judge(folder, exercises)
        except judge.JudgeFailed as failure:
            verdicts = judge.not_judged(present, f"the judge failed ({failure})")
    sources = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    return judge.with_own_answers(verdicts, sources, number)


def _isolation_report(box: sandbox.Sandbox, namespaces: bool) -> str:
    """One line on how the kernel was confined, from what the launcher wrote."""
    try:
        report = json.loads((box.run / confine.CONFINEMENT_REPORT).read_text())
    except (OSError, ValueError):
        return "namespaces (unconfirmed)" if namespaces else "none (fallback)"
    if not report.get("namespaces"):
        return "none (fallback)"
    writable = report.get("left_writable") or []
    return "namespaces" + (f" (left writable: {', '.join(writable)})" if writable else "")


def _no_verdict_reason(exercise: ExerciseInfo, outcome: NotebookOutcome) -> str:
    """Why a notebook that ran gave no verdict for `exercise`."""
    call = f"graders.check_{exercise.key}"
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
        wanted = [number for number in settings.notebooks() if number in task.notebooks]
        artifacts = (
            stand_in.phase1_stand_in(weights_dir(settings))
            if wanted and settings.phase1_stand_in
            else None
        )
        isolation = set()
        for number in wanted:
            submitted = task.notebooks[number]
            if submitted.data is None:
                outcome = NotebookOutcome([], submitted.problem or "could not be read")
            else:
                outcome = run_notebook(number, submitted.name, submitted.data, settings, artifacts)
            if outcome.isolation:
                isolation.add(outcome.isolation)
            result.cpu_s += outcome.cpu_s
            result.peak_mb = max(result.peak_mb, outcome.peak_mb)
            if outcome.problem:
                result.problems.append(f"{number}: {outcome.problem}")
            last = {
                v["exercise"]: v for v in outcome.verdicts
            }  # a later call replaces an earlier one
            for exercise in settings.exercises:
                if exercise.notebook != number:
                    continue
                if exercise.key in last:
                    verdict = last[exercise.key]
                    exercises[exercise.key] = ExerciseResult(verdict["status"], verdict["messages"])
                elif outcome.problem:
                    exercises[exercise.key] = ExerciseResult(
                        ERROR, [f"Not graded: notebook {number}: {outcome.problem}."]
                    )
                else:
                    exercises[exercise.key] = ExerciseResult(
                        FAILED, [_no_verdict_reason(exercise, outcome)]
                    )
        result.isolation = ", ".join(sorted(isolation))
    except (
        Exception
    ) as error:  # the grading machinery failed, not the learner: graded again on resume
        result.task_failed = True
        result.problems.append(f"grading failed: {type(error).__name__}: {error}")
    result.seconds = time.monotonic() - started
    return redact.result(result)

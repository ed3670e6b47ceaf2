"""What a grading worker is sent: the settings every learner shares, and one learner's notebooks.

Plain data (dataclasses of str, bytes, numbers), so that Dask can send them to
workers on other machines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from helpers import config
from instructor.grade.results import ExerciseInfo

# "bwrap": every kernel confined by bubblewrap, the run refuses where it cannot be;
# "off": no confinement at all (inside a container that is the isolation, say).
ISOLATION_MODES: tuple[str, ...] = ("bwrap", "off")
# Processes and threads one kernel may have (TensorFlow starts a few dozen threads).
MAX_KERNEL_TASKS = 1024
# What one kernel may write into its folder (the notebook, its evidence, saved models).
KERNEL_DISK_MB = 1024.0
# Added to each notebook's timeout for a learner's whole task (sandbox set-up, evidence, clean-up).
LEARNER_MARGIN_S = 60.0


@dataclass
class GradeSettings:
    """How every learner is graded (sent to each worker with the task)."""

    exercises: list[ExerciseInfo]
    timeout_s: float = config.GRADE_NOTEBOOK_TIMEOUT_S
    memory_mb: float = config.GRADE_MEMORY_LIMIT_MB
    isolation: str = "bwrap"
    max_tasks: int = MAX_KERNEL_TASKS
    disk_mb: float = KERNEL_DISK_MB
    weights_dir: str | None = None  # the worker's Keras cache when None
    pass_env: dict[str, str] = field(default_factory=dict)  # extra kernel variables, on purpose
    # Give kernels the phase-1 stand-in (see stand_in.py); tests of the plumbing skip it.
    phase1_stand_in: bool = True

    def notebooks(self) -> list[str]:
        """The notebook numbers that hold graded exercises ("01", "02", ...)."""
        return sorted({exercise.notebook for exercise in self.exercises})

    def learner_deadline_s(self) -> float:
        """Wall clock for one learner's whole task: every notebook's timeout, plus a margin."""
        return len(self.notebooks()) * (self.timeout_s + LEARNER_MARGIN_S)


@dataclass
class SubmittedNotebook:
    """One notebook file of a submission, as bytes (it travels to the worker)."""

    number: str
    name: str
    data: bytes | None  # None when it could not be read (see problem)
    problem: str | None = None


@dataclass
class LearnerTask:
    """One learner's submission: their notebooks by number, and notes from finding them."""

    learner: str
    notebooks: dict[str, SubmittedNotebook]
    notes: list[str] = field(default_factory=list)

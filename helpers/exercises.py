"""The course's graded exercises: the one registry every part of the course reads.

The checks (`helpers.graders`), the learner's progress table
(`helpers.progress`), the own-answer rule (`helpers.own_answer`) and the
instructor's grades CSV and feedback pages (`instructor.grade`) all take the
exercises from here, in this order. Importing it is cheap (no TensorFlow), so
the grading command's process can read it.

Each exercise names its key (a progress entry, a CSV column, the name of its
evidence folder), its notebook, a title, the graded function the learner
writes (`# GRADED FUNCTION: name` in the master) and the course's functions
that return its answer: `helpers.answers.<graded_function>` (generated from
the masters by the build) and the `helpers.reference` wrappers listed in
`reference_answers`. A graded function that calls one of those is not the
learner's own answer (code `not-own-answer`); calling the answers of earlier
exercises is fine.
"""

from __future__ import annotations

from dataclasses import dataclass

# Where the course's answers live: the generated module and the wrappers later notebooks call.
ANSWER_MODULES: tuple[str, ...] = ("helpers.answers", "helpers.reference")


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of the course."""

    key: str
    notebook: str
    title: str
    graded_function: str = ""
    # helpers.reference functions that give this exercise's answer (or build on it, so that
    # calling them inside the graded function would hand it in).
    reference_answers: tuple[str, ...] = ()

    @property
    def answer_names(self) -> frozenset[str]:
        """Names that, in a module of ANSWER_MODULES, are this exercise's answer."""
        return frozenset({self.graded_function, *self.reference_answers} - {""})


EXERCISES: dict[str, Exercise] = {
    e.key: e
    for e in (
        Exercise(
            "datasets",
            "01",
            "create_datasets: training and validation datasets",
            "create_datasets",
            ("make_datasets",),
        ),
        Exercise(
            "data_augmenter",
            "02",
            "data_augmenter: flip and rotate",
            "data_augmenter",
            ("data_augmenter",),
        ),
        Exercise(
            "alpaca_model",
            "04",
            "alpaca_model: frozen MobileNetV2 and a new head",
            "alpaca_model",
            ("alpaca_model", "train_phase1", "load_phase1", "train_fine_tuned", "load_fine_tuned"),
        ),
        Exercise(
            "fine_tuning",
            "05",
            "prepare_fine_tuning: unfreeze and recompile",
            "prepare_fine_tuning",
            ("unfreeze_for_fine_tuning", "prepare_continuation", "train_fine_tuned"),
        ),
        Exercise(
            "representative_dataset",
            "06",
            "make_representative_dataset: int8 calibration",
            "make_representative_dataset",
            ("make_representative_dataset",),
        ),
    )
}

"""What a check returns and how it shows itself: `GradeResult` and its parts.

A check collects problems in `Findings` (a stable code and a message each),
ends early with `Verdict` when nothing more can be checked, and returns a
`GradeResult`. Results display as HTML in JupyterLab and as plain text
elsewhere; the verdict is a word and a symbol, never a colour alone.

It is also the one home of the verdict vocabulary: the status words (a
grading run's `missing` and `recorded` included), the headlines a notebook
shows, the labels an instructor's feedback page shows, and `markup`; the
grades CSV and the feedback pages import them from here. This module knows
nothing about exercises or models: `helpers.graders` holds the checks,
`helpers.recording` where their outcomes go.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from helpers import runtime

# The vocabulary of verdicts, one home for the notebooks, the grades CSV and the feedback pages.
# The four outcomes of a check.
PASSED, FAILED, NOT_YET, ERROR = "passed", "failed", "not yet", "error"
CHECK_STATUSES: tuple[str, ...] = (PASSED, FAILED, NOT_YET, ERROR)
# In a grading run the kernel's check only records evidence; the judge gives the outcome.
RECORDED = "recorded"
# Grading only: no notebook was submitted for the exercise.
MISSING = "missing"
# What one exercise's cell of the grades CSV can say.
EXERCISE_STATUSES: tuple[str, ...] = (*CHECK_STATUSES, MISSING)
# Word first (the verdict starts with it), then a symbol: never colour alone.
HEADLINES: dict[str, tuple[str, str, str]] = {
    PASSED: ("Passed", "\u2714", "#2e7d32"),
    FAILED: ("Not passed", "\u2718", "#c62828"),
    NOT_YET: ("Not yet", "\u270e", "#6d4c41"),
    ERROR: ("Grader error", "\u26a0", "#ef6c00"),
    RECORDED: ("Recorded for grading", "\u2709", "#455a64"),
}
# The same words on an instructor's feedback page, where an error means the exercise was not graded.
GRADING_LABELS: dict[str, tuple[str, str, str]] = {
    PASSED: HEADLINES[PASSED],
    FAILED: HEADLINES[FAILED],
    NOT_YET: HEADLINES[NOT_YET],
    ERROR: ("Not graded", "\u26a0", "#ef6c00"),
    MISSING: ("Missing", "\u2205", "#616161"),
}


def current_execution_count() -> int | None:
    """The IPython cell being run, or None outside IPython."""
    shell = runtime.ipython_shell()
    return None if shell is None else int(getattr(shell, "execution_count", 0) or 0)


def markup(text: str) -> str:
    """HTML-escape a message and render `backticks` as code."""
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


class Displayable:
    """Shows itself once per cell: the check displays it, the cell's result does not repeat it."""

    _shown_in_cell: int | None = None

    def text(self) -> str:  # pragma: no cover - overridden
        """The plain-text form."""
        raise NotImplementedError

    def _repr_html_(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text form."""
        printer.text(self.text())

    def _ipython_display_(self) -> None:
        """Skip the repeat right after the check displayed this result; display normally later."""
        count = current_execution_count()
        if self._shown_in_cell is not None and self._shown_in_cell == count:
            self._shown_in_cell = None
            return
        self._show()

    def _show(self) -> None:
        """Display in IPython (HTML with a plain-text fallback); print elsewhere."""
        count = current_execution_count()
        if count is None:
            print(self.text())
            return
        from IPython.display import display

        display({"text/plain": self.text(), "text/html": self._repr_html_()}, raw=True)
        self._shown_in_cell = count


@dataclass(repr=False, eq=False)
class GradeResult(Displayable):
    """The outcome of one check.

    `status` is "passed", "failed", "not yet" (an untouched exercise),
    "error" (a bug in the grader), or "recorded" (a grading run: the evidence
    is judged outside the kernel). `codes` names each problem for tests;
    `timings` holds the learner's and the grader's seconds.
    """

    exercise: str
    status: str
    messages: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return self.status == PASSED

    @property
    def verdict(self) -> str:
        """The headline: a word, a symbol and the exercise."""
        word, symbol, _ = HEADLINES[self.status]
        return f"{word} {symbol} \u2014 {self.exercise}"

    def text(self) -> str:
        """Plain-text rendering: the headline, then one bullet per message."""
        return "\n".join([self.verdict, *(f"  \u2022 {m}" for m in self.messages)])

    def _repr_html_(self) -> str:
        word, symbol, colour = HEADLINES[self.status]
        items = "".join(f"<li>{markup(m)}</li>" for m in self.messages)
        return (
            f'<div class="alpaca-grader alpaca-grader-{self.status.replace(" ", "-")}" '
            f'style="border-left:5px solid {colour};padding:0.3em 0.8em;margin:0.3em 0">'
            f'<strong style="color:{colour}">{word} {symbol}</strong> \u2014 '
            f"<code>{html.escape(self.exercise)}</code>"
            f'<ul style="margin:0.3em 0">{items}</ul></div>'
        )


def show(result: Displayable) -> None:
    """Display a result in the notebook; displaying never breaks the learner's cell."""
    try:
        result._show()
    except Exception:
        pass


class Findings:
    """Problems found so far, each a stable code plus a message for the learner."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        self.messages: list[str] = []

    def add(self, code: str, message: str) -> None:
        """Record one problem."""
        self.codes.append(code)
        self.messages.append(message)

    def __bool__(self) -> bool:
        return bool(self.codes)


class Verdict(Exception):
    """Ends a check early with a status (e.g. nothing more can be checked).

    A check may also end early on what it was given before judging anything
    (an untouched exercise, a function that raised): in a grading run that
    verdict is recorded as the evidence, and the judge repeats it. Such a
    verdict is never PASSED.
    """

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

"""One HTML feedback page per learner: each exercise's verdict and the grader's messages.

Everything on the page that a learner could have influenced (their name,
the graders' messages, which quote their errors, the problems) is
HTML-escaped; the page has no scripts and loads nothing. File names are made
from the learner's name with anything but letters, digits, `.`, `_` and `-`
replaced, plus a short hash when that changed the name (so two learners
never share a page).
"""

from __future__ import annotations

import hashlib
import html
import os
import re
from pathlib import Path

from instructor.grade.results import (
    ERROR,
    FAILED,
    MISSING,
    NOT_YET,
    PASSED,
    ExerciseInfo,
    LearnerResult,
)

# Word first, then a symbol: pass/fail never shown by colour alone (as the graders do).
LABELS: dict[str, tuple[str, str, str]] = {
    PASSED: ("Passed", "\u2714", "#2e7d32"),
    FAILED: ("Not passed", "\u2718", "#c62828"),
    NOT_YET: ("Not yet", "\u270e", "#6d4c41"),
    ERROR: ("Not graded", "\u26a0", "#ef6c00"),
    MISSING: ("Missing", "\u2205", "#616161"),
}
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")


def page_name(learner: str) -> str:
    """A file name for the learner's page that cannot leave the feedback folder."""
    safe = SAFE_NAME.sub("_", learner).strip("._") or "learner"
    if safe != learner:
        safe = f"{safe[:80]}-{hashlib.sha256(learner.encode()).hexdigest()[:8]}"
    return f"{safe[:120]}.html"


def _markup(text: str) -> str:
    """Escape a message, then show `backticks` as code, as the graders do."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def render(result: LearnerResult, exercises: list[ExerciseInfo]) -> str:
    """The learner's page as an HTML document."""
    name = html.escape(result.learner)
    sections = []
    for exercise in exercises:
        outcome = result.exercises.get(exercise.key)
        status = outcome.status if outcome else MISSING
        word, symbol, colour = LABELS.get(status, LABELS[ERROR])
        messages = "".join(f"<li>{_markup(m)}</li>" for m in (outcome.messages if outcome else []))
        sections.append(
            f'<section style="border-left:5px solid {colour};padding:0.2em 0.8em;margin:0.8em 0">'
            f'<h2 style="font-size:1.1em">{html.escape(exercise.title)} '
            f"<small>(notebook {html.escape(exercise.notebook)})</small></h2>"
            f'<p><strong style="color:{colour}">{word} {symbol}</strong></p><ul>{messages}</ul></section>'
        )
    problems = "".join(f"<li>{html.escape(p)}</li>" for p in result.problems)
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in result.notes)
    extra = (f"<h2>Could not be graded</h2><ul>{problems}</ul>" if problems else "") + (
        f"<h2>Notes</h2><ul>{notes}</ul>" if notes else ""
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>Feedback: {name}</title></head>"
        '<body style="font-family:sans-serif;max-width:50em;margin:2em auto">'
        f"<h1>Feedback for {name}</h1>"
        f"<p>{result.passed_count} of {len(exercises)} exercises passed.</p>"
        f"{''.join(sections)}{extra}</body></html>\n"
    )


def write_page(folder: Path, result: LearnerResult, exercises: list[ExerciseInfo]) -> Path:
    """Write (atomically) and return the learner's page in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / page_name(result.learner)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(render(result, exercises), encoding="utf-8")
    os.replace(temporary, path)
    return path

"""One HTML feedback page per learner, from an autoescaped jinja2 template (templates/feedback.html.j2).

Everything on the page that a learner could have influenced (their name,
the graders' messages, which quote their errors, the problems) is escaped by
the template engine itself: no interpolation has to remember to. The page
has no scripts and loads nothing (CSP `default-src 'none'`), and its
messages are capped (MAX_PAGE_MESSAGE_CHARS in all). File names are made from
the learner's name with anything but letters, digits, `.`, `_` and `-`
replaced, plus a short hash when that changed the name (so two learners
never share a page). The verdict words, symbols, colours and the `backticks`
markup come from their one home, helpers/verdicts.py (`GRADING_LABELS`,
`markup`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path

import jinja2
from markupsafe import Markup

from helpers import runtime, verdicts
from instructor.grade.results import ERROR, MISSING, ExerciseInfo, LearnerResult

TEMPLATE = "feedback.html.j2"
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# Characters of messages, problems and notes on one page; the rest is cut with a note.
MAX_PAGE_MESSAGE_CHARS = 200_000


def page_name(learner: str) -> str:
    """A file name for the learner's page that cannot leave the feedback folder."""
    safe = SAFE_NAME.sub("_", learner).strip("._") or "learner"
    if safe != learner:
        safe = f"{safe[:80]}-{hashlib.sha256(learner.encode()).hexdigest()[:8]}"
    return f"{safe[:120]}.html"


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: autoescaping on for every template, `markup` as a filter."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["markup"] = lambda text: Markup(verdicts.markup(str(text)))
    return env


class _Budget:
    """Hands out at most `left` characters of text, then empty strings."""

    def __init__(self, left: int) -> None:
        self.left = left
        self.cut = False

    def take(self, texts: list[str]) -> list[str]:
        kept = []
        for text in texts:
            if self.left <= 0:
                self.cut = True
                break
            if len(text) > self.left:
                text, self.cut = text[: self.left] + "\u2026", True
            self.left -= len(text)
            kept.append(text)
        return kept


def render(result: LearnerResult, exercises: list[ExerciseInfo]) -> str:
    """The learner's page as an HTML document."""
    budget = _Budget(MAX_PAGE_MESSAGE_CHARS)
    sections = []
    for exercise in exercises:
        outcome = result.exercises.get(exercise.key)
        status = outcome.status if outcome else MISSING
        labels = verdicts.GRADING_LABELS
        word, symbol, colour = labels.get(status, labels[ERROR])
        sections.append(
            {
                "title": exercise.title,
                "notebook": exercise.notebook,
                "word": word,
                "symbol": symbol,
                "colour": colour,
                "messages": budget.take(list(outcome.messages) if outcome else []),
            }
        )
    return (
        environment()
        .get_template(TEMPLATE)
        .render(
            learner=result.learner,
            passed=result.passed_count,
            sections=sections,
            problems=budget.take(list(result.problems)),
            notes=budget.take(list(result.notes)),
            cut=MAX_PAGE_MESSAGE_CHARS if budget.cut else 0,
        )
    )


def write_page(folder: Path, result: LearnerResult, exercises: list[ExerciseInfo]) -> Path:
    """Write (atomically) and return the learner's page in `folder`."""
    return runtime.write_atomically(folder / page_name(result.learner), render(result, exercises))

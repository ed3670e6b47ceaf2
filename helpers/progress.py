"""The learner's progress: which exercises passed, kept in a small JSON file.

Each check records its outcome here (`record_progress`); `summary()` shows the
table of the course's exercises with the current notebook's rows in bold. The
file is `.progress.json` in the course folder (git-ignored), or wherever
$ALPACA_PROGRESS_FILE points. Reading or writing it never fails a check.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from helpers import config, runtime
from helpers.verdicts import ERROR, HEADLINES, PASSED, Displayable, GradeResult


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of the course, for the progress table."""

    key: str
    notebook: str
    title: str


EXERCISES: dict[str, Exercise] = {
    e.key: e
    for e in (
        Exercise("datasets", "01", "create_datasets: training and validation datasets"),
        Exercise("data_augmenter", "02", "data_augmenter: flip and rotate"),
        Exercise("alpaca_model", "04", "alpaca_model: frozen MobileNetV2 and a new head"),
        Exercise("fine_tuning", "05", "prepare_fine_tuning: unfreeze and recompile"),
        Exercise("representative_dataset", "06", "make_representative_dataset: int8 calibration"),
    )
}

# Exercises checked in this kernel: when the front end does not name the notebook, they do.
_CHECKED_THIS_SESSION: set[str] = set()


def read_progress() -> dict[str, Any]:
    """The progress file's contents, or an empty record when it is missing or unreadable."""
    try:
        data = json.loads(config.progress_file().read_text())
        if isinstance(data, dict) and isinstance(data.get("exercises"), dict):
            return data
    except Exception:
        pass
    return {"format": 1, "exercises": {}}


def record_progress(result: GradeResult) -> None:
    """Store the outcome; a progress file that cannot be written never fails the check."""
    _CHECKED_THIS_SESSION.add(result.exercise)
    if result.status == ERROR:
        return
    try:
        data = read_progress()
        entry = data["exercises"].setdefault(result.exercise, {})
        entry["status"] = result.status
        entry["ever_passed"] = bool(entry.get("ever_passed")) or result.passed
        entry["checked_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        runtime.write_atomically(config.progress_file(), json.dumps(data, indent=1, sort_keys=True))
    except Exception:
        pass


def current_notebook() -> str | None:
    """The number ("01", "02", ...) of the notebook this kernel runs, when the front end says."""
    candidates = [os.environ.get("JPY_SESSION_NAME", "")]  # set by jupyter_server for kernels
    shell = runtime.ipython_shell()
    if shell is not None:  # VS Code puts the notebook's path into the kernel's namespace
        candidates.append(str(getattr(shell, "user_ns", {}).get("__vsc_ipynb_file__", "")))
    for candidate in candidates:
        match = re.match(r"(\d\d)_", Path(candidate).name)
        if match:
            return match.group(1)
    notebooks = {EXERCISES[key].notebook for key in _CHECKED_THIS_SESSION if key in EXERCISES}
    return notebooks.pop() if len(notebooks) == 1 else None


@dataclass(repr=False, eq=False)
class ProgressSummary(Displayable):
    """Which exercises passed, in this notebook and across the course."""

    rows: list[dict[str, str]]
    notebook: str | None

    def _count(self, rows: Iterable[dict[str, str]]) -> tuple[int, int]:
        rows = list(rows)
        return sum(r["status"] == PASSED for r in rows), len(rows)

    def headline(self) -> str:
        """One line: passed counts for this notebook (when known) and the course."""
        done, total = self._count(self.rows)
        parts = []
        if self.notebook is not None:
            here, here_total = self._count(r for r in self.rows if r["notebook"] == self.notebook)
            parts.append(f"This notebook ({self.notebook}): {here} of {here_total} passed")
        parts.append(f"Course: {done} of {total} exercises passed")
        return " \u00b7 ".join(parts)

    @staticmethod
    def _label(row: dict[str, str]) -> str:
        status = row["status"]
        if status not in HEADLINES:
            return "not checked yet \u25cb"
        word, symbol, _ = HEADLINES[status]
        again = " (passed before)" if status != PASSED and row.get("ever_passed") else ""
        return f"{word} {symbol}{again}"

    def text(self) -> str:
        lines = [self.headline()]
        for row in self.rows:
            here = "\u2192" if row["notebook"] == self.notebook else " "
            lines.append(f"{here} {row['notebook']}  {row['title']:<48} {self._label(row)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = []
        for row in self.rows:
            colour = HEADLINES.get(row["status"], ("", "", "#757575"))[2]
            weight = "bold" if row["notebook"] == self.notebook else "normal"
            body.append(
                f'<tr style="font-weight:{weight}"><td>{row["notebook"]}</td>'
                f"<td>{html.escape(row['title'])}</td>"
                f'<td style="color:{colour}">{html.escape(self._label(row))}</td>'
                f"<td>{html.escape(row['checked_at'])}</td></tr>"
            )
        return (
            f'<div class="alpaca-progress"><p><strong>{html.escape(self.headline())}</strong></p>'
            "<table><thead><tr><th>Notebook</th><th>Exercise</th><th>Status</th>"
            f"<th>Last checked (UTC)</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )


def summary(notebook: str | int | None = None) -> ProgressSummary:
    """Display and return the progress table (the current notebook's rows in bold).

    `notebook` ("04" or 4) names this notebook when the front end does not.
    """
    try:
        recorded = read_progress()["exercises"]
        rows = []
        for exercise in EXERCISES.values():
            entry = recorded.get(exercise.key, {})
            entry = entry if isinstance(entry, dict) else {}
            rows.append(
                {
                    "notebook": exercise.notebook,
                    "exercise": exercise.key,
                    "title": exercise.title,
                    "status": str(entry.get("status", "")),
                    "ever_passed": "yes" if entry.get("ever_passed") else "",
                    "checked_at": str(entry.get("checked_at", "")).replace("+00:00", ""),
                }
            )
        here = f"{int(notebook):02d}" if notebook is not None else current_notebook()
        table = ProgressSummary(rows, here)
    except Exception:
        table = ProgressSummary([], None)
    try:
        table._show()
    except Exception:
        pass
    return table

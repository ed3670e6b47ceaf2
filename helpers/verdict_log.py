"""A log of machine-readable grader verdicts, for instructors' grading runs.

When the environment variable named by `config.ENV_VERDICTS_FILE` is set (a
grading run sets it for each notebook's kernel), every grader call appends
one JSON line to that file:

    {"exercise": "datasets", "status": "passed", "messages": ["..."]}

`status` is one of "passed", "failed", "not yet", "error" (the graders'
words). Without the variable nothing is written, so learners never see this.
The grading run reads the lines back with `read()`; it never scrapes the
text a grader prints.

Recording never raises: a verdict that cannot be written must not break the
learner's cell. This module imports nothing heavy (no TensorFlow).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from helpers import config

STATUSES: tuple[str, ...] = ("passed", "failed", "not yet", "error")


def record(result: Any) -> None:
    """Append `result`'s exercise, status and messages to the verdicts file, if one is set.

    `result` is a grader's `GradeResult` (anything with `.exercise`, `.status`
    and `.messages`).
    """
    path = os.environ.get(config.ENV_VERDICTS_FILE)
    if not path:
        return
    try:
        line = json.dumps(
            {
                "exercise": str(result.exercise),
                "status": str(result.status),
                "messages": [str(message) for message in result.messages],
            }
        )
        # One write of one line in append mode: lines from one kernel never interleave.
        with open(path, "a", encoding="utf-8") as verdicts_file:
            verdicts_file.write(line + "\n")
    except Exception:
        pass


def read(path: Path) -> list[dict[str, Any]]:
    """The verdicts in `path`, oldest first; lines that are not a well-formed verdict are left out.

    A kernel killed in the middle of a write can leave half a line; a
    notebook may also write junk into the file. Neither stops the others
    from being read.
    """
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    verdicts: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        exercise, status, messages = (
            entry.get("exercise"),
            entry.get("status"),
            entry.get("messages", []),
        )
        if (
            not isinstance(exercise, str)
            or status not in STATUSES
            or not isinstance(messages, list)
        ):
            continue
        verdicts.append(
            {"exercise": exercise, "status": status, "messages": [str(m) for m in messages]}
        )
    return verdicts

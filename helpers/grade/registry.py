"""The course's graded exercises, read from the graders' own registry (`graders.EXERCISES`).

The graders import TensorFlow; the grading command does not want to (its
process only schedules work and writes files), so the registry is read once
in a child Python process and handed over as JSON.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys

from helpers import config
from helpers.grade.results import ExerciseInfo

_READ_REGISTRY = (
    "import json\n"
    "from helpers.graders import EXERCISES\n"
    "print(json.dumps([[e.key, e.notebook, e.title] for e in EXERCISES.values()]))\n"
)


@functools.lru_cache(maxsize=1)
def exercise_registry() -> tuple[ExerciseInfo, ...]:
    """Every graded exercise, in the graders' order. Raises RuntimeError when it cannot be read."""
    environment = dict(os.environ, PYTHONPATH=str(config.PROJECT_ROOT), TF_CPP_MIN_LOG_LEVEL="3",
                       CUDA_VISIBLE_DEVICES="")
    completed = subprocess.run(
        [sys.executable, "-c", _READ_REGISTRY], cwd=str(config.PROJECT_ROOT), env=environment,
        capture_output=True, text=True, timeout=300,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        tail = " | ".join(completed.stderr.strip().splitlines()[-3:])
        raise RuntimeError(f"could not read the graders' exercise registry: {tail}")
    return tuple(ExerciseInfo(str(key), str(notebook), str(title)) for key, notebook, title in json.loads(lines[-1]))

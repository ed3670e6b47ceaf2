"""Each notebook's "What you need" run time is what the benchmark measured (within a factor of 1.5).

The stated times come from the benchmark's `course_notebooks` figures
(benchmarks/results.json): `python -m benchmarks` runs the whole course once,
in order and in fresh kernels as a learner would, on the 2-core reference
machine. This test compares each notebook's stated time with that run instead
of timing a second run of the course inside the test suite (speed is the
benchmark's job; the suite already runs every master once, under nbval).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import course

FACTOR = 1.5
STATED = re.compile(r"About (\d+) seconds to run")
RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results.json"


def stated_seconds(notebook: Path) -> int:
    """The run time stated in the notebook's first cell ("About N seconds to run")."""
    first_cell = json.loads(notebook.read_text())["cells"][0]
    match = STATED.search("".join(first_cell["source"]))
    assert match, f"{notebook.name}: its first cell states no 'About N seconds to run'"
    return int(match.group(1))


def measured_seconds() -> dict[str, float]:
    """Seconds per notebook in the benchmark's run of the course."""
    return json.loads(RESULTS.read_text())["course_notebooks"]


def test_every_notebook_states_its_run_time() -> None:
    for notebook in course.solution_notebooks():
        assert stated_seconds(notebook) > 0


def test_the_benchmark_timed_every_notebook() -> None:
    assert sorted(measured_seconds()) == sorted(n.name for n in course.solution_notebooks())


@pytest.mark.parametrize("notebook", course.solution_notebooks(), ids=lambda path: path.stem)
def test_stated_run_time_matches_the_benchmark(notebook: Path) -> None:
    stated, measured = stated_seconds(notebook), measured_seconds()[notebook.name]
    assert stated / FACTOR <= measured <= stated * FACTOR, (
        f"{notebook.name} states about {stated} s but the benchmark's run took {measured:.0f} s: "
        "restate it from benchmarks/results.json (course_notebooks) and re-execute the master."
    )

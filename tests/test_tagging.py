"""The `skip-when-grading` tag: its rules, the build placing it, the masters carrying it, the copies keeping it."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from helpers import config
from instructor import build, tagging


def notebook_of(*sources: str) -> nbformat.NotebookNode:
    """A notebook with one code cell per source."""
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])


def skipped(notebook: nbformat.NotebookNode) -> dict[int, str]:
    return {decision.index: decision.reason for decision in tagging.plan(notebook)}


def test_training_measuring_and_drawing_cells_are_skipped_and_so_is_what_needs_them() -> None:
    notebook = notebook_of(
        "import time\nmodel = build()",  # 0 kept
        "def timed(data):\n    start = time.perf_counter()\n    return time.perf_counter() - start",  # 1 kept: defines
        "history = model.fit(data, epochs=5)",  # 2 trains
        "print(history.epoch)",  # 3 needs history
        "plots.plot_learning_curves(history)",  # 4 draws
        "seconds = timed(data)",  # 5 measures
        "loss, accuracy = model.evaluate(data)",  # 6 evaluates
        "history = None\nprint(history)",  # 7 redefines history: kept
        "# GRADED FUNCTION: f\ndef f(model):\n    return model",  # 8 protected
        "graders.check_fine_tuning(model)",  # 9 protected
        "def one_step(m):\n    m.train_on_batch(x, y)\n\nmoved = one_step(model)",  # 10 trains
    )
    reasons = skipped(notebook)
    assert sorted(reasons) == [2, 3, 4, 5, 6, 10]
    assert "one_step" in reasons[10]
    assert "fit" in reasons[2] and "history" in reasons[3] and reasons[4] == "only draws"
    assert reasons[5] == "measures time" and "evaluate" in reasons[6]


def test_a_grader_that_needs_a_skipped_cell_is_refused() -> None:
    notebook = notebook_of("history = model.fit(data)", "graders.check_fine_tuning(history)")
    with pytest.raises(tagging.TaggingError, match="history"):
        tagging.plan(notebook)


def course_of(tmp_path: Path, notebook: nbformat.NotebookNode) -> list[str]:
    """A one-master course in `tmp_path`; the build's command-line options for it."""
    nbformat.write(notebook, tmp_path / "solutions" / "04_x.ipynb")
    return [
        "--solutions",
        str(tmp_path / "solutions"),
        "--notebooks",
        str(tmp_path / "notebooks"),
        "--answers",
        str(tmp_path / "answers.py"),
    ]


def test_the_build_tags_only_metadata_keeps_hand_tags_and_is_idempotent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook = notebook_of("model.fit(x)", "print(1)", "plots.show(x)")
    notebook.cells[1].metadata["tags"] = [config.GRADE_SKIP_TAG, "mine"]
    (tmp_path / "solutions").mkdir()
    options = course_of(tmp_path, notebook)
    sources_before = [cell.source for cell in notebook.cells]

    assert build.main(options) == 0
    printed = capsys.readouterr().out
    assert "04_x.ipynb cell 0: model.fit(x)" in printed and "cell 2" in printed
    assert "cell 1" not in printed  # tagged by hand already
    path = tmp_path / "solutions" / "04_x.ipynb"
    tagged = nbformat.read(path, as_version=4)
    assert [cell.source for cell in tagged.cells] == sources_before
    assert all(config.GRADE_SKIP_TAG in cell.metadata["tags"] for cell in tagged.cells)
    assert "mine" in tagged.cells[1].metadata["tags"]
    copy = nbformat.read(tmp_path / "notebooks" / "04_x.ipynb", as_version=4)
    assert all(config.GRADE_SKIP_TAG in cell.metadata["tags"] for cell in copy.cells)

    text = path.read_text()
    assert tagging.tag(tagged) == []
    assert build.main(options) == 0 and path.read_text() == text
    assert build.main(["--check", *options]) == 0


def test_check_fails_on_an_untagged_training_cell_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "solutions").mkdir()
    options = course_of(tmp_path, notebook_of("history = model.fit(x)"))
    assert build.main(options) == 0
    path = tmp_path / "solutions" / "04_x.ipynb"
    untagged = notebook_of("history = model.fit(x)")
    nbformat.write(untagged, path)
    before = path.read_text()
    capsys.readouterr()
    assert build.main(["--check", *options]) == 1
    error = capsys.readouterr().err
    assert (
        "untagged: 04_x.ipynb cell 0: history = model.fit(x)  [trains or evaluates (fit)]" in error
    )
    assert path.read_text() == before


def test_a_master_whose_grader_needs_a_skipped_cell_fails_the_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "solutions").mkdir()
    notebook = notebook_of("history = model.fit(data)", "graders.check_fine_tuning(history)")
    assert build.main(course_of(tmp_path, notebook)) == 2
    assert "04_x.ipynb" in capsys.readouterr().err


def test_list_skips_names_every_skipped_cell_of_the_masters_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert build.main(["--list-skips"]) == 0
    printed = capsys.readouterr().out.splitlines()
    expected = sum(
        config.GRADE_SKIP_TAG in cell.metadata.get("tags", [])
        for path in config.course_notebooks()
        for cell in nbformat.read(path, as_version=4).cells
    )
    assert len(printed) == expected > 0
    assert all(line.endswith("]") and " cell " in line for line in printed)


def test_every_master_carries_the_tags_its_rules_ask_for() -> None:
    # Fails after a master is rewritten: run `python -m instructor.build`.
    assert build.build(check=True).untagged == []


@pytest.mark.parametrize("master", config.course_notebooks(), ids=lambda p: p.stem)
def test_learner_copies_keep_the_skip_tags_and_never_on_graded_or_grader_cells(
    master: Path,
) -> None:
    solution = nbformat.read(master, as_version=4)
    copy = nbformat.read(config.NOTEBOOKS_DIR / master.name, as_version=4)

    def tags_of(notebook: nbformat.NotebookNode) -> list[bool]:
        return [config.GRADE_SKIP_TAG in c.metadata.get("tags", []) for c in notebook.cells]

    assert tags_of(copy) == tags_of(solution)
    for cell in copy.cells:
        if tagging.is_protected(cell.source):
            assert config.GRADE_SKIP_TAG not in cell.metadata.get("tags", [])


def test_the_masters_skip_training_in_04_and_05() -> None:
    for name, call in [("04", ".fit("), ("05", ".fit(")]:
        master = next(config.SOLUTIONS_DIR.glob(f"{name}_*.ipynb"))
        notebook = nbformat.read(master, as_version=4)
        training = [c for c in notebook.cells if c.cell_type == "code" and call in c.source]
        assert training and all(
            config.GRADE_SKIP_TAG in c.metadata.get("tags", []) for c in training
        )

"""instructor.build: the placeholder rule, the learner copy, --check, idempotency, the real notebooks.

Fast (no TensorFlow, no kernels; the notebooks are only read as JSON), except the
one test of `--execute`, which starts a kernel and is marked slow.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from fixtures.isolation import NotebookEnvironment

from helpers import config
from instructor import build, pipeline, placeholders

MASTERS = config.course_notebooks(config.SOLUTIONS_DIR)
IGNORE_TAG = "nbval-ignore-output"


def region(*lines: str, indent: str = "") -> str:
    """A code cell source with one solution region around `lines`."""
    body = [indent + config.START_MARKER, *lines, indent + config.END_MARKER]
    return "\n".join(body)


def synthetic_notebook(*sources: str) -> nbformat.NotebookNode:
    """A small executed-looking master: markdown, then code cells with outputs and tags."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": {"name": "something-else"}, "widgets": {"state": 1}}
    notebook.cells.append(nbformat.v4.new_markdown_cell("# Title", metadata={"tags": ["intro"]}))
    for index, source in enumerate(sources):
        cell = nbformat.v4.new_code_cell(source, execution_count=index + 1)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="out\n")]
        cell.metadata = {"tags": [IGNORE_TAG], "execution": {"iopub.status.idle": "2026-01-01"}}
        notebook.cells.append(cell)
    for number, cell in enumerate(notebook.cells):
        cell.id = f"cell-{number}"
    return notebook


def write_notebook(path: Path, notebook: nbformat.NotebookNode) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(notebook), encoding="utf-8")


def regions_of(source: str) -> list[list[str]]:
    """The lines inside each solution region of a cell."""
    found, inside = [], None
    for line in source.split("\n"):
        if line.lstrip().startswith(config.START_MARKER):
            inside = []
        elif line.lstrip().startswith(config.END_MARKER):
            found.append(inside)
            inside = None
        elif inside is not None:
            inside.append(line)
    return found


# --- The placeholder rule ----------------------------------------------------


def test_assignments_become_none_with_the_masters_hint_or_the_default() -> None:
    source = region(
        "train = load(subset='training')  # the training subset",
        "a, b = make_pair()",
        "c = d = 3",
        "n: int = count()",
    )
    assert placeholders.strip_solutions(source).split("\n")[1:-1] == [
        "train = None  # the training subset",
        f"a, b = None, None  {placeholders.DEFAULT_HINT}",
        f"c = d = None  {placeholders.DEFAULT_HINT}",
        f"n: int = None  {placeholders.DEFAULT_HINT}",
    ]


def test_returns_become_return_none_and_other_statements_go() -> None:
    source = region(
        "model.add(layer)",
        "base.trainable = False",
        "weights[0] = 1",
        "total += 1",
        "for layer in base.layers[:10]:",
        "    # a comment inside the loop goes with it",
        "    layer.trainable = False",
        "with scope():",
        "    x = 1",
        "return model",
        indent="",
    )
    assert placeholders.strip_solutions(source).split("\n")[1:-1] == [
        f"return None  {placeholders.DEFAULT_HINT}"
    ]


def test_comments_and_blank_lines_between_statements_stay_with_the_indentation() -> None:
    source = "def f(x):\n" + region(
        "    # Step 1: double it",
        "    y = 2 * x",
        "",
        "    # Step 2: print it",
        "    print(y)",
        "    return y",
        indent="    ",
    )
    assert placeholders.strip_solutions(source).split("\n") == [
        "def f(x):",
        "    " + config.START_MARKER,
        "    # Step 1: double it",
        f"    y = None  {placeholders.DEFAULT_HINT}",
        "",
        "    # Step 2: print it",
        f"    return None  {placeholders.DEFAULT_HINT}",
        "    " + config.END_MARKER,
    ]


def test_a_region_left_without_statements_gets_pass_so_the_cell_parses() -> None:
    source = "def f(model):\n" + region(
        "    # unfreeze it", "    model.trainable = True", indent="    "
    )
    learner = placeholders.strip_solutions(source)
    assert learner.split("\n")[2:4] == ["    # unfreeze it", "    pass"]
    ast.parse(learner)


def test_several_regions_in_one_cell_and_code_outside_them_is_kept() -> None:
    source = "\n".join(
        ["import os", region("a = 1"), "print('between')", region("b = 2  # hint b"), "done = True"]
    )
    assert placeholders.strip_solutions(source).split("\n") == [
        "import os",
        config.START_MARKER,
        f"a = None  {placeholders.DEFAULT_HINT}",
        config.END_MARKER,
        "print('between')",
        config.START_MARKER,
        "b = None  # hint b",
        config.END_MARKER,
        "done = True",
    ]


def test_markers_with_trailing_text_count_as_markers() -> None:
    source = "### START CODE HERE ### (about 2 lines)\nx = 1\n### END CODE HERE ###"
    assert (
        placeholders.strip_solutions(source).split("\n")[1]
        == f"x = None  {placeholders.DEFAULT_HINT}"
    )


def test_learner_override_lines_replace_the_whole_region() -> None:
    source = "def f():\n" + region(
        "    # LEARNER: # Build the list yourself",
        "    # LEARNER: items = []",
        "    # the master's own comment is not shown",
        "    items = [1, 2, 3]",
        indent="    ",
    )
    assert placeholders.strip_solutions(source).split("\n")[2:4] == [
        "    # Build the list yourself",
        "    items = []",
    ]


@pytest.mark.parametrize(
    "source, problem",
    [
        (f"{config.START_MARKER}\nx = 1", "without an end marker"),
        (f"x = 1\n{config.END_MARKER}", "without a start marker"),
        (f"{config.START_MARKER}\n{config.START_MARKER}\n{config.END_MARKER}", "may not nest"),
        (region("x = (1"), "not valid Python"),
    ],
)
def test_broken_regions_are_refused_with_a_reason(source: str, problem: str) -> None:
    with pytest.raises(placeholders.BuildError, match=problem):
        placeholders.strip_solutions(source)


def test_the_rule_applied_to_its_own_output_changes_nothing() -> None:
    sources = [
        region("a = f()  # hint", "g()", "return a"),
        "def f():\n" + region("    # only a comment", "    x.y = 1", indent="    "),
        region("a, b = 1, 2", "", "# keep me", "for i in x:", "    pass"),
    ]
    for source in sources:
        once = placeholders.strip_solutions(source)
        assert placeholders.strip_solutions(once) == once


def test_cells_without_regions_are_unchanged() -> None:
    source = "x = 1  # not an exercise\nprint(x)"
    assert placeholders.strip_solutions(source) == source
    assert not placeholders.has_solution_region(source)


# --- Whole notebooks: outputs, metadata, determinism --------------------------


def test_learner_notebook_clears_outputs_keeps_tags_and_ids_and_sets_the_kernel() -> None:
    master = synthetic_notebook(region("x = 1"), "print('hi')")
    original = nbformat.writes(master)
    learner = pipeline.learner_notebook(master)
    assert nbformat.writes(master) == original, "the master must not change"
    assert learner.metadata == {
        "kernelspec": config.NOTEBOOK_KERNELSPEC,
        "language_info": pipeline.LANGUAGE_INFO,
    }
    assert learner.metadata.kernelspec.name == "python3"
    assert [cell.id for cell in learner.cells] == [cell.id for cell in master.cells]
    for cell in learner.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            assert cell.metadata == {"tags": [IGNORE_TAG]}
    assert learner.cells[0].metadata == {"tags": ["intro"]}
    assert learner.cells[1].source.split("\n")[1] == f"x = None  {placeholders.DEFAULT_HINT}"
    nbformat.validate(learner)


def test_rendering_is_stable_text_with_one_final_newline() -> None:
    master = synthetic_notebook(region("x = 1"))
    first = pipeline.render(pipeline.learner_notebook(master))
    second = pipeline.render(
        pipeline.learner_notebook(nbformat.reads(nbformat.writes(master), as_version=4))
    )
    assert first == second
    assert first.endswith("}\n") and not first.endswith("\n\n")


def folders(solutions: Path, notebooks: Path) -> list[str]:
    """The command-line options that point the build at a temporary course."""
    answers = solutions.parent / "answers.py"
    return ["--solutions", str(solutions), "--notebooks", str(notebooks), "--answers", str(answers)]


@pytest.fixture()
def course_copy(tmp_path: Path) -> tuple[Path, Path]:
    """A solutions/ and notebooks/ pair (and answers.py beside them) in a temporary folder, built."""
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    write_notebook(solutions / "01_first.ipynb", synthetic_notebook(region("x = 1")))
    write_notebook(solutions / "02_second.ipynb", synthetic_notebook("y = 2", region("return y")))
    assert build.main(folders(solutions, notebooks)) == 0
    return solutions, notebooks


def test_a_second_build_writes_nothing(course_copy: tuple[Path, Path]) -> None:
    solutions, notebooks = course_copy
    written = [*notebooks.iterdir(), *solutions.iterdir(), solutions.parent / "answers.py"]
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in written}
    report = build.build(solutions, notebooks, solutions.parent / "answers.py")
    assert report.written == [] and report.tagged == [] and not report.answers_written
    assert report.in_sync
    after = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in written}
    assert after == before


def run_check(
    solutions: Path, notebooks: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    code = build.main(["--check", *folders(solutions, notebooks)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_check_passes_when_in_sync(course_copy: tuple[Path, Path], capsys) -> None:
    assert run_check(*course_copy, capsys) == (
        0,
        "Masters' tags, learner copies and answers are up to date.\n",
    )


def test_check_reports_a_hand_edited_learner_copy_as_stale(course_copy, capsys) -> None:
    solutions, notebooks = course_copy
    target = notebooks / "01_first.ipynb"
    edited = nbformat.read(target, as_version=4)
    edited.cells[1].source += "\nprint('edited by hand')"
    target.write_text(nbformat.writes(edited), encoding="utf-8")
    code, output = run_check(solutions, notebooks, capsys)
    assert code == 1 and "stale: notebooks/01_first.ipynb" in output
    assert "02_second" not in output
    assert "edited by hand" in target.read_text(), "--check must not write"


def test_check_reports_a_changed_master(course_copy, capsys) -> None:
    solutions, notebooks = course_copy
    master = nbformat.read(solutions / "02_second.ipynb", as_version=4)
    master.cells.append(nbformat.v4.new_markdown_cell("## New section"))
    write_notebook(solutions / "02_second.ipynb", master)
    code, output = run_check(solutions, notebooks, capsys)
    assert code == 1 and "stale: notebooks/02_second.ipynb" in output


def test_check_reports_missing_and_extra_copies(course_copy, capsys) -> None:
    solutions, notebooks = course_copy
    (notebooks / "01_first.ipynb").unlink()
    shutil.copy(notebooks / "02_second.ipynb", notebooks / "07_orphan.ipynb")
    code, output = run_check(solutions, notebooks, capsys)
    assert code == 1
    assert "missing: notebooks/01_first.ipynb" in output
    assert "extra: notebooks/07_orphan.ipynb" in output
    assert build.main(folders(solutions, notebooks)) == 0
    assert (notebooks / "01_first.ipynb").exists()


def test_a_broken_master_fails_the_build_with_its_name(tmp_path: Path, capsys) -> None:
    write_notebook(
        tmp_path / "s" / "01_bad.ipynb", synthetic_notebook(f"{config.START_MARKER}\nx = 1")
    )
    assert build.main(folders(tmp_path / "s", tmp_path / "n")) == 2
    assert "01_bad.ipynb: cell 1" in capsys.readouterr().err


def test_the_command_line_check_is_quick_and_imports_no_tensorflow() -> None:
    probe = (
        "import sys, instructor.build as b; code = b.main(['--check']); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules); sys.exit(code)"
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=config.PROJECT_ROOT, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    assert result.stdout.strip().endswith("False False"), result.stdout + result.stderr
    # Generous on purpose (it takes about a second): the bound catches --check starting to
    # execute notebooks or load models (minutes), not a busy machine.
    assert elapsed < 120, f"--check took {elapsed:.1f} s"


# --- The real course ---------------------------------------------------------


def test_there_are_six_masters() -> None:
    assert [path.name[:3] for path in MASTERS] == ["01_", "02_", "03_", "04_", "05_", "06_"]


def test_masters_tags_learner_copies_and_answers_are_up_to_date() -> None:
    report = build.build(check=True)
    assert report.in_sync, f"run `python -m instructor.build`: {report}"


@pytest.mark.parametrize("master_path", MASTERS, ids=lambda path: path.stem)
def test_learner_copy_has_no_solution_lines_and_no_outputs(master_path: Path) -> None:
    master = nbformat.read(master_path, as_version=4)
    learner = nbformat.read(config.NOTEBOOKS_DIR / master_path.name, as_version=4)
    assert len(learner.cells) == len(master.cells)
    for master_cell, learner_cell in zip(master.cells, learner.cells):
        if learner_cell.cell_type != "code":
            continue
        assert learner_cell.outputs == [] and learner_cell.execution_count is None
        # Magics are not Python; everything else in a learner cell must parse.
        ast.parse(
            "\n".join(line for line in learner_cell.source.split("\n") if not line.startswith("%"))
        )
        for solution, placeholder in zip(
            regions_of(master_cell.source), regions_of(learner_cell.source)
        ):
            solution_code = {
                line.strip()
                for line in solution
                if line.strip() and not line.strip().startswith("#")
            }
            leaked = [line for line in placeholder if line.strip() in solution_code]
            assert not leaked, f"solution lines in the learner copy of {master_path.name}: {leaked}"


@pytest.mark.parametrize("master_path", MASTERS, ids=lambda path: path.stem)
def test_every_exercise_has_headers_and_its_grader_call_in_the_next_cell(master_path: Path) -> None:
    cells = nbformat.read(master_path, as_version=4).cells
    exercises = [
        i
        for i, cell in enumerate(cells)
        if cell.cell_type == "code" and placeholders.has_solution_region(cell.source)
    ]
    graders_called = [
        i
        for i, cell in enumerate(cells)
        if cell.cell_type == "code" and config.is_grader_cell(cell.source)
    ]
    assert [i + 1 for i in exercises] == graders_called or (not exercises and not graders_called)
    for index in exercises:
        source = cells[index].source
        assert re.search(r"^# UNQ_C\d+$", source, re.MULTILINE), f"cell {index}: no # UNQ_Cn header"
        name = re.search(r"^# GRADED FUNCTION: (\w+)$", source, re.MULTILINE)
        assert name, f"cell {index}: no # GRADED FUNCTION header"
        assert f"def {name.group(1)}(" in source, (
            f"cell {index}: the header names no function defined here"
        )


def test_exercise_numbers_run_through_the_course() -> None:
    numbers = []
    for path in MASTERS:
        for cell in nbformat.read(path, as_version=4).cells:
            numbers += [int(n) for n in re.findall(r"^# UNQ_C(\d+)$", cell.source, re.MULTILINE)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) == 5


@pytest.mark.parametrize("master_path", MASTERS, ids=lambda path: path.stem)
def test_master_follows_the_skeleton(master_path: Path) -> None:
    cells = nbformat.read(master_path, as_version=4).cells
    markdown = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    assert len(re.findall(r"^# ", markdown, re.MULTILINE)) == 1, "exactly one H1"
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# ")
    for heading in (
        "## What you will learn",
        "## What you need",
        "## What you should remember",
        "## Further reading",
    ):
        assert heading in markdown, heading
    first_code = next(cell for cell in cells if cell.cell_type == "code")
    assert "helpers.setup_notebook()" in first_code.source
    setup_line = first_code.source.index("helpers.setup_notebook()")
    assert "import tensorflow" not in first_code.source[:setup_line]
    assert "import keras" not in first_code.source[:setup_line]
    remember = markdown.split("## What you should remember", 1)[1].split("##", 1)[0]
    assert 3 <= len(re.findall(r"^- ", remember, re.MULTILINE)) <= 5
    for link in (
        "arxiv.org/abs/1704.04861",
        "arxiv.org/abs/1801.04381",
        "keras.io/guides/transfer_learning",
    ):
        assert link in markdown, link
    code = "\n".join(cell.source for cell in cells if cell.cell_type == "code")
    assert "/work/" not in code and "/home/" not in code, "no absolute paths"


@pytest.mark.parametrize("master_path", MASTERS, ids=lambda path: path.stem)
def test_master_was_run_and_unstable_cells_are_not_compared(master_path: Path) -> None:
    cells = [
        cell for cell in nbformat.read(master_path, as_version=4).cells if cell.cell_type == "code"
    ]
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), "run top to bottom once, in a fresh kernel"
    for cell in cells:
        tags = cell.metadata.get("tags", [])
        assert not any(output.output_type == "error" for output in cell.outputs), cell.source[:60]
        printed = "".join(output.get("text", "") for output in cell.outputs)
        if re.search(r"\.fit\(|\.evaluate\(|load_phase1|summary\(\)", cell.source) or re.search(
            r"\d\.\d+ s\b", printed
        ):
            assert IGNORE_TAG in tags, (
                f"timing- or weight-dependent cell not ignored: {cell.source[:60]}"
            )
        if config.is_grader_cell(cell.source):
            assert IGNORE_TAG not in tags, "grader verdicts must be compared by nbval"
        if "fit(" in cell.source:
            # One line per epoch, or silent when the cell prints its own summary (the
            # yardstick's 20 quick epochs): never Keras' progress bar, which floods logs.
            assert re.search(r"verbose=[02]\b", cell.source), cell.source[:60]


# --- Executing masters (starts a kernel, so marked slow) -----------------------


@pytest.mark.slow
def test_execute_stores_outputs_of_a_fresh_run_and_leaves_a_failing_master_alone(
    tmp_path: Path, notebook_environment: NotebookEnvironment
) -> None:
    master = tmp_path / "01_tiny.ipynb"
    notebook = synthetic_notebook("print(6 * 7)", "import os\nprint(os.environ['ALPACA_WIDGETS'])")
    write_notebook(master, notebook)
    build.execute_master(master)
    executed = nbformat.read(master, as_version=4)
    code_cells = [cell for cell in executed.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code_cells] == [1, 2]
    assert [cell.outputs[0].text for cell in code_cells] == ["42\n", "static\n"]
    assert all("execution" not in cell.metadata for cell in code_cells)
    assert executed.metadata.kernelspec == config.NOTEBOOK_KERNELSPEC

    failing = tmp_path / "02_failing.ipynb"
    write_notebook(failing, synthetic_notebook("raise ValueError('broken master')"))
    before = failing.read_text()
    with pytest.raises(Exception, match="broken master"):
        build.execute_master(failing)
    assert failing.read_text() == before


# --- Executing the masters as a course (fast: execute_master itself is replaced) -------------


def test_execute_runs_masters_in_course_order_with_one_progress_file_and_artifacts_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """05's and 06's stored summaries show the course's progress only when the masters run in
    order with one progress file; 06 exports 05's model only when they share the artifacts."""
    for name in ("01_a.ipynb", "02_b.ipynb", "03_c.ipynb"):
        write_notebook(tmp_path / name, synthetic_notebook("print(1)"))
    calls = []

    def record(path: Path, **kwargs: object) -> float:
        calls.append((path.name, kwargs["progress_file"], kwargs["artifacts_dir"]))
        return 0.0

    monkeypatch.setattr(build, "execute_master", record)
    build.execute_masters(tmp_path)
    assert [name for name, _, _ in calls] == ["01_a.ipynb", "02_b.ipynb", "03_c.ipynb"]
    assert len({progress for _, progress, _ in calls}) == 1
    assert {artifacts for _, _, artifacts in calls} == {config.ARTIFACTS_DIR}

    calls.clear()
    lines = build.execute_masters(tmp_path, ["03_c.ipynb", "solutions/01_a.ipynb"])
    assert [name for name, _, _ in calls] == ["01_a.ipynb", "03_c.ipynb"]
    assert lines[0].startswith("note: only some masters were executed")

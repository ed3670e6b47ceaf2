"""How verdicts look and where they go: HTML and text, one display per cell, progress table."""

from __future__ import annotations

import json

import grader_answers as answers
import pytest
from fixtures.pinned import import_pinned

from helpers import config, graders, progress
from helpers.rules import augmentation as augmentation_rules


@pytest.fixture
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(config.ENV_PROGRESS_FILE, str(path))
    monkeypatch.setattr(progress, "_CHECKED_THIS_SESSION", set())
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    return path


@pytest.fixture
def ipython_shell():
    """A real IPython shell, removed again so other tests see plain Python."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns.update(graders=graders, answers=answers)
    yield shell
    InteractiveShell.clear_instance()


def test_pass_and_fail_are_words_and_symbols_not_only_colour():
    passed = graders.check_data_augmenter(answers.augmenter_reference)
    failed = graders.check_data_augmenter(answers.augmenter_vertical)
    not_yet = graders.check_data_augmenter(answers.untouched_data_augmenter)
    assert passed.text().startswith("Passed \u2714")
    assert failed.text().startswith("Not passed \u2718")
    assert not_yet.text().startswith("Not yet")
    for result, word in (
        (passed, "Passed \u2714"),
        (failed, "Not passed \u2718"),
        (not_yet, "Not yet"),
    ):
        assert word in result._repr_html_()
        assert repr(result) == result.text()


def test_html_escapes_messages_and_marks_code():
    result = graders.GradeResult("x", graders.FAILED, ["<b>bad</b> look at `mode`"], ["c"])
    html = result._repr_html_()
    assert "&lt;b&gt;bad&lt;/b&gt;" in html and "<code>mode</code>" in html


def test_prints_plain_text_outside_ipython(capsys):
    result = graders.check_data_augmenter(answers.augmenter_vertical)
    printed = capsys.readouterr().out
    assert printed.strip() == result.text()


def test_repr_pretty_gives_the_text():
    from IPython.lib.pretty import pretty

    result = graders.GradeResult("x", graders.PASSED, ["fine"], [])
    assert pretty(result) == result.text()


def test_one_display_when_the_check_is_the_last_expression(ipython_shell):
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        ipython_shell.run_cell(
            "graders.check_data_augmenter(answers.augmenter_vertical)", store_history=True
        )
    assert len(captured.outputs) == 1
    assert "text/html" in captured.outputs[0].data and "text/plain" in captured.outputs[0].data
    assert "Not passed" in captured.outputs[0].data["text/plain"]
    assert "Not passed" not in captured.stdout  # no second, execute_result copy

    # Shown again on request in a later cell.
    with capture_output() as captured:
        ipython_shell.run_cell(
            "result = graders.check_data_augmenter(answers.augmenter_reference)", store_history=True
        )
    assert len(captured.outputs) == 1
    with capture_output() as captured:
        ipython_shell.run_cell("result", store_history=True)
    assert len(captured.outputs) == 1 and "Passed" in captured.outputs[0].data["text/plain"]


def test_internal_error_is_a_verdict_not_a_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("grader bug")

    monkeypatch.setattr(augmentation_rules, "augmentation_problems", broken)
    result = graders.check_data_augmenter(answers.augmenter_reference)
    assert result.status == graders.ERROR and not result.passed
    assert result.messages[0].startswith("The grader hit an internal error: KeyError")


def test_outcomes_are_recorded_and_summarised(progress_file, capsys):
    graders.check_data_augmenter(answers.augmenter_reference)
    graders.check_alpaca_model(answers.untouched_alpaca_model)
    record = json.loads(progress_file.read_text())["exercises"]
    assert record["data_augmenter"]["status"] == graders.PASSED
    assert record["alpaca_model"]["status"] == graders.NOT_YET
    capsys.readouterr()

    table = graders.summary()
    shown = capsys.readouterr().out
    assert shown.strip() == table.text()
    assert "Course: 1 of 5 exercises passed" in table.text()
    rows = {row["exercise"]: row["status"] for row in table.rows}
    assert rows == {
        "datasets": "",
        "data_augmenter": "passed",
        "alpaca_model": "not yet",
        "fine_tuning": "",
        "representative_dataset": "",
    }
    assert "not checked yet" in table.text() and "<table>" in table._repr_html_()


def test_summary_of_this_notebook(progress_file, monkeypatch):
    graders.check_data_augmenter(answers.augmenter_reference)
    assert "This notebook (02): 1 of 1 passed" in graders.summary().text()
    assert "This notebook (04): 0 of 1 passed" in graders.summary(notebook=4).text()
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/me/course/notebooks/05_fine_tuning.ipynb")
    assert "This notebook (05)" in graders.summary().text()


def test_a_pass_stays_in_the_record_after_a_later_failure(progress_file):
    graders.check_data_augmenter(answers.augmenter_reference)
    graders.check_data_augmenter(answers.augmenter_vertical)
    entry = json.loads(progress_file.read_text())["exercises"]["data_augmenter"]
    assert entry["status"] == graders.FAILED and entry["ever_passed"] is True


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"exercises": 3}'])
def test_corrupt_progress_file_is_replaced(progress_file, content):
    progress_file.write_text(content)
    assert graders.summary().rows  # still a table
    assert graders.check_data_augmenter(answers.augmenter_reference).passed
    assert (
        json.loads(progress_file.read_text())["exercises"]["data_augmenter"]["status"] == "passed"
    )


def test_unwritable_progress_file_never_fails_the_check(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(config.ENV_PROGRESS_FILE, str(blocker / "progress.json"))
    result = graders.check_data_augmenter(answers.augmenter_reference)
    assert result.passed
    assert graders.summary().rows


def test_in_a_real_kernel_the_verdict_appears_once(tmp_path, notebook_environment):
    """Through ipykernel, as in JupyterLab and nbval: one display_data, no execute_result."""
    nbformat = import_pinned("nbformat")
    nbclient = import_pinned("nbclient")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import sys; sys.path.insert(0, 'tests')\n"
            "import grader_answers as answers\nfrom helpers import graders"
        ),
        nbformat.v4.new_code_cell("graders.check_data_augmenter(answers.augmenter_vertical)"),
        nbformat.v4.new_code_cell(
            "result = graders.check_data_augmenter(answers.untouched_data_augmenter)\nresult"
        ),
        nbformat.v4.new_code_cell("result"),
    ]
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(config.PROJECT_ROOT)}},
    )
    client.execute()
    outputs = [[o for o in cell.outputs if o.output_type != "stream"] for cell in notebook.cells]
    assert [len(o) for o in outputs[1:]] == [1, 1, 1]
    assert all(o[0].output_type == "display_data" for o in outputs[1:3])
    assert outputs[1][0].data["text/plain"].startswith("Not passed")
    assert outputs[2][0].data["text/plain"].startswith("Not yet")
    assert "Not yet" in outputs[3][0].data["text/plain"]  # shown again when asked in a later cell

"""helpers.colab, the learner side of Colab: recognising it, the notebook's commit, the packages,
the widgets, and that nothing of it runs or costs anything locally.

Fast: a stand-in `google.colab` module in sys.modules, small local git repositories, pip
replaced where a test is about the decision and not the install (tests/test_colab_simulated.py
runs the real thing).
"""

from __future__ import annotations

import subprocess
import sys
import time
import types
from pathlib import Path

import nbformat
import numpy as np
import pytest
from fixtures.course_copy import commit_all, git
from packaging.requirements import Requirement

from helpers import colab, config
from helpers.explorers import base
from helpers.setup_errors import SetupError
from instructor import colab as instructor_colab
from instructor import pipeline

LINK = instructor_colab.ColabLink("https://github.com/someone/alpaca-course", "main")


@pytest.fixture
def on_colab(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A stand-in `google.colab` (with `output.enable_custom_widget_manager`) in sys.modules."""
    calls = types.SimpleNamespace(enabled=0)
    widgets = types.ModuleType("google.colab.output._widgets")
    widgets._installed_url = None

    def enable_custom_widget_manager() -> None:
        calls.enabled += 1
        widgets._installed_url = "https://stand-in.invalid/manager.min.js"

    output = types.ModuleType("google.colab.output")
    output.enable_custom_widget_manager = enable_custom_widget_manager
    package = types.ModuleType("google.colab")
    package.output = output
    monkeypatch.setitem(sys.modules, "google.colab", package)
    monkeypatch.setitem(sys.modules, "google.colab.output", output)
    monkeypatch.setitem(sys.modules, "google.colab.output._widgets", widgets)
    monkeypatch.setattr(colab, "_widget_manager_enabled", False)
    monkeypatch.delenv(colab.SESSION_VARIABLE, raising=False)
    calls.widgets = widgets
    return calls


def test_not_colab_here_and_the_check_imports_nothing() -> None:
    assert not colab.running_on_colab()
    assert "google.colab" not in sys.modules


def test_colab_is_recognised_by_its_kernel_module(on_colab: types.SimpleNamespace) -> None:
    assert colab.running_on_colab()


def test_the_colab_cell_does_nothing_locally_and_costs_nothing(tmp_path: Path) -> None:
    """The cell the build puts into learner copies, run where there is no Colab."""
    source = instructor_colab.setup_cell(LINK, "01_create_dataset.ipynb", "0" * 16).source
    code = f"import sys, time\nstart = time.perf_counter()\n{source}\nprint(time.perf_counter() - start, sorted(sys.modules))"
    before = sorted(path.name for path in tmp_path.iterdir())
    result = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"ALPACA_COLAB_HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    seconds, modules = result.stdout.split(" ", 1)
    assert float(seconds) < 0.01
    assert "subprocess" not in modules and "helpers" not in modules
    assert sorted(path.name for path in tmp_path.iterdir()) == before  # nothing cloned


# --- The notebook's commit ----------------------------------------------------------------


def _learner_copy(text: str) -> nbformat.NotebookNode:
    """A small learner copy with a Colab cell, whose content is `text`."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Title", id="title"),
        nbformat.v4.new_code_cell("import helpers\n\nhelpers.setup_notebook()", id="setup"),
        nbformat.v4.new_markdown_cell(text, id="text"),
    ]
    return instructor_colab.add_colab_cells(notebook, "01_x.ipynb", LINK)


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    """A course repository with three versions of notebooks/01_x.ipynb (and a commit between
    that leaves it alone), shallow-cloned as Colab does; the clone is the course that
    `helpers.colab` sees. Holds each version's hash and commit, the clone, and whether the
    imported `helpers` were dropped."""
    origin = tmp_path / "origin"
    (origin / "notebooks").mkdir(parents=True)
    git(origin, "init", "--quiet", "--initial-branch=main")
    facts = types.SimpleNamespace(hash={}, commit={}, forgotten=[])
    for text in ("first", "second", "third"):
        notebook = _learner_copy(text)
        (origin / "notebooks" / "01_x.ipynb").write_text(pipeline.render(notebook))
        (origin / "other.txt").write_text(text)
        facts.commit[text] = commit_all(origin, text)
        facts.hash[text] = instructor_colab.content_hash(notebook)
        if text == "first":
            (origin / "other.txt").write_text("unrelated change")
            commit_all(origin, "a commit that does not change the notebook")
    facts.clone = tmp_path / "content" / "alpaca-course"
    git(
        tmp_path,
        "clone",
        "--quiet",
        "--depth=1",
        "--branch=main",
        f"file://{origin}",
        str(facts.clone),
    )
    monkeypatch.setattr(config, "PROJECT_ROOT", facts.clone)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(colab, "_forget_helpers", lambda: facts.forgotten.append(True))
    monkeypatch.delenv(colab.SESSION_VARIABLE, raising=False)
    return facts


def test_the_embedded_hash_is_read_back_from_the_file() -> None:
    notebook = _learner_copy("first")
    assert colab.embedded_hash(pipeline.render(notebook)) == instructor_colab.content_hash(notebook)
    plain = nbformat.v4.new_notebook()
    assert colab.embedded_hash(pipeline.render(plain)) is None
    assert colab.embedded_hash("not json") is None


def test_a_notebook_of_the_fetched_commit_is_used_as_it_is(
    course: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    colab.check_notebook("01_x.ipynb", course.hash["third"], time.time() - 2.0)
    assert Path.cwd() == course.clone / "notebooks"
    assert git(course.clone, "rev-parse", "HEAD").strip() == course.commit["third"]
    assert git(course.clone, "rev-parse", "--is-shallow-repository").strip() == "true"
    assert capsys.readouterr().out == "" and course.forgotten == []
    assert colab._session()["clone_s"] >= 2.0


def test_an_older_notebook_gets_the_course_at_its_own_commit(
    course: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    colab.check_notebook("01_x.ipynb", course.hash["first"], None)
    assert git(course.clone, "rev-parse", "HEAD").strip() == course.commit["first"]
    assert (course.clone / "other.txt").read_text() == "first"
    said = capsys.readouterr().out
    assert f"this notebook is from commit {course.commit['first'][:7]}" in said
    assert course.forgotten == [True]  # the next `import helpers` reads that commit's files
    assert Path.cwd() == course.clone / "notebooks"
    assert "clone_s" not in colab._session()  # the course was there already


def test_a_notebook_from_another_course_stops_with_what_to_do(
    course: types.SimpleNamespace,
) -> None:
    with pytest.raises(SetupError, match=r"not in the history.*Open the notebook again"):
        colab.check_notebook("01_x.ipynb", "f" * 16, None)
    assert git(course.clone, "rev-parse", "HEAD").strip() == course.commit["third"]


# --- Packages --------------------------------------------------------------------------------


def test_learner_requirements_are_read_from_the_file(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# a comment line\n"
        "tensorflow==2.21.0     # the framework\n"
        "ipykernel==7.4.0       # Colab's kernel is its own\n"
        "JupyterLab==4.6.6\n"
        'never-here==1.0 ; sys_platform == "no-such-platform"  # marker false\n'
        "-r other.txt\n"
        "\n"
        "keras[jax]==3.15.1\n"
    )
    found = colab.learner_requirements(requirements)
    assert [str(r) for r in found] == ["tensorflow==2.21.0", "keras[jax]==3.15.1"]


def test_the_course_requirements_file_is_what_is_read() -> None:
    names = {r.name for r in colab.learner_requirements()}
    assert {"tensorflow", "keras", "kagglehub", "ipywidgets"} <= names
    assert not names & set(config.COLAB_KEEPS)


def test_a_broken_requirement_line_says_which_and_how_to_restore(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==2.4.6\ntensorflow===\n")
    with pytest.raises(SetupError, match=r"Line 2 of .*requirements.txt.*checkout -- requirements"):
        colab.learner_requirements(requirements)


def test_only_packages_whose_version_differs_are_installed() -> None:
    pins = [Requirement(text) for text in ("a==1.0", "b==2.0", "c==3.0", "d>=4")]
    found = {"a": "1.0", "b": "2.1", "c": None, "d": "4.5"}
    wrong = colab.packages_to_install(pins, found.get)
    assert [(str(r), version) for r, version in wrong] == [("b==2.0", "2.1"), ("c==3.0", None)]


def test_the_course_environment_needs_no_install() -> None:
    """This checkout's .venv was installed from requirements.txt: Colab's rule installs nothing."""
    assert colab.packages_to_install(colab.learner_requirements()) == []


def _fake_pip(
    monkeypatch: pytest.MonkeyPatch, before: dict, after: dict, returncode: int = 0
) -> list[list[str]]:
    """Replace pip by a stand-in that 'changes' the installed versions from before to after."""
    commands: list[list[str]] = []
    snapshots = iter([before, after])
    monkeypatch.setattr(colab, "_distribution_versions", lambda: next(snapshots))

    def run(command: list[str], **_: object) -> subprocess.CompletedProcess:
        commands.append(command)
        constraints = Path(command[command.index("--constraint") + 1]).read_text()
        commands.append(constraints.splitlines())
        return subprocess.CompletedProcess(command, returncode, "", "ERROR: no network")

    monkeypatch.setattr(colab.subprocess, "run", run)
    monkeypatch.setattr(colab, "packages_to_install", lambda wanted: [])
    return commands


def test_install_pins_everything_and_names_what_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    pins = [Requirement("kagglehub==1.0.2"), Requirement('numpy==2.4.6 ; python_version > "3"')]
    commands = _fake_pip(
        monkeypatch,
        {"kagglehub": "0.9.0", "numpy": "2.4.6"},
        {"kagglehub": "1.0.2", "numpy": "2.4.6", "kagglesdk": "0.1"},
    )
    monkeypatch.setattr(colab, "imported_among", lambda names: [])
    installed = colab.install(pins, [(pins[0], "0.9.0")])
    assert (
        commands[0][:3] == [sys.executable, "-m", "pip"] and commands[0][-1] == "kagglehub==1.0.2"
    )
    assert commands[1] == ["kagglehub==1.0.2", "numpy==2.4.6"]  # constraints: no markers
    assert installed.describe() == "installed kagglehub 1.0.2 (was 0.9.0), kagglesdk 0.1"


def test_a_changed_package_already_imported_asks_for_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pins = [Requirement("kagglehub==1.0.2")]
    _fake_pip(monkeypatch, {"kagglehub": "0.9.0"}, {"kagglehub": "1.0.2"})
    import kagglehub  # noqa: F401  (what Colab's session had imported before the install)

    with pytest.raises(colab.RestartNeeded) as caught:
        colab.install(pins, [(pins[0], "0.9.0")])
    message = str(caught.value)
    assert "installed kagglehub 1.0.2 (was 0.9.0)" in message
    assert "already imported kagglehub" in message and "Restart the session" in message


def test_pip_failing_says_what_and_why(monkeypatch: pytest.MonkeyPatch) -> None:
    pins = [Requirement("kagglehub==1.0.2")]
    _fake_pip(monkeypatch, {}, {}, returncode=1)
    with pytest.raises(
        SetupError, match=r"pip could not install kagglehub==1.0.2:\nERROR: no network"
    ):
        colab.install(pins, [(pins[0], None)])


def test_imported_among_finds_distributions_by_their_modules() -> None:
    import packaging  # noqa: F401

    assert colab.imported_among(["packaging", "no-such-distribution"]) == ["packaging"]


def test_many_changes_are_counted_not_listed() -> None:
    changes = [(f"p{n}", None, "1") for n in range(6)]
    assert colab.Installed(changes).describe() == "installed p0 1, p1 1, p2 1, p3 1 and 2 more"


# --- The set-up and the widgets ------------------------------------------------------------


def test_prepare_with_everything_in_place_does_nothing_and_says_so(
    on_colab: types.SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    line = colab.prepare()
    assert line == capsys.readouterr().out.strip()
    assert line.startswith(f"Colab: course {config.COLAB_REF}@")
    assert "; packages as pinned; dataset in place; weights in place; " in line
    assert "interactive explorers on" in line and line.endswith(" s.")
    assert on_colab.enabled == 1
    assert "fetched" not in line and "installed" not in line


def test_explorers_on_colab_are_widgets_only_with_the_custom_widget_manager(
    on_colab: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.delenv(config.ENV_WIDGETS_MODE, raising=False)
    assert not base.has_widget_frontend()
    assert base._use_widgets(None) is False
    assert "custom widget manager" in capsys.readouterr().out  # the learner is told
    assert base._use_widgets(True) is True and capsys.readouterr().out == ""
    assert colab.enable_custom_widget_manager()
    assert base.has_widget_frontend() and base._use_widgets(None)
    assert capsys.readouterr().out == ""


def test_a_manager_the_learner_enabled_counts_too(on_colab: types.SimpleNamespace) -> None:
    on_colab.widgets._installed_url = "https://example.invalid/manager.js"
    assert colab.custom_widget_manager_enabled()


def test_static_mode_still_wins_on_colab(
    on_colab: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv(config.ENV_WIDGETS_MODE, "static")
    assert base._use_widgets(None) is False and capsys.readouterr().out == ""


def test_an_explorer_on_colab_is_a_picture_and_a_note_until_the_manager_is_on(
    on_colab: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from matplotlib.figure import Figure

    from helpers import widgets

    monkeypatch.delenv(config.ENV_WIDGETS_MODE, raising=False)
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    arguments = (images, np.array([0, 1, 0]), np.array([0.9, 0.8, 0.3]), config.CLASS_NAMES)
    assert isinstance(widgets.prediction_browser(*arguments), Figure)
    assert "enable_custom_widget_manager()" in capsys.readouterr().out
    colab.enable_custom_widget_manager()
    browser = widgets.prediction_browser(*arguments)
    assert isinstance(browser, widgets.PredictionBrowser)
    bundle = browser._repr_mimebundle_()
    # The picture travels with the widget view: what a front end shows when it cannot render it.
    assert "application/vnd.jupyter.widget-view+json" in bundle and "image/png" in bundle
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("on_colab_now", [True, False])
def test_setup_notebook_sets_a_colab_session_up_before_anything_else(
    monkeypatch: pytest.MonkeyPatch, on_colab_now: bool
) -> None:
    """The hook that the simulated-Colab test runs end to end, checked in the fast tests: a
    merge once dropped it and only the slow test noticed."""
    import helpers

    calls: list[str] = []
    monkeypatch.setattr(colab, "running_on_colab", lambda: on_colab_now)
    monkeypatch.setattr(colab, "prepare", lambda: calls.append("prepare"))
    helpers.setup_notebook()
    assert calls == (["prepare"] if on_colab_now else [])

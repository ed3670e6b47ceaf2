"""The "Open in Colab" badge and Colab cell of the learner copies (instructor/colab.py), and the
setting behind them: right for a given remote, absent without one, the same on every clone.

Fast: builds into temporary folders, and into a copy of this checkout with a fake remote.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from fixtures.course_copy import commit_all, copy_course, git, run_in

from helpers import colab as learner_colab
from helpers import config
from instructor import build, colab, pipeline

FORK = "https://github.com/someone/alpaca-fork"
MASTERS = config.course_notebooks()


@pytest.mark.parametrize(
    ("remote", "address"),
    [
        ("https://github.com/someone/alpaca-fork", FORK),
        ("https://github.com/someone/alpaca-fork.git", FORK),
        ("https://github.com/someone/alpaca-fork/", FORK),
        ("http://www.github.com/someone/alpaca-fork.git", FORK),
        ("git@github.com:someone/alpaca-fork.git", FORK),
        ("ssh://git@github.com/someone/alpaca-fork.git", FORK),
        ("ssh://git@github.com:22/someone/alpaca-fork", FORK),
        ("https://someone:ghp_secret@github.com/someone/alpaca-fork.git", FORK),
        ("https://github.com/some.one/alpaca-fork", None),  # GitHub owners have no dots
        ("https://gitlab.com/someone/alpaca-fork.git", None),
        ("/work/main", None),
        ("file:///work/main", None),
        ("../alpaca-course", None),
        ("https://github.com/someone", None),
        ("https://github.com/someone/alpaca-fork/tree/main", None),
    ],
)
def test_public_address_of_a_remote(remote: str, address: str | None) -> None:
    assert colab.public_address(remote) == address


@pytest.mark.parametrize("ref", ["main", "v1.0", "release/2026-spring", "course_2"])
def test_plain_refs_are_accepted(ref: str) -> None:
    assert colab.checked_ref(ref) == ref


@pytest.mark.parametrize("ref", ["", "-x", "a..b", "main branch", 'x"', "a/", "$(id)", "v1."])
def test_refs_that_would_break_a_link_or_a_command_are_refused(ref: str) -> None:
    with pytest.raises(colab.ColabSettingError, match="not a branch or tag name"):
        colab.checked_ref(ref)


def test_this_repository_has_no_public_address_so_its_copies_carry_no_colab_cell() -> None:
    """The committed copies were built without an address: nothing points anywhere."""
    assert config.COLAB_REPOSITORY == "" and colab.configured_link() is None
    for path in config.course_notebooks(config.NOTEBOOKS_DIR):
        text = path.read_text(encoding="utf-8")
        assert "colab.research.google.com" not in text, path.name
        ids = {cell.get("id") for cell in nbformat.read(path, as_version=4).cells}
        assert not ids & {config.COLAB_BADGE_CELL_ID, config.COLAB_SETUP_CELL_ID}, path.name


def _build_with(monkeypatch: pytest.MonkeyPatch, folder: Path, repository: str, ref: str) -> None:
    monkeypatch.setattr(config, "COLAB_REPOSITORY", repository)
    monkeypatch.setattr(config, "COLAB_REF", ref)
    build.build(notebooks_dir=folder)


def test_every_learner_copy_gets_its_own_badge_and_colab_cell(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _build_with(monkeypatch, tmp_path / "with", FORK, "spring-2026")
    _build_with(monkeypatch, tmp_path / "without", "", "main")
    for master in MASTERS:
        name = master.name
        copy = nbformat.read(tmp_path / "with" / name, as_version=4)
        plain = nbformat.read(tmp_path / "without" / name, as_version=4)
        badge, setup = (
            [cell for cell in copy.cells if cell.get("id") == cell_id]
            for cell_id in (config.COLAB_BADGE_CELL_ID, config.COLAB_SETUP_CELL_ID)
        )
        assert len(badge) == 1 and len(setup) == 1, name
        url = f"https://colab.research.google.com/github/someone/alpaca-fork/blob/spring-2026/notebooks/{name}"
        assert f"]({url})" in badge[0].source and "colab-badge.svg" in badge[0].source
        assert copy.cells.index(badge[0]) == 1  # right after the title
        after = copy.cells[copy.cells.index(setup[0]) + 1]
        assert "helpers.setup_notebook(" in after.source  # right before the set-up cell
        source = setup[0].source
        assert '"https://github.com/someone/alpaca-fork.git"' in source
        assert '"--branch=spring-2026"' in source and '"/alpaca-fork"' in source
        assert f'check_notebook("{name}", "{colab.content_hash(copy)}", ' in source
        assert learner_colab.embedded_hash((tmp_path / "with" / name).read_text()) == (
            colab.content_hash(copy)
        )
        # Apart from the two cells, the copy is the copy without an address.
        rest = [c for c in copy.cells if c.get("id") not in (badge[0].id, setup[0].id)]
        assert [(c.cell_type, c.source) for c in rest] == [
            (c.cell_type, c.source) for c in plain.cells
        ]


def test_the_transform_is_idempotent_and_the_build_then_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _build_with(monkeypatch, tmp_path, FORK, "main")
    notebook = nbformat.read(tmp_path / MASTERS[0].name, as_version=4)
    again = colab.add_colab_cells(notebook, MASTERS[0].name)
    assert pipeline.render(again) == pipeline.render(notebook)
    assert build.build(notebooks_dir=tmp_path).written == []
    assert build.build(notebooks_dir=tmp_path, check=True).in_sync


def test_changing_the_address_or_ref_makes_the_copies_stale(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _build_with(monkeypatch, tmp_path, FORK, "main")
    monkeypatch.setattr(config, "COLAB_REF", "v2")
    assert len(build.build(notebooks_dir=tmp_path, check=True).stale) == len(MASTERS)
    monkeypatch.setattr(config, "COLAB_REPOSITORY", "")
    assert len(build.build(notebooks_dir=tmp_path, check=True).stale) == len(MASTERS)


def test_the_content_hash_follows_the_content_not_the_colab_cell() -> None:
    notebook = nbformat.read(MASTERS[0], as_version=4)
    link = colab.ColabLink(FORK, "main")
    built = colab.add_colab_cells(pipeline.learner_notebook(notebook), MASTERS[0].name, link)
    digest = colab.content_hash(built)
    other_ref = colab.add_colab_cells(built, MASTERS[0].name, colab.ColabLink(FORK, "v9"))
    assert colab.content_hash(other_ref) != digest  # the badge's link is content
    edited = colab.add_colab_cells(built, MASTERS[0].name, link)
    edited.cells[-1].source += "\nOne more line."
    assert colab.content_hash(edited) != digest
    assert re.fullmatch(r"[0-9a-f]{16}", digest)


def test_a_bad_address_in_config_stops_the_build_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(config, "COLAB_REPOSITORY", "https://gitlab.com/someone/course")
    with pytest.raises(colab.ColabSettingError, match="not a GitHub address.*--repository URL"):
        colab.configured_link()


# --- The setting, in a copy of this checkout with a fake remote ---------------------------


@pytest.fixture(scope="module")
def fork(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this checkout whose origin is a GitHub fork; its default branch is 'spring'."""
    folder = copy_course(tmp_path_factory.mktemp("fork") / "alpaca-fork", branch="spring")
    git(folder, "remote", "add", "origin", "git@github.com:someone/alpaca-fork.git")
    git(folder, "update-ref", "refs/remotes/origin/spring", "HEAD")
    git(folder, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/spring")
    return folder


def _badge_urls(folder: Path) -> list[str]:
    """Every Colab link of the folder's learner copies."""
    found = []
    for path in sorted((folder / "notebooks").glob(config.NOTEBOOK_GLOB)):
        found += re.findall(
            r"https://colab\.research\.google\.com/github/[^)\s\"]+", path.read_text()
        )
    return found


def test_from_remote_points_every_copy_at_the_fork_and_every_clone_agrees(fork: Path) -> None:
    result = run_in(fork, "-m", "instructor.colab", "--from-remote")
    assert result.returncode == 0, result.stderr
    assert f"Colab links: {FORK} at spring" in result.stdout
    config_text = (fork / "helpers" / "config.py").read_text()
    assert f'COLAB_REPOSITORY: str = "{FORK}"' in config_text
    assert 'COLAB_REF: str = "spring"' in config_text
    assert _badge_urls(fork) == [
        f"https://colab.research.google.com/github/someone/alpaca-fork/blob/spring/notebooks/{path.name}"
        for path in MASTERS
    ]
    commit_all(fork, "Colab links for the fork")
    checked = run_in(fork, "-m", "instructor.build", "--check")
    assert checked.returncode == 0 and "note:" not in checked.stderr, checked.stderr
    # A clone of a local path (CI here) has no public address: the same copies are up to date.
    clone = fork.parent / "ci-clone"
    git(fork.parent, "clone", "--quiet", str(fork), str(clone))
    assert "github.com" not in git(clone, "remote", "get-url", "origin")
    checked = run_in(clone, "-m", "instructor.build", "--check")
    assert checked.returncode == 0 and "note:" not in checked.stderr, checked.stderr
    # A clone whose remote is another GitHub repository (a fork of the fork) is told, not failed.
    git(clone, "remote", "set-url", "origin", "https://github.com/other/alpaca-course.git")
    checked = run_in(clone, "-m", "instructor.build", "--check")
    assert checked.returncode == 0, checked.stderr
    assert "note: this clone's remote is https://github.com/other/alpaca-course" in checked.stderr
    assert "--from-remote" in checked.stderr


def test_a_remote_that_is_not_on_github_sets_nothing(fork: Path, tmp_path: Path) -> None:
    clone = tmp_path / "local-clone"
    git(tmp_path, "clone", "--quiet", str(fork), str(clone))
    before = (clone / "helpers" / "config.py").read_text()
    result = run_in(clone, "-m", "instructor.colab", "--from-remote")
    assert result.returncode == 2
    assert "is not a GitHub repository" in result.stderr and "--repository" in result.stderr
    assert (clone / "helpers" / "config.py").read_text() == before


def test_off_removes_every_badge(fork: Path, tmp_path: Path) -> None:
    clone = tmp_path / "off"
    git(tmp_path, "clone", "--quiet", str(fork), str(clone))
    assert run_in(clone, "-m", "instructor.colab", "--repository", FORK).returncode == 0
    assert len(_badge_urls(clone)) == len(MASTERS)
    result = run_in(clone, "-m", "instructor.colab", "--off")
    assert result.returncode == 0, result.stderr
    assert _badge_urls(clone) == []
    assert 'COLAB_REPOSITORY: str = ""' in (clone / "helpers" / "config.py").read_text()


def test_write_setting_refuses_a_config_without_the_lines(tmp_path: Path) -> None:
    broken = tmp_path / "config.py"
    broken.write_text('COLAB_REF: str = "main"\n')
    with pytest.raises(colab.ColabSettingError, match="exactly one line `COLAB_REPOSITORY"):
        colab.write_setting(FORK, "main", config_file=broken)
    assert broken.read_text() == 'COLAB_REF: str = "main"\n'

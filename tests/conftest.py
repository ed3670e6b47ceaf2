"""Fixtures shared by the tests: tiny image sets, and private folders for each test.

The session has its own grading cache (the phase-1 stand-in, built once).

Every test gets its own progress file (graders record progress in-process, and a
notebook's `graders.summary()` would show it). A test that runs a notebook also
asks for `notebook_environment`: its own Keras cache, progress file and artifacts
folder, put into the environment its kernels inherit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fixtures.data_factory import image_set, write_manifest
from fixtures.isolation import NotebookEnvironment, make_notebook_environment

from helpers import config

if TYPE_CHECKING:  # TensorFlow is imported only by the tests that build a model
    import keras


@pytest.fixture
def files() -> dict[str, bytes]:
    """3 alpaca and 4 not-alpaca tiny JPEGs."""
    return image_set()


@pytest.fixture
def manifest(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """The manifest of `files`."""
    return write_manifest(tmp_path / "test.sha256", files)


@pytest.fixture(autouse=True)
def private_progress_file(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A progress file for this test alone (graders read it when they run, so no import order matters)."""
    path = tmp_path_factory.mktemp("progress") / "progress.json"
    monkeypatch.setenv(config.ENV_PROGRESS_FILE, str(path))
    return path


@pytest.fixture(scope="session", autouse=True)
def private_grade_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A grading stand-in cache for this test session alone.

    The default cache is machine-wide and outlives a checkout: a stand-in that
    another checkout built would be graded with instead of the one this code builds.
    """
    path = tmp_path_factory.mktemp("grade-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(config.ENV_GRADE_CACHE, str(path))
        yield path


@pytest.fixture
def notebook_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> NotebookEnvironment:
    """A Keras cache, progress file and artifacts folder of this test's own, in the environment
    that kernels started by this test inherit."""
    environment = make_notebook_environment(tmp_path_factory.mktemp("notebook-run"))
    for name, value in environment.variables().items():
        monkeypatch.setenv(name, value)
    return environment


@pytest.fixture(scope="module")
def shared_model() -> keras.Model:
    """The course's model, built once per test module (MobileNetV2 takes seconds to build)."""
    from helpers import reference

    return reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())


@pytest.fixture
def phase1_model(shared_model: keras.Model) -> keras.Model:
    """The shared model put back as notebook 04 leaves it, before each test."""
    import grader_answers

    return grader_answers.back_to_phase1(shared_model)

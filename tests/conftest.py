"""Fixtures shared by the data and download tests: tiny image sets and their manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.data_factory import image_set, write_manifest


@pytest.fixture
def files() -> dict[str, bytes]:
    """3 alpaca and 4 not-alpaca tiny JPEGs."""
    return image_set()


@pytest.fixture
def manifest(tmp_path: Path, files: dict[str, bytes]) -> Path:
    """The manifest of `files`."""
    return write_manifest(tmp_path / "test.sha256", files)

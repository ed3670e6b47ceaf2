"""Every grader call appends one machine-readable verdict when a grading run asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import config, graders, reference, verdict_log


def test_each_check_appends_its_verdict_to_the_verdicts_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "verdicts.jsonl"
    monkeypatch.setenv(config.ENV_VERDICTS_FILE, str(path))
    passed = graders.check_data_augmenter(reference.data_augmenter)
    untouched = graders.check_data_augmenter(lambda: None)
    recorded = verdict_log.read(path)
    assert [(v["exercise"], v["status"]) for v in recorded] == [
        ("data_augmenter", passed.status),
        ("data_augmenter", untouched.status),
    ]
    assert passed.status == "passed" and untouched.status == "not yet"
    assert recorded[1]["messages"] == untouched.messages


def test_without_the_variable_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(config.ENV_VERDICTS_FILE, raising=False)
    monkeypatch.chdir(tmp_path)
    graders.check_data_augmenter(reference.data_augmenter)
    assert list(tmp_path.iterdir()) == []

"""Evidence round trips: collect -> write -> judge gives the verdict the notebook gives in place.

Every answer and mistake of tests/grader_answers*.py is collected ONCE: the
evidence is judged in place (what the learner sees), then stored as a grading
run stores it and judged back by `instructor.grade.judge.judge_folder`, as
the judge process does. Status, codes and messages must be the same.

Models are the costly part (saving the course's model writes ~10 MB, loading
it builds MobileNetV2): a few model answers run in the fast suite, all of
them in the slow one. Fine-tuning evidence holds facts and configs only (no
model), so it is cheap.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grader_answers as answers
import grader_answers_representative as representative
import pytest

from helpers import check_runner, config, evidence, graders, recording, reference
from helpers.verdicts import RECORDED
from instructor.grade.judge import judge_folder


def _name(value: Any) -> str:
    return getattr(value, "__name__", type(value).__name__)


def round_trip(
    monkeypatch: pytest.MonkeyPatch, folder: Path, check: Callable[..., Any], *arguments: Any
) -> tuple[Any, dict[str, Any]]:
    """(the in-place result, the judged verdict) for one call of `check`, collected once."""
    captured: list[Any] = []

    def judge_in_place(exercise: str, collected: Any, judge: Callable[[Any], Any]) -> Any:
        captured.append(collected)
        return judge(collected)

    with monkeypatch.context() as patch:
        patch.setattr(recording, "record", judge_in_place)
        in_place = check(*arguments)
    evidence.store(folder, in_place.exercise, captured[0])
    judged = judge_folder(folder, [in_place.exercise])
    assert [v["exercise"] for v in judged] == [in_place.exercise]
    return in_place, judged[0]


def assert_same(in_place: Any, judged: dict[str, Any]) -> None:
    assert (judged["status"], judged["codes"]) == (in_place.status, in_place.codes), (
        in_place.messages,
        judged["messages"],
    )
    assert judged["messages"] == in_place.messages


def _fast_first(items: list[Any], fast: int) -> list[Any]:
    """The first `fast` items as they are, the rest marked slow."""
    return [
        item if index < fast else pytest.param(item, marks=pytest.mark.slow)
        for index, item in enumerate(items)
    ]


# --- Exercise 2: data_augmenter (small models: all in the fast suite) -------------------------

AUGMENTERS = [
    *answers.AUGMENTER_CORRECT,
    *(answer for answer, _, _ in answers.AUGMENTER_WRONG),
    answers.untouched_data_augmenter,
    answers.raises_value_error,
    answers.returns_dense_layer,
]


@pytest.mark.parametrize("answer", AUGMENTERS, ids=_name)
def test_augmenter_evidence_round_trip(monkeypatch, tmp_path, answer):
    assert_same(*round_trip(monkeypatch, tmp_path, graders.check_data_augmenter, answer))


# --- Exercise 3: alpaca_model ----------------------------------------------------------------

MODELS = [
    answers.model_rescaling,
    answers.model_preprocessed_twice,
    answers.model_whole_model_frozen,
    *(a for a in answers.MODEL_CORRECT if a is not answers.model_rescaling),
    *(
        a
        for a, _, _ in answers.MODEL_WRONG
        if a not in (answers.model_preprocessed_twice, answers.model_whole_model_frozen)
    ),
    answers.model_trainable_none,
    answers.untouched_alpaca_model,
    answers.returns_unbuilt_sequential,
]


@pytest.mark.parametrize("answer", _fast_first(MODELS, 3), ids=_name)
def test_alpaca_model_evidence_round_trip(monkeypatch, tmp_path, answer):
    assert_same(*round_trip(monkeypatch, tmp_path, graders.check_alpaca_model, answer))


# --- Exercise 4: fine-tuning -----------------------------------------------------------------

TUNINGS = [
    answers.tune_tf_keras,
    answers.tune_wrong_fine_tune_at,
    answers.tune_not_recompiled,
    answers.tune_function_loss,
    *(a for a in answers.TUNE_CORRECT if a is not answers.tune_tf_keras),
    *(
        a
        for a, _, _ in answers.TUNE_WRONG
        if a
        not in (
            answers.tune_wrong_fine_tune_at,
            answers.tune_not_recompiled,
            answers.tune_function_loss,
        )
    ),
    answers.tune_batchnorm_frozen,
]


@pytest.mark.parametrize("answer", _fast_first(TUNINGS, 4), ids=_name)
def test_fine_tuning_evidence_round_trip(monkeypatch, tmp_path, phase1_model, answer):
    assert_same(
        *round_trip(
            monkeypatch, tmp_path, graders.check_fine_tuning, phase1_model, *answer(phase1_model)
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer",
    [answers.tune_trainable_none, answers.tune_new_base, answers.tune_nothing_unfrozen],
    ids=_name,
)
def test_fine_tuning_facts_only_the_kernel_sees_survive(
    monkeypatch, tmp_path, phase1_model, answer
):
    """`trainable = None` in the notebook's prepare_fine_tuning, another base unfrozen."""
    monkeypatch.setattr(sys.modules["__main__"], "prepare_fine_tuning", answer, raising=False)
    in_place, judged = round_trip(
        monkeypatch, tmp_path, graders.check_fine_tuning, phase1_model, *answer(phase1_model)
    )
    assert_same(in_place, judged)
    assert in_place.codes[0] in ("trainable-none", "other-base", "nothing-unfrozen")


# --- Exercise 5: the representative dataset (samples in an .npz: all fast) --------------------

REPRESENTATIVES = [
    *representative.CORRECT,
    *(answer for answer, _, _ in representative.WRONG),
    representative.untouched,
    representative.forgot_return,
]


@pytest.mark.parametrize("answer", REPRESENTATIVES, ids=_name)
def test_representative_evidence_round_trip(monkeypatch, tmp_path, answer):
    assert_same(*round_trip(monkeypatch, tmp_path, graders.check_representative_dataset, answer))


def test_the_model_passed_decides_the_scaling_after_a_round_trip(monkeypatch, tmp_path):
    bare_model = representative.model_without_preprocessing()
    in_place, judged = round_trip(
        monkeypatch,
        tmp_path,
        graders.check_representative_dataset,
        representative.representative_tensors,
        bare_model,
    )
    assert_same(in_place, judged)
    assert judged["codes"] == ["raw-for-preprocessing-model"]


# --- Exercise 1: the datasets ----------------------------------------------------------------

DATASETS = [
    answers.datasets_reference,
    answers.datasets_swapped,
    answers.datasets_not_batched,
    *(a for a in answers.DATASETS_CORRECT if a is not answers.datasets_reference),
    *(
        a
        for a, _, _ in answers.DATASETS_WRONG
        if a not in (answers.datasets_swapped, answers.datasets_not_batched)
    ),
]


@pytest.mark.skipif(not (config.DATASET_DIR / "alpaca").is_dir(), reason="dataset/ is empty")
@pytest.mark.parametrize("answer", _fast_first(DATASETS, 3), ids=_name)
def test_datasets_evidence_round_trip(monkeypatch, tmp_path, answer):
    assert_same(*round_trip(monkeypatch, tmp_path, graders.check_datasets, *answer()))


# --- The real path: a grading run's check stores, the judge judges --------------------------


def test_in_a_grading_run_the_check_only_records(monkeypatch, tmp_path, capsys):
    """With ALPACA_EVIDENCE_DIR set: a neutral line, no verdict, no progress; the judge decides."""
    monkeypatch.setenv(config.ENV_EVIDENCE_DIR, str(tmp_path))
    recorded = graders.check_data_augmenter(answers.augmenter_vertical)
    assert recorded.status == RECORDED and not recorded.passed and recorded.codes == []
    shown = capsys.readouterr().out
    assert shown.startswith("Recorded for grading") and "vertical" not in shown
    assert not config.progress_file().exists()
    assert sorted(p.name for p in (tmp_path / "data_augmenter").iterdir()) == [
        evidence.FACTS_FILE,
        evidence.MODEL_FILE,
    ]
    monkeypatch.delenv(config.ENV_EVIDENCE_DIR)
    [judged] = judge_folder(tmp_path)
    assert (judged["status"], judged["codes"]) == ("failed", ["flip-mode"])


def test_a_later_call_replaces_the_evidence_of_an_earlier_one(monkeypatch, tmp_path):
    monkeypatch.setenv(config.ENV_EVIDENCE_DIR, str(tmp_path))
    graders.check_data_augmenter(answers.untouched_data_augmenter)
    graders.check_data_augmenter(answers.augmenter_with_add)
    assert [p.name for p in tmp_path.iterdir()] == ["data_augmenter"]
    assert not (tmp_path / "data_augmenter" / evidence.FACTS_FILE).read_text().count('"not yet"')
    monkeypatch.delenv(config.ENV_EVIDENCE_DIR)
    assert [v["status"] for v in judge_folder(tmp_path)] == ["passed"]


def test_a_grading_run_records_every_exercise_as_the_judge_expects(
    monkeypatch, tmp_path, phase1_model
):
    """One call of each check in grading mode; the judge passes the course's answers."""
    monkeypatch.setenv(config.ENV_EVIDENCE_DIR, str(tmp_path))
    calls = [
        (graders.check_data_augmenter, (answers.augmenter_reference,)),
        (graders.check_alpaca_model, (answers.model_rescaling,)),
        (graders.check_fine_tuning, (phase1_model, *answers.tune_tf_keras(phase1_model))),
        (graders.check_representative_dataset, (representative.representative_tensors,)),
    ]
    if (config.DATASET_DIR / "alpaca").is_dir():
        calls.append((graders.check_datasets, reference.make_datasets()))
    for check, arguments in calls:
        assert check(*arguments).status == RECORDED
    monkeypatch.delenv(config.ENV_EVIDENCE_DIR)
    judged = judge_folder(tmp_path)
    assert len(judged) == len(calls)
    assert all(v["status"] == "passed" for v in judged), judged


def test_recording_never_raises_into_the_notebook(monkeypatch, tmp_path):
    """An evidence folder that cannot be written: an error verdict, not an exception."""
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(config.ENV_EVIDENCE_DIR, str(blocker / "evidence"))
    result = graders.check_data_augmenter(answers.augmenter_reference)
    assert result.status == graders.ERROR and result.codes == ["evidence-not-written"]


def test_the_judging_of_every_exercise_is_registered():
    assert sorted(check_runner.JUDGING) == sorted(graders.EXERCISES)

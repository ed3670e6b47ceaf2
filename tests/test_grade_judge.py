"""The judge: forged or odd evidence gives a failed verdict, never an exception or a pass;
the judge process answers over its pipe, is restarted after a failure and is started
through the launch prefix the sandbox confines it with.

Evidence here is written by hand, as a hostile notebook could write it into
its evidence folder; the real checks' evidence is tested in
test_graders_evidence.py.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import grader_answers as answers
import keras
import numpy as np
import pytest

from helpers import config, evidence, graders
from helpers.check_runner import judge_stored
from instructor.grade import judge


def write_record(folder: Path, exercise: str, facts: Any = None, screened: Any = None) -> Path:
    """A facts.json as a notebook could forge it."""
    folder.mkdir(parents=True, exist_ok=True)
    record = {"format": evidence.FORMAT, "exercise": exercise, "screened": screened, "facts": facts}
    (folder / evidence.FACTS_FILE).write_text(json.dumps(record))
    return folder


def assert_failed(result: Any, code: str = "evidence-invalid") -> None:
    assert result.status == graders.FAILED, (result.status, result.messages)
    assert result.codes == [code], result.messages


# --- facts.json itself ------------------------------------------------------------------------


def test_missing_facts(tmp_path):
    (tmp_path / "data_augmenter").mkdir()
    assert_failed(judge_stored(tmp_path / "data_augmenter"))


@pytest.mark.parametrize(
    "content",
    [b"not json", b"[1, 2]", b'{"format": 99}', b'{"format": 1, "exercise": 5}', b"[" * 100_000],
    ids=["not-json", "a-list", "other-format", "no-exercise", "deeply-nested"],
)
def test_damaged_facts(tmp_path, content):
    folder = tmp_path / "data_augmenter"
    folder.mkdir()
    (folder / evidence.FACTS_FILE).write_bytes(content)
    assert_failed(judge_stored(folder))


def test_a_huge_facts_file_is_not_read(tmp_path):
    folder = tmp_path / "datasets"
    folder.mkdir()
    with open(folder / evidence.FACTS_FILE, "wb") as handle:
        handle.truncate(config.EVIDENCE_MAX_JSON_BYTES + 1)  # sparse: costs no disk
    result = judge_stored(folder)
    assert_failed(result)
    assert "larger than" in result.messages[0]


def test_a_link_is_not_followed(tmp_path):
    secret = tmp_path / "elsewhere.json"
    secret.write_text(
        json.dumps({"format": 1, "exercise": "datasets", "screened": None, "facts": {}})
    )
    folder = tmp_path / "evidence" / "datasets"
    folder.mkdir(parents=True)
    (folder / evidence.FACTS_FILE).symlink_to(secret)
    assert_failed(judge_stored(folder))
    # A linked exercise folder is not even looked at.
    (tmp_path / "evidence" / "data_augmenter").symlink_to(folder, target_is_directory=True)
    assert [v["exercise"] for v in judge.judge_folder(tmp_path / "evidence")] == ["datasets"]


def test_a_fifo_does_not_hang_the_judge(tmp_path):
    folder = tmp_path / "datasets"
    folder.mkdir()
    os.mkfifo(folder / evidence.FACTS_FILE)
    result = judge_stored(folder)
    assert_failed(result)
    assert "not a regular file" in result.messages[0]


def test_facts_for_another_exercise(tmp_path):
    write_record(tmp_path / "data_augmenter", "datasets", facts={})
    assert_failed(judge_stored(tmp_path / "data_augmenter"))


@pytest.mark.parametrize("status", ["passed", "great", None, 3])
def test_a_recorded_early_verdict_can_never_be_a_pass(tmp_path, status):
    folder = write_record(
        tmp_path / "data_augmenter",
        "data_augmenter",
        screened={"status": status, "code": "x", "message": "Looks great"},
    )
    assert_failed(judge_stored(folder))


def test_a_recorded_early_verdict_is_repeated_and_bounded(tmp_path):
    folder = write_record(
        tmp_path / "data_augmenter",
        "data_augmenter",
        screened={"status": "not yet", "code": "not-yet", "message": "x" * 10**6},
    )
    result = judge_stored(folder)
    assert (result.status, result.codes) == (graders.NOT_YET, ["not-yet"])
    assert len(result.messages[0]) <= config.EVIDENCE_MAX_MESSAGE_CHARS + 1


def test_unknown_folders_are_ignored(tmp_path):
    write_record(tmp_path / "plagiarism", "plagiarism", facts={})
    (tmp_path / "notes.txt").write_text("hello")
    assert judge.judge_folder(tmp_path) == []
    assert judge.judge_folder(tmp_path / "missing") == []


# --- facts of the wrong type ------------------------------------------------------------------


def _dataset_facts(**changes: Any) -> dict[str, Any]:
    facts = {
        "file_paths": [f"/d/alpaca/{n}.jpg" for n in range(3)],
        "class_names": ["alpaca", "not alpaca"],
        "element_type": "tuple",
        "pairs": True,
        "image_shape": [None, 160, 160, 3],
        "label_shape": [None],
        "batch_size": 32,
        "cardinality": 9,
    }
    facts.update(changes)
    return facts


@pytest.mark.parametrize(
    "changes",
    [
        {"file_paths": "all of them"},
        {"file_paths": [1, 2]},
        {"batch_size": True},
        {"cardinality": "9"},
        {"image_shape": [160, -1]},
        {"image_shape": "big"},
        {"pairs": 1},
        {"file_paths": ["x" * 5000]},
    ],
    ids=lambda c: next(iter(c)),
)
def test_datasets_facts_of_the_wrong_type(tmp_path, changes):
    facts = {"train": _dataset_facts(**changes), "validation": _dataset_facts()}
    assert_failed(judge_stored(write_record(tmp_path / "datasets", "datasets", facts)))


def test_forged_datasets_facts_that_say_nothing_right_fail_the_rules(tmp_path):
    facts = {"train": _dataset_facts(), "validation": _dataset_facts()}
    result = judge_stored(write_record(tmp_path / "datasets", "datasets", facts))
    assert result.status == graders.FAILED and "same-subset" in result.codes


# --- models -----------------------------------------------------------------------------------


def test_a_missing_model(tmp_path):
    assert_failed(judge_stored(write_record(tmp_path / "data_augmenter", "data_augmenter", {})))


def test_a_model_file_that_is_not_a_model(tmp_path):
    folder = write_record(tmp_path / "data_augmenter", "data_augmenter", {})
    (folder / evidence.MODEL_FILE).write_bytes(b"PK\x03\x04 not really a zip")
    assert_failed(judge_stored(folder))


def test_a_model_that_unpacks_to_too_much(tmp_path):
    folder = write_record(tmp_path / "data_augmenter", "data_augmenter", {})
    with zipfile.ZipFile(folder / evidence.MODEL_FILE, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", b"\0" * (config.EVIDENCE_MAX_UNPACKED_BYTES + 1))
    result = judge_stored(folder)
    assert_failed(result)
    assert "unpacks to more" in result.messages[0]


def test_a_lambda_layer_is_not_loaded(tmp_path):
    """safe_mode refuses Python code in a .keras file: a failed verdict, and nothing runs."""
    folder = write_record(tmp_path / "data_augmenter", "data_augmenter", {})
    ran = tmp_path / "ran"
    leaves_a_mark = eval(f"lambda x: (open({str(ran)!r}, 'w').write('ran'), x)[1]")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(leaves_a_mark)])
    model.save(folder / evidence.MODEL_FILE)
    ran.unlink(missing_ok=True)
    result = judge_stored(folder)
    assert_failed(result, "model-not-loadable")
    assert "safe mode" in result.messages[0] and not ran.exists()


def test_a_lambda_layer_is_the_same_verdict_in_the_notebook():
    """The check says so in place too, so a learner never passes at home and fails in grading."""

    def augmenter_with_lambda():
        return keras.Sequential(
            [
                keras.layers.RandomFlip("horizontal"),
                keras.layers.RandomRotation(config.ROTATION_FACTOR),
                keras.layers.Lambda(lambda x: x),
            ]
        )

    assert graders.check_data_augmenter(augmenter_with_lambda).codes == ["model-not-loadable"]


def test_a_forged_functional_augmenter_is_not_a_sequential(tmp_path):
    folder = write_record(tmp_path / "data_augmenter", "data_augmenter", {})
    answers.augmenter_functional().save(folder / evidence.MODEL_FILE)
    assert_failed(judge_stored(folder), "wrong-type")


def test_a_forged_augmenter_name_does_not_hide_missing_augmentation(tmp_path):
    """Naming a layer that does nothing as the grader's augmenter does not pass exercise 3."""
    base = answers.shared_base()
    base.trainable = False
    inputs = keras.Input(config.IMG_SHAPE)
    x = keras.layers.Identity(name="fake_augmenter")(inputs)
    x = keras.applications.mobilenet_v2.preprocess_input(x)
    outputs = answers._head(base(x, training=False))
    folder = write_record(
        tmp_path / "alpaca_model",
        "alpaca_model",
        {"augmenter_name": "fake_augmenter", "augmenter_called": True, "trainable_none": False},
    )
    keras.Model(inputs, outputs).save(folder / evidence.MODEL_FILE)
    result = judge_stored(folder)
    assert result.status == graders.FAILED
    assert {"flip-missing", "rotation-missing"} <= set(result.codes), result.codes


# --- fine-tuning's values and the samples -----------------------------------------------------


def _tuned_facts(model: keras.Model) -> dict[str, Any]:
    """The facts the fine-tuning check records for a model tuned the right way."""
    from helpers.rules import fine_tuning

    answers._unfreeze(model)
    base, head = fine_tuning.base_and_head(model)
    tuned = fine_tuning.FineTuningEvidence.of(
        model, base, head, loss_function="x", optimizer="x", metrics=[], compiled=True,
        stale=[], trainable_none=False, other_base=False,
    )  # fmt: skip
    return tuned.write(None)


def test_unknown_keras_objects_are_judged_by_their_type_and_name(tmp_path, phase1_model):
    loss = {"kind": "keras", "type": "function", "name": "my_loss", "callable": True,
            "config": {"module": "builtins", "class_name": "function", "config": "my_loss"}}  # fmt: skip
    facts = {
        **_tuned_facts(phase1_model),
        "loss_function": loss,
        "optimizer": evidence.encode_value(keras.optimizers.Adam(1e-4)),
        "metrics": evidence.encode_value([keras.metrics.BinaryAccuracy(threshold=0.0)]),
    }
    result = judge_stored(write_record(tmp_path / "fine_tuning", "fine_tuning", facts))
    assert result.codes == ["loss-class"] and "my_loss" in result.messages[0], result.messages


@pytest.mark.parametrize(
    "changes",
    [
        {"stale": ["everything"]},
        {"base_layers": [{"name": "x", "batch_norm": "no", "trainable": True, "weighted": True}]},
        {"base_layers": "all of them"},
        {"compiled": "yes"},
        {"loss_function": {"kind": "a virus"}},
    ],
    ids=["stale", "layer", "layers", "compiled", "loss"],
)
def test_fine_tuning_facts_of_the_wrong_type(tmp_path, phase1_model, changes):
    facts = {**_tuned_facts(phase1_model), **changes}
    assert_failed(judge_stored(write_record(tmp_path / "fine_tuning", "fine_tuning", facts)))


def test_forged_flags_must_still_be_the_answer(tmp_path, phase1_model):
    """Facts that pass are the answer itself: the flags the exercise asks for."""
    facts = _tuned_facts(phase1_model)
    facts["loss_function"] = evidence.encode_value(
        keras.losses.BinaryCrossentropy(from_logits=True)
    )
    facts["optimizer"] = evidence.encode_value(keras.optimizers.Adam(1e-4))
    facts["metrics"] = evidence.encode_value([keras.metrics.BinaryAccuracy(threshold=0.0)])
    assert judge_stored(write_record(tmp_path / "fine_tuning", "fine_tuning", facts)).passed
    for layer in facts["base_layers"]:
        layer["trainable"] = True
    result = judge_stored(write_record(tmp_path / "again" / "fine_tuning", "fine_tuning", facts))
    assert result.codes == ["nothing-frozen"]


def _representative(folder: Path, samples: list[Any], arrays: dict[str, Any] | None = None) -> Path:
    write_record(
        folder, "representative_dataset", {"samples": samples, "finished": True, "expected": "raw"}
    )
    with open(folder / evidence.ARRAYS_FILE, "wb") as handle:
        np.savez(handle, **(arrays or {}))
    return folder


def test_arrays_that_need_pickle_are_refused(tmp_path):
    folder = _representative(
        tmp_path / "representative_dataset",
        [
            {
                "kind": "list",
                "length": 1,
                "items": [{"kind": "array", "shape": [2], "dtype": "|O", "ref": "a0"}],
            }
        ],
        {"a0": np.array([object(), object()], dtype=object)},
    )
    assert_failed(judge_stored(folder))


def test_a_forged_huge_batch_without_values_is_refused(tmp_path):
    shape = [10**6, *config.IMG_SHAPE]
    folder = _representative(
        tmp_path / "representative_dataset",
        [
            {
                "kind": "list",
                "length": 1,
                "items": [{"kind": "array", "shape": shape, "dtype": "<f4"}],
            }
        ],
    )
    assert_failed(judge_stored(folder))


def test_an_array_that_does_not_match_its_description(tmp_path):
    folder = _representative(
        tmp_path / "representative_dataset",
        [
            {
                "kind": "list",
                "length": 1,
                "items": [
                    {"kind": "array", "shape": [1, 160, 160, 3], "dtype": "<f4", "ref": "a0"}
                ],
            }
        ],
        {"a0": np.zeros((2, 2), "float32")},
    )
    assert_failed(judge_stored(folder))


def test_too_many_recorded_samples(tmp_path):
    sample = {"kind": "list", "length": 1, "items": [{"kind": "number", "value": 1}]}
    folder = _representative(tmp_path / "representative_dataset", [sample] * 1000)
    assert_failed(judge_stored(folder))


# --- the judge process --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def judge_process(tmp_path_factory) -> Any:
    """One judge process for the module, started through a launch prefix that leaves a mark."""
    marker = tmp_path_factory.mktemp("prefix") / "ran"
    prefix = ["/bin/sh", "-c", 'echo ran > "$0"; exec "$@"', str(marker)]
    process = judge.Judge(launch_prefix=prefix)
    process.start()
    process.marker = marker
    yield process
    process.close()


def _augmenter_evidence(folder: Path, answer: Any) -> Path:
    evidence.store(folder, "data_augmenter", graders.augmentation_rules.AugmenterEvidence(answer()))
    return folder


def test_the_judge_process_judges_over_its_pipe(judge_process, tmp_path):
    assert judge_process.marker.read_text().strip() == "ran"  # the launch prefix ran it
    _augmenter_evidence(tmp_path, answers.augmenter_vertical)
    [verdict] = judge_process.judge(tmp_path)
    assert (verdict["exercise"], verdict["status"], verdict["codes"]) == (
        "data_augmenter",
        "failed",
        ["flip-mode"],
    )
    assert judge_process.judge(tmp_path, ["datasets"]) == []


def test_a_judge_that_died_between_learners_is_replaced(judge_process, tmp_path):
    _augmenter_evidence(tmp_path, answers.augmenter_with_add)
    first = judge_process.pid
    os.kill(first, 9)
    judge_process._process.wait(timeout=30)
    [verdict] = judge_process.judge(tmp_path)  # a fresh process
    assert verdict["status"] == "passed" and judge_process.pid not in (None, first)


def test_a_judge_that_takes_too_long_is_stopped(judge_process, tmp_path):
    _augmenter_evidence(tmp_path, answers.augmenter_with_add)
    timeout = judge_process.timeout_s
    judge_process.timeout_s = 0.0
    try:
        with pytest.raises(judge.JudgeFailed, match="no answer"):
            judge_process.judge(tmp_path)
    finally:
        judge_process.timeout_s = timeout
    assert judge_process.pid is None  # stopped, started again on the next request
    assert not judge.not_judged(["data_augmenter"], "it timed out")[0]["status"] == "passed"


def test_a_judge_that_cannot_start_is_unavailable(tmp_path):
    broken = judge.Judge(launch_prefix=["/bin/false"], start_timeout_s=30)
    with pytest.raises(judge.JudgeUnavailable):
        broken.start()


def test_the_grading_process_imports_no_tensorflow():
    """judge.py's own module (what notebook_run imports) is light: only its process imports TF."""
    import subprocess
    import sys

    code = "import sys, instructor.grade.judge, instructor.grade.notebook_run; print('tensorflow' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.stdout.strip().splitlines()[-1] == "False", completed.stderr[-2000:]

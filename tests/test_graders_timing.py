"""How long each check takes, the learner's own model building left out.

The issue asks for under 3 s per check on the two-core machine; that target is
the benchmark's (`grader_max_s`, measured on a quiet machine), not asserted
here, where other tests share the CPU. This test checks that every timed check
gives its expected verdict and reports a grader time, and bounds that time only
generously (see MAX_GRADER_S). Run with `-s` to see the table; it is also
written to test-artifacts/grader-timings.json.
"""

from __future__ import annotations

import json
import math
import statistics
import warnings

import grader_answers as answers
import grader_answers_representative as representative

from helpers import config, graders, reference

REPEATS = 3
# A bound far above the 3 s target: a check as slow as the time a grader gives the learner's
# own function has gone badly wrong (it trains, or loops over the dataset), whatever the load.
MAX_GRADER_S = config.GRADER_TIME_LIMIT_S


def _cases() -> dict[str, tuple]:
    """name -> (check, arguments, expected status, expected codes)."""
    model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    reference.compile_for_phase1(model)
    tuned = reference.unfreeze_for_fine_tuning(model)
    cases = {
        "check_data_augmenter": (
            graders.check_data_augmenter,
            (answers.augmenter_reference,),
            graders.PASSED,
            [],
        ),
        "check_alpaca_model": (
            graders.check_alpaca_model,
            (answers.model_rescaling,),
            graders.PASSED,
            [],
        ),
        "check_alpaca_model (wrong)": (
            graders.check_alpaca_model,
            (answers.model_scaled_to_unit,),
            graders.FAILED,
            ["preprocess-range"],
        ),
        "check_fine_tuning": (graders.check_fine_tuning, (model, *tuned), graders.PASSED, []),
        "check_representative_dataset": (
            graders.check_representative_dataset,
            (representative.representative_tensors, model),
            graders.PASSED,
            [],
        ),
    }
    if (config.DATASET_DIR / "alpaca").is_dir():
        cases["check_datasets"] = (
            graders.check_datasets,
            reference.make_datasets(),
            graders.PASSED,
            [],
        )
    return cases


def test_grader_time_per_check(capsys):
    rows = {}
    for name, (check, arguments, status, codes) in _cases().items():
        grader_seconds = []
        for _ in range(REPEATS):
            result = check(*arguments)
            assert (result.status, result.codes) == (status, codes), (name, result.messages)
            seconds = result.timings["grader"]
            assert math.isfinite(seconds) and 0 < seconds <= result.timings["total"], (
                name,
                result.timings,
            )
            grader_seconds.append(seconds)
        rows[name] = {
            "grader_max_s": max(grader_seconds),
            "grader_median_s": statistics.median(grader_seconds),
        }
    capsys.readouterr()
    lines = [f"{'check':<28} {'max s':>8} {'median s':>9}"]
    lines += [
        f"{n:<28} {r['grader_max_s']:>8.3f} {r['grader_median_s']:>9.3f}" for n, r in rows.items()
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    slow = {
        name: row["grader_max_s"]
        for name, row in rows.items()
        if row["grader_max_s"] > MAX_GRADER_S
    }
    assert not slow, f"checks slower than {MAX_GRADER_S} s: {slow}"
    out = config.PROJECT_ROOT / "test-artifacts"
    try:
        out.mkdir(exist_ok=True)
        (out / "grader-timings.json").write_text(json.dumps(rows, indent=1))
    except OSError as error:  # the measurement above stands; only its copy on disk is missing
        warnings.warn(f"could not write {out / 'grader-timings.json'}: {error}", stacklevel=1)

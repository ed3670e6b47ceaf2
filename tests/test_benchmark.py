"""The benchmark's arithmetic, verdicts and results schema (no TensorFlow, no timing)."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import pytest

from benchmarks import cv_figures, litert, provenance, report
from benchmarks.__main__ import DEFAULT_OUTPUT, render
from helpers import config


def _complete_results() -> dict:
    """A results dictionary with every required key filled in plausibly."""
    return {
        "compute_bound_img_s": 160.0,
        "compute_bound_finetune_img_s": 110.0,
        "phase1_epoch_s": 2.3,
        "finetune_epoch_s": 3.0,
        "phase1_over_bound": 1.12,
        "finetune_over_bound": 1.05,
        "course_wall_s": 200.0,
        "val_acc_phase1_mean": 0.93,
        "val_acc_final_mean": 0.98,
        "val_acc_phase1_per_seed": [0.92, 0.93, 0.94],
        "val_acc_final_per_seed": [0.97, 0.98, 0.99],
        "val_acc_control_mean": 0.96,
        "val_acc_control_per_seed": [0.95, 0.96, 0.97],
        "fine_tuning_gain": 0.02,
        "val_acc_continuations_per_seed": {
            "fine-tuned, BatchNorm adapting": [0.97, 0.98, 0.99],
            "head only (control)": [0.95, 0.96, 0.97],
            "fine-tuned, BatchNorm frozen": [0.96, 0.97, 0.98],
        },
        "plan": {"phase1_epochs": 20, "fine_tune_epochs": 5},
        "peak_rss_mb": 2000.0,
        "grader_max_s": 1.5,
        "weights": "stand-in weights",
        "seeds": [42, 43, 44],
        "mode": "full",
        "notes": [],
        **cv_figures.not_measured(),
        "val_acc_cv_phase1_mean": 0.93,
        "val_acc_cv_phase1_ci95": [0.90, 0.96],
        "val_acc_cv_final_mean": 0.97,
        "val_acc_cv_final_ci95": [0.95, 0.99],
        "val_acc_cv_probe_mean": 0.94,
        "val_acc_cv_probe_ci95": [0.92, 0.96],
        "fine_tuning_gain_cv": 0.01,
        "fine_tuning_gain_cv_ci95": [-0.01, 0.03],
    }


# --- bounds and ratios ---


def test_fine_tuning_gain_is_the_difference_of_the_means():
    assert report.gain([0.97, 0.98, 0.99], [0.95, 0.96, 0.94]) == pytest.approx(0.03)
    assert report.gain([0.9], [0.95]) == pytest.approx(-0.05)  # a loss is reported, not hidden
    assert report.gain([], [0.9]) is None


def test_the_gain_is_printed_with_its_sign():
    table = report.format_table(_complete_results() | {"fine_tuning_gain": -0.015})
    row = next(line for line in table.splitlines() if line.split()[0] == "fine_tuning_gain")
    assert "-0.015" in row


def test_the_committed_gain_is_final_minus_control():
    results = json.loads(Path(DEFAULT_OUTPUT).read_text())
    expected = report.mean(results["val_acc_final_per_seed"]) - report.mean(
        results["val_acc_control_per_seed"]
    )
    assert results["fine_tuning_gain"] == pytest.approx(expected)


def test_phase1_bound_counts_training_and_validation_images_at_the_forward_rate():
    assert report.phase1_bound_s(327, 163.5) == pytest.approx(2.0)


def test_finetune_bound_counts_validation_images_at_the_forward_rate_only():
    # 262 images through the train step at 131 img/s, 65 through the forward pass at 130 img/s.
    assert report.finetune_bound_s(262, 65, 131.0, 130.0) == pytest.approx(2.0 + 0.5)


def test_phase1_step_bound_counts_training_images_at_the_train_step_rate():
    # 262 images through a phase-1 train step (augmentation included) at 262 img/s,
    # 65 validation images through the forward pass at 130 img/s.
    assert report.phase1_step_bound_s(262, 65, 262.0, 130.0) == pytest.approx(1.0 + 0.5)


def test_over_bound_is_the_ratio_of_real_to_ideal_time():
    assert report.over_bound(2.3, 2.0) == pytest.approx(1.15)
    assert report.over_bound(2.0, 2.0) == 1.0


@pytest.mark.parametrize("bound", [0.0, -1.0, math.inf, math.nan])
def test_over_bound_rejects_a_bound_that_is_not_a_positive_time(bound):
    with pytest.raises(ValueError):
        report.over_bound(2.0, bound)


def _bounds(forward: float, finetune: float, step: float) -> dict:
    return {
        "compute_bound_img_s": forward,
        "compute_bound_finetune_img_s": finetune,
        "compute_bound_phase1_step_img_s": step,
    }


def test_limits_measured_several_times_keep_the_fastest_and_stay_quiet_when_close():
    combined, warnings = report.combine_bounds(
        [_bounds(160, 100, 130), _bounds(170, 95, 130), _bounds(165, 98, 125)]
    )
    assert combined == _bounds(170, 100, 130)
    assert warnings == []


def test_limits_that_drifted_apart_warn_that_the_ratios_are_uncertain():
    _combined, warnings = report.combine_bounds(
        [_bounds(160, 100, 130), _bounds(100, 100, 130), _bounds(150, 100, 130)]
    )
    assert len(warnings) == 1
    assert warnings[0].startswith(
        "compute_bound_img_s was 160, 100, 150 in the 3 measurements (38% apart)"
    )
    assert "just before and after" in warnings[0]


def test_no_limit_measurements_is_an_error_not_an_empty_result():
    with pytest.raises(ValueError):
        report.combine_bounds([])


def test_a_seeds_ratios_use_its_own_limits_and_leave_out_first_epochs():
    # 262 + 65 images at 327 img/s: a 1.0 s phase-1 bound; a train step at 262 img/s
    # makes the layer stack's floor (1.0 + 65/327) s, i.e. 1.2x the bound.
    bounds = _bounds(327.0, 131.0, 262.0)
    speed = report.seed_speed([9.0, 1.3, 1.2, 1.4], [9.0, 2.4, 2.6], bounds, 262, 65)
    assert speed["phase1_epoch_s"] == pytest.approx(1.3)
    assert speed["phase1_over_bound"] == pytest.approx(1.3)
    assert speed["phase1_floor_over_bound"] == pytest.approx(1.0 + 65 / 327)
    assert speed["phase1_over_step_bound"] == pytest.approx(1.3 / (1.0 + 65 / 327))
    # 262 images at 131 img/s plus 65 at 327 img/s.
    assert speed["finetune_over_bound"] == pytest.approx(2.5 / (2.0 + 65 / 327))


def test_steady_median_leaves_out_each_runs_first_epoch():
    runs = [[12.0, 2.0, 2.2, 2.4], [11.0, 2.1, 9.0]]
    # With the first epochs the median would be 2.4; without them it is 2.2.
    assert report.steady_epoch_median(runs) == pytest.approx(2.2)


def test_steady_median_keeps_a_single_epoch_run():
    assert report.steady_epoch_median([[5.0]]) == 5.0


def test_steady_median_needs_epochs():
    with pytest.raises(ValueError):
        report.steady_epoch_median([])


# --- targets and verdicts ---


def test_a_met_floor_and_a_met_ceiling_say_met():
    floor = report.Target("val_acc_final_mean", ">=", 0.97)
    ceiling = report.Target("course_wall_s", "<=", 240.0, "s")
    assert report.target_verdict(floor, 0.97) == "met"
    assert report.target_verdict(ceiling, 240.0) == "met"


def test_a_missed_floor_says_by_how_much_relative_to_the_target():
    floor = report.Target("val_acc_final_mean", ">=", 0.97)
    assert report.target_verdict(floor, 0.90) == "missed by 7.2%"


def test_a_missed_ceiling_says_by_how_much_relative_to_the_target():
    ceiling = report.Target("course_wall_s", "<=", 240.0, "s")
    assert report.target_verdict(ceiling, 260.0) == "missed by 8.3%"
    ratio = report.Target("phase1_over_bound", "<=", 1.15, "x")
    assert report.target_verdict(ratio, 1.38) == "missed by 20.0%"


def test_an_unmeasured_figure_is_not_a_miss():
    ceiling = report.Target("course_wall_s", "<=", 240.0, "s")
    assert report.target_verdict(ceiling, None) == "not measured"
    results = _complete_results() | {"course_wall_s": None}
    assert not any(line.startswith("course_wall_s") for line in report.missed_targets(results))


def test_the_issue_targets_are_all_there():
    targets = {t.key: (t.direction, t.limit) for t in report.TARGETS}
    assert targets == {
        "val_acc_cv_final_mean": (">=", 0.96),
        "val_acc_cv_phase1_mean": (">=", 0.90),
        "phase1_over_bound": ("<=", 1.15),
        "finetune_over_bound": ("<=", 1.15),
        "course_wall_s": ("<=", 240.0),
        "peak_rss_mb": ("<=", 3072.0),
        "grader_max_s": ("<=", 3.0),
        "grade_s_per_learner": ("<=", 30.0),
    }


def test_missed_targets_lists_only_the_misses():
    results = _complete_results() | {"phase1_over_bound": 1.30, "val_acc_cv_final_mean": 0.95}
    assert report.missed_targets(results) == [
        "val_acc_cv_final_mean: missed by 1.0%",
        "phase1_over_bound: missed by 13.0%",
    ]


def test_the_table_shows_each_figure_with_its_target_and_verdict():
    results = _complete_results() | {"phase1_over_bound": 1.30, "course_wall_s": None}
    lines = report.format_table(results).splitlines()
    row = {line.split()[0]: line for line in lines[2:]}
    assert set(row) == {key for key, _unit in report.TABLE_ROWS}
    assert "1.30x" in row["phase1_over_bound"] and "<= 1.15x" in row["phase1_over_bound"]
    assert row["phase1_over_bound"].endswith("missed by 13.0%")
    assert row["val_acc_cv_final_mean"].endswith("met")
    assert row["val_acc_final_mean"].split() == [
        "val_acc_final_mean",
        "0.980",
    ]  # 65 images: no target
    assert row["course_wall_s"].endswith("not measured")
    assert "160 img/s" in row["compute_bound_img_s"]


def test_mean_curve_averages_each_epoch_over_the_runs():
    assert report.mean_curve([[0.6, 0.8], [0.8, 1.0]]) == pytest.approx([0.7, 0.9])


def test_mean_curve_cuts_runs_to_the_shortest_and_handles_none():
    assert report.mean_curve([[0.5, 0.7, 0.9], [0.7, 0.9]]) == pytest.approx([0.6, 0.8])
    assert report.mean_curve([]) == []


def test_the_printout_explains_a_phase1_miss_with_the_layer_stacks_floor():
    results = _complete_results() | {
        "phase1_over_bound": 1.46,
        "phase1_over_step_bound": 1.18,
        "phase1_floor_over_bound": 1.24,
        "val_acc_phase1_by_epoch": [0.65, 0.8716],
        "val_acc_fine_tune_by_epoch": [0.9, 0.944],
        "augmentation_ms_per_batch": 21.0,
        "speed_per_seed": {"42": {"phase1_over_bound": 1.41, "finetune_over_bound": 1.12}},
        "phase1_first_epoch_s": [5.4],
        "finetune_first_epoch_s": [5.9],
        "machine": {"processor": "AMD EPYC", "cpus": 2, "tensorflow": "2.21.0", "keras": "3.15.1"},
    }
    printed = render(results)
    assert "weights: stand-in weights" in printed
    assert "phase 1 [0.65, 0.872], fine-tuning [0.9, 0.944]" in printed
    assert "cannot go below 1.24x" in printed
    assert "42: phase 1 1.41x, fine-tuning 1.12x" in printed and "(21 ms/batch): 1.18x" in printed
    assert "targets missed: phase1_over_bound: missed by 27.0%" in printed


# --- results schema ---


def test_complete_results_have_no_schema_problems():
    assert report.schema_problems(_complete_results()) == []


def test_skipped_parts_may_be_null():
    results = _complete_results() | {
        "course_wall_s": None,
        "peak_rss_mb": None,
        "grader_max_s": None,
    }
    assert report.schema_problems(results) == []


def test_a_missing_key_is_a_schema_problem():
    results = _complete_results()
    del results["finetune_over_bound"]
    assert report.schema_problems(results) == ["missing key 'finetune_over_bound'"]


def test_a_wrong_type_is_a_schema_problem():
    problems = report.schema_problems(_complete_results() | {"phase1_epoch_s": "2.3"})
    assert len(problems) == 1 and "'phase1_epoch_s'" in problems[0]


def test_an_accuracy_outside_zero_to_one_is_a_schema_problem():
    problems = report.schema_problems(
        _complete_results() | {"val_acc_final_per_seed": [0.9, 1.2, 0.9]}
    )
    assert any("outside [0, 1]" in problem for problem in problems)


def test_one_accuracy_per_seed():
    problems = report.schema_problems(_complete_results() | {"val_acc_phase1_per_seed": [0.9, 0.9]})
    assert any("2 values for 3 seeds" in problem for problem in problems)


def test_a_non_positive_ratio_is_a_schema_problem():
    problems = report.schema_problems(_complete_results() | {"finetune_over_bound": 0.0})
    assert any("'finetune_over_bound' must be positive" in problem for problem in problems)


# --- weights provenance ---


def test_weights_are_named_by_the_checksums_of_helpers_data(tmp_path, monkeypatch):
    """One home for the checksums: the benchmark asks helpers.data, it keeps no copy."""
    from helpers import data

    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert provenance.weights().startswith("no MobileNetV2 weights")
    for name in config.WEIGHT_FILES.values():
        (models / name).write_bytes(b"pretend stand-in " + name.encode())
        digest = hashlib.sha256((models / name).read_bytes()).hexdigest()
        monkeypatch.setitem(data.STANDIN_WEIGHTS_SHA256, name, digest)
    assert provenance.weights() == data.PROVENANCE_STANDIN
    (models / config.WEIGHT_FILES["no_top"]).write_bytes(b"some other file")
    assert data.PROVENANCE_UNKNOWN in provenance.weights()


def test_the_committed_results_follow_the_schema_and_render():
    """benchmarks/results.json in the repository is a real, complete run of the current benchmark."""
    results = json.loads(Path(DEFAULT_OUTPUT).read_text())
    assert report.schema_problems(results) == []
    assert results["mode"] == "full" and results["seeds"]
    assert set(results["speed_per_seed"]) == {str(seed) for seed in results["seeds"]}
    assert _printed_misses(render(results)) == _misses_by_hand(results)


def _misses_by_hand(results: dict) -> set[str]:
    """The targets a results dictionary misses, worked out here from the raw figures."""
    missed = set()
    for target in report.TARGETS:
        value = results.get(target.key)
        if value is None:
            continue
        if (target.direction == ">=" and value < target.limit) or (
            target.direction == "<=" and value > target.limit
        ):
            missed.add(target.key)
    return missed


def _printed_misses(printed: str) -> set[str]:
    """The target names on the printout's `targets missed:` line (empty for "none")."""
    lines = [line for line in printed.splitlines() if line.startswith("targets missed: ")]
    assert len(lines) == 1, printed
    listed = lines[0].removeprefix("targets missed: ")
    return set() if listed == "none" else {item.split(":")[0] for item in listed.split("; ")}


def _results_meeting_every_target() -> dict:
    """The committed results (which render, see above) with every target figure at its limit."""
    results = json.loads(Path(DEFAULT_OUTPUT).read_text())
    for target in (*report.TARGETS, *litert.TARGETS):  # the LiteRT targets print their misses too
        results[target.key] = target.limit  # exactly at the limit is met
    return results


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({}, set()),
        ({"val_acc_cv_final_mean": 0.95}, {"val_acc_cv_final_mean"}),
        ({"val_acc_final_mean": 0.90}, set()),  # the 65-image figure has no target any more
        ({"phase1_over_bound": 1.30, "peak_rss_mb": 4000.0}, {"phase1_over_bound", "peak_rss_mb"}),
        ({"course_wall_s": None, "grader_max_s": 3.5}, {"grader_max_s"}),
    ],
    ids=["none", "one-floor", "split-figure-no-target", "two-ceilings", "unmeasured-is-no-miss"],
)
def test_the_printout_lists_exactly_the_missed_targets(changes, expected):
    results = _results_meeting_every_target() | changes
    assert _misses_by_hand(results) == expected  # the cases mean what their names say
    assert _printed_misses(render(results)) == expected

"""The cross-validated figures of results.json: names, arithmetic, schema and printout (no TensorFlow).

benchmarks/cross_validation.py gives every arm's logit for every held-out
image, one run per seed; `figures` turns those runs into the keys below.
Each accuracy `val_acc_cv_<arm>_mean` is the fraction of right predictions
over all 327 images and all seeds (each image held out once per seed), with
`val_acc_cv_<arm>_ci95` = [low, high], a 95 % percentile bootstrap over
images (cv_stats; benchmarks/README.md says why). Each difference
(`fine_tuning_gain_cv`, ...) is paired: both arms on the same images, folds
and seeds, its `_ci95` a bootstrap over the per-image differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchmarks import cv_stats
from benchmarks.cross_validation import (
    ARM_BN_ADAPTING,
    ARM_BN_FROZEN,
    ARM_CONTROL,
    ARM_HEAD,
    ARM_HEAD_NO_AUG,
    ARM_MAJORITY,
    ARM_PROBE,
    ARM_SCRATCH,
)

# The course's final model is whichever fine-tuning arm config.FREEZE_BATCHNORM_IN_FINE_TUNING picks.
ARM_FINAL = "final"

# Arm -> results.json prefix, in the order of the ladder of baselines.
ARM_KEYS: dict[str, str] = {
    ARM_MAJORITY: "val_acc_cv_majority",
    ARM_SCRATCH: "val_acc_cv_scratch",
    ARM_PROBE: "val_acc_cv_probe",
    ARM_HEAD_NO_AUG: "val_acc_cv_head_no_aug",
    ARM_HEAD: "val_acc_cv_phase1",
    ARM_CONTROL: "val_acc_cv_control",
    ARM_BN_ADAPTING: "val_acc_cv_bn_adapting",
    ARM_BN_FROZEN: "val_acc_cv_bn_frozen",
    ARM_FINAL: "val_acc_cv_final",
}
ARM_LABELS: dict[str, str] = {
    ARM_MAJORITY: "majority class (the training folds' larger class)",
    ARM_SCRATCH: "same network from scratch (weights=None)",
    ARM_PROBE: "linear probe on pooled frozen features",
    ARM_HEAD_NO_AUG: "course head, no augmentation (on cached features)",
    ARM_HEAD: "course head, phase 1 (augmentation)",
    ARM_CONTROL: "control: head only for the fine-tuning epochs",
    ARM_BN_ADAPTING: "fine-tuned, BatchNorm adapting",
    ARM_BN_FROZEN: "fine-tuned, BatchNorm frozen",
    ARM_FINAL: "the course's final model (fine-tuned)",
}


# Paired differences the course teaches: key, arm A, arm B (the figure is A - B), meaning.
DIFFERENCES: tuple[tuple[str, str, str, str], ...] = (
    ("fine_tuning_gain_cv", ARM_FINAL, ARM_CONTROL, "fine-tuning - control"),
    ("batchnorm_frozen_gain_cv", ARM_BN_FROZEN, ARM_BN_ADAPTING, "BatchNorm frozen - adapting"),
    ("augmentation_gain_cv", ARM_HEAD, ARM_HEAD_NO_AUG, "augmentation on - off (head)"),
    ("head_vs_probe_cv", ARM_HEAD, ARM_PROBE, "course head - linear probe"),
    ("final_vs_probe_cv", ARM_FINAL, ARM_PROBE, "final - linear probe"),
    ("final_vs_scratch_cv", ARM_FINAL, ARM_SCRATCH, "final - from scratch"),
)


def figures(
    runs: Sequence[Mapping[str, Any]],
    scratch_runs: Sequence[Mapping[str, Any]],
    final_arm: str,
) -> dict[str, Any]:
    """results.json's cross-validated keys from the runs (one per seed) and the scratch runs.

    `final_arm` is the fine-tuning arm the course uses (ARM_BN_FROZEN or ARM_BN_ADAPTING).
    """
    correct, fold_of = cv_stats.correct_by_arm(runs)
    if scratch_runs:
        scratch_correct, scratch_folds = cv_stats.correct_by_arm(scratch_runs)
        correct[ARM_SCRATCH] = scratch_correct[ARM_SCRATCH]
    correct[ARM_FINAL] = correct[final_arm]
    n_folds = int(runs[0]["folds"])
    detail: dict[str, Any] = {}
    results: dict[str, Any] = {}
    for arm, prefix in ARM_KEYS.items():
        if arm not in correct:
            results[f"{prefix}_mean"] = results[f"{prefix}_ci95"] = None
            continue
        folds = scratch_folds if arm == ARM_SCRATCH else fold_of
        scratch_n = int(scratch_runs[0]["folds"]) if arm == ARM_SCRATCH else n_folds
        summary = cv_stats.summarise_arm(correct[arm], folds, scratch_n)
        results[f"{prefix}_mean"] = summary["mean"]
        results[f"{prefix}_ci95"] = summary["ci95"]
        detail[arm] = summary
    for key, a, b, _meaning in DIFFERENCES:
        if a not in correct or b not in correct:
            results[key] = results[f"{key}_ci95"] = None
            continue
        difference = cv_stats.paired_difference(correct[a], correct[b])
        results[key] = difference["mean"]
        results[f"{key}_ci95"] = difference["ci95"]
        detail[key] = difference
    results["cv_final_arm"] = final_arm
    results["cv_detail"] = detail
    results["cv_seconds"] = _seconds(runs, scratch_runs)
    return results


def _seconds(
    runs: Sequence[Mapping[str, Any]], scratch_runs: Sequence[Mapping[str, Any]]
) -> dict[str, float]:
    """Total seconds each part of the cross-validation took, over all its runs."""
    totals: dict[str, float] = {}
    for run in (*runs, *scratch_runs):
        for part, values in run.get("seconds", {}).items():
            totals[part] = totals.get(part, 0.0) + sum(values)
    return totals


def keys() -> list[str]:
    """Every cross-validated key results.json holds (values may be null when skipped)."""
    names = [f"{prefix}_{suffix}" for prefix in ARM_KEYS.values() for suffix in ("mean", "ci95")]
    return names + [name for key, *_ in DIFFERENCES for name in (key, f"{key}_ci95")]


def not_measured() -> dict[str, Any]:
    """The keys of a run without cross-validation (all null)."""
    return {key: None for key in keys()}


def schema_problems(results: Mapping[str, Any]) -> list[str]:
    """Missing keys, accuracies outside [0, 1], intervals that are not [low, high] around the value."""
    problems = []
    for key in keys():
        if key not in results:
            problems.append(f"missing key {key!r}")
    for prefix in ARM_KEYS.values():
        mean, interval = results.get(f"{prefix}_mean"), results.get(f"{prefix}_ci95")
        if mean is not None and not 0.0 <= mean <= 1.0:
            problems.append(f"{prefix}_mean {mean!r} is outside [0, 1]")
        problems += _interval_problems(f"{prefix}_ci95", mean, interval, -0.0, 1.0)
    for key, *_ in DIFFERENCES:
        problems += _interval_problems(
            f"{key}_ci95", results.get(key), results.get(f"{key}_ci95"), -1.0, 1.0
        )
    return problems


def _interval_problems(
    name: str, value: float | None, interval: Any, lowest: float, highest: float
) -> list[str]:
    """An interval must be [low, high] within the bounds and hold its point estimate."""
    if value is None and interval is None:
        return []
    if value is None or not (isinstance(interval, list) and len(interval) == 2):
        return [f"{name} should be [low, high] beside its value, got {interval!r}"]
    low, high = interval
    if not lowest <= low <= value <= high <= highest:
        return [
            f"{name} {interval!r} does not hold its value {value!r} within [{lowest}, {highest}]"
        ]
    return []


def render_section(results: Mapping[str, Any]) -> list[str]:
    """The printout's cross-validation section: the ladder, the differences, the plan."""
    plan = results.get("cv_plan") or {}
    if results.get("val_acc_cv_final_mean") is None:
        return ["", "cross-validation: not run"]
    lines = [
        "",
        f"Cross-validated accuracy ({plan.get('folds')}-fold stratified, seeds "
        f"{plan.get('seeds')}, all {plan.get('images')} images each held out once per seed; "
        f"95 % intervals: {plan.get('interval')}):",
    ]
    rows = []
    for arm, prefix in ARM_KEYS.items():
        mean, interval = results.get(f"{prefix}_mean"), results.get(f"{prefix}_ci95")
        if mean is None:
            continue
        note = f"  ({plan['scratch']})" if arm == ARM_SCRATCH and plan.get("scratch") else ""
        rows.append(
            (f"{prefix}_mean", f"{mean:.3f}", _shown(interval, "{:.3f}"), ARM_LABELS[arm] + note)
        )
    rows.append(("", "", "", ""))
    for key, _a, _b, meaning in DIFFERENCES:
        value = results.get(key)
        if value is None:
            continue
        rows.append((key, f"{value:+.3f}", _shown(results.get(f"{key}_ci95"), "{:+.3f}"), meaning))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:3], widths)] + [row[3]]
        lines.append("  ".join(cells).rstrip())
    return lines


def _shown(interval: Sequence[float] | None, form: str) -> str:
    """`[low, high]` in the given number format, or '-'."""
    if not interval:
        return "-"
    return "[" + ", ".join(form.format(value) for value in interval) + "]"

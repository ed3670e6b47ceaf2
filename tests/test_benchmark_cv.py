"""Cross-validation arithmetic, figures and printout of the benchmark (no TensorFlow, no training)."""

from __future__ import annotations

import statistics

import pytest

from benchmarks import cross_validation, cv_figures, cv_stats

# --- folds ---


def test_every_image_is_held_out_exactly_once_and_folds_are_stratified():
    labels = [0] * 142 + [1] * 185
    fold_of = cv_stats.stratified_folds(labels, 5, seed=42)
    assert len(fold_of) == 327 and set(fold_of) == {0, 1, 2, 3, 4}
    sizes = [fold_of.count(fold) for fold in range(5)]
    assert max(sizes) - min(sizes) <= 1  # 65 or 66 images each
    for label, total in ((0, 142), (1, 185)):
        per_fold = [
            sum(1 for f, y in zip(fold_of, labels) if f == fold and y == label) for fold in range(5)
        ]
        assert sum(per_fold) == total and max(per_fold) - min(per_fold) <= 1


def test_folds_depend_on_the_seed_and_only_on_it():
    labels = [0, 1] * 20
    assert cv_stats.stratified_folds(labels, 5, 1) == cv_stats.stratified_folds(labels, 5, 1)
    assert cv_stats.stratified_folds(labels, 5, 1) != cv_stats.stratified_folds(labels, 5, 2)


@pytest.mark.parametrize("labels, folds", [([0, 1, 0], 1), ([0, 1], 3)])
def test_impossible_folds_are_refused(labels, folds):
    with pytest.raises(ValueError):
        cv_stats.stratified_folds(labels, folds, 0)


# --- intervals ---


def test_the_bootstrap_interval_holds_the_mean_and_narrows_with_more_images():
    few = [1] * 19 + [0]
    many = few * 20
    low, high = cv_stats.bootstrap_ci(few)
    assert low < statistics.fmean(few) < high <= 1.0
    many_low, many_high = cv_stats.bootstrap_ci(many)
    assert many_high - many_low < (high - low) / 3
    assert cv_stats.bootstrap_ci(few) == [low, high]  # its own seed: reproducible
    assert cv_stats.bootstrap_ci([1, 1, 1]) == [1.0, 1.0]


def test_a_binomial_bootstrap_is_close_to_the_normal_approximation():
    values = [1] * 310 + [0] * 17  # 0.948 on 327 images
    low, high = cv_stats.bootstrap_ci(values)
    p = statistics.fmean(values)
    half = 1.96 * (p * (1 - p) / len(values)) ** 0.5
    assert low == pytest.approx(p - half, abs=0.006) and high == pytest.approx(p + half, abs=0.006)


def test_the_corrected_t_interval_is_wider_than_the_naive_one():
    values = [0.9, 0.95, 0.92, 0.97, 0.93]
    low, high = cv_stats.corrected_t_interval(values, test_fraction=0.2)
    naive = 2.776 * statistics.stdev(values) / len(values) ** 0.5
    corrected = 2.776 * (statistics.variance(values) * (1 / 5 + 0.25)) ** 0.5
    assert (high - low) / 2 == pytest.approx(corrected)
    assert corrected > naive
    assert (low + high) / 2 == pytest.approx(statistics.fmean(values))
    with pytest.raises(ValueError):
        cv_stats.corrected_t_interval([0.9], 0.2)


def test_t_quantiles():
    assert cv_stats.t_quantile_975(14) == pytest.approx(2.145)
    assert cv_stats.t_quantile_975(100) == pytest.approx(1.96)


# --- arms and paired differences ---


def _correct(values: dict[int, list[int]]) -> dict[int, dict[str, int]]:
    return {seed: {f"img{i}": v for i, v in enumerate(row)} for seed, row in values.items()}


def test_an_arms_mean_is_the_fraction_right_over_all_images_and_seeds():
    correct = _correct({0: [1, 1, 0, 1], 1: [1, 0, 0, 1]})
    fold_of = {seed: {"img0": 0, "img1": 0, "img2": 1, "img3": 1} for seed in (0, 1)}
    summary = cv_stats.summarise_arm(correct, fold_of, 2)
    assert summary["mean"] == pytest.approx(5 / 8)
    assert summary["per_seed"] == {"0": 0.75, "1": 0.5}
    assert summary["per_fold"] == [1.0, 0.5, 0.5, 0.5]
    assert summary["seeds"] == 2 and summary["images"] == 4


def test_a_paired_difference_counts_only_disagreements():
    a = _correct({0: [1, 1, 1, 0] * 25})
    b = _correct({0: [1, 0, 1, 0] * 25})
    difference = cv_stats.paired_difference(a, b)
    assert difference["mean"] == pytest.approx(0.25)
    assert difference["a_right_b_wrong"] == 25 and difference["b_right_a_wrong"] == 0
    assert 0 < difference["ci95"][0] < 0.25 < difference["ci95"][1]
    same = cv_stats.paired_difference(a, a)
    assert same["mean"] == 0 and same["ci95"] == [0.0, 0.0]


def test_a_paired_difference_needs_the_same_seeds():
    with pytest.raises(ValueError, match="share no seed"):
        cv_stats.paired_difference(_correct({0: [1]}), _correct({1: [1]}))


def test_a_logit_above_zero_means_class_one():
    assert cv_stats.correctness({"a": 2.0, "b": -1.0, "c": 0.0}, {"a": 1, "b": 1, "c": 0}) == {
        "a": 1,
        "b": 0,
        "c": 1,
    }


# --- results.json's keys ---


def _run(seed: int, arms_right: dict[str, float], n: int = 40) -> dict:
    """A fake child result: `arms_right[arm]` = fraction of images each arm gets right."""
    images = [f"c/{i:03d}.jpg" for i in range(n)]
    labels = [i % 2 for i in range(n)]
    arms = {}
    for arm, fraction in arms_right.items():
        right = int(round(fraction * n))
        arms[arm] = {
            image: (1.0 if label else -1.0) * (1 if index < right else -1)
            for index, (image, label) in enumerate(zip(images, labels))
        }
    return {
        "seed": seed,
        "folds": 5,
        "images": images,
        "labels": labels,
        "fold_of": cv_stats.stratified_folds(labels, 5, seed),
        "arms": arms,
        "seconds": {"phase1": [10.0]},
    }


ARMS = {
    cross_validation.ARM_MAJORITY: 0.5,
    cross_validation.ARM_PROBE: 0.9,
    cross_validation.ARM_HEAD_NO_AUG: 0.9,
    cross_validation.ARM_HEAD: 0.875,
    cross_validation.ARM_CONTROL: 0.9,
    cross_validation.ARM_BN_ADAPTING: 0.925,
    cross_validation.ARM_BN_FROZEN: 0.975,
}


def _figures(final_arm: str = cross_validation.ARM_BN_FROZEN) -> dict:
    runs = [_run(seed, ARMS) for seed in (42, 43, 44)]
    scratch = [_run(42, {cross_validation.ARM_SCRATCH: 0.6})]
    return cv_figures.figures(runs, scratch, final_arm)


def test_figures_hold_every_key_and_the_differences_are_paired():
    figures = _figures()
    assert set(cv_figures.keys()) <= set(figures)
    assert cv_figures.schema_problems(figures) == []
    assert figures["val_acc_cv_final_mean"] == pytest.approx(0.975)
    assert figures["val_acc_cv_probe_mean"] == pytest.approx(0.9)
    assert figures["val_acc_cv_scratch_mean"] == pytest.approx(0.6)
    assert figures["fine_tuning_gain_cv"] == pytest.approx(0.975 - 0.9)
    assert figures["batchnorm_frozen_gain_cv"] == pytest.approx(0.975 - 0.925)
    assert figures["augmentation_gain_cv"] == pytest.approx(0.875 - 0.9)
    assert figures["final_vs_scratch_cv"] == pytest.approx(0.975 - 0.6)
    low, high = figures["fine_tuning_gain_cv_ci95"]
    assert low <= figures["fine_tuning_gain_cv"] <= high
    assert figures["cv_detail"]["fine_tuning_gain_cv"]["seeds"] == 3
    assert figures["cv_detail"]["final_vs_scratch_cv"]["seeds"] == 1  # scratch ran on seed 42 only


def test_the_final_model_is_the_arm_config_chooses():
    figures = _figures(cross_validation.ARM_BN_ADAPTING)
    assert figures["val_acc_cv_final_mean"] == pytest.approx(0.925)
    assert figures["cv_final_arm"] == cross_validation.ARM_BN_ADAPTING


def test_a_missing_or_inconsistent_cv_figure_is_a_schema_problem():
    figures = _figures()
    del figures["val_acc_cv_probe_ci95"]
    assert cv_figures.schema_problems(figures) == ["missing key 'val_acc_cv_probe_ci95'"] + [
        "val_acc_cv_probe_ci95 should be [low, high] beside its value, got None"
    ]
    figures = _figures() | {"val_acc_cv_final_ci95": [0.98, 0.99]}  # does not hold 0.975
    assert any("does not hold its value" in p for p in cv_figures.schema_problems(figures))
    assert cv_figures.schema_problems(cv_figures.not_measured()) == []


def test_the_printout_shows_the_ladder_and_the_differences_with_intervals():
    results = _figures() | {
        "cv_plan": {
            "folds": 5,
            "seeds": [42, 43, 44],
            "images": 40,
            "interval": "percentile bootstrap over images",
            "scratch": "5 of 5 folds, seeds [42], epochs: 5",
        }
    }
    printed = "\n".join(cv_figures.render_section(results))
    assert "5-fold stratified, seeds [42, 43, 44]" in printed
    final = next(line for line in printed.splitlines() if line.startswith("val_acc_cv_final_mean"))
    low, high = results["val_acc_cv_final_ci95"]
    assert final.split()[1:4] == ["0.975", f"[{low:.3f},", f"{high:.3f}]"]
    gain = next(line for line in printed.splitlines() if line.startswith("fine_tuning_gain_cv "))
    assert "+0.075" in gain and "fine-tuning - control" in gain
    assert "(5 of 5 folds, seeds [42], epochs: 5)" in printed
    assert cv_figures.render_section(cv_figures.not_measured()) == ["", "cross-validation: not run"]


# --- the child's recipe ---


def test_a_shortened_recipe_reads_every_arm_once_at_the_shorter_epochs():
    recipe = {
        "phase1_epochs": 30,
        "phase1_eval_epochs": [10, 20, 30],
        "probe_epochs": [20, 100],
        "head_no_aug_epochs": [],
        "continuations": [{"name": "x", "from_epoch": 20, "epochs": 15, "eval_epochs": [5, 15]}],
    }
    short = cross_validation.shortened(recipe, 3, 2)
    assert short["phase1_eval_epochs"] == [3] and short["probe_epochs"] == [3]
    assert short["head_no_aug_epochs"] == []
    assert short["continuations"] == [{"name": "x", "from_epoch": 3, "epochs": 2}]
    assert recipe["continuations"][0]["from_epoch"] == 20  # the original is left alone


def test_arm_names_carry_the_epochs_only_when_read_more_than_once():
    assert cross_validation.arm_name("head", 20, [20]) == "head"
    assert cross_validation.arm_name("head", 10, [10, 20]) == "head@10"

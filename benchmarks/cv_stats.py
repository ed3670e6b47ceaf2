"""Cross-validation arithmetic: folds, accuracies, intervals, paired differences (no TensorFlow).

The unit of the data is the image: every image is held out once per seed,
and an arm (a way of training, e.g. "fine-tuned, BatchNorm frozen") gives
each held-out image a logit. Everything below works on those predictions:

    stratified_folds(labels, n_folds, seed)      which fold holds each image out
    summarise_arm(correct, fold_of)              mean, 95 % interval, per seed, per fold
    paired_difference(correct_a, correct_b)      A - B on the same images, folds and seeds

`correct` maps seed -> image id -> 1 (right) or 0 (wrong).

Interval method (benchmarks/README.md says why): a percentile bootstrap over
images. Each image's correctness is averaged over the seeds first, so an
image counts once however many seeds ran; resampling the 327 images then
asks "how different would the accuracy be on another 327 images like
these". The fold-seed accuracies are not independent (the training sets of
two folds share three quarters of their images), so a plain t-interval over
them is too narrow; the Nadeau-Bengio corrected t-interval is computed
beside it as a cross-check.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0  # the resampling's own seed: the same predictions give the same interval
CONFIDENCE = 0.95

# Two-sided 97.5 % quantiles of Student's t for 1-30 degrees of freedom (no SciPy here).
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip

Correct = Mapping[int, Mapping[str, int]]  # seed -> image id -> 1 right / 0 wrong


def stratified_folds(labels: Sequence[int], n_folds: int, seed: int) -> list[int]:
    """The fold (0 .. n_folds-1) that holds out each image, stratified by class.

    Each class's images are shuffled with `seed` and dealt round-robin to the
    folds, the second class continuing where the first stopped, so every fold
    gets its share of each class and the fold sizes differ by at most one.
    """
    if n_folds < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, got {n_folds}")
    if len(labels) < n_folds:
        raise ValueError(f"{len(labels)} images cannot fill {n_folds} folds")
    rng = np.random.default_rng(seed)
    fold_of = [0] * len(labels)
    dealt = 0
    for label in sorted(set(labels)):
        members = [index for index, value in enumerate(labels) if value == label]
        for index in rng.permutation(members):
            fold_of[int(index)] = dealt % n_folds
            dealt += 1
    return fold_of


def per_image_mean(correct: Correct) -> dict[str, float]:
    """Each image's correctness averaged over the seeds that held it out."""
    images = sorted({image for by_image in correct.values() for image in by_image})
    means = {}
    for image in images:
        values = [by_image[image] for by_image in correct.values() if image in by_image]
        means[image] = statistics.fmean(values)
    return means


def bootstrap_ci(
    values: Sequence[float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> list[float]:
    """Percentile bootstrap interval of the mean of `values` (one value per image)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        raise ValueError("no values to bootstrap")
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    # In chunks: 10,000 x 327 draws at once would be 26 MB of indices.
    for start in range(0, resamples, 1000):
        stop = min(start + 1000, resamples)
        draws = rng.integers(0, data.size, size=(stop - start, data.size))
        means[start:stop] = data[draws].mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return [float(low), float(high)]


def t_quantile_975(degrees_of_freedom: int) -> float:
    """Student's t at 97.5 % (two-sided 95 %); the normal 1.96 beyond 30 degrees."""
    if degrees_of_freedom < 1:
        raise ValueError("a t-interval needs at least two values")
    if degrees_of_freedom <= len(_T_975):
        return _T_975[degrees_of_freedom - 1]
    return 1.96


def corrected_t_interval(values: Sequence[float], test_fraction: float) -> list[float]:
    """Nadeau & Bengio's corrected resampled t-interval of the mean of fold-seed figures.

    Repeated k-fold estimates share training images, so their variance
    understates the mean's: the correction multiplies the variance of the
    mean by (1/J + n_test/n_train) instead of 1/J (J values), with
    `test_fraction` = n_test / n (1/5 for 5 folds).
    """
    if len(values) < 2:
        raise ValueError("a t-interval needs at least two values")
    mean = statistics.fmean(values)
    variance = statistics.variance(values)
    ratio = test_fraction / (1 - test_fraction)
    half = t_quantile_975(len(values) - 1) * math.sqrt((1 / len(values) + ratio) * variance)
    return [mean - half, mean + half]


def fold_accuracies(correct: Correct, fold_of: Mapping[int, Mapping[str, int]]) -> list[float]:
    """The accuracy of every (seed, fold) pair, seeds in order, then folds."""
    accuracies = []
    for seed in sorted(correct):
        folds: dict[int, list[int]] = {}
        for image, value in correct[seed].items():
            folds.setdefault(fold_of[seed][image], []).append(value)
        accuracies.extend(statistics.fmean(folds[fold]) for fold in sorted(folds))
    return accuracies


def summarise_arm(
    correct: Correct, fold_of: Mapping[int, Mapping[str, int]], n_folds: int
) -> dict[str, Any]:
    """An arm's cross-validated accuracy: mean over all held-out predictions, intervals, spread.

    `mean` is the fraction of right predictions over every image and seed
    (each image held out once per seed); `ci95` the bootstrap over images;
    `ci95_corrected_t` the corrected t-interval over the fold-seed accuracies.
    """
    by_image = per_image_mean(correct)
    by_fold = fold_accuracies(correct, fold_of)
    summary: dict[str, Any] = {
        "mean": statistics.fmean(by_image.values()),
        "ci95": bootstrap_ci(list(by_image.values())),
        "per_seed": {
            str(seed): statistics.fmean(correct[seed].values()) for seed in sorted(correct)
        },
        "per_fold": by_fold,
        "folds": n_folds,
        "seeds": len(correct),
        "images": len(by_image),
    }
    if len(by_fold) >= 2:
        summary["ci95_corrected_t"] = corrected_t_interval(by_fold, 1 / n_folds)
    return summary


def paired_difference(correct_a: Correct, correct_b: Correct) -> dict[str, Any]:
    """Accuracy of A minus B on the same images, folds and seeds, with a paired interval.

    Per image, the difference of the two arms' correctness (averaged over the
    seeds) is resampled: an image both get right or both get wrong adds
    nothing, so the interval reflects only the images on which they disagree.
    """
    seeds = sorted(set(correct_a) & set(correct_b))
    if not seeds:
        raise ValueError("the two arms share no seed: a paired difference needs the same runs")
    differences: dict[str, list[int]] = {}
    a_only = b_only = 0
    for seed in seeds:
        for image in correct_a[seed].keys() & correct_b[seed].keys():
            a, b = correct_a[seed][image], correct_b[seed][image]
            differences.setdefault(image, []).append(a - b)
            a_only += a > b
            b_only += b > a
    per_image = [statistics.fmean(values) for values in differences.values()]
    return {
        "mean": statistics.fmean(per_image),
        "ci95": bootstrap_ci(per_image),
        "a_right_b_wrong": a_only,  # counted over images and seeds
        "b_right_a_wrong": b_only,
        "seeds": len(seeds),
        "images": len(per_image),
    }


def correctness(
    logits: Mapping[str, float], labels: Mapping[str, int], threshold: float = 0.0
) -> dict[str, int]:
    """1 where a logit above `threshold` (class 1) matches the label, else 0."""
    return {
        image: int((logit > threshold) == bool(labels[image])) for image, logit in logits.items()
    }


def correct_by_arm(
    runs: Sequence[Mapping[str, Any]],
) -> tuple[dict[str, dict[int, dict[str, int]]], dict[int, dict[str, int]]]:
    """Cross-validation runs (one per seed) as arm -> seed -> image -> 1/0, and each seed's folds."""
    correct: dict[str, dict[int, dict[str, int]]] = {}
    fold_of: dict[int, dict[str, int]] = {}
    for run in runs:
        seed = int(run["seed"])
        if seed in fold_of:
            raise ValueError(f"seed {seed} appears in two runs")
        labels = dict(zip(run["images"], run["labels"], strict=True))
        fold_of[seed] = dict(zip(run["images"], run["fold_of"], strict=True))
        for arm, logits in run["arms"].items():
            correct.setdefault(arm, {})[seed] = correctness(logits, labels)
    return correct, fold_of

"""The benchmark's LiteRT part: derived figures, targets, table and schema (no TensorFlow, no timing)."""

from __future__ import annotations

import pytest

from benchmarks import litert, report
from helpers import config


def measured(**changes: float) -> dict:
    """Plausible measured figures: an int8 file a third of the float one, one disagreement.

    0.97 of 65 images is 63.05: the agreement target allows one disagreement, not two.
    """
    figures = {
        "litert_float_kb": 8890.8,
        "litert_int8_kb": 2731.9,
        "litert_float_ms": 3.6,
        "litert_int8_ms": 2.9,
        "litert_int8_agreement": 64 / 65,
        "litert_int8_val_acc": 60 / 65,
        "litert_keras_val_acc": 61 / 65,
    }
    figures.update(changes)
    return figures | litert.derived_figures(figures)


def test_the_issue_targets_for_litert():
    targets = {t.key: (t.direction, t.limit) for t in litert.TARGETS}
    assert targets["litert_int8_size_ratio"] == ("<=", 0.35)
    assert targets["litert_int8_agreement"] == (">=", 0.97)
    direction, gap = targets["litert_int8_acc_gap"]
    assert direction == "<=" and gap == pytest.approx(1 / config.EXPECTED_VALIDATION_FILES)


def test_size_ratio_and_accuracy_gap_are_derived_from_the_measurements():
    figures = measured()
    assert figures["litert_int8_size_ratio"] == pytest.approx(2731.9 / 8890.8)
    assert figures["litert_int8_acc_gap"] == pytest.approx(1 / 65)


def test_one_image_either_way_meets_the_accuracy_target_two_do_not():
    assert report.missed_targets(measured(), litert.TARGETS) == []  # one image worse
    better = measured(litert_int8_val_acc=62 / 65)  # one image better
    assert report.missed_targets(better, litert.TARGETS) == []
    worse = measured(litert_int8_val_acc=59 / 65)
    assert report.missed_targets(worse, litert.TARGETS) == ["litert_int8_acc_gap: missed by 100.0%"]


def test_three_disagreements_miss_the_agreement_target():
    missed = report.missed_targets(measured(litert_int8_agreement=62 / 65), litert.TARGETS)
    assert missed == ["litert_int8_agreement: missed by 1.7%"]


def test_a_large_int8_file_misses_the_size_target():
    missed = report.missed_targets(measured(litert_int8_kb=4000.0), litert.TARGETS)
    assert len(missed) == 1 and missed[0].startswith("litert_int8_size_ratio")


def test_the_table_shows_every_litert_figure_with_units():
    lines = litert.format_table(measured()).splitlines()
    row = {line.split()[0]: line for line in lines[2:]}
    assert set(row) == {key for key, _unit in litert.TABLE_ROWS}
    assert "8891 kB" in row["litert_float_kb"] and "3.60 ms" in row["litert_float_ms"]
    assert "0.31x" in row["litert_int8_size_ratio"] and row["litert_int8_size_ratio"].endswith(
        "met"
    )
    assert row["litert_int8_agreement"].endswith("met")


def test_skipped_litert_figures_are_null_and_not_misses():
    skipped = litert.not_measured()
    assert set(skipped) >= set(litert.MEASURED_KEYS) and all(v is None for v in skipped.values())
    assert litert.schema_problems(skipped) == []
    assert report.missed_targets(skipped, litert.TARGETS) == []
    assert "not measured" in litert.format_table(skipped)


def test_schema_problems_name_the_key():
    assert litert.schema_problems(measured()) == []
    problems = litert.schema_problems(measured(litert_int8_agreement=1.5, litert_float_ms=0.0))
    assert any("'litert_int8_agreement' must lie in [0, 1]" in p for p in problems)
    assert any("'litert_float_ms' must be positive" in p for p in problems)
    incomplete = measured()
    del incomplete["litert_int8_kb"]
    assert "missing key 'litert_int8_kb'" in litert.schema_problems(incomplete)


def test_the_printout_has_the_litert_table_and_the_misses_name_its_figures():
    results = measured(litert_int8_agreement=62 / 65)
    printed = "\n".join(litert.render_section(results))
    assert "notebook 06, LiteRT" in printed and "litert_int8_kb" in printed
    assert "missed by 1.7%" in printed
    misses = report.missed_targets(results) + report.missed_targets(results, litert.TARGETS)
    assert misses == ["litert_int8_agreement: missed by 1.7%"]

"""The LiteRT figures of notebook 06: file sizes, latency, agreement and accuracy of int8.

    python -m benchmarks.litert --out litert.json    (the child the benchmark runs)

The child trains the course's fine-tuned model with `helpers.reference` (phase
1 and fine-tuning, seed config.SEED, as notebooks 04 and 05 do), exports it as
float32 and as full-integer int8 (calibrated on REPRESENTATIVE_SAMPLES
training images, as notebook 06 does), and measures on the 65 validation images:

litert_float_kb, litert_int8_kb    the .tflite files' sizes (1 kB = 1000 bytes)
litert_float_ms, litert_int8_ms    median of single-image interpreter calls after a
                                   warm-up, one thread (helpers.litert.LiteRTModel)
litert_int8_agreement              fraction of images where int8 and Keras predict the same class
litert_int8_val_acc                validation accuracy of the int8 file
litert_keras_val_acc               validation accuracy of the Keras model it was exported from

and, derived here for the targets: litert_int8_size_ratio (int8 / float file)
and litert_int8_acc_gap (|int8 - Keras accuracy|, one image = 1/65).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmarks import report
from helpers import config

# The issue's targets for notebook 06's exported model.
ONE_VALIDATION_IMAGE = 1 / config.EXPECTED_VALIDATION_FILES
TARGETS: tuple[report.Target, ...] = (
    report.Target("litert_int8_size_ratio", "<=", 0.35, "x"),
    report.Target("litert_int8_agreement", ">=", 0.97),
    # "Within one validation image of Keras": the float rounding of 1/65 must not count as a miss.
    report.Target("litert_int8_acc_gap", "<=", ONE_VALIDATION_IMAGE + 1e-9),
)

TABLE_ROWS: tuple[tuple[str, str], ...] = (
    ("litert_float_kb", "kB"),
    ("litert_int8_kb", "kB"),
    ("litert_int8_size_ratio", "x"),
    ("litert_float_ms", "ms"),
    ("litert_int8_ms", "ms"),
    ("litert_keras_val_acc", ""),
    ("litert_int8_val_acc", ""),
    ("litert_int8_acc_gap", ""),
    ("litert_int8_agreement", ""),
)
MEASURED_KEYS: tuple[str, ...] = (
    "litert_float_kb",
    "litert_int8_kb",
    "litert_float_ms",
    "litert_int8_ms",
    "litert_int8_agreement",
    "litert_int8_val_acc",
    "litert_keras_val_acc",
)
# The benchmark times more calls than the notebook: its figure should move less.
BENCHMARK_TIMED_CALLS = 100
BENCHMARK_WARMUP_CALLS = 10


def derived_figures(measured: Mapping[str, Any]) -> dict[str, float | None]:
    """The ratio and the accuracy gap the targets are about, from the measured figures."""
    if any(measured.get(key) is None for key in MEASURED_KEYS):
        return {"litert_int8_size_ratio": None, "litert_int8_acc_gap": None}
    return {
        "litert_int8_size_ratio": measured["litert_int8_kb"] / measured["litert_float_kb"],
        "litert_int8_acc_gap": abs(
            measured["litert_int8_val_acc"] - measured["litert_keras_val_acc"]
        ),
    }


def not_measured() -> dict[str, Any]:
    """Every LiteRT figure as null (the part was skipped or failed; `notes` says which)."""
    return {key: None for key in MEASURED_KEYS} | derived_figures({})


def schema_problems(results: Mapping[str, Any]) -> list[str]:
    """Missing LiteRT keys, fractions outside [0, 1], sizes or times that are not positive."""
    problems = []
    for key in (*MEASURED_KEYS, "litert_int8_size_ratio", "litert_int8_acc_gap"):
        if key not in results:
            problems.append(f"missing key {key!r}")
            continue
        value = results[key]
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{key!r} should be a number, got {value!r}")
        elif key.endswith(("_acc", "_agreement", "_gap")) and not 0.0 <= value <= 1.0:
            problems.append(f"{key!r} must lie in [0, 1], got {value!r}")
        elif key.endswith(("_kb", "_ms", "_ratio")) and value <= 0:
            problems.append(f"{key!r} must be positive, got {value!r}")
    return problems


def format_table(results: Mapping[str, Any]) -> str:
    """The LiteRT figures with their targets, in the benchmark's table format."""
    return report.format_table(results, TARGETS, figures=TABLE_ROWS)


def render_section(results: Mapping[str, Any]) -> list[str]:
    """The lines the benchmark prints for notebook 06: a heading and the table."""
    return [
        "",
        f"notebook 06, LiteRT (int8 calibrated on {config.REPRESENTATIVE_SAMPLES} training images; "
        "latency: median of single-image calls):",
        format_table(results),
    ]


def measure() -> dict[str, Any]:
    """Train the course's model, export float32 and int8, measure both on the validation images."""
    import helpers

    helpers.setup_notebook()
    import tempfile

    from helpers import litert, reference

    started = time.perf_counter()
    train_dataset, validation_dataset = reference.make_datasets()
    model = reference.train_fine_tuned(
        reference.optimize_for_training(train_dataset, shuffle=True),
        reference.optimize_for_training(validation_dataset, shuffle=False),
        verbose=0,
    )
    training_s = time.perf_counter() - started
    images, labels, keras_probabilities = reference.predict_dataset(
        model, reference.optimize_for_training(validation_dataset, shuffle=False)
    )
    rows, export_s = {}, {}
    with tempfile.TemporaryDirectory(prefix="alpaca-bench-litert-") as scratch:
        for kind in (litert.FLOAT32, litert.INT8):
            representative = (
                reference.make_representative_dataset(train_dataset, config.REPRESENTATIVE_SAMPLES)
                if kind == litert.INT8
                else None
            )
            export_started = time.perf_counter()
            path = litert.export(model, Path(scratch) / f"{kind}.tflite", kind, representative)
            export_s[kind] = time.perf_counter() - export_started
            exported = litert.LiteRTModel(path)
            row = litert.compare(kind, exported, images, labels, keras_probabilities, latency=False)
            latency_ms = exported.median_latency_ms(
                images[0], runs=BENCHMARK_TIMED_CALLS, warmup=BENCHMARK_WARMUP_CALLS
            )
            rows[kind] = dataclasses.replace(row, latency_ms=latency_ms)
    float_row, int8_row = rows[litert.FLOAT32], rows[litert.INT8]
    return {
        "litert_float_kb": float_row.size_kb,
        "litert_int8_kb": int8_row.size_kb,
        "litert_float_ms": float_row.latency_ms,
        "litert_int8_ms": int8_row.latency_ms,
        "litert_int8_agreement": int8_row.agreement,
        "litert_int8_val_acc": int8_row.accuracy,
        "litert_keras_val_acc": litert.accuracy(labels, keras_probabilities),
        "litert_float_agreement": float_row.agreement,
        "litert_runtime": exported.runtime,
        "litert_training_s": training_s,
        "litert_export_s": export_s,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line (the child): measure, write the JSON to --out."""
    from benchmarks.child import out_argument, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    out_argument(parser)
    args = parser.parse_args(argv)
    write_json(Path(args.out), measure())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

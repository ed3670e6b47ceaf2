"""`python -m benchmarks`: speed and accuracy of the course on this machine, in one run.

Prints a table of each figure against its target and writes
benchmarks/results.json. See benchmarks/__init__.py for what is measured
and how; `--help` for the options.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import course, cross_validation, cv_figures, cv_stats, litert, provenance, report
from benchmarks.child import ChildFailed, child_environment, run_json
from helpers import config

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
# The 80/20 training run (the notebooks' own split): speed figures and one accuracy per phase on
# its 65 validation images. One seed: accuracy is judged by cross-validation (CV_SEEDS below),
# and the time saved goes to it.
BENCHMARK_SEEDS = (config.SEED,)
SEED_RUN_TIMEOUT_S = 900
BOUNDS_TIMEOUT_S = 600
GRADERS_TIMEOUT_S = 600
COURSE_TIMEOUT_S = 1200
LITERT_TIMEOUT_S = 900
GRADING_TIMEOUT_S = 1200
GRADING_LEARNERS, GRADING_WORKERS = 8, 2
# Cross-validation (benchmarks/cross_validation.py): 5 folds, each image held out once per seed.
CV_FOLDS = 5
CV_SEEDS = (config.SEED, config.SEED + 1, config.SEED + 2)
CV_SEED_TIMEOUT_S = 1500
# The weights=None baseline trains the whole network: one seed, two of the five folds, few
# epochs (a cheap figure, labelled so in the printout; benchmarks/README.md gives longer runs).
SCRATCH_EPOCHS = 5
SCRATCH_FOLDS = (0, 1)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: one seed, 3 + 2 epochs, "
        "fewer repeats (figures not comparable to the targets)",
    )
    parser.add_argument(
        "--skip-course", action="store_true", help="do not run the solution notebooks"
    )
    parser.add_argument("--skip-graders", action="store_true", help="do not time the grader checks")
    parser.add_argument(
        "--skip-litert",
        action="store_true",
        help="do not train, export and measure notebook 06's LiteRT files",
    )
    parser.add_argument(
        "--skip-grading",
        action="store_true",
        help="do not time an instructor's grading run (python -m instructor.grade)",
    )
    parser.add_argument(
        "--skip-cv", action="store_true", help="do not run the cross-validation (the longest part)"
    )
    parser.add_argument(
        "--phase1-epochs", type=int, help="override the phase-1 epochs (what-if runs)"
    )
    parser.add_argument(
        "--fine-tune-epochs", type=int, help="override the fine-tuning epochs (what-if runs)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the JSON (default: benchmarks/{DEFAULT_OUTPUT.name})",
    )
    return parser.parse_args(argv)


def _plan(args: argparse.Namespace) -> dict[str, Any]:
    """Seeds, epochs and repeats for a full or a quick run, with any epoch overrides."""
    if args.quick:
        plan = {
            "mode": "quick",
            "seeds": [config.SEED],
            "phase1_epochs": 3,
            "fine_tune_epochs": 2,
            "bound_repeats": 5,
            "grader_repeats": 1,
            "cv_folds": 2,
            "cv_seeds": [config.SEED],
            "cv_phase1_epochs": 3,
            "cv_fine_tune_epochs": 2,
            "scratch_seeds": [config.SEED],
            "scratch_folds": [0],
            "scratch_epochs": 1,
        }
    else:
        plan = {
            "mode": "full",
            "seeds": list(BENCHMARK_SEEDS),
            "phase1_epochs": config.INITIAL_EPOCHS,
            "fine_tune_epochs": config.FINE_TUNE_EPOCHS,
            "bound_repeats": 15,
            "grader_repeats": 3,
            "cv_folds": CV_FOLDS,
            "cv_seeds": list(CV_SEEDS),
            "cv_phase1_epochs": config.INITIAL_EPOCHS,
            "cv_fine_tune_epochs": config.FINE_TUNE_EPOCHS,
            "scratch_seeds": [config.SEED],
            "scratch_folds": list(SCRATCH_FOLDS),
            "scratch_epochs": SCRATCH_EPOCHS,
        }
    for key in ("phase1_epochs", "fine_tune_epochs"):
        if getattr(args, key) is not None:
            plan[key] = plan[f"cv_{key}"] = getattr(args, key)
            plan["mode"] += f", {key} {plan[key]}"
    return plan


def _say(message: str) -> None:
    """Progress on stderr, so stdout keeps only the table."""
    print(f"[benchmark {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _bounds(plan: dict[str, Any]) -> dict[str, Any]:
    """One measurement of the compute limits, in a fresh process."""
    return run_json("bounds", ["--repeats", str(plan["bound_repeats"])], BOUNDS_TIMEOUT_S)


def _training(plan: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One training run per seed, each in a fresh process, with the limits measured between them.

    Returns the runs and the limit measurements: one before the first run and
    one after each, so every run has a measurement just before and just after
    it. A shared VM's speed drifts by 10-25% over minutes; a ratio is only
    meaningful against limits measured under the same conditions.
    """
    _say("compute limits on decoded tensors")
    runs, windows = [], [_bounds(plan)]
    for seed in plan["seeds"]:
        _say(f"training, seed {seed}: {plan['phase1_epochs']} + {plan['fine_tune_epochs']} epochs")
        runs.append(
            run_json(
                "training_run",
                [
                    "--seed",
                    str(seed),
                    "--phase1-epochs",
                    str(plan["phase1_epochs"]),
                    "--fine-tune-epochs",
                    str(plan["fine_tune_epochs"]),
                ],
                SEED_RUN_TIMEOUT_S,
            )
        )
        _say("compute limits again")
        windows.append(_bounds(plan))
    return runs, windows


def _speed_figures(windows: list[dict[str, Any]], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median epoch times and how far they are from the compute limits.

    Each seed's ratios use the faster of the limits measured just before and
    just after that seed; the reported ratio is the median over seeds.
    """
    n_train, n_validation = runs[0]["n_train"], runs[0]["n_validation"]
    per_seed = {}
    for run, before, after in zip(runs, windows, windows[1:]):
        adjacent, _ = report.combine_bounds([before, after])
        per_seed[str(run["seed"])] = report.seed_speed(
            run["phase1"]["epoch_s"], run["fine_tune"]["epoch_s"], adjacent, n_train, n_validation
        )
    ratio_keys = (
        "phase1_over_bound",
        "finetune_over_bound",
        "phase1_over_step_bound",
        "phase1_floor_over_bound",
    )
    return {
        "phase1_epoch_s": report.steady_epoch_median(run["phase1"]["epoch_s"] for run in runs),
        "finetune_epoch_s": report.steady_epoch_median(run["fine_tune"]["epoch_s"] for run in runs),
        **{key: statistics.median(seed[key] for seed in per_seed.values()) for key in ratio_keys},
        "speed_per_seed": per_seed,
        "phase1_first_epoch_s": [run["phase1"]["epoch_s"][0] for run in runs],
        "finetune_first_epoch_s": [run["fine_tune"]["epoch_s"][0] for run in runs],
        "epochs_s": {
            str(run["seed"]): {
                "phase1": run["phase1"]["epoch_s"],
                "fine_tune": run["fine_tune"]["epoch_s"],
            }
            for run in runs
        },
        "n_train": n_train,
        "n_validation": n_validation,
    }


def _accuracy_figures(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Validation accuracy (logit threshold 0) after each phase, per seed and mean."""
    phase1 = [run["val_acc_phase1"] for run in runs]
    final = [run["val_acc_final"] for run in runs]
    control = [run["val_acc_control"] for run in runs]
    continuations = {
        way: [run["continuations"][way]["history"]["val_accuracy"][-1] for run in runs]
        for way in runs[0]["continuations"]
    }
    return {
        "val_acc_phase1_per_seed": phase1,
        "val_acc_final_per_seed": final,
        "val_acc_control_per_seed": control,
        "val_acc_phase1_mean": report.mean(phase1),
        "val_acc_final_mean": report.mean(final),
        "val_acc_control_mean": report.mean(control),
        "fine_tuning_gain": report.gain(final, control),
        "val_acc_continuations_per_seed": continuations,
        # Whether accuracy was still climbing when a phase stopped: mean of the seeds, per epoch.
        "val_acc_phase1_by_epoch": report.mean_curve(
            run["phase1"]["history"]["val_accuracy"] for run in runs
        ),
        "val_acc_fine_tune_by_epoch": report.mean_curve(
            run["fine_tune"]["history"]["val_accuracy"] for run in runs
        ),
        "training_peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
    }


def _cv_arguments(plan: dict[str, Any], seed: int) -> list[str]:
    """The cross-validation child's command line for one seed of the plan."""
    return [
        "--seed",
        str(seed),
        "--folds",
        str(plan["cv_folds"]),
        "--phase1-epochs",
        str(plan["cv_phase1_epochs"]),
        "--fine-tune-epochs",
        str(plan["cv_fine_tune_epochs"]),
    ]


def _cv_figures(plan: dict[str, Any], skip: bool, notes: list[str]) -> dict[str, Any]:
    """Cross-validated accuracies, baselines and paired differences (benchmarks/cv_figures.py)."""
    if skip:
        notes.append("cross-validation not run (--skip-cv)")
        return cv_figures.not_measured()
    runs = []
    for seed in plan["cv_seeds"]:
        _say(f"cross-validation, seed {seed}: {plan['cv_folds']} folds")
        runs.append(run_json("cross_validation", _cv_arguments(plan, seed), CV_SEED_TIMEOUT_S))
    scratch_runs = []
    for seed in plan["scratch_seeds"]:
        folds = ",".join(str(fold) for fold in plan["scratch_folds"])
        _say(
            f"from scratch (weights=None), seed {seed}, folds {folds}: {plan['scratch_epochs']} epochs"
        )
        arguments = _cv_arguments(plan, seed) + [
            "--scratch-only",
            "--scratch-epochs",
            str(plan["scratch_epochs"]),
            "--scratch-folds",
            folds,
        ]
        scratch_runs.append(run_json("cross_validation", arguments, CV_SEED_TIMEOUT_S))
    final_arm = (
        cross_validation.ARM_BN_FROZEN
        if config.FREEZE_BATCHNORM_IN_FINE_TUNING
        else cross_validation.ARM_BN_ADAPTING
    )
    figures = cv_figures.figures(runs, scratch_runs, final_arm)
    figures["cv_plan"] = {
        "folds": plan["cv_folds"],
        "seeds": plan["cv_seeds"],
        "images": len(runs[0]["images"]),
        "phase1_epochs": plan["cv_phase1_epochs"],
        "fine_tune_epochs": plan["cv_fine_tune_epochs"],
        "interval": f"percentile bootstrap over images, {cv_stats.BOOTSTRAP_RESAMPLES} resamples",
        "scratch": f"{len(plan['scratch_folds'])} of {plan['cv_folds']} folds, seeds "
        f"{plan['scratch_seeds']}, epochs: {plan['scratch_epochs']}",
    }
    return figures


def _course_figures(environment: dict[str, str], notes: list[str]) -> dict[str, Any]:
    """Wall time and peak memory of the solution notebooks, run headless."""
    notebooks = course.solution_notebooks()
    if not notebooks:
        notes.append(f"course not run: no solutions/{config.NOTEBOOK_GLOB} found")
        return {"course_wall_s": None, "peak_rss_mb": None}
    _say(f"running the course: {', '.join(path.name for path in notebooks)}")
    result = course.measure_course(notebooks, COURSE_TIMEOUT_S, environment)
    figures = {
        "course_notebooks": result.get("notebook_s"),
        "course_largest_kernel_rss_mb": result.get("largest_kernel_rss_mb"),
        "course_notebook_peak_rss_mb": result.get("notebook_peak_rss_mb"),
        "peak_rss_mb": result["peak_tree_rss_mb"],
    }
    if result["ok"]:
        figures["course_wall_s"] = result["wall_s"]
    else:
        figures["course_wall_s"] = None
        why = result.get("error") or result.get("output_tail", "")[-600:]
        notes.append(f"course failed in {result.get('failed', '?')}: {why}")
    return figures


def _machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import importlib.metadata as metadata

    versions = {name: metadata.version(name) for name in ("tensorflow", "keras")}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": provenance.cpu_model(),
        **versions,
    }


def _notes_for(plan: dict[str, Any]) -> list[str]:
    """Caveats that apply to the whole run."""
    notes = []
    if plan["mode"].startswith("quick"):
        notes.append(
            "quick run: 1 seed, fewer epochs and repeats, 2-fold cross-validation with 1 "
            "seed, scratch on one fold for 1 epoch; accuracy and epoch medians are not "
            "comparable to the targets"
        )
    if "epochs" in plan["mode"]:
        notes.append("epoch counts differ from the course's: accuracy is not the course's")
    return notes


def _grader_figures(plan: dict[str, Any], skip: bool, notes: list[str]) -> dict[str, Any]:
    """The slowest grader check, and each check's figures."""
    if skip:
        notes.append("graders not timed (--skip-graders)")
        return {"grader_max_s": None}
    _say("timing the grader checks")
    graders = run_json(
        "grader_timing", ["--repeats", str(plan["grader_repeats"])], GRADERS_TIMEOUT_S
    )
    return {"grader_max_s": graders["grader_max_s"], "grader_checks": graders["checks"]}


def _litert_figures(skip: bool, notes: list[str]) -> dict[str, Any]:
    """Notebook 06's exported files: sizes, latency, agreement and accuracy (benchmarks/litert.py)."""
    if skip:
        notes.append("LiteRT figures not measured (--skip-litert)")
        return litert.not_measured()
    _say("training, exporting and measuring the LiteRT files (notebook 06)")
    measured = run_json("litert", [], LITERT_TIMEOUT_S)
    return measured | litert.derived_figures(measured)


def _grading_figures(skip: bool, notes: list[str]) -> dict[str, Any]:
    """Seconds per learner and for the class when grading generated submissions (benchmarks/grading.py)."""
    if skip:
        notes.append("grading not timed (--skip-grading)")
        return {"grade_s_per_learner": None, "grade_class_wall_s": None}
    _say(f"grading a generated class of {GRADING_LEARNERS} learners on {GRADING_WORKERS} workers")
    return run_json(
        "grading",
        ["--learners", str(GRADING_LEARNERS), "--workers", str(GRADING_WORKERS)],
        GRADING_TIMEOUT_S,
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Measure everything the plan asks for; return the results dictionary."""
    plan = _plan(args)
    notes = _notes_for(plan)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "mode": plan["mode"],
        "seeds": plan["seeds"],
        "notes": notes,
        "plan": plan,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine(),
        "weights": provenance.weights(),
        "targets": {
            target.key: f"{target.direction} {target.limit:g}"
            for target in (*report.TARGETS, *litert.TARGETS)
        },
    }
    with tempfile.TemporaryDirectory(prefix="alpaca-bench-progress-") as scratch:
        # The graders record progress: never in the learner's own progress file.
        os.environ[config.ENV_PROGRESS_FILE] = str(Path(scratch) / "progress.json")
        runs, windows = _training(plan)
        bounds, drift_warnings = report.combine_bounds(windows)
        notes.extend(drift_warnings)
        results.update(windows[-1] | bounds)
        results["augmentation_ms_per_batch"] = min(
            window["augmentation_ms_per_batch"] for window in windows
        )
        results["bounds_measured"] = {
            key: [window[key] for window in windows] for key in report.BOUND_KEYS
        }
        results.update(_speed_figures(windows, runs))
        results.update(_accuracy_figures(runs))
        results.update(_cv_figures(plan, args.skip_cv, notes))
        results.update(_grader_figures(plan, args.skip_graders, notes))
        results.update(_litert_figures(args.skip_litert, notes))
        results.update(_grading_figures(args.skip_grading, notes))
        if args.skip_course:
            notes.append(
                "course not run (--skip-course): course_wall_s and peak_rss_mb not measured"
            )
            results.update({"course_wall_s": None, "peak_rss_mb": None})
        else:
            results.update(_course_figures(child_environment(), notes))
    results["benchmark_wall_s"] = time.perf_counter() - started
    return results


def render(results: dict[str, Any]) -> str:
    """The text printed at the end: header, table, misses and notes."""
    lines = [
        f"Alpaca course benchmark ({results['mode']} run, seeds {results['seeds']})",
        f"machine: {results['machine']['processor']}, {results['machine']['cpus']} CPUs; "
        f"TensorFlow {results['machine']['tensorflow']}, Keras {results['machine']['keras']}",
        f"weights: {results['weights']}",
        "",
        report.format_table(results),
        "",
        f"accuracy per seed: phase 1 {_rounded(results['val_acc_phase1_per_seed'])}, "
        f"final {_rounded(results['val_acc_final_per_seed'])}, "
        f"control {_rounded(results['val_acc_control_per_seed'])}",
        "from the same phase-1 weights, "
        f"{results['plan']['fine_tune_epochs']} more epochs, mean of seeds: "
        + "; ".join(
            f"{way} {report.mean(values):.3f}"
            for way, values in results["val_acc_continuations_per_seed"].items()
        ),
        f"validation accuracy by epoch, mean of seeds: phase 1 "
        f"{_rounded(results['val_acc_phase1_by_epoch'])}, "
        f"fine-tuning {_rounded(results['val_acc_fine_tune_by_epoch'])}",
        f"first epochs (decode + tracing): phase 1 {_rounded(results['phase1_first_epoch_s'], 1)} s, "
        f"fine-tuning {_rounded(results['finetune_first_epoch_s'], 1)} s",
        f"phase-1 epoch against a phase-1 train step, augmentation included "
        f"({results['augmentation_ms_per_batch']:.0f} ms/batch): "
        f"{results['phase1_over_step_bound']:.2f}x; with the augmentation layers inside every "
        f"train step, phase1_over_bound cannot go below {results['phase1_floor_over_bound']:.2f}x",
        "over-bound ratios per seed (limits measured just before and after each): "
        + "; ".join(
            f"{seed}: phase 1 {speed['phase1_over_bound']:.2f}x, "
            f"fine-tuning {speed['finetune_over_bound']:.2f}x"
            for seed, speed in results["speed_per_seed"].items()
        ),
    ]
    if results.get("course_notebooks"):
        peaks = results.get("course_notebook_peak_rss_mb") or {}
        lines.append(
            "course notebooks: "
            + ", ".join(
                f"{name.split('_')[0]} {seconds:.0f} s / {peaks.get(name, 0):.0f} MB"
                for name, seconds in results["course_notebooks"].items()
            )
        )
    lines += cv_figures.render_section(results)
    lines += litert.render_section(results)
    missed = report.missed_targets(results) + report.missed_targets(results, litert.TARGETS)
    lines += ["", "targets missed: " + ("none" if not missed else "; ".join(missed))]
    lines += [f"note: {note}" for note in results["notes"]]
    return "\n".join(lines)


def _rounded(values: list[float] | None, digits: int = 3) -> list[float] | None:
    return None if values is None else [round(value, digits) for value in values]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table, write the JSON. Exit 1 when a measurement failed."""
    args = _parse(argv)
    try:
        results = run(args)
    except ChildFailed as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    problems = (
        report.schema_problems(results)
        + litert.schema_problems(results)
        + cv_figures.schema_problems(results)
    )
    if problems:
        results["notes"].append("schema problems: " + "; ".join(problems))
    args.output.write_text(json.dumps(results, indent=1) + "\n")
    print(render(results))
    print(f"\nwritten: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

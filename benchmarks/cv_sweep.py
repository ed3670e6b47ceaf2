"""Try recipes by cross-validation, outside `make benchmark`: run them, then tabulate them.

    python -m benchmarks.cv_sweep run RECIPE.json --seeds 0 --dir sweep/    # one child per seed
    python -m benchmarks.cv_sweep table sweep/ [--versus rot005:bn_frozen@10]

`run` cross-validates a recipe (a JSON object of values that differ from the
course's, see benchmarks/cross_validation.py) with each seed in a fresh
process and keeps each seed's held-out logits as DIR/NAME.seedS.json (NAME is
the recipe file's name). `table` reads every such file and prints, for every
recipe and arm, the cross-validated accuracy with its 95 % interval (bootstrap
over images) and how many folds x seeds it covers; with `--versus`, each
arm's paired difference from that one, on the images and seeds both have.

benchmarks/README.md ("What was tried") holds what the course's recipe was
chosen from.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import cv_stats

SEED_TIMEOUT_S = 6 * 3600


def run_recipe(recipe: Path, seeds: Sequence[int], folds: int, directory: Path) -> None:
    """Cross-validate one recipe per seed, each in a fresh process; skip seeds already there."""
    from benchmarks.child import run_json

    directory.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        out = directory / f"{recipe.stem}.seed{seed}.json"
        if out.exists():
            print(f"{out} exists: skipped", file=sys.stderr)
            continue
        arguments = ["--seed", str(seed), "--folds", str(folds), "--recipe", str(recipe.resolve())]
        result = run_json("cross_validation", arguments, SEED_TIMEOUT_S)
        out.write_text(json.dumps(result))
        print(f"written: {out}", file=sys.stderr)


def load(directories: Sequence[Path]) -> dict[str, list[dict[str, Any]]]:
    """Every `NAME.seedS.json` under the directories, grouped by NAME."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for directory in directories:
        for path in sorted(directory.glob("*.seed*.json")):
            name = path.name.split(".seed")[0]
            runs.setdefault(name, []).append(json.loads(path.read_text()))
    return runs


def correct_by_name(
    runs: Mapping[str, Sequence[Mapping[str, Any]]],
) -> tuple[dict[str, Any], dict[str, Any], dict[str, int]]:
    """`recipe:arm` -> seed -> image -> 1/0, each recipe's folds, and its fold count."""
    correct, folds, n_folds = {}, {}, {}
    for name, recipe_runs in runs.items():
        by_arm, fold_of = cv_stats.correct_by_arm(recipe_runs)
        for arm, values in by_arm.items():
            correct[f"{name}:{arm}"] = values
            folds[f"{name}:{arm}"] = fold_of
            n_folds[f"{name}:{arm}"] = int(recipe_runs[0]["folds"])
    return correct, folds, n_folds


def table(runs: Mapping[str, Sequence[Mapping[str, Any]]], versus: str | None) -> str:
    """Every recipe:arm with its mean, 95 % interval and folds x seeds (and A - versus)."""
    correct, folds, n_folds = correct_by_name(runs)
    rows = [
        ("recipe:arm", "mean", "95 % interval", "folds x seeds", f"- {versus}" if versus else "")
    ]
    summaries = {
        name: cv_stats.summarise_arm(values, folds[name], n_folds[name])
        for name, values in correct.items()
    }
    for name, summary in sorted(summaries.items(), key=lambda item: -item[1]["mean"]):
        low, high = summary["ci95"]
        difference = ""
        if versus and versus in correct and name != versus:
            paired = cv_stats.paired_difference(correct[name], correct[versus])
            difference = (
                f"{paired['mean']:+.3f} [{paired['ci95'][0]:+.3f}, {paired['ci95'][1]:+.3f}]"
            )
        covered = len(summary["per_fold"])
        rows.append(
            (
                name,
                f"{summary['mean']:.3f}",
                f"[{low:.3f}, {high:.3f}]",
                f"{covered // summary['seeds']} x {summary['seeds']}",
                difference,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: `run` a recipe, or print the `table` of what has run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="cross-validate a recipe, one fresh process per seed")
    run.add_argument("recipe", type=Path)
    run.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[0])
    run.add_argument("--folds", type=int, default=5)
    run.add_argument("--dir", type=Path, required=True)
    show = commands.add_parser("table", help="accuracy and intervals of every recipe and arm")
    show.add_argument("dirs", type=Path, nargs="+")
    show.add_argument("--versus", help="recipe:arm to pair every other arm with")
    args = parser.parse_args(argv)
    if args.command == "run":
        run_recipe(args.recipe, args.seeds, args.folds, args.dir)
    else:
        print(table(load(args.dirs), args.versus))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How long each grader check takes, the learner's own work left out.

    python -m benchmarks.grader_timing --repeats 3 --out graders.json

Each check is given the course's answer (helpers/answers.py, exported from the
masters), as a learner who solved the exercise would give theirs. The objects a learner builds in their own cells
(datasets, the fine-tuning model) are built before the clock starts. Two
checks take the learner's *function* and call it themselves; the time spent
inside that function is the learner's, not the grader's, and is subtracted:
from the grader's own `timings["grader"]` when it reports one, else from a
stopwatch around the function. The first call runs in a fresh process, as a
learner's first check does; `repeats` calls are made and the slowest counts.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class _Stopwatch:
    """Adds up the seconds spent inside a learner function; `wrap` makes the timed stand-in."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """`function`, timed; `functools.wraps` keeps its name, signature and source visible."""

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def _time_check(
    check: Callable[..., Any], arguments: tuple, stopwatch: _Stopwatch | None
) -> dict[str, Any]:
    """One call of `check`: its grader-only seconds and whether it passed."""
    learner_before = stopwatch.seconds if stopwatch else 0.0
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the verdict is for learners, not the table
        result = check(*arguments)
    total = time.perf_counter() - started
    timings = getattr(result, "timings", None) or {}
    if "grader" in timings:
        grader_s = float(timings["grader"])
    else:
        grader_s = total - ((stopwatch.seconds - learner_before) if stopwatch else 0.0)
    return {
        "grader_s": grader_s,
        "total_s": total,
        "passed": bool(getattr(result, "passed", False)),
    }


def measure(repeats: int) -> dict[str, Any]:
    """Time every check on the course's answers; the slowest call of each is kept."""
    import helpers

    helpers.setup_notebook()
    from helpers import answers, config, graders, reference

    datasets = reference.make_datasets()
    augmenter_watch, model_watch = _Stopwatch(), _Stopwatch()
    tuned_model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    reference.compile_for_phase1(tuned_model)
    fine_tuning_objects = reference.unfreeze_for_fine_tuning(tuned_model)

    cases: dict[str, tuple[Callable[..., Any], tuple, _Stopwatch | None]] = {
        "check_datasets": (graders.check_datasets, datasets, None),
        "check_data_augmenter": (
            graders.check_data_augmenter,
            (augmenter_watch.wrap(answers.data_augmenter),),
            augmenter_watch,
        ),
        "check_alpaca_model": (
            graders.check_alpaca_model,
            (model_watch.wrap(answers.alpaca_model),),
            model_watch,
        ),
        "check_fine_tuning": (graders.check_fine_tuning, (tuned_model, *fine_tuning_objects), None),
        # The generator runs in the grader's learner time; the check reports it as such.
        "check_representative_dataset": (
            graders.check_representative_dataset,
            (answers.make_representative_dataset, tuned_model),
            None,
        ),
    }
    checks: dict[str, Any] = {}
    for name, (check, arguments, stopwatch) in cases.items():
        calls = [_time_check(check, arguments, stopwatch) for _ in range(repeats)]
        checks[name] = {
            "grader_max_s": max(call["grader_s"] for call in calls),
            "first_call_s": calls[0]["grader_s"],
            "passed": all(call["passed"] for call in calls),
        }
    return {"checks": checks, "grader_max_s": max(c["grader_max_s"] for c in checks.values())}


def main(argv: list[str] | None = None) -> int:
    """Command line: time the checks and write the JSON to --out."""
    from benchmarks.child import out_argument, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats", type=int, default=3, help="calls per check; the slowest counts"
    )
    out_argument(parser)
    args = parser.parse_args(argv)
    write_json(Path(args.out), measure(args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

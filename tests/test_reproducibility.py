"""Same seed, same machine, op determinism on: identical phase-1 metrics.

Each run is a fresh Python process (`python -m benchmarks.training_run`),
seeded only by `helpers.setup_notebook(deterministic=True)`, as a notebook is.
A negative control with another seed must give different metrics: it shows
that the comparison can fail, i.e. that the metrics do depend on the seed and
an unseeded run would not reproduce them.
"""

from __future__ import annotations

import pytest

from benchmarks.child import run_json
from helpers import config

pytestmark = pytest.mark.slow

EPOCHS = 2  # enough for the second epoch to depend on the first one's updates
RUN_TIMEOUT_S = 600


def _phase1_history(seed: int) -> dict[str, list[float]]:
    """Train phase 1 for EPOCHS epochs in a fresh process; its Keras history."""
    result = run_json(
        "training_run",
        ["--seed", str(seed), "--phase1-epochs", str(EPOCHS), "--deterministic"],
        RUN_TIMEOUT_S,
    )
    assert result["deterministic"] is True
    history = result["phase1"]["history"]
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history)
    assert all(len(values) == EPOCHS for values in history.values())
    return history


@pytest.fixture(scope="module")
def first_run() -> dict[str, list[float]]:
    return _phase1_history(config.SEED)


def test_two_runs_with_the_course_seed_give_identical_phase1_metrics(first_run):
    second_run = _phase1_history(config.SEED)
    assert second_run == first_run  # exact equality: every loss and accuracy, every epoch


def test_another_seed_gives_different_phase1_metrics(first_run):
    other_seed = _phase1_history(config.SEED + 1)
    assert other_seed["loss"] != first_run["loss"]

"""`helpers.setup_notebook()`, the first cell of every notebook."""

from __future__ import annotations

import os
import subprocess
import sys

import helpers
from helpers import config
from helpers.data import PROVENANCE_OFFICIAL, PROVENANCE_STANDIN

SETUP = "import helpers; helpers.setup_notebook()"


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter, as a new kernel would."""
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=config.PROJECT_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_setup_reports_versions_seed_and_dataset_without_tensorflow_noise() -> None:
    result = run_python(
        SETUP + "; import tensorflow as tf; print(float(tf.reduce_sum(tf.ones(3))))"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("helpers ") and "TensorFlow 2.21" in lines[0]
    assert lines[1] == f"Random seed set to {config.SEED}"
    # The tests' Keras cache holds the stand-ins (conftest.py seeds it from ALPACA_WEIGHTS_SOURCE).
    assert lines[2] == f"ImageNet weights, by checksum: {PROVENANCE_STANDIN}"
    assert lines[3].startswith("Dataset ready") and str(config.EXPECTED_TOTAL_IMAGES) in lines[3]
    assert lines[4] == "3.0"
    # TensorFlow's C++ start-up lines (absl notice, CUDA probe) must not reach the learner.
    assert result.stderr.strip() == "", result.stderr


# After seeding, one draw from each generator a notebook uses: Python's, NumPy's global one, Keras'.
DRAWS = (
    "; import random, json, numpy as np, keras; "
    "print(json.dumps([random.random(), float(np.random.rand()), "
    "keras.random.uniform((3,)).numpy().tolist()]))"
)


def test_setup_seeds_every_generator_with_the_course_seed() -> None:
    """The draws after setup_notebook() are those of config.SEED, not just a printed number.

    One fresh interpreter (a new kernel) draws after the set-up, then after seeding by hand with
    the course's seed and with another one: re-seeding resets every generator, so the three
    draws compare as if each came from its own process.
    """
    import json
    import random

    import numpy as np

    reseed = "; keras.utils.set_random_seed({})"
    result = run_python(
        SETUP + DRAWS + reseed.format(config.SEED) + DRAWS + reseed.format(config.SEED + 1) + DRAWS
    )
    assert result.returncode == 0, result.stderr
    after_setup, seeded_by_hand, other_seed = map(json.loads, result.stdout.splitlines()[-3:])
    assert after_setup == seeded_by_hand
    # Control: the draws depend on the seed, so an unseeded or wrongly seeded setup would differ.
    assert after_setup[2] != other_seed[2]
    # The same seed in generators of this test's own (the global ones are left alone).
    assert after_setup[:2] == [
        random.Random(config.SEED).random(),
        float(np.random.RandomState(config.SEED).rand()),
    ]


def test_setup_fails_with_the_fix_when_the_dataset_is_missing(tmp_path) -> None:
    code = (
        "from pathlib import Path; from helpers import config; "
        f"config.DATASET_DIR = Path({str(tmp_path)!r}); "
        "import helpers.data as data; data.require_dataset.__defaults__ = (config.DATASET_DIR,); "
        + SETUP
    )
    result = run_python(code)
    assert result.returncode != 0
    assert "DataError" in result.stderr
    assert "python -m helpers.data fetch" in result.stderr or "make data" in result.stderr


def test_the_weights_line_says_when_stored_outputs_come_from_other_weights() -> None:
    """Stand-ins (what the stored outputs were made with): the label alone. Any other weights:
    the label and why the learner's numbers differ from the stored ones."""
    assert helpers._weights_label(PROVENANCE_STANDIN).endswith(PROVENANCE_STANDIN)
    for other in (PROVENANCE_OFFICIAL, "unknown weights"):
        line = helpers._weights_label(other)
        assert other in line and "come from the stand-in weights" in line

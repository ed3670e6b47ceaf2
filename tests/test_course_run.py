"""What the course's own run trained: the fine-tuned model of masters 04 and 05 (slow).

`make test` runs every master once, under nbval, each saving what the next
one loads (04 the phase-1 model and its history, 05 the fine-tuned model).
The tests here read that run's artifacts folder (the root conftest.py's
`masters_run` fixture; the conftest runs these tests after the masters, in the
same worker) instead of training the recipe again. Run alone (`pytest tests/test_course_run.py`)
the fixture runs the two masters itself, once.

The quality floor of the trained model: seed 42, phase 1 then
FINE_TUNE_EPOCHS of fine-tuning, must reach RECIPE_FLOOR on the 65
validation images: far above chance, below what the recipe reaches (the
benchmark's cross-validated final model: `val_acc_cv_final_mean`, with its
interval `val_acc_cv_final_ci95`; `pytest -s tests/test_course_run.py`
prints what the masters' run reached). The features' floor is in
tests/test_quality_floor.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import config, reference

pytestmark = pytest.mark.slow

RECIPE_FLOOR = 0.85


def validation_accuracy(model: keras.Model) -> float:
    """Share of the validation images on the side of their label (a logit above 0: "not alpaca")."""
    _, validation_dataset = reference.make_datasets()
    logits, labels = [], []
    for images, batch_labels in validation_dataset:
        logits.append(np.asarray(model.predict_on_batch(images)).reshape(-1))  # inference mode
        labels.append(batch_labels.numpy())
    return float(np.mean((np.concatenate(logits) > 0) == (np.concatenate(labels) == 1)))


def test_the_course_run_reaches_the_accuracy_floor(masters_run: Path, capsys) -> None:
    history = json.loads((masters_run / config.PHASE1_HISTORY_FILE).read_text())
    fine_tuned = reference.load_fine_tuned(masters_run)
    assert fine_tuned is not None, f"notebook 05 saved no model in {masters_run}: see its failure"
    reached = validation_accuracy(fine_tuned)
    # Negative control: the same base under a head that never trained stays below the floor,
    # so reaching it takes the training, not the pretrained base alone.
    keras.utils.set_random_seed(config.SEED)
    untrained = validation_accuracy(
        reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    )
    phase1 = [round(value, 3) for value in history["history"]["val_accuracy"]]
    with capsys.disabled():
        print(
            f"\nmasters 04-05, seed {config.SEED}: phase-1 validation accuracy by epoch {phase1}, "
            f"fine-tuned {reached:.3f}, untrained head {untrained:.3f} (floor {RECIPE_FLOOR})"
        )
    assert len(history["epoch"]) == config.INITIAL_EPOCHS
    assert reached >= RECIPE_FLOOR
    assert untrained < RECIPE_FLOOR

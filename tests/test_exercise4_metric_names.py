"""Exercise 4's accuracy, whatever its name: a correct answer never breaks a later cell of 05.

The grader accepts `metrics=[keras.metrics.BinaryAccuracy(threshold=0.0)]`, which
Keras records as `binary_accuracy`, not `accuracy`. Notebook 05's cells after the
exercise (the comparison, the learning curves, the final evaluation) and
`plots.plot_learning_curves` must work with it, and with the named metric. The
cells are run here as the master has them, with the training replaced by
recorded histories (training takes minutes; what is tested is what the cells do
with its results).
"""

from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace
from typing import Any

import keras
import nbformat
import numpy as np
import pytest

from helpers import config, graders, histories, plots

MASTER = config.SOLUTIONS_DIR / "05_fine_tuning.ipynb"
PHASE1_EPOCHS = 3
# The later cells of 05 that read the fine-tuning's results, found by what they do.
LATER_CELLS = {
    "comparison": "reference.continue_phase1(",
    "learning curves": "plots.plot_learning_curves(history, history_fine",
    "final evaluation": "model.evaluate(validation_dataset",
}


def recorded(epochs: range, accuracy_name: str, start: float) -> SimpleNamespace:
    """A History-like record whose accuracy is stored under `accuracy_name`."""
    values = [start + 0.01 * step for step in range(len(epochs))]
    return SimpleNamespace(
        epoch=list(epochs),
        history={
            accuracy_name: values,
            "val_" + accuracy_name: [value + 0.02 for value in values],
            "loss": [1 - value for value in values],
            "val_loss": [1.02 - value for value in values],
        },
    )


def answer_metrics(named: bool) -> list[keras.metrics.Metric]:
    """Exercise 4's metrics, as a learner may write them."""
    if named:
        return [keras.metrics.BinaryAccuracy(threshold=0.0, name="accuracy")]
    return [keras.metrics.BinaryAccuracy(threshold=0.0)]


class EvaluatedModel:
    """Stands in for the fine-tuned model in the evaluation cell: `evaluate` as Keras returns it."""

    def __init__(self, metrics: list[keras.metrics.Metric]) -> None:
        self.metric_names = [metric.name for metric in metrics]

    def evaluate(self, dataset: Any, verbose: int = 0, return_dict: bool = False) -> Any:
        values = {"loss": 0.15, **{name: 0.94 for name in self.metric_names}}
        return values if return_dict else list(values.values())


def later_cells() -> dict[str, str]:
    """The source of each of LATER_CELLS in the master."""
    notebook = nbformat.read(MASTER, as_version=4)
    sources = {}
    for name, marker in LATER_CELLS.items():
        matches = [cell.source for cell in notebook.cells if marker in cell.source]
        assert len(matches) == 1, f"05 has {len(matches)} cells with {marker!r}"
        sources[name] = matches[0]
    return sources


def notebook_namespace(metrics: list[keras.metrics.Metric]) -> dict[str, Any]:
    """What 05's later cells find defined when they run, with the training replaced."""
    fine_tune_epochs = range(PHASE1_EPOCHS, PHASE1_EPOCHS + config.FINE_TUNE_EPOCHS)
    from helpers import reference

    def continue_phase1(continuation: str, *datasets: Any, **options: Any) -> SimpleNamespace:
        return recorded(fine_tune_epochs, "accuracy", 0.9)  # reference compiles with "accuracy"

    stub_reference = SimpleNamespace(
        **{name: getattr(reference, name) for name in dir(reference) if name.isupper()},
        continue_phase1=continue_phase1,
    )
    labels = np.array([0] * 25 + [1] * 40)
    return {
        "config": config,
        "histories": histories,
        "keras": keras,
        "np": np,
        "plots": plots,
        "graders": graders,
        "reference": stub_reference,
        "class_names": list(config.CLASS_NAMES),
        "history": recorded(range(PHASE1_EPOCHS), "accuracy", 0.85),
        "history_fine": recorded(fine_tune_epochs, metrics[0].name, 0.88),
        "metrics": metrics,
        "model": EvaluatedModel(metrics),
        "train_dataset": [],
        "validation_dataset": [(np.zeros((len(labels), 1)), labels)],
    }


@pytest.mark.parametrize("named", [False, True], ids=["binary_accuracy", "accuracy"])
def test_the_cells_after_exercise_4_work_with_the_accuracy_under_either_name(named: bool) -> None:
    metrics = answer_metrics(named)
    namespace = notebook_namespace(metrics)
    for name, source in later_cells().items():
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(source, f"05 {name} cell", "exec"), namespace)  # noqa: S102
        assert "none recorded" not in printed.getvalue(), f"{name}: {printed.getvalue()}"
    comparison = [line for line in printed_comparison(metrics) if "(yours)" in line]
    assert comparison and "0.880" in comparison[0], comparison  # the first fine-tuning epoch
    assert namespace["validation_accuracy"] == pytest.approx(0.94)


def printed_comparison(metrics: list[keras.metrics.Metric]) -> list[str]:
    """The comparison cell's printed lines."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(later_cells()["comparison"], notebook_namespace(metrics))  # noqa: S102
    return printed.getvalue().splitlines()


@pytest.mark.parametrize("named", [False, True], ids=["binary_accuracy", "accuracy"])
def test_the_learning_curves_draw_the_fine_tuning_accuracy_under_either_name(named: bool) -> None:
    metrics = answer_metrics(named)
    namespace = notebook_namespace(metrics)
    figure = plots.plot_learning_curves(
        namespace["history"], namespace["history_fine"], metrics=metrics
    )
    accuracy_axes = figure.axes[0]
    for line in accuracy_axes.get_lines()[:2]:  # training, validation
        epochs = list(line.get_xdata())
        assert epochs == list(range(1, PHASE1_EPOCHS + config.FINE_TUNE_EPOCHS + 1)), epochs


def test_a_phase_without_any_accuracy_is_named_not_silently_dropped() -> None:
    phase1 = recorded(range(2), "accuracy", 0.8)
    without = SimpleNamespace(epoch=[2, 3], history={"loss": [0.3, 0.2], "val_loss": [0.3, 0.3]})
    figure = plots.plot_learning_curves(phase1, without)
    assert "none recorded in fine-tuning" in figure.axes[0].get_title()


@pytest.mark.parametrize(
    ("records", "metrics", "key"),
    [
        ({"accuracy": [], "val_accuracy": [], "loss": []}, None, "accuracy"),
        ({"binary_accuracy": [], "val_binary_accuracy": [], "loss": []}, None, "binary_accuracy"),
        ({"loss": 0.1, "binary_accuracy": 0.9}, None, "binary_accuracy"),  # evaluate's dict
        ({"right": [], "val_right": [], "loss": []}, None, "right"),  # the only metric
        (
            {"auc": [], "right": [], "val_right": [], "loss": []},
            [
                keras.metrics.AUC(from_logits=True),
                keras.metrics.BinaryAccuracy(threshold=0.0, name="right"),
            ],
            "right",
        ),
        ({"loss": [], "val_loss": []}, None, None),
    ],
)
def test_accuracy_key_finds_the_accuracy_whatever_its_name(
    records: dict[str, Any], metrics: list[Any] | None, key: str | None
) -> None:
    assert histories.accuracy_key(records, metrics) == key

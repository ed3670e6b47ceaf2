"""Reading a training history: the accuracy, whatever the learner named its metric.

Exercise 4 accepts any accuracy that is right for logits, and Keras records a
metric under its own name: `BinaryAccuracy(threshold=0.0, name="accuracy")`
as `accuracy` / `val_accuracy`, but `BinaryAccuracy(threshold=0.0)` as
`binary_accuracy` / `val_binary_accuracy`. The cells and plots after the
exercise find the accuracy here, so a correct answer never breaks them.

Works on a Keras `History`, anything with a `.history` dict, or the dict
itself (also what `model.evaluate(..., return_dict=True)` returns). No
TensorFlow at import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

ACCURACY = "accuracy"
VALIDATION_PREFIX = "val_"
# Keys Keras records that are not metrics of the model's output.
NOT_METRICS = ("loss", "learning_rate", "lr")


def _records(history: Any) -> Mapping[str, Any]:
    """The dict of recorded values: `history.history` for a History, else `history` itself."""
    return getattr(history, "history", history)


def _metric_names(metrics: Iterable[Any] | None) -> list[str]:
    """The names of the metrics in a `compile(metrics=...)` list, accuracy classes first."""
    named = [
        (metric if isinstance(metric, str) else getattr(metric, "name", None), metric)
        for metric in metrics or ()
    ]
    named = [(name, metric) for name, metric in named if isinstance(name, str)]
    accuracy_first = sorted(named, key=lambda pair: not type(pair[1]).__name__.endswith("Accuracy"))
    return [name for name, _metric in accuracy_first]


def accuracy_key(history: Any, metrics: Iterable[Any] | None = None) -> str | None:
    """The name under which `history` records the (training) accuracy, or None when it has none.

    In order: the name of an accuracy metric in `metrics` (the list the model was
    compiled with) that the history holds; `accuracy`; the first training metric
    whose name contains "acc"; the only training metric, when there is just one.
    """
    records = _records(history)
    training = [
        key for key in records if not key.startswith(VALIDATION_PREFIX) and key not in NOT_METRICS
    ]
    for name in _metric_names(metrics):
        if name in training:
            return name
    if ACCURACY in training:
        return ACCURACY
    with_acc = [key for key in training if "acc" in key.lower()]
    if with_acc:
        return with_acc[0]
    return training[0] if len(training) == 1 else None


def accuracies(
    history: Any, *, validation: bool, metrics: Iterable[Any] | None = None
) -> list[float]:
    """The accuracy per epoch, training or validation; an empty list when none was recorded."""
    key = accuracy_key(history, metrics)
    if key is None:
        return []
    prefix = VALIDATION_PREFIX if validation else ""
    return [float(value) for value in _records(history).get(prefix + key, [])]


def final_accuracy(
    history: Any, *, validation: bool = True, metrics: Iterable[Any] | None = None
) -> float | None:
    """The last epoch's accuracy (validation by default), or None when none was recorded."""
    values: Sequence[float] = accuracies(history, validation=validation, metrics=metrics)
    return values[-1] if values else None

"""Graders: one `check_*` per exercise, and what each one collects from the learner.

Each check takes the learner's object(s), displays a short verdict (HTML in
JupyterLab, plain text elsewhere) and returns a `GradeResult` with `.passed`
and `.messages`. A check never raises into the notebook, never changes the
learner's objects, and says what is wrong and where to look without printing
the answer.

    check_datasets(train_dataset, validation_dataset)
    check_data_augmenter(data_augmenter)
    check_alpaca_model(alpaca_model)
    check_fine_tuning(model, loss_function, optimizer, metrics)
    check_representative_dataset(make_representative_dataset, model=None)
    summary()

This file holds what each check COLLECTS: it screens what it was given (an
untouched exercise, a function that raises, the wrong type, the course's own
answer handed in) and gathers the evidence its rules judge. The rules, and
the evidence each exercise records, are in `helpers.rules` (`datasets`,
`augmentation`, `alpaca_model`, `fine_tuning`, `representative_dataset`).
How a check runs lives beside it: `helpers.check_runner` (`@_grader`:
collected, judged in place or recorded for grading, displayed),
`helpers.recording` (progress, or the evidence of a grading run),
`helpers.evidence` (the evidence's format), `helpers.verdicts` (the result
and its display), `helpers.own_answer` (the `not-own-answer` rule),
`helpers.learner_calls` (calling the learner's function in a worker thread
with a time limit) and `helpers.model_facts` (walking a model's graph,
finding the MobileNetV2 base).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from helpers import config
from helpers.check_runner import grader as _grader
from helpers.evidence import not_loadable_message as _not_loadable_message
from helpers.evidence import unloadable_layers as _unloadable_layers
from helpers.exercises import EXERCISES
from helpers.learner_calls import FILL_IN as _FILL_IN
from helpers.learner_calls import call_and_screen as _call_and_screen
from helpers.model_facts import flatten_layers as _flatten_layers
from helpers.model_facts import main_path as _main_path
from helpers.own_answer import CODE as _NOT_OWN
from helpers.own_answer import function_uses_answer as _function_uses_answer
from helpers.own_answer import message as _not_own_message
from helpers.progress import ProgressSummary, summary
from helpers.rules import alpaca_model as model_rules
from helpers.rules import augmentation as augmentation_rules
from helpers.rules import datasets as dataset_rules
from helpers.rules import fine_tuning as fine_tuning_rules
from helpers.rules import fine_tuning_facts
from helpers.rules import representative_dataset as calibration_rules
from helpers.verdicts import ERROR, FAILED, NOT_YET, PASSED, GradeResult

# The checks use a short private name for the verdict that ends a check early.
from helpers.verdicts import Verdict as _Verdict

# ---------------------------------------------------------------------------
# What every check screens
# ---------------------------------------------------------------------------


def _own_answer(exercise: str, function: Any) -> None:
    """End the check when `function` is, or calls, the course's answer to this exercise."""
    found = _function_uses_answer(function, EXERCISES[exercise])
    if found is not None:
        raise _Verdict(FAILED, _NOT_OWN, _not_own_message(EXERCISES[exercise], found))


def _own_notebook_function(exercise: str) -> None:
    """The same for a check given objects: look at the notebook's graded function, if any."""
    function = fine_tuning_facts.learner_function(EXERCISES[exercise].graded_function)
    if callable(function):
        _own_answer(exercise, function)


def _saveable(model: keras.Model) -> None:
    """End the check when the model could not be saved and loaded back safely, or is huge."""
    refused = _unloadable_layers(model)
    if refused:
        raise _Verdict(FAILED, "model-not-loadable", _not_loadable_message(", ".join(refused[:3])))
    try:
        parameters = model.count_params()
    except Exception:  # an unbuilt model: nothing large in it
        parameters = 0
    if parameters > config.EVIDENCE_MAX_MODEL_PARAMS:
        raise _Verdict(
            FAILED,
            "model-too-large",
            f"The model has {parameters:,} parameters, far more than this exercise's model "
            "needs: look at what your function adds to it.",
        )


# ---------------------------------------------------------------------------
# Exercise 1: the datasets
# ---------------------------------------------------------------------------


@_grader(
    "datasets",
    f"Both datasets are right: {config.EXPECTED_TRAIN_FILES} training and "
    f"{config.EXPECTED_VALIDATION_FILES} validation images in batches of {config.BATCH_SIZE}, "
    f"two classes, {config.IMG_SIZE[0]}\u00d7{config.IMG_SIZE[1]} RGB images, and no image "
    "in both subsets.",
    dataset_rules.judge,
    dataset_rules.DatasetsEvidence,
)
def check_datasets(
    train_dataset: Any, validation_dataset: Any = None, *, _timings: dict[str, float]
) -> dataset_rules.DatasetsEvidence:
    """Check notebook 01's datasets: sizes, classes, shapes, batch size, no shared files."""
    train_dataset, validation_dataset = dataset_rules.unpack_datasets(
        train_dataset, validation_dataset
    )
    missing = [
        n
        for n, d in (("train_dataset", train_dataset), ("validation_dataset", validation_dataset))
        if d is None
    ]
    if missing:
        raise _Verdict(
            NOT_YET,
            "not-yet",
            f"Not yet: {' and '.join(f'`{m}`' for m in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} still None. {_FILL_IN}: "
            "create each dataset with image_dataset_from_directory.",
        )
    for name, dataset in (
        ("train_dataset", train_dataset),
        ("validation_dataset", validation_dataset),
    ):
        if not isinstance(dataset, tf.data.Dataset):
            raise _Verdict(
                FAILED,
                "wrong-type",
                f"`{name}` is a {type(dataset).__name__}, not a tf.data.Dataset: "
                "create it with image_dataset_from_directory.",
            )
        if getattr(dataset, "file_paths", None) is None:
            raise _Verdict(
                FAILED,
                "no-file-paths",
                f"`{name}` does not know its files: pass the dataset exactly as "
                "image_dataset_from_directory returned it (before .map(), .cache() "
                "or .prefetch(), which drop file_paths and class_names).",
            )
    if train_dataset is validation_dataset:
        raise _Verdict(
            FAILED,
            "same-object",
            "You passed the same dataset twice: the second argument should be the "
            "validation dataset.",
        )
    _own_notebook_function("datasets")
    return dataset_rules.DatasetsEvidence(
        dataset_rules.DatasetFacts.of(train_dataset),
        dataset_rules.DatasetFacts.of(validation_dataset),
    )


# ---------------------------------------------------------------------------
# Exercise 2: data_augmenter
# ---------------------------------------------------------------------------


@_grader(
    "data_augmenter",
    "data_augmenter() returns a Sequential that flips images left-right, "
    "then rotates them by a random angle, and leaves images unchanged at inference.",
    augmentation_rules.judge,
    augmentation_rules.AugmenterEvidence,
)
def check_data_augmenter(
    data_augmenter: Any, *, time_limit_s: float | None = None, _timings: dict[str, float]
) -> augmentation_rules.AugmenterEvidence:
    """Call the learner's `data_augmenter()` and collect the model it returns."""
    augmenter = _call_and_screen(data_augmenter, "data_augmenter", (), time_limit_s, _timings)
    _own_answer("data_augmenter", data_augmenter)
    if isinstance(augmenter, (list, tuple)):
        raise _Verdict(
            FAILED,
            "wrong-type",
            f"data_augmenter() returned a {type(augmenter).__name__}"
            " of layers: put the layers into a Sequential model and return that.",
        )
    if not isinstance(augmenter, keras.Sequential):
        raise _Verdict(
            FAILED,
            "wrong-type",
            augmentation_rules.not_sequential_message(type(augmenter).__name__),
        )
    if _flatten_layers(augmenter):  # an empty one is judged as such, wherever it is judged
        _saveable(augmenter)
    return augmentation_rules.AugmenterEvidence(augmenter)


# ---------------------------------------------------------------------------
# Exercise 3: alpaca_model
# ---------------------------------------------------------------------------


@_grader(
    "alpaca_model",
    "alpaca_model() builds the right model: augmentation, preprocessing, a "
    "frozen MobileNetV2 with ImageNet weights called with training=False, global average "
    "pooling, dropout and one logit.",
    model_rules.judge,
    model_rules.AlpacaModelEvidence,
)
def check_alpaca_model(
    alpaca_model: Any, *, time_limit_s: float | None = None, _timings: dict[str, float]
) -> model_rules.AlpacaModelEvidence:
    """Call `alpaca_model(IMG_SIZE, fresh augmenter)` and collect the model it builds."""
    from helpers import reference

    augmenter = reference.data_augmenter()
    model = _call_and_screen(
        alpaca_model, "alpaca_model", (config.IMG_SIZE, augmenter), time_limit_s, _timings
    )
    _own_answer("alpaca_model", alpaca_model)
    if not isinstance(model, keras.Model):
        raise _Verdict(
            FAILED,
            "wrong-type",
            f"alpaca_model() returned a {type(model).__name__}, not a keras Model.",
        )
    if not _main_path(model):
        raise _Verdict(FAILED, "not-functional", model_rules.not_functional_message())
    _saveable(model)
    return model_rules.AlpacaModelEvidence(
        model,
        augmenter.name,
        bool(augmenter._inbound_nodes),
        model_rules.assigns_trainable_none(alpaca_model),
    )


# ---------------------------------------------------------------------------
# Exercise 4: fine-tuning
# ---------------------------------------------------------------------------


@_grader(
    "fine_tuning",
    "Fine-tuning is set up right: the top of the base is unfrozen from "
    f"fine_tune_at on ({fine_tuning_rules.BATCHNORM_DONE}), and the model is recompiled "
    "with a logits loss, Adam at a reduced learning rate and an accuracy for logits.",
    fine_tuning_rules.judge,
    fine_tuning_rules.FineTuningEvidence,
)
def check_fine_tuning(
    model: Any, loss_function: Any, optimizer: Any, metrics: Any, *, _timings: dict[str, float]
) -> fine_tuning_rules.FineTuningEvidence:
    """Check notebook 05's unfreezing and recompiling (reads the objects, changes nothing)."""
    named = {
        "model": model,
        "loss_function": loss_function,
        "optimizer": optimizer,
        "metrics": metrics,
    }
    missing = [name for name, value in named.items() if value is None]
    if missing:
        raise _Verdict(
            NOT_YET,
            "not-yet",
            f"Not yet: {', '.join(f'`{m}`' for m in missing)} "
            f"{'is' if len(missing) == 1 else 'are'} still None. {_FILL_IN}.",
        )
    if not isinstance(model, keras.Model):
        raise _Verdict(
            FAILED,
            "wrong-type",
            f"model is a {type(model).__name__}, not a keras "
            "Model: pass the model you are fine-tuning.",
        )
    _own_notebook_function("fine_tuning")
    found = fine_tuning_rules.base_and_head(model)
    if found is None:
        raise _Verdict(FAILED, "base-missing", fine_tuning_rules.BASE_MISSING_MESSAGE)
    base, head = found
    compiled = bool(getattr(model, "compiled", False))
    prepare = fine_tuning_facts.learner_function("prepare_fine_tuning")
    return fine_tuning_rules.FineTuningEvidence.of(
        model,
        base,
        head,
        loss_function=loss_function,
        optimizer=optimizer,
        metrics=metrics,
        compiled=compiled,
        stale=fine_tuning_facts.stale_compile_arguments(model, loss_function, optimizer, metrics)
        if compiled
        else [],
        trainable_none=model_rules.assigns_trainable_none(prepare),
        other_base=fine_tuning_facts.unfroze_another_base(base),
    )


# ---------------------------------------------------------------------------
# Exercise 5 (notebook 06): the representative dataset for int8 calibration
# ---------------------------------------------------------------------------


@_grader(
    "representative_dataset",
    "make_representative_dataset() gives the converter what it "
    "needs: a function that yields exactly count samples, each a list of one training image "
    "with a batch axis, float32, the raw pixels the model scales itself, and no labels.",
    calibration_rules.judge,
    calibration_rules.RepresentativeEvidence,
)
def check_representative_dataset(
    make_representative_dataset: Any,
    model: Any = None,
    *,
    time_limit_s: float | None = None,
    _timings: dict[str, float],
) -> calibration_rules.RepresentativeEvidence:
    """Call `make_representative_dataset(dataset, count)` on a small dataset; collect what it yields.

    `model` (optional) is the model to be converted: it decides whether the
    samples must be raw pixels (it preprocesses them itself, like the
    course's model) or already preprocessed.
    """
    name = "make_representative_dataset"
    if model is not None and not isinstance(model, keras.Model):
        raise _Verdict(
            FAILED,
            "model-type",
            f"The second argument is a {type(model).__name__}: "
            "pass the Keras model you export (or nothing).",
        )
    if callable(make_representative_dataset) and not isinstance(
        make_representative_dataset, keras.Layer
    ):
        try:
            parameters = inspect.signature(make_representative_dataset).parameters
        except (TypeError, ValueError):
            parameters = None
        if parameters is not None and len(parameters) == 0:
            raise _Verdict(
                FAILED,
                "passed-inner-function",
                f"You passed a function without "
                f"arguments, probably the generator function itself: pass `{name}`, "
                "which takes the dataset and count and returns it.",
            )
    dataset, _sources = calibration_rules.calibration_dataset()
    count = config.GRADER_CALIBRATION_COUNT
    made = _call_and_screen(
        make_representative_dataset,
        name,
        (dataset, count),
        time_limit_s,
        _timings,
        when_none=f"{_FILL_IN}, and return the generator function at the end.",
    )
    _own_answer("representative_dataset", make_representative_dataset)
    if inspect.isgenerator(made) or isinstance(made, Iterator):
        raise _Verdict(
            FAILED,
            "returned-generator",
            f"`{name}()` returned a generator, the result "
            "of calling your generator function: return the function itself, without "
            "parentheses. The converter calls it whenever it needs the samples.",
        )
    if isinstance(made, (list, tuple, np.ndarray, tf.data.Dataset)):
        raise _Verdict(
            FAILED,
            "returned-samples",
            f"`{name}()` returned a "
            f"{type(made).__name__}: the converter needs a function it can call to get "
            "a generator of samples. Return the generator function.",
        )
    if not callable(made):
        raise _Verdict(
            FAILED,
            "wrong-type",
            f"`{name}()` returned a {type(made).__name__}, not the generator function.",
        )
    try:
        inspect.signature(made).bind()
    except TypeError:
        raise _Verdict(
            FAILED,
            "signature",
            "The function you return must take no arguments: the "
            "converter calls it as representative_dataset().",
        ) from None
    except ValueError:
        pass
    # The generator is the learner's code too: read it in a worker thread, with the time limit.
    # A partial (no code of its own) lets an error point at the learner's line, not at ours.
    reading: dict[str, float] = {}
    samples, finished = _call_and_screen(
        functools.partial(
            calibration_rules.collect_samples, made, count + calibration_rules.SAMPLE_CAP_EXTRA
        ),
        "representative_dataset",
        (),
        time_limit_s,
        reading,
    )
    _timings["learner"] = _timings.get("learner", 0.0) + reading.get("learner", 0.0)
    return calibration_rules.RepresentativeEvidence(
        samples, finished, calibration_rules.expected_scaling(model)
    )


__all__ = [
    "ERROR",
    "EXERCISES",
    "FAILED",
    "NOT_YET",
    "PASSED",
    "GradeResult",
    "ProgressSummary",
    "check_alpaca_model",
    "check_data_augmenter",
    "check_datasets",
    "check_fine_tuning",
    "check_representative_dataset",
    "summary",
]

"""Rules for exercise 4, `prepare_fine_tuning`: what is unfrozen, and the recompile.

`check_fine_tuning` in `helpers.graders` applies them.

    freezing_problems(base, findings)       the layers before FINE_TUNE_AT frozen, the rest not
    loss_problems(loss_function, findings)  binary cross-entropy on logits
    optimizer_problems(optimizer, findings)  Adam at the fine-tuning learning rate
    metrics_problems(metrics, findings)     an accuracy that is right for logits
    compile_problems(model, loss_function, optimizer, metrics, findings)   recompiled with them
    BATCHNORM_DONE                          the course's BatchNorm choice, for the success message
"""

from __future__ import annotations

import inspect
import math
import sys
from typing import Any

import keras
from keras import layers

from helpers import config
from helpers.model_facts import is_mobilenet_v2
from helpers.rules.alpaca_model import TRAINABLE_NONE_HELP, assigns_trainable_none
from helpers.verdicts import Findings

# Relative tolerance for learning rates: float32 stores 1e-4 as 9.9999997e-05.
LEARNING_RATE_RTOL: float = 1e-5


def _batchnorm_choice_problems(base: keras.Model, findings: Findings) -> bool:
    """The course's choice for the BatchNorm layers above FINE_TUNE_AT (config).

    Returns True when every other layer is frozen or trainable as it should be:
    then the BatchNorm layers alone decide, and any problem with them has been
    reported, so the generic freezing rules need not look again.
    """
    at = config.FINE_TUNE_AT
    weighted = [(i, l) for i, l in enumerate(base.layers) if l.weights]
    below_ok = all(not l.trainable for i, l in weighted if i < at)
    above = [(i, l) for i, l in weighted if i >= at]
    others_trainable = all(l.trainable for _, l in above if not _is_batch_norm(l))
    norms = [l for _, l in above if _is_batch_norm(l)]
    if not (below_ok and others_trainable and norms):
        return False
    frozen_norms = [l for l in norms if not l.trainable]
    if config.FREEZE_BATCHNORM_IN_FINE_TUNING and len(frozen_norms) < len(norms):
        findings.add(
            "batchnorm-adapting",
            f"{len(norms) - len(frozen_norms)} BatchNormalization "
            "layers above fine_tune_at are trainable: this course freezes them (a "
            "BatchNormalization layer with trainable=False runs in inference mode; "
            "training=False does not do that during fit). See notebook 05.",
        )
    if not config.FREEZE_BATCHNORM_IN_FINE_TUNING and frozen_norms:
        findings.add(
            "batchnorm-frozen",
            f"{len(frozen_norms)} BatchNormalization layers above "
            "fine_tune_at are frozen. Freezing them keeps them in inference mode (the "
            "Keras guide's advice), but this exercise keeps them trainable, so that fit "
            "normalises each batch with its own statistics there (notebook 05 shows what "
            "each choice does): freeze only the layers before fine_tune_at.",
        )
    return True


def _is_batch_norm(layer: Any) -> bool:
    """True for a BatchNormalization layer."""
    return isinstance(layer, layers.BatchNormalization)


def freezing_problems(base: keras.Model, findings: Findings) -> None:
    """Layers before FINE_TUNE_AT frozen, the rest trainable (layers without weights don't count)."""
    at = config.FINE_TUNE_AT
    weighted = [(i, l) for i, l in enumerate(base.layers) if l.weights]
    frozen = [i for i, l in weighted if not l.trainable]
    if not base.trainable or len(frozen) == len(weighted):
        if not _frozen_base_cause(base, findings):
            findings.add(
                "nothing-unfrozen",
                "The base model is still entirely frozen: unfreeze "
                "it first (trainable), then freeze only the layers before fine_tune_at.",
            )
        return
    if not frozen:
        findings.add(
            "nothing-frozen",
            "Every layer of the base model is trainable: after "
            "unfreezing the base, freeze the layers before fine_tune_at again, so only "
            "the top layers are fine-tuned.",
        )
        return
    if _batchnorm_choice_problems(base, findings):
        return
    expected = [i for i, _ in weighted if i < at]
    if frozen == expected:
        return
    weighted_indices = [i for i, _ in weighted]
    first_trainable = next(i for i, l in weighted if l.trainable)
    contiguous = frozen == [i for i in weighted_indices if i < first_trainable]
    if contiguous:
        # The learner thinks in slice ends: count the leading frozen layers, weightless ones too.
        leading = next((i for i, l in enumerate(base.layers) if l.trainable), len(base.layers))
        leading = max(leading, 1 + max(frozen))
        findings.add(
            "fine-tune-at",
            f"The first {leading} layers of the base are frozen, but it "
            f"should be the layers before fine_tune_at ({at}), and the rest trainable: "
            "look at the slice in your loop.",
        )
    elif frozen == [i for i in weighted_indices if i >= frozen[0]]:
        findings.add(
            "frozen-top",
            "The top layers of the base are frozen and the bottom ones "
            "trainable: it should be the other way round (look at the slice).",
        )
    else:
        findings.add(
            "frozen-pattern",
            f"{len(frozen)} scattered layers of the base are frozen: "
            f"freeze exactly the layers before fine_tune_at ({at}).",
        )


def loss_problems(loss_function: Any, findings: Findings) -> None:
    """A BinaryCrossentropy object told that the model outputs logits."""
    if isinstance(loss_function, str):
        findings.add(
            "loss-string",
            f"loss_function is the string '{loss_function}', which "
            "builds a loss that expects probabilities. Create the loss object yourself "
            "and tell it the model outputs logits.",
        )
        return
    if not isinstance(loss_function, keras.losses.BinaryCrossentropy):
        what = getattr(loss_function, "__name__", type(loss_function).__name__)
        findings.add(
            "loss-class",
            f"loss_function is {what}, not the binary cross-entropy loss object for two classes.",
        )
        return
    if not loss_function.get_config().get("from_logits", False):
        findings.add(
            "loss-probabilities",
            "The loss is told the model outputs probabilities "
            "(from_logits is False), but the model outputs logits.",
        )


def optimizer_problems(optimizer: Any, findings: Findings) -> None:
    """Adam at a tenth of the base learning rate, compared with a relative tolerance."""
    if isinstance(optimizer, str):
        findings.add(
            "optimizer-string",
            f"optimizer is the string '{optimizer}', which uses the "
            "default learning rate: create the optimizer object with the fine-tuning "
            "learning rate.",
        )
        return
    if not isinstance(optimizer, keras.optimizers.Adam) or isinstance(
        optimizer, keras.optimizers.AdamW
    ):
        findings.add(
            "optimizer-class",
            f"optimizer is a {type(optimizer).__name__}: fine-tuning "
            "continues with the same kind of optimizer as before, Adam.",
        )
        return
    rate = optimizer.get_config().get("learning_rate")
    if isinstance(rate, dict):
        findings.add(
            "learning-rate-schedule",
            "The learning rate is a schedule: use one fixed, "
            "smaller learning rate for fine-tuning.",
        )
        return
    rate, target = float(rate), config.FINE_TUNE_LEARNING_RATE
    if math.isclose(rate, target, rel_tol=LEARNING_RATE_RTOL):
        return
    if math.isclose(rate, config.BASE_LEARNING_RATE, rel_tol=LEARNING_RATE_RTOL):
        findings.add(
            "learning-rate-not-reduced",
            f"The learning rate is {rate:.3g}, the same as "
            "before fine-tuning: the unfrozen layers need a smaller one, so they only "
            "adjust slightly (see the instructions).",
        )
    elif rate < target:
        findings.add(
            "learning-rate-too-small",
            f"The learning rate {rate:.3g} is reduced too "
            "much: the instructions give a smaller reduction of base_learning_rate.",
        )
    else:
        findings.add(
            "learning-rate-too-large",
            f"The learning rate {rate:.3g} is larger than the "
            "instructions ask: fine-tuning needs a fraction of base_learning_rate.",
        )


_THRESHOLD_HELP = (
    "On a one-unit output, 'accuracy' means binary accuracy with threshold 0.5. "
    "That fits probabilities, but this model outputs logits, where the boundary "
    "between the classes is 0: use a binary accuracy metric whose threshold is set "
    "for logits."
)


def metric_items(metrics: Any) -> list[Any]:
    """Every metric in `metrics`, however nested in lists, tuples and dicts."""
    if isinstance(metrics, dict):
        return [m for value in metrics.values() for m in metric_items(value)]
    if isinstance(metrics, (list, tuple)):
        return [m for value in metrics for m in metric_items(value)]
    return [metrics]


def metrics_problems(metrics: Any, findings: Findings) -> None:
    """At least one accuracy that is right for logits, and no metric that assumes probabilities."""
    items = metric_items(metrics)
    if not items:
        findings.add("metrics-empty", "metrics is empty: track an accuracy that works on logits.")
        return
    good = 0
    for metric in items:
        name = metric if isinstance(metric, str) else getattr(metric, "__name__", None)
        if isinstance(metric, str) or (
            callable(metric) and not isinstance(metric, keras.metrics.Metric)
        ):
            if str(name).lower() in ("accuracy", "acc", "binary_accuracy", "binaryaccuracy"):
                findings.add("metric-threshold", f"The metric {name!r}: {_THRESHOLD_HELP}")
            else:
                findings.add(
                    "metric-other",
                    f"The metric {name!r} is not an accuracy for logits: "
                    "use a binary accuracy metric whose threshold is set for logits.",
                )
            continue
        if not isinstance(metric, keras.metrics.Metric):
            findings.add(
                "metric-type", f"metrics holds a {type(metric).__name__}, not a Keras metric."
            )
            continue
        metric_config = metric.get_config()
        if isinstance(metric, keras.metrics.BinaryAccuracy):
            threshold = float(metric_config.get("threshold", 0.5))
            if math.isclose(threshold, 0.0, abs_tol=1e-9):
                good += 1
            else:
                findings.add(
                    "metric-threshold",
                    f"BinaryAccuracy with threshold {threshold:g}: {_THRESHOLD_HELP}",
                )
        elif isinstance(metric, keras.metrics.Accuracy):
            findings.add(
                "metric-accuracy-class",
                "keras.metrics.Accuracy counts exact matches "
                "between labels and raw outputs, which logits never are: use a binary "
                "accuracy metric set for logits.",
            )
        elif "from_logits" in metric_config:
            if not metric_config["from_logits"]:
                findings.add(
                    "metric-probabilities",
                    f"The metric {type(metric).__name__} "
                    "expects probabilities, but the model outputs logits (look at "
                    "from_logits).",
                )
        elif "threshold" in metric_config or "thresholds" in metric_config:
            findings.add(
                "metric-threshold",
                f"The metric {type(metric).__name__} thresholds "
                f"outputs like probabilities. {_THRESHOLD_HELP}",
            )
    if good == 0 and not any(code.startswith("metric") for code in findings.codes):
        findings.add(
            "metric-missing",
            "metrics has no accuracy: add a binary accuracy metric "
            "whose threshold is set for logits.",
        )


def _same(left: Any, right: Any) -> bool:
    """The same object (or equal strings), element by element for lists."""
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right))
    return left is right or (isinstance(left, str) and left == right)


def _made_from_string(used: Any, passed: Any) -> bool:
    """`compile(optimizer="adam")` stores an Adam object, not the string: a string passed to
    the check matches an optimizer of the class it names."""
    if not isinstance(passed, str) or isinstance(used, str) or used is None:
        return False
    try:
        return type(used) is type(keras.optimizers.get(passed))
    except (ValueError, TypeError):  # not a name Keras knows
        return False


def compile_problems(
    model: keras.Model, loss_function: Any, optimizer: Any, metrics: Any, findings: Findings
) -> None:
    """The model must be recompiled with exactly these three objects."""
    if not getattr(model, "compiled", False):
        findings.add(
            "not-compiled",
            "The model is not compiled: compile it with your loss_function, optimizer and metrics.",
        )
        return
    compile_config = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    used_optimizer = compile_config.get("optimizer", getattr(model, "optimizer", None))
    stale = []
    if not (
        _same(used_optimizer, optimizer)
        or getattr(model, "optimizer", None) is optimizer
        or _made_from_string(used_optimizer, optimizer)
    ):
        stale.append("optimizer")
    if not _same(compile_config.get("loss", getattr(model, "loss", None)), loss_function):
        stale.append("loss")
    if (
        "metrics" in compile_config
        and not _same(compile_config["metrics"], metrics)
        and not _same(metric_items(compile_config["metrics"]), metric_items(metrics))
    ):
        stale.append("metrics")
    if stale:
        findings.add(
            "not-recompiled",
            f"The model was compiled with a different "
            f"{', '.join(stale)} than the one(s) you passed: compile the model again "
            "with them after unfreezing (the changes take effect only on compile).",
        )


def _learner_function(name: str) -> Any:
    """The function the learner defined under `name` in the notebook (IPython's `__main__`)."""
    main = sys.modules.get("__main__")
    return getattr(main, name, None)


def _unfroze_another_base(base: keras.Model) -> bool:
    """Did the learner unfreeze a MobileNetV2 other than `base`, the one inside the model?

    The original assignment's pitfall: a notebook-level `base_model` that is not
    the model's own (notebook 04 leaves one), or a new MobileNetV2 created inside
    prepare_fine_tuning. Looks at the notebook's global variables and at the
    function's source, never at every object in memory, so models built
    elsewhere (a demonstration, other tests) cannot trigger it.
    """
    main = sys.modules.get("__main__")
    for value in list(vars(main).values()) if main is not None else []:
        if value is base or not isinstance(value, keras.Model) or not is_mobilenet_v2(value):
            continue
        try:
            if value.trainable and any(layer.trainable and layer.weights for layer in value.layers):
                return True
        except Exception:  # a half-built model: not what we are looking for
            continue
    try:
        source = inspect.getsource(_learner_function("prepare_fine_tuning"))
    except Exception:
        return False
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    return "MobileNetV2(" in code


def _frozen_base_cause(base: keras.Model, findings: Findings) -> bool:
    """The base inside `model` is entirely frozen: report a known cause, if one applies."""
    if assigns_trainable_none(_learner_function("prepare_fine_tuning")):
        findings.add(
            "trainable-none",
            "The base model is still entirely frozen, and "
            f"prepare_fine_tuning sets `trainable = None`. {TRAINABLE_NONE_HELP}",
        )
        return True
    if _unfroze_another_base(base):
        findings.add(
            "other-base",
            "The base inside `model` is still frozen, but you unfroze "
            "another MobileNetV2 (a new one, or a `base_model` that is not the model's "
            "own): that changes nothing in `model`. Unfreeze the base found inside "
            "`model`, as the first line of the function does.",
        )
        return True
    return False


BATCHNORM_DONE = (
    "its BatchNorm layers frozen, so they stay in inference mode"
    if config.FREEZE_BATCHNORM_IN_FINE_TUNING
    else "its BatchNorm layers included, so fit normalises each batch with its own statistics"
)

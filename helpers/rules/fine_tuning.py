"""Rules for exercise 4, `prepare_fine_tuning`: what is unfrozen, and the recompile.

`check_fine_tuning` in `helpers.graders` collects `FineTuningEvidence` (the
trainable state of the model, of each layer of its base and of its head, the
three objects by their Keras config, and what only the kernel sees, from
`helpers.rules.fine_tuning_facts`); `judge` applies the rules to it.

    FineTuningEvidence, LayerFacts          what exercise 4's rules read
    base_and_head(model)                    the base on the model's path and the layers after it
    judge(evidence)                         every rule below
    freezing_problems(base_trainable, base_layers, evidence, findings)
                                            the layers before FINE_TUNE_AT frozen, the rest not
    loss_problems(loss_function, findings)  binary cross-entropy on logits
    optimizer_problems(optimizer, findings)  Adam at the fine-tuning learning rate
    metrics_problems(metrics, findings)     an accuracy that is right for logits
    compile_problems(compiled, stale, findings)   recompiled with them
    BATCHNORM_DONE                          the course's BatchNorm choice, for the success message
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from keras import layers

from helpers import config
from helpers.evidence import EvidenceError, decode_value, encode_value, field, string_list
from helpers.model_facts import find_base_call, main_path
from helpers.rules.alpaca_model import SIGMOID_MESSAGE, TRAINABLE_NONE_HELP, ends_in_sigmoid
from helpers.verdicts import Findings

# Relative tolerance for learning rates: float32 stores 1e-4 as 9.9999997e-05.
LEARNING_RATE_RTOL: float = 1e-5
STALE_NAMES = ("optimizer", "loss", "metrics")
BASE_MISSING_MESSAGE = (
    "No MobileNetV2 base model found in the model: pass the model built by alpaca_model()."
)


@dataclass
class LayerFacts:
    """What the freezing rules read of one layer of the base."""

    name: str
    batch_norm: bool
    trainable: bool
    weighted: bool  # it has weights (a layer without any trains nothing, frozen or not)

    @classmethod
    def of(cls, layer: Any) -> LayerFacts:
        return cls(
            str(layer.name),
            isinstance(layer, layers.BatchNormalization),
            bool(layer.trainable),
            bool(layer.weights),
        )

    @classmethod
    def from_json(cls, facts: Any) -> LayerFacts:
        if not isinstance(facts, dict):
            raise EvidenceError("a layer's facts are not an object")
        return cls(
            field(facts, "name", str)[:200],
            field(facts, "batch_norm", bool),
            field(facts, "trainable", bool),
            field(facts, "weighted", bool),
        )


@dataclass
class FineTuningEvidence:
    """The model's trainable state, the three objects passed with it, and the kernel's facts.

    Exercise 4 is about flags and objects, never weights: the base's layers are
    recorded as `LayerFacts`, the head by what the rules ask of it, the three
    objects by their Keras config.
    """

    model_trainable: bool
    base_trainable: bool
    base_layers: list[LayerFacts]
    head_weighted: bool  # the layers after the base hold weights
    head_trainable: bool  # ...and some of them are trainable
    head_sigmoid: bool  # the output is a probability (ends_in_sigmoid)
    loss_function: Any
    optimizer: Any
    metrics: Any
    compiled: bool  # the model is compiled
    stale: list[str]  # what the model was not compiled with (STALE_NAMES)
    trainable_none: bool  # prepare_fine_tuning's source sets `.trainable = None`
    other_base: bool  # another MobileNetV2 than the model's was unfrozen

    @classmethod
    def of(
        cls, model: keras.Model, base: keras.Model, head: list[Any], **objects: Any
    ) -> FineTuningEvidence:
        """The facts of a live model whose base and head the check found; `objects` holds the rest."""
        return cls(
            model_trainable=bool(model.trainable),
            base_trainable=bool(base.trainable),
            base_layers=[LayerFacts.of(layer) for layer in base.layers],
            head_weighted=any(op.weights for op in head),
            head_trainable=any(op.trainable_weights for op in head),
            head_sigmoid=ends_in_sigmoid(head),
            **objects,
        )

    def write(self, folder: Path) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in _FLAGS},
            "base_layers": [vars(layer) for layer in self.base_layers],
            "loss_function": encode_value(self.loss_function),
            "optimizer": encode_value(self.optimizer),
            "metrics": encode_value(self.metrics),
            "stale": list(self.stale),
        }

    @classmethod
    def read(cls, facts: dict[str, Any], folder: Path) -> FineTuningEvidence:
        stale = string_list(facts, "stale")
        if not set(stale) <= set(STALE_NAMES):
            raise EvidenceError("the fact 'stale' names something else")
        layers_facts = field(facts, "base_layers", list)
        if len(layers_facts) > MAX_BASE_LAYERS:
            raise EvidenceError("the base has too many layers")
        return cls(
            base_layers=[LayerFacts.from_json(layer) for layer in layers_facts],
            loss_function=decode_value(facts.get("loss_function")),
            optimizer=decode_value(facts.get("optimizer")),
            metrics=decode_value(facts.get("metrics")),
            stale=[name for name in STALE_NAMES if name in stale],
            **{name: field(facts, name, bool) for name in _FLAGS},
        )


# The evidence's yes/no facts, stored as they are.
_FLAGS = (
    "model_trainable",
    "base_trainable",
    "head_weighted",
    "head_trainable",
    "head_sigmoid",
    "compiled",
    "trainable_none",
    "other_base",
)
MAX_BASE_LAYERS = 10_000


def base_and_head(model: keras.Model) -> tuple[keras.Model, list[Any]] | None:
    """The MobileNetV2 base on the model's main path and the layers after it, or None."""
    path = main_path(model)
    found = find_base_call(model, path)
    if found is None:
        return None
    base = found[0]
    position = [op for op, _ in path].index(base)
    return base, [op for op, _ in path[position + 1 :]]


def judge(evidence: FineTuningEvidence) -> Findings:
    """Exercise 4's rules: what is frozen, the head's output, the three objects, the recompile."""
    findings = Findings()
    if not evidence.model_trainable:
        findings.add(
            "model-frozen",
            "The whole model is frozen (model.trainable is False): "
            "unfreeze the base model instead.",
        )
    freezing_problems(evidence.base_trainable, evidence.base_layers, evidence, findings)
    if evidence.head_weighted and not evidence.head_trainable:
        findings.add(
            "head-frozen",
            "The head after the base model has no trainable weights: "
            "keep the classifier trainable.",
        )
    if evidence.head_sigmoid:
        findings.add("output-sigmoid", SIGMOID_MESSAGE)
    loss_problems(evidence.loss_function, findings)
    optimizer_problems(evidence.optimizer, findings)
    metrics_problems(evidence.metrics, findings)
    compile_problems(evidence.compiled, evidence.stale, findings)
    return findings


def _batchnorm_choice_problems(base_layers: list[LayerFacts], findings: Findings) -> bool:
    """The course's choice for the BatchNorm layers above FINE_TUNE_AT (config).

    Returns True when every other layer is frozen or trainable as it should be:
    then the BatchNorm layers alone decide, and any problem with them has been
    reported, so the generic freezing rules need not look again.
    """
    at = config.FINE_TUNE_AT
    weighted = [(i, l) for i, l in enumerate(base_layers) if l.weighted]
    below_ok = all(not l.trainable for i, l in weighted if i < at)
    above = [(i, l) for i, l in weighted if i >= at]
    others_trainable = all(l.trainable for _, l in above if not l.batch_norm)
    norms = [l for _, l in above if l.batch_norm]
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


def freezing_problems(
    base_trainable: bool,
    base_layers: list[LayerFacts],
    evidence: FineTuningEvidence,
    findings: Findings,
) -> None:
    """Layers before FINE_TUNE_AT frozen, the rest trainable (layers without weights don't count).

    When nothing is unfrozen, `evidence` says why, if the kernel saw a known cause.
    """
    at = config.FINE_TUNE_AT
    weighted = [(i, l) for i, l in enumerate(base_layers) if l.weighted]
    frozen = [i for i, l in weighted if not l.trainable]
    if not base_trainable or len(frozen) == len(weighted):
        if not _frozen_base_cause(evidence, findings):
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
    if _batchnorm_choice_problems(base_layers, findings):
        return
    expected = [i for i, _ in weighted if i < at]
    if frozen == expected:
        return
    weighted_indices = [i for i, _ in weighted]
    first_trainable = next(i for i, l in weighted if l.trainable)
    contiguous = frozen == [i for i in weighted_indices if i < first_trainable]
    if contiguous:
        # The learner thinks in slice ends: count the leading frozen layers, weightless ones too.
        leading = next((i for i, l in enumerate(base_layers) if l.trainable), len(base_layers))
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


def compile_problems(compiled: bool, stale: list[str], findings: Findings) -> None:
    """The model must be recompiled with exactly the three objects passed (facts from the kernel)."""
    if not compiled:
        findings.add(
            "not-compiled",
            "The model is not compiled: compile it with your loss_function, optimizer and metrics.",
        )
        return
    if stale:
        findings.add(
            "not-recompiled",
            f"The model was compiled with a different "
            f"{', '.join(stale)} than the one(s) you passed: compile the model again "
            "with them after unfreezing (the changes take effect only on compile).",
        )


def _frozen_base_cause(evidence: FineTuningEvidence, findings: Findings) -> bool:
    """The base inside `model` is entirely frozen: report a known cause, if one applies."""
    if evidence.trainable_none:
        findings.add(
            "trainable-none",
            "The base model is still entirely frozen, and "
            f"prepare_fine_tuning sets `trainable = None`. {TRAINABLE_NONE_HELP}",
        )
        return True
    if evidence.other_base:
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

"""What only the learner's kernel can tell about exercise 4, read there as plain facts.

Identity (was the model compiled with these very objects?) and the notebook's
own variables and source (another MobileNetV2 unfrozen, `trainable = None`
left in) do not survive saving a model. `check_fine_tuning` reads them here,
in the kernel, and puts the answers into `FineTuningEvidence`, which
`helpers.rules.fine_tuning` judges. A forged fact can only hide a hint or
add a complaint: passing still needs the right layers and objects.

    learner_function(name)                     the notebook's function of that name
    unfroze_another_base(base)                 a MobileNetV2 other than the model's was unfrozen
    stale_compile_arguments(model, loss, optimizer, metrics)   what the model was not compiled with
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import keras

from helpers.model_facts import is_mobilenet_v2
from helpers.rules.fine_tuning import metric_items


def learner_function(name: str) -> Any:
    """The function the learner defined under `name` in the notebook (IPython's `__main__`)."""
    main = sys.modules.get("__main__")
    return getattr(main, name, None)


def unfroze_another_base(base: keras.Model) -> bool:
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
        source = inspect.getsource(learner_function("prepare_fine_tuning"))
    except Exception:
        return False
    code = "\n".join(line.split("#", 1)[0] for line in source.splitlines())
    return "MobileNetV2(" in code


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


def stale_compile_arguments(
    model: keras.Model, loss_function: Any, optimizer: Any, metrics: Any
) -> list[str]:
    """Which of optimizer, loss and metrics the (compiled) model was NOT compiled with."""
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
    return stale

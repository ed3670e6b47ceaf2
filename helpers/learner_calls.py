"""Calling a learner's function safely, and describing what went wrong in it.

A grader calls the learner's function (`data_augmenter`, `alpaca_model`) in a
worker thread with a time limit, so an endless loop cannot hang the check, and
turns whatever happens (an exception, a timeout, a `None` returned, the
placeholders of an untouched exercise) into a `Verdict` that says what to look
at, with the line of the learner's own code where it failed.
"""

from __future__ import annotations

import inspect
import linecache
import os
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from helpers import config
from helpers.config import END_MARKER, START_MARKER
from helpers.verdicts import FAILED, NOT_YET, Verdict

# How long a learner's function may run before the grader gives up on it (tests pass less).
LEARNER_TIME_LIMIT_S: float = config.GRADER_TIME_LIMIT_S
# Where every "not yet" message sends the learner.
FILL_IN = f"Fill in the code between `{START_MARKER}` and `{END_MARKER}`"


@dataclass
class LearnerCall:
    """What happened when the grader called a learner's function."""

    value: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    seconds: float = 0.0


def _keras_thread_state() -> dict[str, Any]:
    """Keras keeps some settings per thread (name counters, dtype policy): copy them over.

    Without this, the learner's layers built in the worker thread would be
    numbered from scratch and ignore a global dtype policy.
    """
    try:
        from keras.src.backend.common import global_state

        tracker = global_state.GLOBAL_STATE_TRACKER
        keep = ("object_name_uids", "dtype_policy", "custom_objects_scope_dict")
        return {key: value for key, value in vars(tracker).items() if key in keep}
    except Exception:
        return {}


def _apply_keras_thread_state(state: dict[str, Any]) -> None:
    try:
        from keras.src.backend.common import global_state

        for key, value in state.items():
            setattr(global_state.GLOBAL_STATE_TRACKER, key, value)
    except Exception:
        pass


def call_learner(
    function: Callable[..., Any], args: tuple, time_limit_s: float | None
) -> LearnerCall:
    """Call `function(*args)` in a daemon thread and wait at most `time_limit_s` seconds."""
    limit = LEARNER_TIME_LIMIT_S if time_limit_s is None else time_limit_s
    outcome = LearnerCall()
    state = _keras_thread_state()

    def run() -> None:
        _apply_keras_thread_state(state)
        try:
            outcome.value = function(*args)
        except BaseException as error:  # the learner's SystemExit too: report, don't die
            outcome.error = error

    started = time.perf_counter()
    worker = threading.Thread(target=run, name="alpaca-grader-learner-call", daemon=True)
    worker.start()
    worker.join(limit)
    outcome.seconds = time.perf_counter() - started
    if worker.is_alive():
        outcome.timed_out, outcome.value, outcome.error = True, None, None
    return outcome


def _is_library_file(filename: str) -> bool:
    """Frames of Python, TensorFlow, Keras and this package are not the learner's code."""
    normalized = filename.replace("\\", "/")
    return (
        "site-packages/" in normalized
        or "dist-packages/" in normalized
        or "/lib/python" in normalized
        or normalized.startswith("<frozen")
        or os.path.abspath(filename).startswith(str(Path(__file__).resolve().parent))
    )


def _learner_frame(error: BaseException, function: Any) -> traceback.FrameSummary | None:
    """The last traceback frame in the learner's own code (their cell or file)."""
    frames = traceback.extract_tb(error.__traceback__)
    own_file = getattr(getattr(function, "__code__", None), "co_filename", None)
    for frame in reversed(frames):
        if own_file and frame.filename == own_file:
            return frame
    for frame in reversed(frames):
        if not _is_library_file(frame.filename):
            return frame
    return None


# Hints for errors learners often meet, keyed by a pattern in the error text.
_ERROR_HINTS: tuple[tuple[str, str], ...] = (
    (
        r"global_average_pooling2d.*(ndim=4, found ndim=2|expected.*4)",
        "The base model's output is already flat: did you create MobileNetV2 with its "
        "ImageNet classifier on top? Look at the include_top argument.",
    ),
    (
        r"expected ndim=4, found ndim=2",
        "A layer got flat vectors where it expected images: look at include_top and at the "
        "order of your layers.",
    ),
    (
        r"factor.*range \[-1, 1\]",
        "RandomRotation's factor is a fraction of a full turn, not degrees.",
    ),
    (r"'NoneType' object", "A placeholder `None` is still in your code."),
)


def error_line(error: BaseException, limit: int = 300) -> str:
    """An exception as one short line: its type and its message, whitespace folded."""
    return f"{type(error).__name__}: {' '.join(str(error).split())[:limit]}"


def describe_error(error: BaseException, function: Any) -> str:
    """The learner's exception: its type, message, line of their code and a hint when known."""
    text = " ".join(str(error).split())
    if len(text) > 400:
        text = text[:400] + " \u2026"
    description = f"{type(error).__name__}: {text}" if text else type(error).__name__
    frame = _learner_frame(error, function)
    if frame is not None:
        code = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
        where = (
            "your cell"
            if re.search(r"ipykernel_|<ipython-input", frame.filename)
            else (Path(frame.filename).name)
        )
        description += f" (line {frame.lineno} of {where}" + (f": `{code}`)" if code else ")")
    for pattern, hint in _ERROR_HINTS:
        if re.search(pattern, str(error), flags=re.IGNORECASE | re.DOTALL):
            description += f". Hint: {hint}"
            break
    return description


def _has_placeholders(function: Any) -> bool:
    """True when the function's code region still assigns the placeholder `None`."""
    try:
        source = inspect.getsource(function)
    except Exception:
        return False
    region = (
        source.split(START_MARKER, 1)[-1].split(END_MARKER, 1)[0]
        if START_MARKER in source
        else source
    )
    return bool(re.search(r"^\s*[\w.\[\]]+\s*=\s*None\s*(#.*)?$", region, flags=re.MULTILINE))


def _looks_untouched(error: BaseException, function: Any) -> bool:
    """An error caused by a placeholder `None` means the exercise is not done yet."""
    text = str(error)
    none_error = "NoneType" in text or re.search(r"=None\b|value None\b|got None\b", text)
    return bool(none_error) or _has_placeholders(function)


def call_and_screen(
    function: Any,
    name: str,
    args: tuple,
    time_limit_s: float | None,
    timings: dict[str, float],
    when_none: str | None = None,
) -> Any:
    """Call the learner's function; end the check with a verdict if it cannot give a value.

    `when_none` replaces the advice given when the function returns None
    (by default: fill in the code so that it returns its model).
    """
    if function is None:
        raise Verdict(
            NOT_YET,
            "not-yet",
            f"Not yet: `{name}` is None. {FILL_IN}, then run "
            "the cell that defines the function again.",
        )
    if isinstance(function, (keras.layers.Layer, keras.Model)):
        raise Verdict(
            FAILED,
            "passed-object-not-function",
            f"You passed a {type(function).__name__}, the result of calling `{name}`. "
            f"Pass the function itself, without parentheses: the grader calls it.",
        )
    if not callable(function):
        raise Verdict(
            FAILED,
            "not-callable",
            f"Expected the function `{name}`, got a {type(function).__name__}.",
        )
    try:
        inspect.signature(function).bind(*args)
    except TypeError as error:
        raise Verdict(
            FAILED,
            "signature",
            f"`{name}` cannot be called with {len(args)} argument(s): {error}. "
            "Keep the function's signature as the exercise gives it.",
        ) from None
    except ValueError:
        pass  # builtins without a signature: just try the call
    call = call_learner(function, args, time_limit_s)
    timings["learner"] = call.seconds
    limit = LEARNER_TIME_LIMIT_S if time_limit_s is None else time_limit_s
    if call.timed_out:
        raise Verdict(
            FAILED,
            "timeout",
            f"`{name}()` did not finish within {limit:g} s, so the grader stopped "
            "waiting (it may still be running in the background). Look for a loop "
            "that never ends, or for training or downloading inside the function.",
        )
    if call.error is not None:
        description = describe_error(call.error, function).rstrip(".") + "."
        if _looks_untouched(call.error, function):
            raise Verdict(
                NOT_YET, "not-yet", f"Not yet: `{name}()` raised {description} {FILL_IN}."
            )
        raise Verdict(FAILED, "raised", f"`{name}()` raised {description}")
    if call.value is None:
        if when_none is not None:
            raise Verdict(NOT_YET, "not-yet", f"Not yet: `{name}()` returned None. {when_none}")
        # Without placeholders left, the likely cause is a missing `return`.
        forgot_return = "" if _has_placeholders(function) else " (check that it ends with `return`)"
        raise Verdict(
            NOT_YET,
            "not-yet",
            f"Not yet: `{name}()` returned None. {FILL_IN} so that the function "
            f"returns its model{forgot_return}.",
        )
    return call.value

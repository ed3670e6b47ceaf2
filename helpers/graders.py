"""Graders: one `check_*` per exercise, and a progress table.

Each check takes the learner's object(s), displays a short verdict (HTML in
JupyterLab, plain text elsewhere) and returns a `GradeResult` with `.passed`
and `.messages`. A check never raises into the notebook, never changes the
learner's objects, and says what is wrong and where to look without printing
the answer. Functions the learner wrote are called in a worker thread with a
time limit, so an endless loop cannot hang the check.

    check_datasets(train_dataset, validation_dataset)
    check_data_augmenter(data_augmenter)
    check_alpaca_model(alpaca_model)
    check_fine_tuning(model, loss_function, optimizer, metrics)
    summary()
"""

from __future__ import annotations

import functools
import html
import inspect
import json
import linecache
import math
import os
import re
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from helpers import config, verdicts

# How long a learner's function may run before the grader gives up on it (tests lower it).
LEARNER_TIME_LIMIT_S: float = config.GRADER_TIME_LIMIT_S
# Relative tolerance for learning rates: float32 stores 1e-4 as 9.9999997e-05.
LEARNING_RATE_RTOL: float = 1e-5

PASSED, FAILED, NOT_YET, ERROR = "passed", "failed", "not yet", "error"
# Word first (the verdict starts with it), then a symbol: never colour alone.
_HEADLINES: dict[str, tuple[str, str, str]] = {
    PASSED: ("Passed", "\u2714", "#2e7d32"),
    FAILED: ("Not passed", "\u2718", "#c62828"),
    NOT_YET: ("Not yet", "\u270e", "#6d4c41"),
    ERROR: ("Grader error", "\u26a0", "#ef6c00"),
}


@dataclass(frozen=True)
class Exercise:
    """One graded exercise of the course, for the progress table."""

    key: str
    notebook: str
    title: str


EXERCISES: dict[str, Exercise] = {
    e.key: e
    for e in (
        Exercise("datasets", "01", "create_datasets: training and validation datasets"),
        Exercise("data_augmenter", "02", "data_augmenter: flip and rotate"),
        Exercise("alpaca_model", "04", "alpaca_model: frozen MobileNetV2 and a new head"),
        Exercise("fine_tuning", "05", "prepare_fine_tuning: unfreeze and recompile"),
    )
}
_START, _END = "### START CODE HERE", "### END CODE HERE"
_FILL_IN = f"Fill in the code between `{_START}` and `{_END}`"


# ---------------------------------------------------------------------------
# Results and how they are displayed
# ---------------------------------------------------------------------------


def _current_execution_count() -> int | None:
    """The IPython cell being run, or None outside IPython."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except Exception:
        return None
    return None if shell is None else int(getattr(shell, "execution_count", 0) or 0)


def _markup(text: str) -> str:
    """HTML-escape a message and render `backticks` as code."""
    escaped = html.escape(text)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)


class _Displayable:
    """Shows itself once per cell: the check displays it, the cell's result does not repeat it."""

    _shown_in_cell: int | None = None

    def text(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def _repr_html_(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """IPython's plain-text form."""
        printer.text(self.text())

    def _ipython_display_(self) -> None:
        """Skip the repeat right after the check displayed this result; display normally later."""
        count = _current_execution_count()
        if self._shown_in_cell is not None and self._shown_in_cell == count:
            self._shown_in_cell = None
            return
        self._show()

    def _show(self) -> None:
        """Display in IPython (HTML with a plain-text fallback); print elsewhere."""
        count = _current_execution_count()
        if count is None:
            print(self.text())
            return
        from IPython.display import display

        display({"text/plain": self.text(), "text/html": self._repr_html_()}, raw=True)
        self._shown_in_cell = count


@dataclass(repr=False, eq=False)
class GradeResult(_Displayable):
    """The outcome of one check.

    `status` is "passed", "failed", "not yet" (an untouched exercise) or
    "error" (a bug in the grader). `codes` names each problem for tests;
    `timings` holds the learner's and the grader's seconds.
    """

    exercise: str
    status: str
    messages: list[str] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return self.status == PASSED

    @property
    def verdict(self) -> str:
        """The headline: a word, a symbol and the exercise."""
        word, symbol, _ = _HEADLINES[self.status]
        return f"{word} {symbol} \u2014 {self.exercise}"

    def text(self) -> str:
        """Plain-text rendering: the headline, then one bullet per message."""
        return "\n".join([self.verdict, *(f"  \u2022 {m}" for m in self.messages)])

    def _repr_html_(self) -> str:
        word, symbol, colour = _HEADLINES[self.status]
        items = "".join(f"<li>{_markup(m)}</li>" for m in self.messages)
        return (
            f'<div class="alpaca-grader alpaca-grader-{self.status.replace(" ", "-")}" '
            f'style="border-left:5px solid {colour};padding:0.3em 0.8em;margin:0.3em 0">'
            f'<strong style="color:{colour}">{word} {symbol}</strong> \u2014 '
            f"<code>{html.escape(self.exercise)}</code>"
            f'<ul style="margin:0.3em 0">{items}</ul></div>'
        )


class _Findings:
    """Problems found so far, each a stable code plus a message for the learner."""

    def __init__(self) -> None:
        self.codes: list[str] = []
        self.messages: list[str] = []

    def add(self, code: str, message: str) -> None:
        self.codes.append(code)
        self.messages.append(message)

    def __bool__(self) -> bool:
        return bool(self.codes)


class _Verdict(Exception):
    """Ends a check early with a status (e.g. nothing more can be checked)."""

    def __init__(self, status: str, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _grader(exercise: str, success: str) -> Callable[[Callable[..., _Findings]], Callable[..., GradeResult]]:
    """Turn a function that collects findings into a safe, displaying, recording check."""

    def decorate(collect: Callable[..., _Findings]) -> Callable[..., GradeResult]:
        def check(*args: Any, **kwargs: Any) -> GradeResult:
            started = time.perf_counter()
            timings: dict[str, float] = {}
            try:
                findings = collect(*args, _timings=timings, **kwargs)
                if findings:
                    result = GradeResult(exercise, FAILED, findings.messages, findings.codes)
                else:
                    result = GradeResult(exercise, PASSED, [success], [])
            except _Verdict as verdict:
                result = GradeResult(exercise, verdict.status, [verdict.message], [verdict.code])
            except Exception as error:  # a bug in the grader: report it, never raise
                result = GradeResult(
                    exercise,
                    ERROR,
                    [f"The grader hit an internal error: {_error_line(error)}. Your code may be "
                     "fine; please report this."],
                    ["internal-error"],
                )
            total = time.perf_counter() - started
            timings["total"] = total
            timings["grader"] = total - timings.get("learner", 0.0)
            result.timings = timings
            _record_progress(result)
            verdicts.record(result)
            try:
                result._show()
            except Exception:  # displaying must never break the learner's cell
                pass
            return result

        functools.update_wrapper(check, collect)
        del check.__wrapped__  # type: ignore[attr-defined]
        signature = inspect.signature(collect)
        check.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p for n, p in signature.parameters.items() if n != "_timings"],
            return_annotation="GradeResult",
        )
        return check

    return decorate


# ---------------------------------------------------------------------------
# Progress: a small JSON file, and a table of it
# ---------------------------------------------------------------------------

_CHECKED_THIS_SESSION: set[str] = set()


def _read_progress() -> dict[str, Any]:
    """The progress file's contents, or an empty record when it is missing or unreadable."""
    try:
        data = json.loads(config.progress_file().read_text())
        if isinstance(data, dict) and isinstance(data.get("exercises"), dict):
            return data
    except Exception:
        pass
    return {"format": 1, "exercises": {}}


def _record_progress(result: GradeResult) -> None:
    """Store the outcome; a progress file that cannot be written never fails the check."""
    _CHECKED_THIS_SESSION.add(result.exercise)
    if result.status == ERROR:
        return
    try:
        data = _read_progress()
        entry = data["exercises"].setdefault(result.exercise, {})
        entry["status"] = result.status
        entry["ever_passed"] = bool(entry.get("ever_passed")) or result.passed
        entry["checked_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        path = config.progress_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a crash never leaves half a file behind.
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(temporary, path)
    except Exception:
        pass


def _current_notebook() -> str | None:
    """The number ("01".."05") of the notebook this kernel runs, when the front end says."""
    candidates = [os.environ.get("JPY_SESSION_NAME", "")]  # set by jupyter_server for kernels
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:  # VS Code puts the notebook's path into the kernel's namespace
            candidates.append(str(shell.user_ns.get("__vsc_ipynb_file__", "")))
    except Exception:
        pass
    for candidate in candidates:
        match = re.match(r"(\d\d)_", Path(candidate).name)
        if match:
            return match.group(1)
    notebooks = {EXERCISES[key].notebook for key in _CHECKED_THIS_SESSION if key in EXERCISES}
    return notebooks.pop() if len(notebooks) == 1 else None


@dataclass(repr=False, eq=False)
class ProgressSummary(_Displayable):
    """Which exercises passed, in this notebook and across the course."""

    rows: list[dict[str, str]]
    notebook: str | None

    def _count(self, rows: Iterable[dict[str, str]]) -> tuple[int, int]:
        rows = list(rows)
        return sum(r["status"] == PASSED for r in rows), len(rows)

    def headline(self) -> str:
        """One line: passed counts for this notebook (when known) and the course."""
        done, total = self._count(self.rows)
        parts = []
        if self.notebook is not None:
            here, here_total = self._count(r for r in self.rows if r["notebook"] == self.notebook)
            parts.append(f"This notebook ({self.notebook}): {here} of {here_total} passed")
        parts.append(f"Course: {done} of {total} exercises passed")
        return " \u00b7 ".join(parts)

    @staticmethod
    def _label(row: dict[str, str]) -> str:
        status = row["status"]
        if status not in _HEADLINES:
            return "not checked yet \u25cb"
        word, symbol, _ = _HEADLINES[status]
        again = " (passed before)" if status != PASSED and row.get("ever_passed") else ""
        return f"{word} {symbol}{again}"

    def text(self) -> str:
        lines = [self.headline()]
        for row in self.rows:
            here = "\u2192" if row["notebook"] == self.notebook else " "
            lines.append(
                f"{here} {row['notebook']}  {row['title']:<48} {self._label(row)}"
            )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        body = []
        for row in self.rows:
            colour = _HEADLINES.get(row["status"], ("", "", "#757575"))[2]
            weight = "bold" if row["notebook"] == self.notebook else "normal"
            body.append(
                f'<tr style="font-weight:{weight}"><td>{row["notebook"]}</td>'
                f"<td>{html.escape(row['title'])}</td>"
                f'<td style="color:{colour}">{html.escape(self._label(row))}</td>'
                f"<td>{html.escape(row['checked_at'])}</td></tr>"
            )
        return (
            f'<div class="alpaca-progress"><p><strong>{html.escape(self.headline())}</strong></p>'
            "<table><thead><tr><th>Notebook</th><th>Exercise</th><th>Status</th>"
            f"<th>Last checked (UTC)</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )


def summary(notebook: str | int | None = None) -> ProgressSummary:
    """Display and return the progress table (the current notebook's rows in bold).

    `notebook` ("04" or 4) names this notebook when the front end does not.
    """
    try:
        recorded = _read_progress()["exercises"]
        rows = []
        for exercise in EXERCISES.values():
            entry = recorded.get(exercise.key, {})
            entry = entry if isinstance(entry, dict) else {}
            rows.append(
                {
                    "notebook": exercise.notebook,
                    "exercise": exercise.key,
                    "title": exercise.title,
                    "status": str(entry.get("status", "")),
                    "ever_passed": "yes" if entry.get("ever_passed") else "",
                    "checked_at": str(entry.get("checked_at", "")).replace("+00:00", ""),
                }
            )
        here = f"{int(notebook):02d}" if notebook is not None else _current_notebook()
        table = ProgressSummary(rows, here)
    except Exception:
        table = ProgressSummary([], None)
    try:
        table._show()
    except Exception:
        pass
    return table


# ---------------------------------------------------------------------------
# Running the learner's functions safely
# ---------------------------------------------------------------------------


@dataclass
class _Call:
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


def _call_learner(function: Callable[..., Any], args: tuple, time_limit_s: float | None) -> _Call:
    """Call `function(*args)` in a daemon thread and wait at most `time_limit_s` seconds."""
    limit = LEARNER_TIME_LIMIT_S if time_limit_s is None else time_limit_s
    outcome = _Call()
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
    (r"global_average_pooling2d.*(ndim=4, found ndim=2|expected.*4)",
     "The base model's output is already flat: did you create MobileNetV2 with its "
     "ImageNet classifier on top? Look at the include_top argument."),
    (r"expected ndim=4, found ndim=2",
     "A layer got flat vectors where it expected images: look at include_top and at the "
     "order of your layers."),
    (r"factor.*range \[-1, 1\]",
     "RandomRotation's factor is a fraction of a full turn, not degrees."),
    (r"'NoneType' object", "A placeholder `None` is still in your code."),
)


def _error_line(error: BaseException, limit: int = 300) -> str:
    """An exception as one short line: its type and its message, whitespace folded."""
    return f"{type(error).__name__}: {' '.join(str(error).split())[:limit]}"


def _ramp_image(shape: tuple[int, ...]) -> np.ndarray:
    """One image whose pixels ramp from 0 to 255: every value differs, so any change shows."""
    return np.linspace(0.0, 255.0, int(np.prod(shape)), dtype="float32").reshape((1, *shape))


def _describe_error(error: BaseException, function: Any) -> str:
    """The learner's exception: its type, message, line of their code and a hint when known."""
    text = " ".join(str(error).split())
    if len(text) > 400:
        text = text[:400] + " \u2026"
    description = f"{type(error).__name__}: {text}" if text else type(error).__name__
    frame = _learner_frame(error, function)
    if frame is not None:
        code = (frame.line or linecache.getline(frame.filename, frame.lineno)).strip()
        where = "your cell" if re.search(r"ipykernel_|<ipython-input", frame.filename) else (
            Path(frame.filename).name
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
    region = source.split(_START, 1)[-1].split(_END, 1)[0] if _START in source else source
    return bool(re.search(r"^\s*[\w.\[\]]+\s*=\s*None\s*(#.*)?$", region, flags=re.MULTILINE))


def _looks_untouched(error: BaseException, function: Any) -> bool:
    """An error caused by a placeholder `None` means the exercise is not done yet."""
    text = str(error)
    none_error = "NoneType" in text or re.search(r"=None\b|value None\b|got None\b", text)
    return bool(none_error) or _has_placeholders(function)


def _call_and_screen(
    function: Any, name: str, args: tuple, time_limit_s: float | None, timings: dict[str, float]
) -> Any:
    """Call the learner's function; end the check with a verdict if it cannot give a value."""
    if function is None:
        raise _Verdict(NOT_YET, "not-yet", f"Not yet: `{name}` is None. {_FILL_IN}, then run "
                       "the cell that defines the function again.")
    if isinstance(function, (keras.layers.Layer, keras.Model)):
        raise _Verdict(FAILED, "passed-object-not-function",
                       f"You passed a {type(function).__name__}, the result of calling `{name}`. "
                       f"Pass the function itself, without parentheses: the grader calls it.")
    if not callable(function):
        raise _Verdict(FAILED, "not-callable",
                       f"Expected the function `{name}`, got a {type(function).__name__}.")
    try:
        inspect.signature(function).bind(*args)
    except TypeError as error:
        raise _Verdict(FAILED, "signature",
                       f"`{name}` cannot be called with {len(args)} argument(s): {error}. "
                       "Keep the function's signature as the exercise gives it.") from None
    except ValueError:
        pass  # builtins without a signature: just try the call
    call = _call_learner(function, args, time_limit_s)
    timings["learner"] = call.seconds
    limit = LEARNER_TIME_LIMIT_S if time_limit_s is None else time_limit_s
    if call.timed_out:
        raise _Verdict(FAILED, "timeout",
                       f"`{name}()` did not finish within {limit:g} s, so the grader stopped "
                       "waiting (it may still be running in the background). Look for a loop "
                       "that never ends, or for training or downloading inside the function.")
    if call.error is not None:
        description = _describe_error(call.error, function).rstrip(".") + "."
        if _looks_untouched(call.error, function):
            raise _Verdict(NOT_YET, "not-yet",
                           f"Not yet: `{name}()` raised {description} {_FILL_IN}.")
        raise _Verdict(FAILED, "raised", f"`{name}()` raised {description}")
    if call.value is None:
        # Without placeholders left, the likely cause is a missing `return`.
        forgot_return = "" if _has_placeholders(function) else " (check that it ends with `return`)"
        raise _Verdict(NOT_YET, "not-yet",
                       f"Not yet: `{name}()` returned None. {_FILL_IN} so that the function "
                       f"returns its model{forgot_return}.")
    return call.value


# ---------------------------------------------------------------------------
# Exercise 1: the datasets
# ---------------------------------------------------------------------------


def _batch_size_of(dataset: tf.data.Dataset) -> int | None:
    """The batch size, read from the pipeline without iterating (iterating would reshuffle)."""
    node: Any = dataset
    for _ in range(50):
        size = getattr(node, "_batch_size", None)
        if size is not None:
            try:
                return int(size)
            except Exception:
                return None
        node = getattr(node, "_input_dataset", None)
        if node is None:
            return None
    return None


def _class_of(path: str) -> str:
    return Path(path).parent.name


def _dataset_problems(
    name: str, dataset: tf.data.Dataset, expected_files: int, findings: _Findings
) -> None:
    """Checks one dataset alone: class names, image and label shapes, batch size."""
    class_names = getattr(dataset, "class_names", None)
    if class_names is not None and list(class_names) != list(config.CLASS_NAMES):
        findings.add("class-names",
                     f"`{name}.class_names` is {list(class_names)}, but the classes should be the "
                     "two folders of the dataset directory, alpaca and not alpaca.")
    spec = dataset.element_spec
    if not (isinstance(spec, tuple) and len(spec) == 2):
        findings.add("labels-missing",
                     f"`{name}` yields {type(spec).__name__} elements, not (images, labels) pairs: "
                     "keep the labels inferred from the folder names (look at label_mode).")
        return
    images, labels = spec
    shape = tuple(images.shape)
    if len(shape) == 3:
        findings.add("not-batched",
                     f"`{name}` yields single images of shape {shape}, not batches: "
                     "look at the batch_size argument.")
        return
    if len(shape) != 4:
        findings.add("image-shape", f"`{name}` yields images of shape {shape}; expected batches "
                     "of colour images (batch, height, width, 3).")
        return
    if tuple(shape[1:3]) != tuple(config.IMG_SIZE):
        findings.add("image-size",
                     f"`{name}` resizes images to {tuple(shape[1:3])}, not to IMG_SIZE "
                     f"{tuple(config.IMG_SIZE)}: look at the image_size argument.")
    if shape[3] != 3:
        findings.add("channels", f"`{name}` images have {shape[3]} channel(s), not 3 (RGB): "
                     "look at the color_mode argument.")
    label_shape = tuple(labels.shape)
    if len(label_shape) == 2 and label_shape[1] not in (None, 1):
        findings.add("label-mode",
                     f"`{name}` yields one-hot labels of shape {label_shape}; this binary task "
                     "uses one integer label per image (look at label_mode).")
    batch = _batch_size_of(dataset)
    if batch is not None and batch != config.BATCH_SIZE:
        findings.add("batch-size", f"`{name}` has batches of {batch} images, not BATCH_SIZE "
                     f"({config.BATCH_SIZE}): look at the batch_size argument.")
    elif batch is None:
        # Without a batch node, cardinality still tells how many batches there are.
        cardinality = int(dataset.cardinality())
        if cardinality >= 0 and cardinality != math.ceil(expected_files / config.BATCH_SIZE):
            findings.add("batch-size", f"`{name}` has {cardinality} batches, which does not "
                         f"match BATCH_SIZE ({config.BATCH_SIZE}): look at batch_size.")


def _unpack_datasets(train_dataset: Any, validation_dataset: Any) -> tuple[Any, Any]:
    """Accept the pair that `subset='both'` returns, passed as one argument."""
    if validation_dataset is None and isinstance(train_dataset, (tuple, list)):
        if len(train_dataset) == 2:
            return train_dataset[0], train_dataset[1]
    return train_dataset, validation_dataset


@_grader("datasets", f"Both datasets are right: {config.EXPECTED_TRAIN_FILES} training and "
         f"{config.EXPECTED_VALIDATION_FILES} validation images in batches of {config.BATCH_SIZE}, "
         f"two classes, {config.IMG_SIZE[0]}\u00d7{config.IMG_SIZE[1]} RGB images, and no image "
         "in both subsets.")
def check_datasets(
    train_dataset: Any, validation_dataset: Any = None, *, _timings: dict[str, float]
) -> _Findings:
    """Check notebook 01's datasets: sizes, classes, shapes, batch size, no shared files."""
    findings = _Findings()
    train_dataset, validation_dataset = _unpack_datasets(train_dataset, validation_dataset)
    missing = [n for n, d in (("train_dataset", train_dataset),
                              ("validation_dataset", validation_dataset)) if d is None]
    if missing:
        raise _Verdict(NOT_YET, "not-yet",
                       f"Not yet: {' and '.join(f'`{m}`' for m in missing)} "
                       f"{'is' if len(missing) == 1 else 'are'} still None. {_FILL_IN}: "
                       "create each dataset with image_dataset_from_directory.")
    for name, dataset in (("train_dataset", train_dataset), ("validation_dataset", validation_dataset)):
        if not isinstance(dataset, tf.data.Dataset):
            raise _Verdict(FAILED, "wrong-type",
                           f"`{name}` is a {type(dataset).__name__}, not a tf.data.Dataset: "
                           "create it with image_dataset_from_directory.")
        if getattr(dataset, "file_paths", None) is None:
            raise _Verdict(FAILED, "no-file-paths",
                           f"`{name}` does not know its files: pass the dataset exactly as "
                           "image_dataset_from_directory returned it (before .map(), .cache() "
                           "or .prefetch(), which drop file_paths and class_names).")
    if train_dataset is validation_dataset:
        raise _Verdict(FAILED, "same-object",
                       "You passed the same dataset twice: the second argument should be the "
                       "validation dataset.")

    train_files, validation_files = list(train_dataset.file_paths), list(validation_dataset.file_paths)
    n_train, n_validation = len(train_files), len(validation_files)
    shared = set(train_files) & set(validation_files)
    expected_train, expected_validation = config.EXPECTED_TRAIN_FILES, config.EXPECTED_VALIDATION_FILES

    total = config.EXPECTED_TOTAL_IMAGES
    if total in (n_train, n_validation):
        findings.add("no-split", f"{'train_dataset' if n_train == total else 'validation_dataset'}"
                     f" holds all {total} images: split them into training and validation "
                     "subsets (look at validation_split and subset).")
    elif set(train_files) == set(validation_files):
        findings.add("same-subset",
                     f"Both datasets hold the same {n_train} files: one should be the training "
                     "subset and the other the validation subset (look at the subset argument).")
    elif (n_train, n_validation) == (expected_validation, expected_train) and not shared:
        findings.add("swapped", "The datasets are swapped: the training subset is the larger one "
                     "(look at the subset argument of each call).")
    elif shared:
        findings.add("overlap",
                     f"{len(shared)} image(s) are in both datasets, so validation would measure "
                     "images the model trained on. Both calls must split the files the same way: "
                     "look at the seed (and shuffle) arguments of the two calls.")
    elif n_train + n_validation != total:
        findings.add("file-count",
                     f"The datasets hold {n_train + n_validation} images, not the {total} of the "
                     "dataset: is the directory the dataset folder with its two class folders?")
    elif (n_train, n_validation) != (expected_train, expected_validation):
        findings.add("split",
                     f"The split is {n_train} training / {n_validation} validation images, not "
                     f"{expected_train} / {expected_validation}: look at validation_split.")
    elif len({_class_of(p) for p in validation_files}) < 2:
        findings.add("one-class-validation",
                     "Every validation image comes from one class: the files were not shuffled "
                     "before the split (look at the shuffle argument).")

    _dataset_problems("train_dataset", train_dataset, expected_train, findings)
    _dataset_problems("validation_dataset", validation_dataset, expected_validation, findings)
    return findings


# ---------------------------------------------------------------------------
# Exercise 2: data_augmenter
# ---------------------------------------------------------------------------


def _flatten_layers(layer: Any) -> list[Any]:
    """The leaf layers of nested Sequential/Functional models, in order."""
    if isinstance(layer, keras.Model):
        out = []
        for inner in layer.layers:
            out.extend(_flatten_layers(inner))
        return out
    if isinstance(layer, layers.InputLayer):
        return []
    return [layer]


def _rotation_factor(layer: Any) -> tuple[float, float] | None:
    """RandomRotation's (lower, upper) as numbers (Keras 3 stores 0.2 as (-0.2, 0.2))."""
    factor = getattr(layer, "factor", None)
    try:
        if isinstance(factor, (int, float)):
            return (-abs(float(factor)), abs(float(factor)))
        lower, upper = factor
        return (float(lower), float(upper))
    except Exception:
        return None


def _augmentation_problems(augmentation_layers: list[Any], findings: _Findings, where: str) -> None:
    """A RandomFlip('horizontal') then a RandomRotation(ROTATION_FACTOR), nothing else."""
    flips = [l for l in augmentation_layers if isinstance(l, layers.RandomFlip)]
    rotations = [l for l in augmentation_layers if isinstance(l, layers.RandomRotation)]
    others = [l for l in augmentation_layers if l not in flips and l not in rotations]
    if not flips:
        findings.add("flip-missing", f"{where} has no RandomFlip layer: it should flip images "
                     "first.")
    for flip in flips:
        mode = getattr(flip, "mode", None)
        if mode != "horizontal":
            findings.add("flip-mode",
                         f"{where}'s RandomFlip uses mode '{mode}': flip images left-right "
                         "only, since a photo of an alpaca is never upside down (look at the "
                         "mode argument).")
    if not rotations:
        findings.add("rotation-missing", f"{where} has no RandomRotation layer after the flip.")
    for rotation in rotations:
        factor = _rotation_factor(rotation)
        expected = (-config.ROTATION_FACTOR, config.ROTATION_FACTOR)
        if factor is None or not all(math.isclose(a, b, abs_tol=1e-6) for a, b in zip(factor, expected)):
            shown = getattr(rotation, "factor", None)
            degrees = " The factor is a fraction of a full turn, not degrees." if (
                factor is not None and max(abs(factor[0]), abs(factor[1])) > 1
            ) else ""
            findings.add("rotation-factor",
                         f"{where}'s RandomRotation has factor {shown}, not the one the "
                         f"instructions give (look at the factor argument).{degrees}")
    if len(flips) > 1 or len(rotations) > 1 or others:
        extra = [type(l).__name__ for l in others]
        if len(flips) > 1:
            extra.append("a second RandomFlip")
        if len(rotations) > 1:
            extra.append("a second RandomRotation")
        findings.add("extra-layer", f"{where} has extra layer(s): {', '.join(extra)}. It should "
                     "hold just the two layers the instructions ask for.")
    if flips and rotations and augmentation_layers.index(flips[0]) > augmentation_layers.index(rotations[0]):
        findings.add("order", f"{where} rotates before it flips: add the flip first, then the "
                     "rotation.")


def _augmenter_behaviour(augmenter: keras.Model, findings: _Findings) -> None:
    """In inference mode the augmenter must leave an image unchanged.

    It runs on a copy: calling an unbuilt Sequential builds it for the shape it
    sees, and the learner's function may return an object the learner keeps.
    """
    try:
        copy = keras.models.clone_model(augmenter)
    except Exception:
        return  # custom layers that cannot be cloned: the structure checks stand alone
    shape = tuple(config.IMG_SHAPE)
    image = _ramp_image(shape)
    try:
        output = np.asarray(copy(image, training=False))
    except Exception as error:
        findings.add("behaviour-error", "Calling the augmenter on a small image batch failed: "
                     f"{_error_line(error)}")
        return
    if output.shape != image.shape:
        findings.add("behaviour-shape", f"The augmenter changes the shape of images from "
                     f"{image.shape} to {output.shape}; it should only flip and rotate them.")
    elif not np.allclose(output, image, atol=1e-4):
        findings.add("behaviour-inference", "With training=False the augmenter still changes "
                     "images: augmentation must only act during training.")


@_grader("data_augmenter", "data_augmenter() returns a Sequential that flips images left-right, "
         "then rotates them by a small random angle, and leaves images unchanged at inference.")
def check_data_augmenter(
    data_augmenter: Any, *, time_limit_s: float | None = None, _timings: dict[str, float]
) -> _Findings:
    """Call the learner's `data_augmenter()` and check the model it returns."""
    findings = _Findings()
    augmenter = _call_and_screen(data_augmenter, "data_augmenter", (), time_limit_s, _timings)
    if isinstance(augmenter, (list, tuple)):
        raise _Verdict(FAILED, "wrong-type", f"data_augmenter() returned a {type(augmenter).__name__}"
                       " of layers: put the layers into a Sequential model and return that.")
    if not isinstance(augmenter, keras.Sequential):
        raise _Verdict(FAILED, "wrong-type",
                       f"data_augmenter() returned a {type(augmenter).__name__}, not a "
                       "Sequential model.")
    leaves = _flatten_layers(augmenter)
    if not leaves:
        raise _Verdict(FAILED, "empty", "The Sequential that data_augmenter() returns is empty: "
                       "add the augmentation layers to it.")
    _augmentation_problems(leaves, findings, "The augmenter")
    if not findings:
        _augmenter_behaviour(augmenter, findings)
    return findings


# ---------------------------------------------------------------------------
# Inspecting a model's graph (shared by exercises 3 and 4)
# ---------------------------------------------------------------------------


def _graph_of(model: keras.Model) -> Any:
    """The functional graph of a model: a built Sequential keeps one inside."""
    if isinstance(model, keras.Sequential):
        return getattr(model, "_functional", None)
    return model


def _main_path(model: keras.Model) -> list[tuple[Any, Any]]:
    """(operation, node) pairs from the input to the output, following first inputs."""
    graph = _graph_of(model)
    outputs = getattr(graph, "outputs", None) if graph is not None else None
    if not outputs:
        return []
    path, seen = [], set()
    tensor = outputs[0]
    while True:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            break
        operation = history.operation
        node = operation._inbound_nodes[history.node_index]
        if id(node) in seen:
            break
        seen.add(id(node))
        path.append((operation, node))
        inputs = list(node.input_tensors)
        if not inputs:
            break
        tensor = inputs[0]
    return path[::-1]


def _is_mobilenet_v2(layer: Any) -> bool:
    """A MobileNetV2 built by keras.applications, recognised by type and name (not position)."""
    if not isinstance(layer, keras.Model):
        return False
    if "mobilenetv2" in layer.name.lower().replace("_", ""):
        return True
    names = {inner.name for inner in layer.layers}
    return {"Conv1", "out_relu"} <= names or {"Conv1", "Logits"} <= names


def _find_base(model: keras.Model, path: list[tuple[Any, Any]]) -> tuple[Any, Any] | None:
    """The base model on the main path, with the node of its call."""
    for operation, node in path:
        if _is_mobilenet_v2(operation):
            return operation, node
    return None


def _layer_names(operations: Iterable[Any]) -> str:
    return ", ".join(f"{type(o).__name__} ({o.name})" for o in operations)


def _training_flag_problems(base: Any, node: Any, findings: _Findings) -> None:
    """The base must be called with training=False (BatchNorm in inference mode)."""
    training = node.arguments.kwargs.get("training", None)
    if training is None:
        findings.add("training-flag-missing",
                     "base_model is called without training=False. That is harmless while the "
                     "base is frozen, but once layers are unfrozen for fine-tuning its "
                     "BatchNormalization layers would run in training mode and overwrite the "
                     "statistics learned on ImageNet. Pass training=False where you call the "
                     "base model (a Sequential model cannot do this: use the Functional API).")
    elif bool(training):
        findings.add("training-flag-true",
                     "base_model is called with training=True: its BatchNormalization layers "
                     "would update their ImageNet statistics. Call it in inference mode.")


def _head_problems(head: list[Any], findings: _Findings) -> None:
    """After the base: global average pooling, dropout, one linear output unit."""
    pools = [op for op in head if isinstance(op, layers.GlobalAveragePooling2D)]
    if not pools:
        if any(isinstance(op, layers.Flatten) for op in head):
            findings.add("pooling-flatten", "The base's features are flattened: the exercise "
                         "averages each feature map into one number instead (global average "
                         "pooling), which needs no extra weights and overfits less.")
        elif any(isinstance(op, (layers.GlobalMaxPooling2D, layers.MaxPooling2D)) for op in head):
            findings.add("pooling-max", "The base's features go through max pooling: the "
                         "exercise uses global average pooling.")
        else:
            findings.add("pooling-missing", "No global average pooling layer after the base "
                         "model: the head should start by pooling each feature map.")
    dropouts = [op for op in head if isinstance(op, layers.Dropout)]
    if not dropouts:
        findings.add("dropout-missing", "No Dropout layer between the pooling and the output "
                     "layer.")
    for dropout in dropouts:
        if not math.isclose(float(dropout.rate), config.DROPOUT_RATE, abs_tol=1e-9):
            findings.add("dropout-rate", f"The Dropout rate is {dropout.rate:g}, not the rate "
                         "the instructions give.")
    denses = [op for op in head if isinstance(op, layers.Dense)]
    if not denses:
        findings.add("dense-missing", "No Dense output layer at the end of the model.")
        return
    output = denses[-1]
    if len(denses) > 1:
        findings.add("dense-extra", f"The head has {len(denses)} Dense layers: the exercise "
                     "uses a single Dense output layer.")
    if output.units != 1:
        findings.add("dense-units", f"The output layer has {output.units} units. Alpaca / not "
                     "alpaca needs one unit whose value (a logit) says how alpaca-like an image "
                     "is; the loss for two classes works on that one number.")
    activation = output.get_config().get("activation")
    after = head[head.index(output) + 1:]
    sigmoid_after = any(
        isinstance(op, layers.Activation) and op.get_config().get("activation") == "sigmoid"
        for op in after
    )
    if activation == "sigmoid" or sigmoid_after:
        findings.add("output-sigmoid", "The model ends with a sigmoid, so it outputs "
                     "probabilities, but the loss this course uses expects logits "
                     "(from_logits=True). Leave the output layer linear.")
    elif activation not in ("linear", None):
        findings.add("output-activation", f"The output layer uses the '{activation}' "
                     "activation: it should output a raw score (a logit), with no activation.")
    known = (layers.GlobalAveragePooling2D, layers.Dropout, layers.Dense, layers.Flatten,
             layers.GlobalMaxPooling2D, layers.MaxPooling2D, layers.Activation)
    extra = [op for op in head if not isinstance(op, known)]
    if extra:
        findings.add("head-extra", f"Unexpected layer(s) after the base model: "
                     f"{_layer_names(extra)}.")
    if pools and dropouts and head.index(dropouts[0]) < head.index(pools[0]):
        findings.add("head-order", "Dropout comes before the pooling: pool first, then drop "
                     "out, then the output layer.")
    if dropouts and head.index(dropouts[-1]) > head.index(output):
        findings.add("head-order", "Dropout comes after the output layer: it belongs between "
                     "the pooling and the output layer.")


# ---------------------------------------------------------------------------
# Exercise 3: alpaca_model
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _imagenet_kernel(file_name: str) -> np.ndarray | None:
    """The first convolution's kernel from Keras' cached ImageNet weight file (None if absent)."""
    path = config.keras_models_dir() / file_name
    if not path.is_file():
        return None
    try:
        import h5py

        with h5py.File(path, "r") as weights:
            group = weights["Conv1"]
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs["weight_names"]]
            return np.asarray(group[names[0]])
    except Exception:
        return None


def _weights_problems(base: keras.Model, findings: _Findings) -> None:
    """ImageNet weights, not a random initialisation (cheap: two small tensors)."""
    try:
        batch_norm = base.get_layer("bn_Conv1")
        conv = base.get_layer("Conv1")
    except Exception:
        return
    mean = np.asarray(batch_norm.moving_mean)
    variance = np.asarray(batch_norm.moving_variance)
    # A fresh BatchNormalization starts at mean 0, variance 1; trained ones never are.
    if np.all(mean == 0.0) and np.all(variance == 1.0):
        findings.add("weights-random", "The base model's weights are random, not the ones "
                     "learned on ImageNet: transfer learning needs the pretrained weights "
                     "(look at the weights argument).")
        return
    rows = base.inputs[0].shape[1] or 224
    reference = _imagenet_kernel(
        f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}_no_top.h5"
    )
    kernel = np.asarray(conv.kernel)
    if reference is not None and (reference.shape != kernel.shape or not np.allclose(reference, kernel, atol=1e-5)):
        findings.add("weights-differ", "The base model's weights differ from the ImageNet "
                     "weights Keras provides: create it with the pretrained weights and do not "
                     "change them.")


def _base_problems(base: keras.Model, node: Any, findings: _Findings) -> None:
    """The base itself: no top, right size and input, ImageNet weights, frozen, inference mode."""
    n_layers, n_params = len(base.layers), base.count_params()
    if n_layers == config.BASE_MODEL_LAYERS_WITH_TOP or any(l.name == "predictions" for l in base.layers):
        findings.add("include-top", f"The base model has {n_layers} layers and ends with "
                     "ImageNet's 1000-class classifier: your own head replaces it (look at "
                     "include_top).")
    elif (n_layers, n_params) != (config.BASE_MODEL_LAYERS_NO_TOP, config.BASE_MODEL_PARAMS_NO_TOP):
        findings.add("base-size", f"The base model has {n_layers} layers and {n_params:,} "
                     "parameters, not those of MobileNetV2 (alpha 1.0) without its top: check "
                     "the arguments you pass to MobileNetV2.")
    base_shape = tuple(base.inputs[0].shape[1:])
    if base_shape != tuple(config.IMG_SHAPE):
        findings.add("base-input-shape", f"The base model expects inputs of shape {base_shape}, "
                     f"not the model's {tuple(config.IMG_SHAPE)}: pass the input shape to "
                     "MobileNetV2 so it loads the weights made for this image size.")
    _weights_problems(base, findings)
    if base.trainable_weights:
        findings.add("base-trainable", "The base model is trainable: freeze it, so that "
                     "training changes only the new head and keeps what it learned on ImageNet.")
    _training_flag_problems(base, node, findings)


def _preprocessing_problems(model: keras.Model, base_node: Any, findings: _Findings) -> None:
    """What reaches the base, in inference mode, must be the pixels mapped to [-1, 1]."""
    graph = _graph_of(model)
    base_input = list(base_node.input_tensors)[0]
    shape = tuple(graph.inputs[0].shape[1:])
    shape = shape if shape and None not in shape else tuple(config.IMG_SHAPE)
    pixels = _ramp_image(shape)
    if base_input is graph.inputs[0]:
        seen = pixels
    else:
        try:
            # A new model over the same layers: it reads them, it does not change them.
            before_base = keras.Model(graph.inputs[0], base_input)
            seen = np.asarray(before_base(pixels, training=False))
        except Exception as error:
            findings.add("preprocess-error", "Could not run the layers before the base model: "
                         f"{_error_line(error)}")
            return
    if seen.shape != pixels.shape:
        findings.add("preprocess-shape", f"The images reach the base model with shape "
                     f"{seen.shape[1:]}, not {pixels.shape[1:]}.")
        return
    expected = pixels / 127.5 - 1.0
    if np.allclose(seen, expected, atol=1e-3):
        return
    if np.allclose(seen, pixels, atol=1e-3):
        findings.add("preprocess-missing", "The images reach MobileNetV2 as raw pixels (0 to "
                     "255), but it was trained on pixels scaled to [-1, 1]: apply MobileNetV2's "
                     "own preprocessing function before the base model.")
    else:
        findings.add("preprocess-range", f"Your preprocessing maps pixels to "
                     f"[{seen.min():.3g}, {seen.max():.3g}], but MobileNetV2 expects [-1, 1]: use "
                     "MobileNetV2's own preprocessing function (once).")


def _augmentation_in_model_problems(
    before_base: list[Any], given: keras.Model, findings: _Findings
) -> None:
    """The augmenter passed in (or one built inside) must be applied before the base."""
    if any(op is given for op in before_base):
        return
    leaves = [leaf for op in before_base for leaf in _flatten_layers(op)]
    augmentation = [l for l in leaves if type(l).__name__.startswith("Random")]
    if augmentation:
        _augmentation_problems(augmentation, findings, "The augmentation in your model")
    elif given._inbound_nodes:
        findings.add("augmentation-unused", "data_augmentation is called, but its output is "
                     "never used: the layer after it should take the augmented images.")
    else:
        findings.add("augmentation-missing", "The model does not augment its inputs: pass the "
                     "inputs through data_augmentation first.")


@_grader("alpaca_model", "alpaca_model() builds the right model: augmentation, preprocessing, a "
         "frozen MobileNetV2 with ImageNet weights in inference mode, global average pooling, "
         "dropout and one logit.")
def check_alpaca_model(
    alpaca_model: Any, *, time_limit_s: float | None = None, _timings: dict[str, float]
) -> _Findings:
    """Call `alpaca_model(IMG_SIZE, fresh augmenter)` and check the model it builds."""
    from helpers import reference

    findings = _Findings()
    augmenter = reference.data_augmenter()
    model = _call_and_screen(alpaca_model, "alpaca_model", (config.IMG_SIZE, augmenter),
                             time_limit_s, _timings)
    if not isinstance(model, keras.Model):
        raise _Verdict(FAILED, "wrong-type", f"alpaca_model() returned a {type(model).__name__}, "
                       "not a keras Model.")
    path = _main_path(model)
    if not path:
        raise _Verdict(FAILED, "not-functional", "The model has no graph of layers to inspect: "
                       "build it with the Functional API, from an Input to the outputs.")
    graph = _graph_of(model)
    input_shape = tuple(graph.inputs[0].shape)
    if input_shape != (None, *config.IMG_SHAPE):
        findings.add("input-shape", f"The model's input has shape {input_shape[1:]}, not "
                     f"{tuple(config.IMG_SHAPE)}: images of image_shape with 3 colour channels.")
    found = _find_base(model, path)
    if found is None:
        if any(getattr(l, "name", "") == "Conv1" for l in model.layers):
            raise _Verdict(FAILED, "base-inlined", "MobileNetV2's layers sit directly in your "
                           "model (built from base_model.input/.output): call base_model on x as "
                           "one layer, so it can be frozen and run in inference mode.")
        raise _Verdict(FAILED, "base-missing", "No MobileNetV2 base model in your model: create "
                       "it with keras.applications and call it on the preprocessed images.")
    base, node = found
    position = [op for op, _ in path].index(base)
    before = [op for op, _ in path[1:position]]
    head = [op for op, _ in path[position + 1:]]
    _augmentation_in_model_problems(before, augmenter, findings)
    _preprocessing_problems(model, node, findings)
    _base_problems(base, node, findings)
    _head_problems(head, findings)
    head_weights = [w for op in head for w in op.trainable_weights]
    if not head_weights and any(op.weights for op in head):
        findings.add("head-frozen", "The new head has no trainable weights: freeze only the "
                     "base model, not the whole model.")
    output_shape = tuple(graph.outputs[0].shape)
    if not findings and output_shape != (None, 1):
        findings.add("output-shape", f"The model outputs shape {output_shape}, not one logit "
                     "per image.")
    return findings


# ---------------------------------------------------------------------------
# Exercise 4: fine-tuning
# ---------------------------------------------------------------------------


def _freezing_problems(base: keras.Model, findings: _Findings) -> None:
    """Layers before FINE_TUNE_AT frozen, the rest trainable (layers without weights don't count)."""
    at = config.FINE_TUNE_AT
    weighted = [(i, l) for i, l in enumerate(base.layers) if l.weights]
    frozen = [i for i, l in weighted if not l.trainable]
    if not base.trainable or len(frozen) == len(weighted):
        findings.add("nothing-unfrozen", "The base model is still entirely frozen: unfreeze it "
                     "first (trainable), then freeze only the layers before fine_tune_at.")
        return
    if not frozen:
        findings.add("nothing-frozen", "Every layer of the base model is trainable: after "
                     "unfreezing the base, freeze the layers before fine_tune_at again, so only "
                     "the top layers are fine-tuned.")
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
        findings.add("fine-tune-at", f"The first {leading} layers of the base are frozen, but it "
                     f"should be the layers before fine_tune_at ({at}), and the rest trainable: "
                     "look at the slice in your loop.")
    elif frozen == [i for i in weighted_indices if i >= frozen[0]]:
        findings.add("frozen-top", "The top layers of the base are frozen and the bottom ones "
                     "trainable: it should be the other way round (look at the slice).")
    else:
        findings.add("frozen-pattern", f"{len(frozen)} scattered layers of the base are frozen: "
                     f"freeze exactly the layers before fine_tune_at ({at}).")


def _loss_problems(loss_function: Any, findings: _Findings) -> None:
    """A BinaryCrossentropy object told that the model outputs logits."""
    if isinstance(loss_function, str):
        findings.add("loss-string", f"loss_function is the string '{loss_function}', which "
                     "builds a loss that expects probabilities. Create the loss object yourself "
                     "and tell it the model outputs logits.")
        return
    if not isinstance(loss_function, keras.losses.BinaryCrossentropy):
        what = getattr(loss_function, "__name__", type(loss_function).__name__)
        findings.add("loss-class", f"loss_function is {what}, not the binary cross-entropy "
                     "loss object for two classes.")
        return
    if not loss_function.get_config().get("from_logits", False):
        findings.add("loss-probabilities", "The loss is told the model outputs probabilities "
                     "(from_logits is False), but the model outputs logits.")


def _optimizer_problems(optimizer: Any, findings: _Findings) -> None:
    """Adam at a tenth of the base learning rate, compared with a relative tolerance."""
    if isinstance(optimizer, str):
        findings.add("optimizer-string", f"optimizer is the string '{optimizer}', which uses the "
                     "default learning rate: create the optimizer object with the fine-tuning "
                     "learning rate.")
        return
    if not isinstance(optimizer, keras.optimizers.Adam) or isinstance(optimizer, keras.optimizers.AdamW):
        findings.add("optimizer-class", f"optimizer is a {type(optimizer).__name__}: fine-tuning "
                     "continues with the same kind of optimizer as before, Adam.")
        return
    rate = optimizer.get_config().get("learning_rate")
    if isinstance(rate, dict):
        findings.add("learning-rate-schedule", "The learning rate is a schedule: use one fixed, "
                     "smaller learning rate for fine-tuning.")
        return
    rate, target = float(rate), config.FINE_TUNE_LEARNING_RATE
    if math.isclose(rate, target, rel_tol=LEARNING_RATE_RTOL):
        return
    if math.isclose(rate, config.BASE_LEARNING_RATE, rel_tol=LEARNING_RATE_RTOL):
        findings.add("learning-rate-not-reduced", f"The learning rate is {rate:.3g}, the same as "
                     "before fine-tuning: the unfrozen layers need a smaller one, so they only "
                     "adjust slightly (see the instructions).")
    elif rate < target:
        findings.add("learning-rate-too-small", f"The learning rate {rate:.3g} is reduced too "
                     "much: the instructions give a smaller reduction of base_learning_rate.")
    else:
        findings.add("learning-rate-too-large", f"The learning rate {rate:.3g} is larger than the "
                     "instructions ask: fine-tuning needs a fraction of base_learning_rate.")


_THRESHOLD_HELP = ("On a one-unit output, 'accuracy' means binary accuracy with threshold 0.5. "
                   "That fits probabilities, but this model outputs logits, where the boundary "
                   "between the classes is 0: use a binary accuracy metric whose threshold is set "
                   "for logits.")


def _metric_items(metrics: Any) -> list[Any]:
    if isinstance(metrics, dict):
        return [m for value in metrics.values() for m in _metric_items(value)]
    if isinstance(metrics, (list, tuple)):
        return [m for value in metrics for m in _metric_items(value)]
    return [metrics]


def _metrics_problems(metrics: Any, findings: _Findings) -> None:
    """At least one accuracy that is right for logits, and no metric that assumes probabilities."""
    items = _metric_items(metrics)
    if not items:
        findings.add("metrics-empty", "metrics is empty: track an accuracy that works on logits.")
        return
    good = 0
    for metric in items:
        name = metric if isinstance(metric, str) else getattr(metric, "__name__", None)
        if isinstance(metric, str) or (callable(metric) and not isinstance(metric, keras.metrics.Metric)):
            if str(name).lower() in ("accuracy", "acc", "binary_accuracy", "binaryaccuracy"):
                findings.add("metric-threshold", f"The metric {name!r}: {_THRESHOLD_HELP}")
            else:
                findings.add("metric-other", f"The metric {name!r} is not an accuracy for logits: "
                             "use a binary accuracy metric whose threshold is set for logits.")
            continue
        if not isinstance(metric, keras.metrics.Metric):
            findings.add("metric-type", f"metrics holds a {type(metric).__name__}, not a Keras "
                         "metric.")
            continue
        metric_config = metric.get_config()
        if isinstance(metric, keras.metrics.BinaryAccuracy):
            threshold = float(metric_config.get("threshold", 0.5))
            if math.isclose(threshold, 0.0, abs_tol=1e-9):
                good += 1
            else:
                findings.add("metric-threshold", f"BinaryAccuracy with threshold {threshold:g}: "
                             f"{_THRESHOLD_HELP}")
        elif isinstance(metric, keras.metrics.Accuracy):
            findings.add("metric-accuracy-class", "keras.metrics.Accuracy counts exact matches "
                         "between labels and raw outputs, which logits never are: use a binary "
                         "accuracy metric set for logits.")
        elif "from_logits" in metric_config:
            if not metric_config["from_logits"]:
                findings.add("metric-probabilities", f"The metric {type(metric).__name__} "
                             "expects probabilities, but the model outputs logits (look at "
                             "from_logits).")
        elif "threshold" in metric_config or "thresholds" in metric_config:
            findings.add("metric-threshold", f"The metric {type(metric).__name__} thresholds "
                         f"outputs like probabilities. {_THRESHOLD_HELP}")
    if good == 0 and not any(code.startswith("metric") for code in findings.codes):
        findings.add("metric-missing", "metrics has no accuracy: add a binary accuracy metric "
                     "whose threshold is set for logits.")


def _same(left: Any, right: Any) -> bool:
    """The same object (or equal strings), element by element for lists."""
    if isinstance(left, (list, tuple)) and isinstance(right, (list, tuple)):
        return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right))
    return left is right or (isinstance(left, str) and left == right)


def _compile_problems(model: keras.Model, loss_function: Any, optimizer: Any, metrics: Any,
                      findings: _Findings) -> None:
    """The model must be recompiled with exactly these three objects."""
    if not getattr(model, "compiled", False):
        findings.add("not-compiled", "The model is not compiled: compile it with your "
                     "loss_function, optimizer and metrics.")
        return
    compile_config = getattr(getattr(model, "_compile_config", None), "config", None) or {}
    used_optimizer = compile_config.get("optimizer", getattr(model, "optimizer", None))
    stale = []
    if not (_same(used_optimizer, optimizer) or getattr(model, "optimizer", None) is optimizer):
        stale.append("optimizer")
    if not _same(compile_config.get("loss", getattr(model, "loss", None)), loss_function):
        stale.append("loss")
    if "metrics" in compile_config and not _same(compile_config["metrics"], metrics) and not _same(
        _metric_items(compile_config["metrics"]), _metric_items(metrics)
    ):
        stale.append("metrics")
    if stale:
        findings.add("not-recompiled", f"The model was compiled with a different "
                     f"{', '.join(stale)} than the one(s) you passed: compile the model again "
                     "with them after unfreezing (the changes take effect only on compile).")


@_grader("fine_tuning", "Fine-tuning is set up right: the top of the base is unfrozen from "
         "fine_tune_at on, the base runs in inference mode, and the model is recompiled with a "
         "logits loss, Adam at a reduced learning rate and an accuracy for logits.")
def check_fine_tuning(
    model: Any, loss_function: Any, optimizer: Any, metrics: Any, *, _timings: dict[str, float]
) -> _Findings:
    """Check notebook 05's unfreezing and recompiling (reads the objects, changes nothing)."""
    findings = _Findings()
    named = {"model": model, "loss_function": loss_function, "optimizer": optimizer,
             "metrics": metrics}
    missing = [name for name, value in named.items() if value is None]
    if missing:
        raise _Verdict(NOT_YET, "not-yet", f"Not yet: {', '.join(f'`{m}`' for m in missing)} "
                       f"{'is' if len(missing) == 1 else 'are'} still None. {_FILL_IN}.")
    if not isinstance(model, keras.Model):
        raise _Verdict(FAILED, "wrong-type", f"model is a {type(model).__name__}, not a keras "
                       "Model: pass the model you are fine-tuning.")
    path = _main_path(model)
    found = _find_base(model, path)
    if found is None:
        raise _Verdict(FAILED, "base-missing", "No MobileNetV2 base model found in the model: "
                       "pass the model built by alpaca_model().")
    base, node = found
    if not model.trainable:
        findings.add("model-frozen", "The whole model is frozen (model.trainable is False): "
                     "unfreeze the base model instead.")
    _freezing_problems(base, findings)
    position = [op for op, _ in path].index(base)
    head = [op for op, _ in path[position + 1:]]
    if any(op.weights for op in head) and not any(op.trainable_weights for op in head):
        findings.add("head-frozen", "The head after the base model has no trainable weights: "
                     "keep the classifier trainable.")
    _training_flag_problems(base, node, findings)
    head_findings = _Findings()
    _head_problems(head, head_findings)
    for code, message in zip(head_findings.codes, head_findings.messages):
        if code == "output-sigmoid":
            findings.add(code, message)
    _loss_problems(loss_function, findings)
    _optimizer_problems(optimizer, findings)
    _metrics_problems(metrics, findings)
    _compile_problems(model, loss_function, optimizer, metrics, findings)
    return findings


__all__ = [
    "GradeResult",
    "ProgressSummary",
    "check_alpaca_model",
    "check_data_augmenter",
    "check_datasets",
    "check_fine_tuning",
    "summary",
]

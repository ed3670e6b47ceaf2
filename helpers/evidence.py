"""Evidence: what a check records in a grading run, and reading it back without trusting it.

A check does two things: it collects EVIDENCE from the learner's objects
(`helpers.graders`) and JUDGES that evidence with its exercise's rules
(`helpers.rules`). In a learner's own notebook both happen in place. In a
grading run (the variable `config.ENV_EVIDENCE_DIR` is set for the kernel)
the check only stores the evidence, one folder per exercise:

    $ALPACA_EVIDENCE_DIR/<exercise>/facts.json   always: format, exercise, `screened` or `facts`
                                    model.keras  data_augmenter, alpaca_model: the model, Keras format
                                    arrays.npz   representative_dataset: the samples' arrays

and `instructor.grade.judge` judges a copy of it in a process that runs no
learner code. `screened` holds a verdict the check reached before there was
anything to judge (an untouched exercise, a function that raised or returned
the wrong type): never a pass. A later call of the same check replaces the
exercise's folder.

Reading trusts nothing: regular files only (no links, FIFOs or devices),
sizes capped (config.EVIDENCE_*), JSON checked field by field, archives
checked before they are opened, arrays loaded without pickle, models loaded
with Keras' `safe_mode` and without compiling. Whatever is wrong ends as an
`EvidenceError` (the judge's failed verdict), never as a pass or a crash.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import keras
import numpy as np

from helpers import config, runtime
from helpers.learner_calls import error_line
from helpers.verdicts import CHECK_STATUSES, PASSED

FORMAT = 1
FACTS_FILE = "facts.json"
MODEL_FILE = "model.keras"
ARRAYS_FILE = "arrays.npz"
# A type name read back from evidence becomes the name of a stand-in class: an identifier, short.
_TYPE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
# Containers in the samples' tree keep at most this many items (rules read the first two).
_TREE_ITEMS = 4
_TREE_MAX_LENGTH = 1_000_000
_TREE_MAX_DEPTH = 8
# A batch of images recorded without its values (too large to keep): the judge compares each
# image with the grader's, so a forged batch of millions would keep it busy.
_MAX_IMAGES_WITHOUT_VALUES = 256


class EvidenceError(Exception):
    """The evidence is missing, damaged, too large or not what the check writes."""


class ModelNotLoadable(EvidenceError):
    """A model that Keras cannot load in safe mode (a Lambda layer, a class of the learner's)."""


def not_loadable_message(what: str) -> str:
    """The learner's message for a model that cannot be saved and loaded back safely."""
    return (
        f"Your model cannot be loaded back with Keras' safe mode ({what}), so it cannot be "
        "graded (and notebook 05 could not load it either): build it from Keras' own layers. "
        "A Lambda layer holds Python code, which safe mode refuses; a layer class defined in "
        "your notebook is unknown anywhere else."
    )


def unloadable_layers(model: Any) -> list[str]:
    """The layers of `model` (nested ones too) that a safe-mode load would refuse, by name."""
    found = []
    for layer in [model, *all_layers(model)]:
        module = type(layer).__module__
        if isinstance(layer, keras.layers.Lambda) or not module.startswith("keras."):
            found.append(f"{type(layer).__name__} ({getattr(layer, 'name', '?')})")
    return found


def evidence_root() -> Path | None:
    """The grading run's evidence folder, or None in a learner's own notebook."""
    folder = os.environ.get(config.ENV_EVIDENCE_DIR)
    return Path(folder) if folder else None


@dataclass
class Screened:
    """A verdict reached before there was anything to judge (never PASSED)."""

    status: str
    code: str
    message: str


# --- Storing -------------------------------------------------------------------------------


class Evidence(Protocol):
    """What a check collects: it writes its files and returns its facts; `read` undoes both."""

    def write(self, folder: Path) -> dict[str, Any]: ...

    @classmethod
    def read(cls, facts: dict[str, Any], folder: Path) -> Evidence: ...


def store(root: Path, exercise: str, evidence: Evidence | Screened) -> Path:
    """Write one exercise's evidence under `root`, replacing an earlier call's; return its folder.

    The files go into a fresh folder first, which then takes the old one's
    place, so the judge never sees half of one call and half of another.
    """
    root.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{exercise}.", dir=root))
    try:
        screened = evidence if isinstance(evidence, Screened) else None
        facts = None if screened is not None else evidence.write(fresh)
        record = {
            "format": FORMAT,
            "exercise": exercise,
            "screened": None if screened is None else vars(screened),
            "facts": facts,
        }
        (fresh / FACTS_FILE).write_text(json.dumps(record), encoding="utf-8")
        target = root / exercise
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(fresh, target)
        return target
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise


def write_model(folder: Path, model: keras.Model) -> None:
    """The model in Keras format (architecture, weights, trainable flags)."""
    with warnings.catch_warnings():  # "not built yet": an augmenter needs no weights
        warnings.simplefilter("ignore")
        model.save(folder / MODEL_FILE)


def write_arrays(folder: Path, arrays: dict[str, np.ndarray]) -> None:
    """Arrays into one uncompressed .npz (loaded back without pickle)."""
    with open(folder / ARRAYS_FILE, "wb") as handle:
        np.savez(handle, **arrays)


# --- Reading, trusting nothing ---------------------------------------------------------------


def read_bytes(path: Path, limit: int) -> bytes:
    """A regular file's bytes, at most `limit` of them; links, FIFOs and devices are refused."""
    try:
        return runtime.read_regular(path, limit)
    except FileNotFoundError:
        raise EvidenceError(f"{path.name} is missing") from None
    except runtime.NotRegularFile:
        raise EvidenceError(f"{path.name} is not a regular file") from None
    except runtime.FileTooLarge:
        raise EvidenceError(f"{path.name} is larger than {limit} bytes") from None
    except OSError as error:
        raise EvidenceError(f"{path.name} cannot be opened ({error.strerror})") from None


def read_json(path: Path, limit: int = config.EVIDENCE_MAX_JSON_BYTES) -> Any:
    """A JSON file, size-capped; anything unreadable is an EvidenceError."""
    data = read_bytes(path, limit)
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):
        raise EvidenceError(f"{path.name} is not valid JSON") from None


def read_record(folder: Path) -> tuple[str, Screened | None, dict[str, Any]]:
    """An exercise folder's facts.json: (exercise, screened verdict or None, facts)."""
    record = read_json(folder / FACTS_FILE)
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise EvidenceError(f"{FACTS_FILE} is not evidence of format {FORMAT}")
    exercise = record.get("exercise")
    if not isinstance(exercise, str):
        raise EvidenceError(f"{FACTS_FILE} names no exercise")
    screened = record.get("screened")
    if screened is not None:
        return exercise, _screened(screened), {}
    facts = record.get("facts")
    if not isinstance(facts, dict):
        raise EvidenceError(f"{FACTS_FILE} holds no facts")
    return exercise, None, facts


def _screened(value: Any) -> Screened:
    """A recorded early verdict, checked: a known status that is not a pass, bounded text."""
    if not isinstance(value, dict):
        raise EvidenceError("the recorded verdict is not an object")
    status, code, message = value.get("status"), value.get("code"), value.get("message")
    if status not in CHECK_STATUSES or status == PASSED:
        raise EvidenceError(f"the recorded verdict has status {str(status)[:40]!r}")
    if not isinstance(code, str) or not isinstance(message, str) or len(code) > 100:
        raise EvidenceError("the recorded verdict has no code or message")
    limit = config.EVIDENCE_MAX_MESSAGE_CHARS
    return Screened(status, code, message if len(message) <= limit else message[:limit] + "\u2026")


def field(
    facts: dict[str, Any], key: str, kind: type | tuple[type, ...], optional: bool = False
) -> Any:
    """`facts[key]`, which must be of `kind` (or None when `optional`)."""
    value = facts.get(key)
    if value is None and optional:
        return None
    # bool is an int in Python: a flag must not pass for a count, nor a count for a flag.
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise EvidenceError(f"the fact {key!r} is missing or has the wrong type")
    return value


def string_list(facts: dict[str, Any], key: str, optional: bool = False) -> list[str] | None:
    """A list of strings from the facts."""
    value = field(facts, key, list, optional)
    if value is not None and not all(isinstance(item, str) for item in value):
        raise EvidenceError(f"the fact {key!r} is not a list of strings")
    return value


def shape_of(value: Any, key: str) -> tuple[int | None, ...]:
    """A tensor shape read from JSON: a list of non-negative ints and nulls."""
    if not isinstance(value, list) or len(value) > 16:
        raise EvidenceError(f"the fact {key!r} is not a shape")
    if not all(d is None or (type(d) is int and d >= 0) for d in value):
        raise EvidenceError(f"the fact {key!r} is not a shape")
    return tuple(value)


def _archive_checked(data: bytes, name: str) -> None:
    """A zip archive (.keras, .npz) whose unpacked size and entry count are within bounds."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise EvidenceError(f"{name} is not a zip archive") from None
    if len(entries) > 1000:
        raise EvidenceError(f"{name} holds {len(entries)} entries")
    if sum(entry.file_size for entry in entries) > config.EVIDENCE_MAX_UNPACKED_BYTES:
        raise EvidenceError(
            f"{name} unpacks to more than {config.EVIDENCE_MAX_UNPACKED_BYTES} bytes"
        )


def read_model(folder: Path) -> keras.Model:
    """The model of model.keras, loaded in safe mode without compiling (from a private copy)."""
    data = read_bytes(folder / MODEL_FILE, config.EVIDENCE_MAX_MODEL_BYTES)
    _archive_checked(data, MODEL_FILE)
    with tempfile.TemporaryDirectory(prefix="alpaca-evidence-") as scratch:
        copy = Path(scratch) / MODEL_FILE
        copy.write_bytes(data)
        try:
            model = keras.saving.load_model(copy, safe_mode=True, compile=False)
        except Exception as error:
            raise ModelNotLoadable(error_line(error, 200)) from None
    if not isinstance(model, keras.Model):
        raise EvidenceError(f"{MODEL_FILE} holds a {type(model).__name__}, not a model")
    return model


def read_arrays(folder: Path) -> dict[str, np.ndarray]:
    """The arrays of arrays.npz (no pickle: object arrays are refused)."""
    data = read_bytes(folder / ARRAYS_FILE, config.EVIDENCE_MAX_UNPACKED_BYTES)
    _archive_checked(data, ARRAYS_FILE)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except Exception as error:
        raise EvidenceError(f"{ARRAYS_FILE} cannot be read ({type(error).__name__})") from None


# --- Layers ----------------------------------------------------------------------------------


def all_layers(model: Any) -> list[Any]:
    """Every layer inside `model`, nested models' layers after their model (pre-order)."""
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        if isinstance(layer, keras.Model):
            found.extend(all_layers(layer))
    return found


# --- Values: Keras objects by their config, anything else by its type --------------------


def encode_value(value: Any, depth: int = 0) -> dict[str, Any]:
    """A loss, optimizer or metrics argument as JSON: strings, containers, Keras configs, types."""
    if depth > _TREE_MAX_DEPTH:
        return {"kind": "other", "type": "object"}
    if isinstance(value, str):
        return {"kind": "string", "value": value[:1000]}
    if isinstance(value, (list, tuple)):
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"kind": kind, "items": [encode_value(v, depth + 1) for v in list(value)[:100]]}
    if isinstance(value, dict):
        items = [[str(k)[:200], encode_value(v, depth + 1)] for k, v in list(value.items())[:100]]
        return {"kind": "dict", "items": items}
    described = {
        "kind": "other",
        "type": type(value).__name__,
        "name": getattr(value, "__name__", None)
        if isinstance(getattr(value, "__name__", None), str)
        else None,
        "callable": callable(value),
    }
    try:
        serialized = keras.saving.serialize_keras_object(value)
        json.dumps(serialized)
    except Exception:
        return described
    return {**described, "kind": "keras", "config": serialized}


def decode_value(node: Any, depth: int = 0) -> Any:
    """`encode_value`'s value back: Keras objects rebuilt in safe mode, others as stand-ins."""
    if not isinstance(node, dict) or depth > _TREE_MAX_DEPTH:
        raise EvidenceError("a recorded value is damaged")
    kind = node.get("kind")
    if kind == "string":
        return field(node, "value", str)
    if kind in ("list", "tuple"):
        items = [decode_value(item, depth + 1) for item in field(node, "items", list)]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        pairs = field(node, "items", list)
        if not all(isinstance(p, list) and len(p) == 2 and isinstance(p[0], str) for p in pairs):
            raise EvidenceError("a recorded dict is damaged")
        return {key: decode_value(item, depth + 1) for key, item in pairs}
    if kind == "keras":
        try:
            return keras.saving.deserialize_keras_object(node.get("config"), safe_mode=True)
        except Exception:
            pass  # a function or class of the learner's own: judged by its type and name
    if kind in ("keras", "other"):
        return stand_in(
            field(node, "type", str),
            field(node, "name", str, optional=True),
            bool(node.get("callable")),
        )
    raise EvidenceError("a recorded value has an unknown kind")


def stand_in(type_name: str, name: str | None = None, is_callable: bool = False) -> Any:
    """An object with the recorded type name (and `__name__`): what a rule reads of the original."""
    if not _TYPE_NAME.fullmatch(type_name):
        type_name = "object"
    namespace: dict[str, Any] = {}
    if is_callable:
        namespace["__call__"] = lambda self, *args, **kwargs: None
    made = type(type_name, (), namespace)()
    if name is not None:
        made.__name__ = name[:200]
    return made


# --- The samples' tree: structure as JSON, arrays in arrays.npz ------------------------------


def encode_tree(
    value: Any, arrays: dict[str, np.ndarray], budget: list[int], depth: int = 0
) -> dict:
    """A yielded sample as JSON; its arrays (tensors too) go into `arrays`, within `budget[0]` bytes.

    An array too large to keep (or of no numeric type) keeps its shape and
    dtype only: the rules read those, and the values only of images.
    """
    if depth > _TREE_MAX_DEPTH:
        return {"kind": "other", "type": type(value).__name__}
    if isinstance(value, dict):
        return {"kind": "dict"}
    if isinstance(value, (list, tuple)):
        return {
            "kind": "tuple" if isinstance(value, tuple) else "list",
            "length": len(value),
            "items": [encode_tree(v, arrays, budget, depth + 1) for v in list(value)[:_TREE_ITEMS]],
        }
    if isinstance(value, (bool, int, float, np.integer, np.floating)):
        number = value.item() if isinstance(value, np.generic) else value
        return {"kind": "number", "value": number}
    array = _as_array(value)
    if array is None:
        return {"kind": "other", "type": type(value).__name__}
    described = {"kind": "array", "shape": list(array.shape), "dtype": array.dtype.str}
    if array.dtype.kind in "biuf" and array.nbytes <= min(
        config.EVIDENCE_MAX_ARRAY_BYTES, budget[0]
    ):
        name = f"a{len(arrays)}"
        arrays[name] = np.array(array, order="C")  # a copy (ascontiguousarray makes 0-d 1-d)
        budget[0] -= array.nbytes
        described["ref"] = name
    return described


def _as_array(value: Any) -> np.ndarray | None:
    """A numpy array or a tensor as a numpy array; None for anything else."""
    if isinstance(value, np.ndarray):
        return value
    try:
        import tensorflow as tf

        if tf.is_tensor(value):
            return np.asarray(value)
    except Exception:
        return None
    return None


def decode_tree(node: Any, arrays: dict[str, np.ndarray], depth: int = 0) -> Any:
    """`encode_tree`'s sample back; arrays kept without values read as zeros of their shape."""
    if not isinstance(node, dict) or depth > _TREE_MAX_DEPTH:
        raise EvidenceError("a recorded sample is damaged")
    kind = node.get("kind")
    if kind == "dict":
        return {}
    if kind in ("list", "tuple"):
        length = field(node, "length", int)
        items = [decode_tree(item, arrays, depth + 1) for item in field(node, "items", list)]
        if not 0 <= length <= _TREE_MAX_LENGTH or len(items) != min(length, _TREE_ITEMS):
            raise EvidenceError("a recorded sample has a wrong length")
        items += [None] * (length - len(items))
        return tuple(items) if kind == "tuple" else items
    if kind == "number":
        return field(node, "value", (int, float, bool))
    if kind == "other":
        return stand_in(field(node, "type", str))
    if kind == "array":
        shape = shape_of(node.get("shape"), "shape")
        if None in shape:
            raise EvidenceError("a recorded array has an unknown size")
        try:
            dtype = np.dtype(field(node, "dtype", str))
            zero = np.zeros((), dtype=dtype)
        except (TypeError, ValueError):
            raise EvidenceError("a recorded array has an unknown dtype") from None
        reference = node.get("ref")
        if reference is None:
            if len(shape) == 4 and shape[0] > _MAX_IMAGES_WITHOUT_VALUES:
                raise EvidenceError("a recorded array holds too many images")
            # Shape and dtype without values: a read-only view of one zero, no memory.
            return np.broadcast_to(zero, shape)
        array = arrays.get(reference) if isinstance(reference, str) else None
        if array is None or tuple(array.shape) != shape or array.dtype != dtype:
            raise EvidenceError("a recorded array does not match its description")
        return array
    raise EvidenceError("a recorded sample has an unknown kind")

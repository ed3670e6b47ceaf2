"""The phase-1 stand-in: what notebook 05 loads in a grading run instead of training phase 1.

Notebook 05 starts from the model notebook 04 trained (`reference.load_phase1`,
else it trains phase 1 itself, about a minute). Grading `check_fine_tuning`
needs that model's structure, not its trained weights, so each grading worker
builds once the course's reference model (ImageNet base, untrained head,
compiled as in phase 1) with an empty history, saves it as
`reference.save_phase1` does, and every notebook's sandbox gets a copy in its
`ALPACA_ARTIFACTS_DIR`. The notebook then loads it in a few seconds. The same
model is saved as notebook 06's fine-tuned model (`reference.save_fine_tuned`):
`check_representative_dataset` reads only how it scales its inputs, and 06
would otherwise train one (minutes) before its exercise.

It is built in a separate Python process, so that a Dask worker never imports
TensorFlow itself, and cached per worker machine in
`$ALPACA_GRADE_CACHE` (default: a folder in the system's temporary directory),
keyed by the build script, the reference code and the weight files, and used
only when it holds every file in `STAND_IN_FILES`; a file lock keeps two
workers on one machine from building it at the same time. Folders of other
keys are left alone (another checkout may be grading with them).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from helpers import config

REFERENCE_SOURCE: Path = config.PROJECT_ROOT / "helpers" / "reference.py"
BUILD_TIMEOUT_S = 600
# What a complete stand-in folder holds (the build script writes them all).
STAND_IN_FILES: tuple[str, ...] = (
    config.PHASE1_MODEL_FILE,
    config.PHASE1_HISTORY_FILE,
    config.FINE_TUNED_MODEL_FILE,
)

_BUILD_SCRIPT = """
import sys
from pathlib import Path
import keras
from helpers import reference
model = reference.alpaca_model()
reference.compile_for_phase1(model)
history = keras.callbacks.History()
history.epoch, history.history = [], {}
reference.save_phase1(model, history, Path(sys.argv[1]))
reference.save_fine_tuned(model, Path(sys.argv[1]))
"""


def cache_root() -> Path:
    """Where this machine keeps grading caches."""
    default = Path(tempfile.gettempdir()) / f"alpaca-grade-cache-{os.getuid()}"
    return Path(os.environ.get(config.ENV_GRADE_CACHE, default))


@functools.lru_cache(maxsize=8)
def _file_digest(path: Path, size: int, mtime_ns: int) -> str:
    """sha256 of a file, remembered while its size and time stay the same."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_key(weights_dir: Path | None) -> str:
    """A digest of what the stand-in depends on: the build script, the reference code, the weights.

    The build script is part of the key because the cache outlives a checkout:
    a stand-in built by older code (one without the fine-tuned model, say)
    must not be reused by newer code.
    """
    digest = hashlib.sha256(_BUILD_SCRIPT.encode())
    digest.update(REFERENCE_SOURCE.read_bytes())
    if weights_dir is not None:
        for name in sorted(config.WEIGHT_FILES.values()):
            path = weights_dir / name
            if path.is_file():
                stat = path.stat()
                digest.update(
                    f"{name}:{_file_digest(path, stat.st_size, stat.st_mtime_ns)}".encode()
                )
    return digest.hexdigest()[:16]


def phase1_stand_in(weights_dir: Path | None) -> Path:
    """The folder holding the stand-in (built now when this machine has none yet).

    Raises RuntimeError with the builder's last lines when it cannot be built
    (no weights, say).
    """
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    folder = root / f"phase1-{_cache_key(weights_dir)}"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if all((folder / name).is_file() for name in STAND_IN_FILES):
            return folder
        shutil.rmtree(folder, ignore_errors=True)  # incomplete: build it again
        staging = Path(tempfile.mkdtemp(prefix="phase1-", dir=root))
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", str(root)),
            "PYTHONPATH": str(config.PROJECT_ROOT),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "CUDA_VISIBLE_DEVICES": "",
        }
        if (
            weights_dir is not None
        ):  # a Keras home of its own, holding the instructor's weight files
            models = staging / "keras-home" / "models"
            models.mkdir(parents=True)
            for name in config.WEIGHT_FILES.values():
                if (weights_dir / name).is_file():
                    shutil.copyfile(weights_dir / name, models / name)
            environment["KERAS_HOME"] = str(models.parent)
        completed = subprocess.run(
            [sys.executable, "-c", _BUILD_SCRIPT, str(staging)],
            env=environment,
            cwd=str(config.PROJECT_ROOT),
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
        )
        if completed.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            tail = " | ".join((completed.stderr or completed.stdout).strip().splitlines()[-3:])
            raise RuntimeError(f"could not build the phase-1 stand-in model: {tail}")
        shutil.rmtree(staging / "keras-home", ignore_errors=True)
        os.replace(staging, folder)  # whole folder at once: a half-built stand-in is never used
    return folder

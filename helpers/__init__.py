"""What the course's notebooks import (everything that is not the lesson itself), and
`setup_notebook()`, the first call of every notebook.

Its modules, one concern each, are listed in CONTRIBUTING.md (the map); none
imports the instructor's tools (`instructor/`). Importing this package is cheap
(no TensorFlow); `setup_notebook()` does the heavy imports when a notebook starts.
"""

from __future__ import annotations

import sys
import warnings

from helpers import colab, setup_errors
from helpers.runtime import native_stderr_silenced, quiet_tensorflow_logs

__version__ = "1.0.0"

# Versions the notebooks' stored outputs were made with (see requirements.txt).
EXPECTED_TENSORFLOW = "2.21"
EXPECTED_KERAS_MAJOR = "3"


def _hide_known_harmless_warnings() -> None:
    """Keras 3.15 warns on every `fit` with a tf.data input that its default
    `shuffle=True` is ignored; our pipelines shuffle themselves, so the
    warning would only teach learners to ignore warnings."""
    warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed", category=UserWarning)


def _warn_if_weights_missing() -> None:
    """Say so before a model loads: offline, Keras' own download would fail with a long traceback."""
    from helpers import config

    missing = [
        name
        for name in config.WEIGHT_FILES.values()
        if not (config.keras_models_dir() / name).is_file()
    ]
    if missing:
        print(
            f"Note: Keras' cache ({config.keras_models_dir()}) lacks {', '.join(missing)}. Keras "
            "downloads them when a model first loads; without a network, run `make data` (or "
            "`python -m helpers.data fetch`) once while online, or copy the cache (README: "
            "Offline and in a classroom).",
            file=sys.stderr,
        )


def _weights_label(provenance: str) -> str:
    """One line: which ImageNet weights this run uses (by checksum), so that stored outputs say
    which weights made them and a learner with other weights knows why their numbers differ."""
    from helpers.data import PROVENANCE_STANDIN

    line = f"ImageNet weights, by checksum: {provenance}"
    if provenance != PROVENANCE_STANDIN:
        line += " (the outputs stored in solutions/ come from the stand-in weights: yours differ)"
    return line


def setup_notebook(deterministic: bool = False) -> None:
    """Check the environment, seed everything once, and check the dataset.

    On Google Colab it first sets the session up (`helpers.colab.prepare()`: pinned
    packages, dataset, weights, one line saying what it did); elsewhere that step is
    skipped. Prints one line per check. Raises a `DataError` (a `SetupError`) with the
    command to run when the dataset is missing, so the first cell fails with a
    clear fix instead of a later cell failing with a traceback. In IPython,
    set-up errors show as that message alone, without the library's frames
    (`helpers.setup_errors`).
    """
    setup_errors.install()
    quiet_tensorflow_logs()
    _hide_known_harmless_warnings()
    if colab.running_on_colab():
        colab.prepare()  # before TensorFlow is imported: it may install the pinned versions
    with native_stderr_silenced():
        import keras
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe prints here, once

    from helpers import config, data

    if not tf.__version__.startswith(EXPECTED_TENSORFLOW) or not keras.__version__.startswith(
        EXPECTED_KERAS_MAJOR
    ):
        print(
            f"Warning: this course was written for TensorFlow {EXPECTED_TENSORFLOW}.x and "
            f"Keras {EXPECTED_KERAS_MAJOR}.x; you have TensorFlow {tf.__version__} and "
            f"Keras {keras.__version__}. Run `make setup` to get the pinned versions.",
            file=sys.stderr,
        )
    keras.utils.set_random_seed(config.SEED)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
    print(f"helpers {__version__}: TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(f"Random seed set to {config.SEED}" + (" (deterministic ops)" if deterministic else ""))
    _warn_if_weights_missing()
    print(_weights_label(data.weights_provenance()))
    dataset_dir = data.require_dataset()
    print(f"Dataset ready: {dataset_dir.name}/ with {config.EXPECTED_TOTAL_IMAGES} images")

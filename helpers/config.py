"""Every constant of the course, in one place.

Notebooks, graders, tests and the benchmark import these names instead of
repeating numbers, so a change here changes the whole course at once.
"""

from __future__ import annotations

import os
from pathlib import Path

# --- The lesson's hyper-parameters (the original assignment's, except where a comment says why) ---
IMG_SIZE: tuple[int, int] = (160, 160)
IMG_SHAPE: tuple[int, int, int] = IMG_SIZE + (3,)
BATCH_SIZE: int = 32
SEED: int = 42
VALIDATION_SPLIT: float = 0.2
BASE_LEARNING_RATE: float = 0.001
FINE_TUNE_LEARNING_RATE: float = 0.1 * BASE_LEARNING_RATE
FINE_TUNE_AT: int = 120
# The original trains the head for 5 epochs, while its validation accuracy is still rising
# (mean of seeds 42-44 with the stand-in weights: 0.87 after 5 epochs, 0.94 after 20; an epoch
# costs about 1.5 s on 2 cores). Fine-tuning should start from a head that has converged.
INITIAL_EPOCHS: int = 20
FINE_TUNE_EPOCHS: int = 5
# Notebook 04's yardstick: a linear classifier on the frozen base's pooled features. Measured
# (seeds 42-44): 0.969-1.000 validation accuracy from 10 epochs on; 20 takes a few seconds.
FEATURE_EPOCHS: int = 20
DROPOUT_RATE: float = 0.2
ROTATION_FACTOR: float = 0.2
# A predicted probability of class 1 ("not alpaca") above this means class 1;
# the same rule as BinaryAccuracy(threshold=0.0) on logits.
DECISION_THRESHOLD: float = 0.5
# Fine-tuning's BatchNorm choice; the graders check it, notebook 05 shows both. False: the
# unfrozen BatchNormalization layers stay trainable, so during fit they run in training mode:
# each batch is normalised with its own mean and variance, and the moving statistics (used at
# validation and prediction) move towards this data's only slowly (MobileNetV2 builds them with
# momentum 0.999: 0.1 % of the way per step). On Keras 3.15 `training=False` at build time does
# not prevent it (keras-team/keras issue 20285; PR #23364, merged, in no release yet, restores
# it). True: they are frozen, so they run in inference mode with ImageNet's statistics.
# Which one the course uses, and the measured difference: benchmarks/results.json.
FREEZE_BATCHNORM_IN_FINE_TUNING: bool = False

# --- Facts about the data and the model, checked by the graders and tests ---
CLASS_NAMES: tuple[str, str] = ("alpaca", "not alpaca")
EXPECTED_CLASS_COUNTS: dict[str, int] = {"alpaca": 142, "not alpaca": 185}
EXPECTED_TOTAL_IMAGES: int = sum(EXPECTED_CLASS_COUNTS.values())
EXPECTED_TRAIN_FILES: int = 262
EXPECTED_VALIDATION_FILES: int = 65
IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".gif")
BASE_MODEL_LAYERS_NO_TOP: int = 154
BASE_MODEL_PARAMS_NO_TOP: int = 2_257_984
BASE_MODEL_LAYERS_WITH_TOP: int = 156
BASE_MODEL_PARAMS_WITH_TOP: int = 3_538_984

# --- Exercises ---
# A solution region in a master notebook: the build replaces what lies between
# these lines with placeholders; the graders tell the learner to fill it in.
START_MARKER: str = "### START CODE HERE"
END_MARKER: str = "### END CODE HERE"
# The header comment of an exercise cell: `# GRADED FUNCTION: data_augmenter`.
GRADED_FUNCTION_MARKER: str = "# GRADED FUNCTION:"

# --- Graders ---
# How long a grader waits for a learner's function (e.g. alpaca_model) before giving up.
GRADER_TIME_LIMIT_S: float = 60.0

# --- Instructors' grading runs (python -m instructor.grade) ---
# Cells with this tag only train, evaluate, measure or draw: a grading run skips them.
GRADE_SKIP_TAG: str = "skip-when-grading"
GRADE_NOTEBOOK_TIMEOUT_S: float = 300.0  # wall clock per notebook, kernel start included
GRADE_MEMORY_LIMIT_MB: int = 3072  # resident memory of one notebook's kernel (and its children)
GRADE_MAX_NOTEBOOK_BYTES: int = 50 * 1024**2  # a larger file is not graded
GRADE_MAX_ZIP_BYTES: int = 2 * 1024**3  # uncompressed total of a submissions .zip

# --- Where things live (paths relative to the repository, never absolute) ---
PROJECT_ROOT: Path = Path(__file__).resolve().parent.parent
DATASET_DIR: Path = PROJECT_ROOT / "dataset"
MANIFEST_DIR: Path = Path(__file__).resolve().parent / "manifests"
DATASET_MANIFEST: Path = MANIFEST_DIR / "alpaca.sha256"

# --- Environment variables the data tools read (documented in README) ---
ENV_DATASET_SOURCE = "ALPACA_DATASET_SOURCE"  # a local folder holding the images
ENV_DATASET_URL = "ALPACA_DATASET_URL"  # an HTTPS archive (.zip / .tar.gz) to download
ENV_WEIGHTS_SOURCE = "ALPACA_WEIGHTS_SOURCE"  # a local folder holding the Keras weight files
ENV_WEIGHTS_BASE_URL = "ALPACA_WEIGHTS_BASE_URL"  # where the weight files are downloaded from
ENV_PROGRESS_FILE = "ALPACA_PROGRESS_FILE"  # where graders record passed exercises
ENV_ARTIFACTS_DIR = "ALPACA_ARTIFACTS_DIR"  # where notebook 04 saves the model for 05
ENV_WIDGETS_MODE = "ALPACA_WIDGETS"  # explorers: "interactive", "static" or "auto" (detect)
ENV_VERDICTS_FILE = (
    "ALPACA_VERDICTS_FILE"  # graders append one JSON line per check here (grading runs)
)
ENV_GRADE_CACHE = "ALPACA_GRADE_CACHE"  # where a grading worker keeps the phase-1 stand-in model

# What notebooks save for later ones (git-ignored); tests point it at empty folders.
ARTIFACTS_DIR: Path = Path(os.environ.get(ENV_ARTIFACTS_DIR, PROJECT_ROOT / "artifacts"))
PHASE1_MODEL_FILE: str = "alpaca_phase1.keras"  # notebook 04's model, loaded by 05
PHASE1_HISTORY_FILE: str = "alpaca_phase1_history.json"  # its training history, plotted in 05
FINE_TUNED_MODEL_FILE: str = "alpaca_fine_tuned.keras"  # notebook 05's model, exported by 06

# --- Downloads (the real ones; tests point the URLs at a local server) ---
KAGGLE_DATASET: str = "sid4sal/alpaca-dataset-small"
KERAS_WEIGHTS_BASE_URL: str = (
    "https://storage.googleapis.com/tensorflow/keras-applications/mobilenet_v2/"
)
CLASS_INDEX_URL: str = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
CLASS_INDEX_FILE: str = "imagenet_class_index.json"
# The md5 Keras itself checks for the class index (keras.applications.imagenet_utils).
CLASS_INDEX_MD5: str = "c2c37ea517e94d9795004a39431a14cb"
# Keras' names for MobileNetV2 (alpha 1.0) ImageNet weights: one file per input size,
# with and without the classifier on top (helpers.model_facts.weight_file_name).
WEIGHT_FILE_PATTERN: str = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{rows}{suffix}.h5"
# The two files the course uses, for its image size.
WEIGHT_FILES: dict[str, str] = {
    "with_top": WEIGHT_FILE_PATTERN.format(rows=IMG_SIZE[0], suffix=""),
    "no_top": WEIGHT_FILE_PATTERN.format(rows=IMG_SIZE[0], suffix="_no_top"),
}
# Everything `python -m helpers.data fetch` puts into Keras' cache (and the tests copy).
KERAS_CACHE_FILES: tuple[str, ...] = (*WEIGHT_FILES.values(), CLASS_INDEX_FILE)


def progress_file() -> Path:
    """Where the graders keep the learner's progress (git-ignored)."""
    return Path(os.environ.get(ENV_PROGRESS_FILE, PROJECT_ROOT / ".progress.json"))


def relative_to_project(path: Path) -> str:
    """`path` relative to the repository when it lies inside it (as notebooks print it), else absolute."""
    resolved = Path(path).resolve()
    try:
        return resolved.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return resolved.as_posix()


def keras_models_dir() -> Path:
    """Keras' weight cache: `$KERAS_HOME/models`, or `~/.keras/models` by default."""
    keras_home = os.environ.get("KERAS_HOME", str(Path.home() / ".keras"))
    return Path(keras_home) / "models"


# --- Notebook 06: LiteRT export, quantization and the learner's own photo ---
# Training images the int8 converter runs through the model to measure the range
# of every activation. The post-training quantization guide suggests 100 to 500;
# 100 of the 262 cover both classes and keep the conversion to seconds on 2 cores.
REPRESENTATIVE_SAMPLES: int = 100
# The grader's own calibration images (a few small batches, so it stays well under a second).
GRADER_CALIBRATION_IMAGES: int = 12
GRADER_CALIBRATION_BATCH: int = 4
GRADER_CALIBRATION_COUNT: int = 5
# Latency per image: calls made and thrown away first (memory, caches), then the
# calls whose median is reported. One thread, like the MobileNetV2 paper's table
# (one large core of a phone).
LATENCY_WARMUP_CALLS: int = 5
LATENCY_TIMED_CALLS: int = 30
LITERT_THREADS: int = 1
LITERT_DIR_NAME: str = "litert"  # under ARTIFACTS_DIR; the .tflite files are git-ignored
# Photos the learner uploads: larger files are refused before decoding; larger
# images are decoded at a reduced scale first (JPEG draft mode), then resized.
MAX_UPLOAD_BYTES: int = 50 * 2**20
MAX_PHOTO_PIXELS: int = 120_000_000

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
# (stand-in weights; cross-validated with the original's rotation: 0.820 after 5 epochs, 0.896
# after 20, 0.905 after 30; the benchmark's run on the notebooks' split: 0.846 after 5, 0.969
# after 20; benchmarks/README.md). An epoch costs under 2 s on 2 cores. Fine-tuning should start
# from a head that has converged.
INITIAL_EPOCHS: int = 20
FINE_TUNE_EPOCHS: int = 5
# Notebook 04's yardstick: a linear classifier on the frozen base's pooled features. Measured
# on the notebooks' split (seeds 42-44): 0.969-1.000 from 10 epochs on; cross-validated over all
# 327 images: 0.920 after 20 epochs, 0.933 after 100 (benchmarks/README.md). 20 takes seconds.
FEATURE_EPOCHS: int = 20
DROPOUT_RATE: float = 0.2
# The original rotates by up to 0.2 of a turn (±72°). Cross-validated over all 327 images
# (stand-in weights; benchmarks/README.md, "What was tried"), that cost the head about four
# points of accuracy against 0.05 (±18°) or no rotation at all.
ROTATION_FACTOR: float = 0.05
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
# Every grader is `graders.check_<exercise>` (`graders.check_datasets`); a notebook's grader
# cell calls it. See is_grader_cell() and grader_call() below.
GRADER_PREFIX: str = "check_"

# --- Graders ---
# How long a grader waits for a learner's function (e.g. alpaca_model) before giving up.
GRADER_TIME_LIMIT_S: float = 60.0

# --- Evidence: what a check records in a grading run (helpers/evidence.py), bounded ---
EVIDENCE_MAX_JSON_BYTES: int = 8 * 2**20  # facts.json, model.json (MobileNetV2's is ~160 KB)
EVIDENCE_MAX_MODEL_BYTES: int = 64 * 2**20  # model.keras (the course's model is ~10 MB)
EVIDENCE_MAX_UNPACKED_BYTES: int = 128 * 2**20  # a .keras or .npz archive, unpacked
EVIDENCE_MAX_ARRAY_BYTES: int = 32 * 2**20  # one sample array kept with its values (~100 images)
EVIDENCE_MAX_SAMPLES_BYTES: int = 64 * 2**20  # all sample arrays kept with their values
EVIDENCE_MAX_MODEL_PARAMS: int = 16_000_000  # larger models are not saved (the course's: 2.26 M)
EVIDENCE_MAX_MESSAGE_CHARS: int = 2000  # one message of a check that ended early
# A notebook's whole evidence folder, as a grading run copies it out of the dead kernel.
EVIDENCE_MAX_TOTAL_BYTES: int = 200 * 2**20
# How long the judge may take for one learner's evidence, and to start (TensorFlow's import).
GRADE_JUDGE_TIMEOUT_S: float = 120.0
GRADE_JUDGE_START_TIMEOUT_S: float = 180.0

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
SOLUTIONS_DIR: Path = PROJECT_ROOT / "solutions"  # the masters, with the outputs of a real run
NOTEBOOKS_DIR: Path = PROJECT_ROOT / "notebooks"  # the learner copies, generated from the masters
# The course's notebooks in either folder: `NN_topic.ipynb` (see course_notebooks()).
NOTEBOOK_GLOB: str = "[0-9][0-9]_*.ipynb"
# The kernel every notebook asks for: `python3`, the environment it was started from.
NOTEBOOK_KERNELSPEC: dict[str, str] = {
    "display_name": "Python 3 (ipykernel)",
    "language": "python",
    "name": "python3",
}

# --- Environment variables the data tools read (documented in README) ---
ENV_DATASET_SOURCE = "ALPACA_DATASET_SOURCE"  # a local folder holding the images
ENV_DATASET_URL = "ALPACA_DATASET_URL"  # an HTTPS archive (.zip / .tar.gz) to download
ENV_WEIGHTS_SOURCE = "ALPACA_WEIGHTS_SOURCE"  # a local folder holding the Keras weight files
ENV_WEIGHTS_BASE_URL = "ALPACA_WEIGHTS_BASE_URL"  # where the weight files are downloaded from
ENV_PROGRESS_FILE = "ALPACA_PROGRESS_FILE"  # where graders record passed exercises
ENV_ARTIFACTS_DIR = "ALPACA_ARTIFACTS_DIR"  # where notebook 04 saves the model for 05
ENV_WIDGETS_MODE = "ALPACA_WIDGETS"  # explorers: "interactive", "static" or "auto" (detect)
# A grading run sets this for each kernel: checks write their evidence there and judge nothing
# (instructor.grade.judge judges it outside the kernel; helpers/evidence.py has the format).
ENV_EVIDENCE_DIR = "ALPACA_EVIDENCE_DIR"
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


def course_notebooks(folder: Path = SOLUTIONS_DIR) -> list[Path]:
    """The course's notebooks (`NN_topic.ipynb`) in `folder`, in course order."""
    return sorted(Path(folder).glob(NOTEBOOK_GLOB))


def grader_call(exercise: str) -> str:
    """How a notebook calls the grader of `exercise`: `graders.check_datasets` for "datasets"."""
    return f"graders.{GRADER_PREFIX}{exercise}"


def is_grader_cell(source: str) -> bool:
    """Whether a code cell's source may call a grader: it names a `check_` function.

    Loose on purpose: a learner may call a grader through a name of their own
    (`from helpers.graders import check_datasets as check`), and a cell that
    may give a verdict must never be skipped by a grading run.
    """
    return GRADER_PREFIX in source


def is_graded_function_cell(source: str) -> bool:
    """Whether a code cell holds an exercise's answer (its `# GRADED FUNCTION: name` header)."""
    return GRADED_FUNCTION_MARKER in source


def keras_models_dir() -> Path:
    """Keras' weight cache: `$KERAS_HOME/models`, or `~/.keras/models` by default."""
    keras_home = os.environ.get("KERAS_HOME", str(Path.home() / ".keras"))
    return Path(keras_home) / "models"


# --- Notebooks 05 and 06: Grad-CAM (helpers/gradcam.py) ---
# The activation Grad-CAM reads: MobileNetV2's last convolutional block (5 x 5 cells at 160 px).
GRADCAM_LAYER: str = "out_relu"
# Images per forward and backward pass (memory stays near 200 MB at 160 px).
GRADCAM_BATCH_SIZE: int = 32
# The randomisation sanity check (Adebayo et al., 2018) re-initialises the base from each of
# these layers to its top, one step after the other, on a copy of the model.
GRADCAM_RANDOMISE_FROM: tuple[str, ...] = ("Conv_1", "block_16_expand", "block_14_expand")
# It passes when the median rank correlation with the trained model's maps falls below this.
GRADCAM_SANITY_MAX_CORRELATION: float = 0.5
# Images the notebooks' sanity check uses (each step recomputes their maps).
GRADCAM_SANITY_IMAGES: int = 16

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

# --- Run in Colab (README: "Run in Colab"; helpers/colab.py, instructor/colab.py) ---
# The course's public GitHub address and the git ref (branch or tag) its Colab links open.
# When COLAB_REPOSITORY is set, `python -m instructor.build` puts an "Open in Colab" badge and a
# Colab set-up cell into every learner copy; empty means no badges (no placeholder links). Both
# lines are committed, so every clone of a commit builds the same copies; set them with
# `python -m instructor.colab --from-remote` (from this clone's GitHub remote) or `--repository URL`.
COLAB_REPOSITORY: str = ""
COLAB_REF: str = "main"
# Ids of the two cells the build adds to learner copies (found again by them, never by position).
COLAB_BADGE_CELL_ID: str = "colab-badge"
COLAB_SETUP_CELL_ID: str = "colab-setup"
# Where Colab keeps a session's files; the course is cloned into a folder of that name there.
COLAB_HOME: str = "/content"
ENV_COLAB_HOME = "ALPACA_COLAB_HOME"  # another folder than /content (tests)
ENV_COURSE_GIT_URL = "ALPACA_COURSE_GIT_URL"  # clone the course from here (a mirror, tests)
# The learner's pinned packages, read on Colab at run time to install what Colab lacks.
REQUIREMENTS_FILE: Path = PROJECT_ROOT / "requirements.txt"
# Colab's kernel and front end are its own (its kernel subclasses ipykernel's): replacing these
# packages could break the session, and Colab does not run JupyterLab. Never installed there.
COLAB_KEEPS: tuple[str, ...] = ("ipykernel", "jupyterlab")

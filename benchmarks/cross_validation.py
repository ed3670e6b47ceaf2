"""Stratified k-fold cross-validation of the course's recipe over all 327 images, one seed.

    python -m benchmarks.cross_validation --seed 42 --folds 5 --out cv.json
    python -m benchmarks.cross_validation --seed 0 --recipe sweep.json --out cv.json

Every image is held out once: the images are dealt to `--folds` folds,
stratified by class (`cv_stats.stratified_folds`, the deal depends on the
seed), and for each fold the course's own code trains on the other folds:
`keras.utils.image_dataset_from_directory` on a folder of links to the
fold's files (the course's decoding and resizing), `reference.optimize_for_training`
(cache, shuffle, prefetch), `reference.alpaca_model` with the augmenter,
`reference.compile_for_phase1`, `reference.prepare_continuation`. The JSON
holds every arm's logit for every held-out image (`arms`), so the parent
can compute accuracies, intervals and paired differences over images
(benchmarks/cv_stats.py).

Arms (names in `ARM_*`; a recipe may ask for each at several epoch counts,
then the name gets `@epochs`):

majority            the training folds' more frequent class, for every image
probe               a linear classifier on the frozen base's pooled features
                    (notebook 04's yardstick): features computed once per
                    image, no augmentation, no dropout
head_no_aug         the course's head (dropout + one logit) trained on the same
                    cached features: with the base frozen and no augmentation
                    this is the course's phase-1 model without its augmenter
head                the course's phase-1 model (augmentation in the model)
<continuation>      from the same phase-1 weights: the control (head only),
                    fine-tuning with BatchNorm adapting or frozen
scratch             the same network with `weights=None`, every layer trained

The recipe (`--recipe FILE`, a JSON object; missing keys take the course's
values from helpers.config) is how the sweep (benchmarks/cv_sweep.py) tries
other values without editing config.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import cv_stats

ARM_MAJORITY = "majority"
ARM_PROBE = "probe"
ARM_HEAD_NO_AUG = "head_no_aug"
ARM_HEAD = "head"
ARM_SCRATCH = "scratch"
# Continuations of the course's phase-1 model (names of helpers.reference.CONTINUATIONS).
ARM_CONTROL = "control"
ARM_BN_ADAPTING = "bn_adapting"
ARM_BN_FROZEN = "bn_frozen"


def course_recipe() -> dict[str, Any]:
    """The course's recipe (helpers.config) and the benchmark's arms."""
    from helpers import config

    fine_tune = {
        "from_epoch": config.INITIAL_EPOCHS,
        "epochs": config.FINE_TUNE_EPOCHS,
        "learning_rate": config.FINE_TUNE_LEARNING_RATE,
        "fine_tune_at": config.FINE_TUNE_AT,
    }
    return {
        "rotation": config.ROTATION_FACTOR,
        "flip": True,
        "augment": True,
        "phase1_epochs": config.INITIAL_EPOCHS,
        "phase1_eval_epochs": [config.INITIAL_EPOCHS],
        "continuations": [
            {"name": ARM_CONTROL, "train": "head", **fine_tune},
            {"name": ARM_BN_ADAPTING, "train": "fine_tune", "freeze_batchnorm": False, **fine_tune},
            {"name": ARM_BN_FROZEN, "train": "fine_tune", "freeze_batchnorm": True, **fine_tune},
        ],
        "probe_epochs": [config.FEATURE_EPOCHS],
        "head_no_aug_epochs": [config.INITIAL_EPOCHS],
        "majority": True,
        "scratch_epochs": [],
        "scratch_folds": [],
    }


# What --scratch-only switches off: every arm but the scratch baseline.
SCRATCH_ONLY: dict[str, Any] = {
    "phase1_eval_epochs": [],
    "continuations": [],
    "probe_epochs": [],
    "head_no_aug_epochs": [],
    "majority": False,
}


def arm_name(name: str, epochs: int, eval_epochs: Sequence[int]) -> str:
    """`name` when an arm is read at one epoch count, `name@epochs` when at several."""
    return name if len(eval_epochs) == 1 else f"{name}@{epochs}"


def list_images(directory: Path) -> tuple[list[str], list[int], list[str]]:
    """Image ids (`class/file`), labels and class names, in the order Keras lists them."""
    import keras

    from helpers import config

    dataset = keras.utils.image_dataset_from_directory(
        str(directory), shuffle=False, batch_size=config.BATCH_SIZE, image_size=config.IMG_SIZE
    )
    ids = [Path(path).relative_to(directory).as_posix() for path in dataset.file_paths]
    labels = [dataset.class_names.index(image.split("/")[0]) for image in ids]
    return ids, labels, list(dataset.class_names)


def linked_folder(directory: Path, images: Sequence[str], target: Path) -> Path:
    """A folder of links to `images` (ids relative to `directory`), laid out by class."""
    for image in images:
        link = target / image
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(directory / image, link)
    return target


def fold_datasets(
    directory: Path,
    train_images: Sequence[str],
    heldout_images: Sequence[str],
    seed: int,
    scratch: Path,
) -> tuple[Any, Any, list[str]]:
    """A fold's training and held-out datasets, built as the course builds its own.

    Returns the two datasets (after `reference.optimize_for_training`) and the
    held-out image ids in the order the held-out dataset yields them.
    """
    import keras

    from helpers import config, reference

    common = dict(batch_size=config.BATCH_SIZE, image_size=config.IMG_SIZE, verbose=False)
    train_dir = linked_folder(directory, train_images, scratch / "train")
    heldout_dir = linked_folder(directory, heldout_images, scratch / "heldout")
    train = keras.utils.image_dataset_from_directory(
        str(train_dir), shuffle=True, seed=seed, **common
    )
    heldout = keras.utils.image_dataset_from_directory(str(heldout_dir), shuffle=False, **common)
    heldout_ids = [Path(path).relative_to(heldout_dir).as_posix() for path in heldout.file_paths]
    return (
        reference.optimize_for_training(train, shuffle=True),
        reference.optimize_for_training(heldout, shuffle=False),
        heldout_ids,
    )


# One inference function per model, traced once: `predict_on_batch` is traced again after every
# compile (one per continuation), twice each (full and last batch), which cost about 6 s per
# read-out on 2 cores, a quarter of a fold's time in the benchmark.
_INFERENCE: dict[int, Any] = {}
_INFERENCE_CHECKED: list[bool] = []


def _inference(model: Any) -> Any:
    """`model(images, training=False)` as one traced function; it reads the current weights."""
    import tensorflow as tf

    from helpers import config

    if id(model) not in _INFERENCE:
        _INFERENCE[id(model)] = tf.function(
            lambda images: model(images, training=False),
            input_signature=[tf.TensorSpec((None, *config.IMG_SHAPE), tf.float32)],
        )
    return _INFERENCE[id(model)]


def heldout_logits(model: Any, heldout: Any, heldout_ids: Sequence[str]) -> dict[str, float]:
    """The model's logit for every held-out image (inference mode, as `predict` computes it)."""
    import numpy as np

    first_use = not _INFERENCE_CHECKED
    infer = _inference(model)
    logits = [np.asarray(infer(images)).reshape(-1) for images, _ in heldout]
    if first_use:  # once per process: the traced function must give what `predict` gives
        _INFERENCE_CHECKED.append(True)
        images, _ = next(iter(heldout))
        expected = np.asarray(model.predict_on_batch(images)).reshape(-1)
        gap = float(np.max(np.abs(expected - logits[0])))
        if gap > 1e-4:
            raise RuntimeError(f"the inference function differs from predict by {gap}")
    return dict(zip(heldout_ids, (float(x) for x in np.concatenate(logits)), strict=True))


def augmenter(recipe: dict[str, Any]) -> Any:
    """The recipe's augmentation layers; the course's `reference.data_augmenter` when it matches."""
    import keras
    from keras import layers

    from helpers import config, reference

    if not recipe["augment"]:
        return layers.Identity(name="data_augmentation")  # an empty Sequential cannot be built
    if recipe["flip"] and recipe["rotation"] == config.ROTATION_FACTOR:
        return reference.data_augmenter()
    steps = [layers.RandomFlip("horizontal")] if recipe["flip"] else []
    if recipe["rotation"]:
        steps.append(layers.RandomRotation(recipe["rotation"]))
    return keras.Sequential(steps, name="data_augmentation")


def _fit_to(model: Any, train: Any, done: int, target: int) -> int:
    """Train from epoch `done` to epoch `target` (no validation: held-out images are read after)."""
    if target > done:
        model.fit(train, epochs=target, initial_epoch=done, verbose=0)
    return max(done, target)


def _feature_head(n_features: int, dropout: bool) -> Any:
    """A classifier on pooled features: the course's head (dropout + one logit) or a linear probe."""
    import keras
    from keras import layers

    from helpers import config, reference

    stack = [keras.Input(shape=(n_features,))]
    stack += [layers.Dropout(config.DROPOUT_RATE)] if dropout else []
    classifier = keras.Sequential([*stack, layers.Dense(1)])
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.BASE_LEARNING_RATE),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[reference.logit_accuracy()],
    )
    return classifier


def _train_phase1(
    recipe: dict[str, Any],
    train: Any,
    heldout: Any,
    heldout_ids: list[str],
    arms: dict,
    cached: tuple[Any, Any, Any] | None = None,
) -> tuple[Any, dict[int, list[Any]]]:
    """The course's phase 1; logits at the recipe's epochs; weights where continuations start.

    Without augmentation, and with `cached` = (training features, their labels,
    held-out features in the order of `heldout_ids`), the
    head trains on the cached pooled features instead of running the frozen
    base on every image every epoch: with the base frozen (inference mode) and
    no augmentation the model computes the same function, so only the order of
    the random draws differs. Its weights go into the course's model, which
    then gives the held-out logits and the continuations' starting point.
    """
    import numpy as np

    from helpers import config, reference

    model = reference.alpaca_model(config.IMG_SIZE, augmenter(recipe))
    reference.compile_for_phase1(model)
    on_features = cached is not None and not recipe["augment"]
    head = _feature_head(cached[0].shape[1], dropout=True) if on_features else None
    starts = {int(c["from_epoch"]) for c in recipe["continuations"]}
    eval_epochs = sorted(int(e) for e in recipe["phase1_eval_epochs"])
    snapshots, done = {}, 0
    for epoch in sorted(starts | set(eval_epochs)):
        if head is not None:
            if epoch > done:
                head.fit(
                    *cached[:2],
                    epochs=epoch,
                    initial_epoch=done,
                    batch_size=config.BATCH_SIZE,
                    verbose=0,
                )
                done = epoch
            model.layers[-1].set_weights(head.layers[-1].get_weights())
        else:
            done = _fit_to(model, train, done, epoch)
        if epoch in eval_epochs:
            name = arm_name(ARM_HEAD, epoch, eval_epochs)
            arms[name] = heldout_logits(model, heldout, heldout_ids)
            if head is not None:  # the same function, or the shortcut is wrong
                from_features = np.asarray(head.predict_on_batch(cached[2])).reshape(-1)
                gap = np.max(np.abs(from_features - np.array(list(arms[name].values()))))
                if gap > 1e-3:
                    raise RuntimeError(f"head on cached features differs from the model by {gap}")
        if epoch in starts:
            snapshots[epoch] = model.get_weights()
    return model, snapshots


def _continue(
    model: Any,
    continuation: dict[str, Any],
    weights: list[Any],
    train: Any,
    heldout: Any,
    heldout_ids: list[str],
    arms: dict,
) -> None:
    """One continuation from phase-1 weights: head only, or fine-tuning from `fine_tune_at`."""
    from helpers import reference

    model.set_weights(weights)
    if continuation["train"] == "head":
        reference.prepare_continuation(model, reference.HEAD_ONLY)
    else:
        reference.unfreeze_for_fine_tuning(
            model,
            int(continuation["fine_tune_at"]),
            freeze_batchnorm=bool(continuation["freeze_batchnorm"]),
        )
        # The optimizer's rate is a variable the compiled step reads: a sweep's rate without
        # a second compile.
        model.optimizer.learning_rate.assign(float(continuation["learning_rate"]))
    _check_trainable(model, continuation)
    eval_epochs = sorted(int(e) for e in continuation.get("eval_epochs", [continuation["epochs"]]))
    start = int(continuation["from_epoch"])
    done = start
    for epochs in eval_epochs:
        done = _fit_to(model, train, done, start + epochs)
        name = arm_name(continuation["name"], epochs, eval_epochs)
        arms[name] = heldout_logits(model, heldout, heldout_ids)


def _check_trainable(model: Any, continuation: dict[str, Any]) -> None:
    """Refuse to train a continuation whose base layers are not set up as it says."""
    from keras import layers

    from helpers import reference

    for index, layer in enumerate(reference.find_base_model(model).layers):
        if continuation["train"] == "head":
            expected = False
        else:
            is_norm = isinstance(layer, layers.BatchNormalization)
            expected = index >= int(continuation["fine_tune_at"]) and not (
                is_norm and continuation["freeze_batchnorm"]
            )
        if layer.trainable != expected:
            raise RuntimeError(
                f"{continuation['name']}: base layer {index} ({layer.name}) has "
                f"trainable={layer.trainable}, expected {expected}"
            )


def _feature_arms(
    recipe: dict[str, Any],
    features: Any,
    labels: Any,
    train_rows: list[int],
    heldout_rows: list[int],
    heldout_ids: list[str],
    arms: dict,
) -> None:
    """The linear probe and the course's head on cached pooled features (notebook 04's way)."""
    import numpy as np

    from helpers import config

    def train_and_read(name: str, dropout: bool, eval_epochs: Sequence[int]) -> None:
        classifier = _feature_head(features.shape[1], dropout)
        done = 0
        for epochs in sorted(eval_epochs):
            classifier.fit(
                features[train_rows],
                labels[train_rows],
                epochs=epochs,
                initial_epoch=done,
                batch_size=config.BATCH_SIZE,
                verbose=0,
            )
            done = epochs
            logits = np.asarray(classifier.predict_on_batch(features[heldout_rows])).reshape(-1)
            arms[arm_name(name, epochs, eval_epochs)] = dict(
                zip(heldout_ids, (float(x) for x in logits), strict=True)
            )

    if recipe["probe_epochs"]:
        train_and_read(ARM_PROBE, False, recipe["probe_epochs"])
    if recipe["head_no_aug_epochs"]:
        train_and_read(ARM_HEAD_NO_AUG, True, recipe["head_no_aug_epochs"])


def _scratch(
    recipe: dict[str, Any], train: Any, heldout: Any, heldout_ids: list[str], arms: dict
) -> None:
    """The same network from random weights (`weights=None`), every layer trained."""
    from helpers import config, reference

    model = reference.alpaca_model(config.IMG_SIZE, augmenter(recipe), weights=None)
    reference.find_base_model(model).trainable = True
    reference.compile_for_phase1(model)
    eval_epochs = sorted(int(e) for e in recipe["scratch_epochs"])
    done = 0
    for epochs in eval_epochs:
        done = _fit_to(model, train, done, epochs)
        arms[arm_name(ARM_SCRATCH, epochs, eval_epochs)] = heldout_logits(
            model, heldout, heldout_ids
        )


def pooled_features_by_image(directory: Path) -> tuple[Any, list[str]]:
    """Every image's pooled features from the frozen base (one pass, no augmentation)."""
    import keras

    from helpers import config, reference

    dataset = keras.utils.image_dataset_from_directory(
        str(directory),
        shuffle=False,
        batch_size=config.BATCH_SIZE,
        image_size=config.IMG_SIZE,
        verbose=False,
    )
    base_model = keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=False, weights="imagenet"
    )
    base_model.trainable = False
    features, _ = reference.pooled_features(base_model, dataset)
    ids = [Path(path).relative_to(directory).as_posix() for path in dataset.file_paths]
    return features, ids


def _say(message: str) -> None:
    print(f"[cv {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(
    seed: int, n_folds: int, recipe: dict[str, Any], only_folds: Sequence[int] | None = None
) -> dict[str, Any]:
    """Cross-validate `recipe` with one seed: held-out logits of every arm, per image."""
    import helpers

    helpers.setup_notebook()
    import keras
    import numpy as np
    import tensorflow as tf

    # Each fold's held-out set ends in a smaller batch: one more trace per model, which
    # TensorFlow reports as a warning that says nothing here.
    tf.get_logger().setLevel("ERROR")

    from helpers import config

    directory = config.DATASET_DIR
    ids, labels, class_names = list_images(directory)
    fold_of = cv_stats.stratified_folds(labels, n_folds, seed)
    folds = list(range(n_folds)) if only_folds is None else sorted(only_folds)
    label_array = np.asarray(labels, dtype="float32")
    arms: dict[str, dict[str, float]] = {}
    seconds: dict[str, list[float]] = {}

    def timed(part: str, started: float) -> None:
        seconds.setdefault(part, []).append(time.perf_counter() - started)

    features = None
    if recipe["probe_epochs"] or recipe["head_no_aug_epochs"] or not recipe["augment"]:
        started = time.perf_counter()
        features, feature_ids = pooled_features_by_image(directory)
        if feature_ids != ids:
            raise RuntimeError("the feature pass listed the images in another order")
        timed("features", started)

    for fold in folds:
        _INFERENCE.clear()
        keras.backend.clear_session()
        keras.utils.set_random_seed(seed * 100 + fold)
        train_rows = [i for i, f in enumerate(fold_of) if f != fold]
        heldout_rows = [i for i, f in enumerate(fold_of) if f == fold]
        fold_arms: dict[str, dict[str, float]] = {}
        with tempfile.TemporaryDirectory(prefix="alpaca-cv-") as scratch:
            train, heldout, heldout_ids = fold_datasets(
                directory,
                [ids[i] for i in train_rows],
                [ids[i] for i in heldout_rows],
                seed,
                Path(scratch),
            )
            if sorted(heldout_ids) != sorted(ids[i] for i in heldout_rows):
                raise RuntimeError(f"fold {fold}: the held-out dataset lost or gained images")
            heldout_by_row = [ids.index(image) for image in heldout_ids]
            if recipe["majority"]:
                majority = int(label_array[train_rows].mean() > 0.5)
                fold_arms[ARM_MAJORITY] = {
                    image: 1.0 if majority else -1.0 for image in heldout_ids
                }
            if features is not None:
                started = time.perf_counter()
                _feature_arms(
                    recipe,
                    features,
                    label_array,
                    train_rows,
                    heldout_by_row,
                    heldout_ids,
                    fold_arms,
                )
                timed("feature_arms", started)
            model, snapshots = None, {}
            if recipe["phase1_eval_epochs"] or recipe["continuations"]:
                started = time.perf_counter()
                cached = None
                if features is not None:
                    cached = (
                        features[train_rows],
                        label_array[train_rows],
                        features[heldout_by_row],
                    )
                model, snapshots = _train_phase1(
                    recipe, train, heldout, heldout_ids, fold_arms, cached
                )
                timed("phase1", started)
            for continuation in recipe["continuations"]:
                started = time.perf_counter()
                _continue(
                    model,
                    continuation,
                    snapshots[int(continuation["from_epoch"])],
                    train,
                    heldout,
                    heldout_ids,
                    fold_arms,
                )
                timed(continuation["name"], started)
            if recipe["scratch_epochs"] and fold in recipe["scratch_folds"]:
                del model
                keras.backend.clear_session()
                started = time.perf_counter()
                _scratch(recipe, train, heldout, heldout_ids, fold_arms)
                timed(ARM_SCRATCH, started)
        for name, logits in fold_arms.items():
            arms.setdefault(name, {}).update(logits)
        accuracies = {
            name: statistics_mean_correct(logits, dict(zip(ids, labels)))
            for name, logits in fold_arms.items()
        }
        _say(
            f"seed {seed} fold {fold}: " + ", ".join(f"{k} {v:.3f}" for k, v in accuracies.items())
        )
    return {
        "seed": seed,
        "folds": n_folds,
        "folds_run": folds,
        "recipe": recipe,
        "class_names": class_names,
        "images": ids,
        "labels": labels,
        "fold_of": fold_of,
        "arms": arms,
        "seconds": seconds,
    }


def statistics_mean_correct(logits: dict[str, float], labels: dict[str, int]) -> float:
    """The fraction of `logits` on the right side of 0."""
    right = cv_stats.correctness(logits, labels)
    return sum(right.values()) / len(right)


def shortened(
    recipe: dict[str, Any], phase1_epochs: int | None, fine_tune_epochs: int | None
) -> dict[str, Any]:
    """The recipe with fewer epochs (the benchmark's --quick smoke test); every arm read once."""
    recipe = dict(recipe)
    if phase1_epochs is not None:
        recipe["phase1_epochs"] = phase1_epochs
        recipe["phase1_eval_epochs"] = [phase1_epochs]
        recipe["probe_epochs"] = [phase1_epochs] if recipe["probe_epochs"] else []
        recipe["head_no_aug_epochs"] = [phase1_epochs] if recipe["head_no_aug_epochs"] else []
    continuations = []
    for continuation in recipe["continuations"]:
        continuation = dict(continuation)
        if phase1_epochs is not None:
            continuation["from_epoch"] = phase1_epochs
        if fine_tune_epochs is not None:
            continuation["epochs"] = fine_tune_epochs
            continuation.pop("eval_epochs", None)
        continuations.append(continuation)
    recipe["continuations"] = continuations
    return recipe


def _folds(text: str | None) -> list[int] | None:
    """`--only-folds 0,2` as [0, 2]; None for all folds."""
    return [int(fold) for fold in text.split(",")] if text else None


def main(argv: list[str] | None = None) -> int:
    """Command line: one seed's cross-validation, its JSON written to --out."""
    import json

    from benchmarks.child import out_argument, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--only-folds", help="comma-separated folds to run (default: all)")
    parser.add_argument(
        "--recipe", type=Path, help="JSON: values that differ from the course's recipe"
    )
    parser.add_argument("--phase1-epochs", type=int, help="fewer epochs (smoke test)")
    parser.add_argument("--fine-tune-epochs", type=int, help="fewer epochs (smoke test)")
    parser.add_argument(
        "--scratch-epochs", type=int, default=0, help="train the weights=None baseline this long"
    )
    parser.add_argument("--scratch-folds", help="comma-separated folds for the scratch baseline")
    parser.add_argument(
        "--scratch-only", action="store_true", help="only the scratch baseline, no other arm"
    )
    out_argument(parser)
    args = parser.parse_args(argv)
    recipe = course_recipe()
    if args.recipe:
        recipe |= json.loads(args.recipe.read_text())
    recipe = shortened(recipe, args.phase1_epochs, args.fine_tune_epochs)
    if args.scratch_epochs:
        recipe["scratch_epochs"] = [args.scratch_epochs]
        recipe["scratch_folds"] = _folds(args.scratch_folds) or list(range(args.folds))
    only_folds = _folds(args.only_folds)
    if args.scratch_only:
        recipe |= SCRATCH_ONLY
        only_folds = only_folds or recipe["scratch_folds"]
    write_json(Path(args.out), run(args.seed, args.folds, recipe, only_folds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The BatchNorm facts notebook 05 teaches, measured on the course's own model and steps.

    python -m benchmarks.batchnorm_facts --out benchmarks/batchnorm_facts.json

1. momentum: every BatchNormalization layer of MobileNetV2, read off the model.
2. how far fine-tuning moves the moving statistics: phase 1 as notebook 04
   trains it (seed config.SEED, the 80/20 split), then the course's
   fine-tuning with BatchNorm adapting for FINE_TUNE_EPOCHS epochs. For each
   BatchNorm layer that adapts, the distance its moving mean travelled, as a
   fraction of its distance at the start to the mean of its training-mode
   batch means over the training images (where many steps would take it);
   beside it the fraction momentum alone predicts, 1 - momentum ** steps.
3. batch statistics against moving statistics on the same batch: the first
   validation batch through the fine-tuning set-up in training mode (each
   BatchNorm layer normalises with the batch's own mean and variance) and in
   inference mode (the moving ones): logits, predictions and accuracy of each.
   With the BatchNorm layers frozen the two modes give the same logits.
4. the dip: from the same phase-1 weights, each epoch's training accuracy
   and loss (and validation accuracy) of the course's continuations
   (BatchNorm adapting, BatchNorm frozen, the control) and of BatchNorm
   frozen at a tenth of the fine-tuning rate: which of them dips in its
   first epoch says whether the dip comes from BatchNorm or from the first
   steps of a fresh Adam on newly unfrozen weights.

Figures come from the stand-in weights (see `weights` in the JSON).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any


def _norms(base_model: Any) -> list[Any]:
    """The base's BatchNormalization layers, in order."""
    from keras import layers

    return [layer for layer in base_model.layers if isinstance(layer, layers.BatchNormalization)]


def _batch_means(base_model: Any, norms: list[Any], dataset: Any) -> list[Any]:
    """Each layer's per-channel input mean in training mode, averaged over the dataset's batches.

    In training mode every adapting BatchNorm layer normalises with its batch's
    own statistics, which changes what the layers after it receive: this is
    the mean their moving means move towards. The call also moves the moving
    statistics, so the base's weights are restored afterwards.
    """
    import keras
    import numpy as np

    saved = [np.array(weight) for weight in base_model.weights]
    probe = keras.Model(base_model.inputs, [layer.input for layer in norms])
    sums: list[Any] = [0.0] * len(norms)
    batches = 0
    for images, _ in dataset:
        outputs = probe(keras.applications.mobilenet_v2.preprocess_input(images), training=True)
        for index, output in enumerate(outputs):
            sums[index] = sums[index] + np.asarray(output).mean(axis=(0, 1, 2))
        batches += 1
    base_model.set_weights(saved)
    return [total / batches for total in sums]


def _logits_both_modes(model: Any, images: Any) -> tuple[Any, Any]:
    """The model's logits for `images` with the base in inference mode and in training mode.

    The head is applied in inference mode both times (no dropout), so the
    difference is only the base's BatchNorm mode. A training-mode call updates
    the moving statistics, so they are restored afterwards.
    """
    import keras
    import numpy as np

    from helpers import reference

    base_model = reference.find_base_model(model)
    pooling = next(
        layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)
    )
    dense = model.layers[-1]
    saved = [np.array(weight) for weight in base_model.weights]
    x = keras.applications.mobilenet_v2.preprocess_input(images)
    inference = np.asarray(dense(pooling(base_model(x, training=False)))).reshape(-1)
    training = np.asarray(dense(pooling(base_model(x, training=True)))).reshape(-1)
    base_model.set_weights(saved)
    return inference, training


def _summary(values: list[float]) -> dict[str, float] | None:
    """Median, smallest and largest of `values` (None when there are none)."""
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure() -> dict[str, Any]:
    """All four facts as plain numbers."""
    import helpers

    helpers.setup_notebook()
    import numpy as np

    from benchmarks import provenance
    from helpers import config, reference

    train_dataset, validation_dataset = reference.make_datasets()
    n_train = len(train_dataset.file_paths)
    plain_train = train_dataset  # decoded, not augmented: what the images' statistics really are
    train_dataset = reference.optimize_for_training(train_dataset, shuffle=True)
    validation_dataset = reference.optimize_for_training(validation_dataset, shuffle=False)

    model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    base_model = reference.find_base_model(model)
    norms = _norms(base_model)
    momenta = sorted({float(layer.momentum) for layer in norms})

    reference.compile_for_phase1(model)
    phase1 = model.fit(
        train_dataset, validation_data=validation_dataset, epochs=config.INITIAL_EPOCHS, verbose=0
    )
    phase1_weights = model.get_weights()
    steps_per_epoch = -(-n_train // config.BATCH_SIZE)
    steps = steps_per_epoch * config.FINE_TUNE_EPOCHS

    # 2. How far the adapting layers' moving means travel in the course's fine-tuning.
    reference.prepare_continuation(model, reference.BATCHNORM_ADAPTING)
    adapting = [index for index, layer in enumerate(norms) if layer.trainable]
    before = [np.array(norms[index].moving_mean) for index in adapting]
    before_var = [np.array(norms[index].moving_variance) for index in adapting]
    targets = _batch_means(base_model, [norms[index] for index in adapting], plain_train)
    model.fit(
        train_dataset,
        epochs=config.INITIAL_EPOCHS + config.FINE_TUNE_EPOCHS,
        initial_epoch=config.INITIAL_EPOCHS,
        verbose=0,
    )
    variance_changes, by_layer = [], {}
    for position, index in enumerate(adapting):
        moved = np.array(norms[index].moving_mean) - before[position]
        gap = targets[position] - before[position]
        by_layer[norms[index].name] = {
            "fraction": float(np.linalg.norm(moved) / np.linalg.norm(gap)),
            "moved_norm": float(np.linalg.norm(moved)),
            "gap_norm": float(np.linalg.norm(gap)),
            # How far the batch means sit from the moving means, in moving standard deviations.
            "gap_in_std": float(
                np.mean(np.abs(gap) / np.sqrt(before_var[position] + norms[index].epsilon))
            ),
        }
        variance_changes.append(
            float(
                np.median(np.abs(np.array(norms[index].moving_variance) / before_var[position] - 1))
            )
        )

    # 3. The same batch in both modes, first from the phase-1 weights set up for fine-tuning.
    images, labels = next(iter(validation_dataset))
    labels = np.asarray(labels).reshape(-1)
    model.set_weights(phase1_weights)
    reference.prepare_continuation(model, reference.BATCHNORM_ADAPTING)
    inference, training = _logits_both_modes(model, images)
    model.set_weights(phase1_weights)
    reference.prepare_continuation(model, reference.BATCHNORM_FROZEN)
    frozen_inference, frozen_training = _logits_both_modes(model, images)

    # 4. The dip: the same phase-1 weights continued four ways, with validation each epoch.
    histories = {}
    for name, way, rate in (
        ("adapting", reference.BATCHNORM_ADAPTING, config.FINE_TUNE_LEARNING_RATE),
        ("frozen", reference.BATCHNORM_FROZEN, config.FINE_TUNE_LEARNING_RATE),
        ("frozen_tenth_rate", reference.BATCHNORM_FROZEN, config.FINE_TUNE_LEARNING_RATE / 10),
        ("control", reference.HEAD_ONLY, None),
    ):
        model.set_weights(phase1_weights)
        reference.prepare_continuation(model, way)
        if rate is not None:
            model.optimizer.learning_rate.assign(rate)
        history = model.fit(
            train_dataset,
            validation_data=validation_dataset,
            epochs=config.INITIAL_EPOCHS + config.FINE_TUNE_EPOCHS,
            initial_epoch=config.INITIAL_EPOCHS,
            verbose=0,
        )
        histories[name] = {
            key: [float(value) for value in values] for key, values in history.history.items()
        }

    def accuracy(logits: Any) -> float:
        return float(np.mean((logits > 0) == (labels > 0.5)))

    return {
        "weights": provenance.weights(),
        "batchnorm_layers": len(norms),
        "momentum_values": momenta,
        "adapting_layers": len(adapting),
        "fine_tune_steps": steps,
        "momentum_predicted_fraction": 1 - momenta[0] ** steps if len(momenta) == 1 else None,
        # Layers whose batch means already sit on their moving means (gap under 0.01 std) have
        # no distance to travel: their fraction is noise and is left out of the summary.
        "moving_mean_fraction_moved": _summary(
            [layer["fraction"] for layer in by_layer.values() if layer["gap_in_std"] >= 0.01]
        ),
        "layers_without_gap": sorted(
            name for name, layer in by_layer.items() if layer["gap_in_std"] < 0.01
        ),
        "moving_mean_fraction_by_layer": by_layer,
        "moving_variance_median_relative_change": statistics.median(variance_changes),
        "same_batch": {
            "images": int(len(labels)),
            "mean_abs_logit_difference": float(np.mean(np.abs(training - inference))),
            "predictions_that_differ": int(np.sum((training > 0) != (inference > 0))),
            "accuracy_inference_mode": accuracy(inference),
            "accuracy_training_mode": accuracy(training),
            "frozen_mean_abs_logit_difference": float(
                np.mean(np.abs(frozen_training - frozen_inference))
            ),
        },
        "phase1_last_epoch": {key: float(values[-1]) for key, values in phase1.history.items()},
        "fine_tune_from_phase1_weights": histories,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: measure, print and write the JSON."""
    import json

    from benchmarks.child import out_argument, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    out_argument(parser)
    args = parser.parse_args(argv)
    result = measure()
    write_json(Path(args.out), result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

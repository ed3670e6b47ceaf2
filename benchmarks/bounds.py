"""The compute limits training can approach, measured on already-decoded images.

    python -m benchmarks.bounds --repeats 15 --out bounds.json

- forward: MobileNetV2 without top at 160 px, batch 32, inference mode (what
  a phase-1 training step and every validation step cost at best);
- fine-tune step: one full train step (forward and backward, Adam update) of
  the course's model as notebook 05 configures it (base unfrozen from
  `config.FINE_TUNE_AT`), augmentation included because it is part of that model;
- phase-1 step and augmentation alone: not targets, they explain the phase-1 gap.

Inputs are a real batch of 32 decoded, resized training images held in
memory, so no file reading or decoding is timed. Each figure is the median of
`repeats` timed calls after warm-up calls that trace and allocate.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

WARM_UP_CALLS = 3


def _median_seconds(call: Callable[[], Any], repeats: int) -> float:
    """Median wall time of `call()` after warm-up calls."""
    for _ in range(WARM_UP_CALLS):
        call()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def _decoded_batch() -> tuple[Any, Any]:
    """The first training batch, decoded and resized, as in-memory tensors."""
    from helpers import reference

    train_dataset, _ = reference.make_datasets()
    # take(1): a plain iterator would go on decoding later batches in
    # background threads while the limits are being timed.
    for images, labels in train_dataset.take(1):
        return images, labels
    raise RuntimeError("the training dataset is empty")


def measure(repeats: int) -> dict[str, Any]:
    """All the limits, in images per second (augmentation in ms per batch)."""
    import helpers

    helpers.setup_notebook()
    import keras
    import tensorflow as tf

    from helpers import config, reference

    images, labels = _decoded_batch()
    batch = int(images.shape[0])

    base = keras.applications.MobileNetV2(
        input_shape=config.IMG_SHAPE, include_top=False, weights="imagenet"
    )
    preprocessed = keras.applications.mobilenet_v2.preprocess_input(images)
    forward = tf.function(lambda x: base(x, training=False))
    forward_s = _median_seconds(lambda: forward(preprocessed).numpy(), repeats)

    augmenter = reference.data_augmenter()
    augment = tf.function(lambda x: augmenter(x, training=True))
    augment_s = _median_seconds(lambda: augment(images).numpy(), repeats)

    model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    reference.compile_for_phase1(model)
    phase1_step_s = _median_seconds(lambda: model.train_on_batch(images, labels), repeats)
    reference.unfreeze_for_fine_tuning(model)
    finetune_step_s = _median_seconds(lambda: model.train_on_batch(images, labels), repeats)

    return {
        "batch_size": batch,
        "repeats": repeats,
        "compute_bound_img_s": batch / forward_s,
        "compute_bound_finetune_img_s": batch / finetune_step_s,
        "compute_bound_phase1_step_img_s": batch / phase1_step_s,
        "augmentation_ms_per_batch": augment_s * 1000,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: measure and write the JSON to --out."""
    from benchmarks.child import out_argument, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed calls per figure")
    out_argument(parser)
    args = parser.parse_args(argv)
    write_json(Path(args.out), measure(args.repeats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

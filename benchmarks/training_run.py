"""One training run of the course, built the way notebooks 04 and 05 build it.

    python -m benchmarks.training_run --seed 42 --phase1-epochs 5 --fine-tune-epochs 5 --out run.json

Phase 1 trains the frozen model; phase 2 unfreezes the base from
`config.FINE_TUNE_AT` and continues from where phase 1 ended. Two more
continuations start from the same phase-1 weights for the same epochs: the
control (only the head trains) and fine-tuning with the other BatchNorm choice.
The JSON holds each epoch's wall time and the full Keras history of each. The
benchmark runs it once per seed; tests/test_reproducibility.py runs it twice
with the same seed and compares the histories.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Any

import helpers


def _epoch_timer() -> Any:
    """A Keras callback that records each epoch's wall time, validation included."""
    import keras

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._started = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._started)
            shown = ", ".join(f"{key} {value:.4f}" for key, value in sorted((logs or {}).items()))
            print(
                f"epoch {epoch + 1}: {self.seconds[-1]:.2f} s, {shown}", file=sys.stderr, flush=True
            )

    return EpochTimer()


def _history(history: Any) -> dict[str, list[float]]:
    """A Keras History as plain floats (JSON, and exact comparison between runs)."""
    return {key: [float(value) for value in values] for key, values in history.history.items()}


def train(
    seed: int, phase1_epochs: int, fine_tune_epochs: int, deterministic: bool
) -> dict[str, Any]:
    """Train phase 1 and (when `fine_tune_epochs` > 0) phase 2; return times and histories."""
    helpers.setup_notebook(deterministic=deterministic)  # seeds with config.SEED, as every notebook
    import keras

    from helpers import config, reference

    if seed != config.SEED:
        keras.utils.set_random_seed(seed)  # only the benchmark's extra seeds reach this line

    train_dataset, validation_dataset = reference.make_datasets()
    n_train, n_validation = len(train_dataset.file_paths), len(validation_dataset.file_paths)
    train_dataset = reference.optimize_for_training(train_dataset, shuffle=True)
    validation_dataset = reference.optimize_for_training(validation_dataset, shuffle=False)

    # Notebook 04: the model, compiled for phase 1, trained with fit.
    model = reference.alpaca_model(config.IMG_SIZE, reference.data_augmenter())
    reference.compile_for_phase1(model)
    phase1_timer = _epoch_timer()
    history = model.fit(
        train_dataset,
        validation_data=validation_dataset,
        epochs=phase1_epochs,
        verbose=0,
        callbacks=[phase1_timer],
    )
    result: dict[str, Any] = {
        "seed": seed,
        "deterministic": deterministic,
        "n_train": n_train,
        "n_validation": n_validation,
        "phase1": {"epoch_s": phase1_timer.seconds, "history": _history(history)},
        "val_acc_phase1": float(history.history["val_accuracy"][-1]),
    }

    if fine_tune_epochs > 0:
        # Notebook 05: the same phase-1 weights continue three ways (the course's fine-tuning,
        # the other BatchNorm choice, and the control that trains only the head), each from a
        # fresh compile, so their difference is what they train.
        phase1_weights = model.get_weights()
        course_way = (
            reference.BATCHNORM_FROZEN
            if config.FREEZE_BATCHNORM_IN_FINE_TUNING
            else reference.BATCHNORM_ADAPTING
        )
        other_ways = [way for way in reference.CONTINUATIONS if way != course_way]
        result["continuations"] = {}
        for way in [course_way, *other_ways]:
            model.set_weights(phase1_weights)
            reference.prepare_continuation(model, way)
            timer = _epoch_timer()
            continued = model.fit(
                train_dataset,
                validation_data=validation_dataset,
                epochs=len(history.epoch) + fine_tune_epochs,
                initial_epoch=len(history.epoch),
                verbose=0,
                callbacks=[timer],
            )
            result["continuations"][way] = {
                "epoch_s": timer.seconds,
                "history": _history(continued),
            }
        result["fine_tune"] = result["continuations"][course_way]
        result["val_acc_final"] = float(result["fine_tune"]["history"]["val_accuracy"][-1])
        result["val_acc_control"] = float(
            result["continuations"][reference.HEAD_ONLY]["history"]["val_accuracy"][-1]
        )

    # Linux reports ru_maxrss in KiB.
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main(argv: list[str] | None = None) -> int:
    """Command line: one run, its JSON written to --out."""
    from benchmarks.child import out_argument, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--phase1-epochs", type=int, required=True)
    parser.add_argument("--fine-tune-epochs", type=int, default=0)
    parser.add_argument(
        "--deterministic", action="store_true", help="enable TensorFlow op determinism"
    )
    out_argument(parser)
    args = parser.parse_args(argv)
    result = train(args.seed, args.phase1_epochs, args.fine_tune_epochs, args.deterministic)
    write_json(Path(args.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

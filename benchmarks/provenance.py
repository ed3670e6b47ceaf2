"""Which weights and which machine the figures come from."""

from __future__ import annotations

import hashlib
from pathlib import Path

from helpers import config

# sha256 of the rebuilt stand-in files (../shared/data/keras-standin/README.md);
# the official Keras files have no published checksum to compare with.
STAND_IN_SHA256: dict[str, str] = {
    "no_top": "71e4c4ec4aa24c9c951b9265d6de42e1336dcf614c2214fa6a989208615e232c",
    "with_top": "1b72ce56804bcb0b68c48d9c9b89b60280f44d7b1965a4b0e3900f8786b2800a",
}


def weights() -> str:
    """helpers.data's description of the weights in Keras' cache, or our own checksum test."""
    try:
        from helpers.data import weights_provenance
    except ImportError:
        return weights_by_checksum(config.keras_models_dir())
    return weights_provenance()


def weights_by_checksum(models_dir: Path) -> str:
    """Name the no-top weight file in `models_dir` as stand-in, other or missing."""
    path = models_dir / config.WEIGHT_FILES["no_top"]
    if not path.is_file():
        return f"no MobileNetV2 weights in {models_dir}"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest == STAND_IN_SHA256["no_top"]:
        return "stand-in weights (rebuilt from public checkpoints, not the official Keras files)"
    return f"not the stand-in weights (sha256 {digest[:12]}...), presumably the official Keras files"


def cpu_model() -> str:
    """The processor's name from /proc/cpuinfo (Linux), else the platform's word for it."""
    import platform

    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown processor"

"""Which weights and which machine the figures come from."""

from __future__ import annotations

from pathlib import Path


def weights() -> str:
    """Which MobileNetV2 weights Keras' cache holds, judged by helpers.data's checksums."""
    from helpers.data import weights_provenance

    return weights_provenance()


def cpu_model() -> str:
    """The processor's name from /proc/cpuinfo (Linux), else the platform's word for it."""
    import platform

    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown processor"

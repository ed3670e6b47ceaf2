"""Run one measurement in a fresh Python process and read back its JSON.

Each measurement gets its own process so that one cannot warm up, slow down
or leak memory into the next, as a learner's fresh kernel would not either.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from helpers import config, runtime


class ChildFailed(RuntimeError):
    """A measurement process exited with an error; the message ends with its output."""


def run_json(module: str, arguments: list[str], timeout_s: float) -> dict[str, Any]:
    """Run `python -m benchmarks.<module> ARGS --out FILE` and return FILE's JSON."""
    with tempfile.TemporaryDirectory(prefix="alpaca-bench-") as scratch:
        out = Path(scratch) / "result.json"
        command = [sys.executable, "-m", f"benchmarks.{module}", *arguments, "--out", str(out)]
        completed = subprocess.run(
            command,
            cwd=config.PROJECT_ROOT,
            env=child_environment(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
        )
        if completed.returncode != 0 or not out.is_file():
            tail = (completed.stdout + completed.stderr)[-3000:]
            raise ChildFailed(
                f"`{' '.join(command[1:])}` exited with {completed.returncode}:\n{tail}"
            )
        return json.loads(out.read_text())


def child_environment() -> dict[str, str]:
    """The parent's environment, TensorFlow's start-up chatter off."""
    environment = dict(os.environ)
    runtime.quiet_tensorflow_logs(environment)
    environment.setdefault("MPLBACKEND", "Agg")
    return environment


def out_argument(parser: argparse.ArgumentParser) -> None:
    """Every child takes `--out FILE`, where it writes its JSON."""
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON result")


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write a child's result for the parent to read."""
    path.write_text(json.dumps(payload, indent=1))

"""The whole course, run headless: every solution notebook, in order, in fresh kernels.

    python -m benchmarks.course --out course.json solutions/01_*.ipynb ...   (the runner)

The benchmark starts the runner with `measure_course()`, which polls the
resident memory of the runner and every process under it (the notebook
kernels are child processes) and keeps the peak of their sum. The runner
itself also reports the largest single kernel, from the operating system's
own account (`getrusage(RUSAGE_CHILDREN).ru_maxrss`), as a cross-check.
Notebook 04 saves the phase-1 model to `artifacts/` and 05 loads it, exactly
as when a learner runs the course.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from helpers import config
from instructor import processes

CELL_TIMEOUT_S = 600
POLL_INTERVAL_S = 0.2


def solution_notebooks(folder: Path = config.SOLUTIONS_DIR) -> list[Path]:
    """The course's solution notebooks, in their numbered order."""
    return config.course_notebooks(folder)


def measure_course(
    notebooks: list[Path], timeout_s: float, environment: dict[str, str]
) -> dict[str, Any]:
    """Run the runner in a child process; its wall time, peak tree RSS and per-notebook results."""
    import psutil

    with tempfile.TemporaryDirectory(prefix="alpaca-course-") as scratch:
        out = Path(scratch) / "course.json"
        command = [
            sys.executable,
            "-m",
            "benchmarks.course",
            "--out",
            str(out),
            *map(str, notebooks),
        ]
        started = time.perf_counter()
        runner = subprocess.Popen(
            command,
            cwd=config.PROJECT_ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        watched = psutil.Process(runner.pid)
        peak = 0
        while runner.poll() is None:
            peak = max(peak, processes.tree_rss_bytes(watched.pid))
            if time.perf_counter() - started > timeout_s:
                runner.kill()
                break
            time.sleep(POLL_INTERVAL_S)
        output = runner.communicate()[0]
        wall = time.perf_counter() - started
        result: dict[str, Any] = {"wall_s": wall, "peak_tree_rss_mb": peak / 2**20, "ok": False}
        if out.is_file():
            import json

            result.update(json.loads(out.read_text()))
        if runner.returncode != 0 or not result["ok"]:
            result["ok"] = False
            result["output_tail"] = output[-2000:]
        return result


class _KernelMemory:
    """Polls this process's children (the kernels) in the background: peak RSS per notebook."""

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self.current: str | None = None
        self.peaks_mb: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="kernel-memory", daemon=True)

    def __enter__(self) -> _KernelMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(POLL_INTERVAL_S):
            name = self.current
            if name is None:
                continue
            children = sum(processes.tree_rss_bytes(child.pid) for child in self._me.children())
            self.peaks_mb[name] = max(self.peaks_mb.get(name, 0.0), children / 2**20)


def run_notebooks(notebooks: list[Path]) -> dict[str, Any]:
    """Execute each notebook top to bottom in its own fresh kernel; stop at the first failure."""
    import nbclient
    import nbformat

    timings: dict[str, float] = {}
    with _KernelMemory() as memory:
        for path in notebooks:
            notebook = nbformat.read(path, as_version=4)
            client = nbclient.NotebookClient(
                notebook,
                timeout=CELL_TIMEOUT_S,
                kernel_name=config.NOTEBOOK_KERNELSPEC["name"],
                resources={"metadata": {"path": str(path.parent)}},
            )
            memory.current = path.name
            started = time.perf_counter()
            try:
                client.execute()
            except Exception as error:  # report which notebook failed instead of a traceback
                message = " ".join(str(error).split())[-1500:]
                return {"ok": False, "notebook_s": timings, "failed": path.name, "error": message}
            timings[path.name] = time.perf_counter() - started
    return {
        "ok": True,
        "notebook_s": timings,
        "notebook_peak_rss_mb": memory.peaks_mb,
        # Linux reports KiB; the kernels were this process's children and have been reaped.
        "largest_kernel_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line (the runner): execute the notebooks, write the JSON to --out."""
    from benchmarks.child import out_argument, write_json

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    out_argument(parser)
    args = parser.parse_args(argv)
    result = run_notebooks(args.notebooks)
    write_json(Path(args.out), result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

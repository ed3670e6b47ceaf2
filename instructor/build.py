"""The one authoring command: tag the masters, write the learner copies and the answers.

    python -m instructor.build              tag solutions/NN_*.ipynb for grading (metadata
                                            only), write notebooks/NN_*.ipynb and
                                            helpers/answers.py
    python -m instructor.build --check      change nothing; exit 1 listing untagged cells,
                                            stale, missing or extra learner copies and a
                                            stale helpers/answers.py
    python -m instructor.build --list-skips print every cell a grading run skips, and why
    python -m instructor.build --execute [NAME ...]
                                            first re-run the masters (all, or the named ones)
                                            top to bottom in a fresh `python3` kernel and
                                            store their outputs, then build

One pass, per master, through the pipelines of instructor/pipeline.py:

1. MASTER: the `skip-when-grading` tags by rule (instructor/tagging.py); the
   master is written back only when a tag was added (cell metadata only).
2. LEARNER_COPY, on the tagged master: each solution region replaced by
   placeholders (instructor/placeholders.py), outputs and execution counts
   cleared, each cell's metadata reduced to its tags, the notebook's metadata
   to the `python3` kernel. Cell ids, markdown and code outside the regions
   stay as they are.

Then every master's graded function goes into helpers/answers.py
(instructor/answers_export.py). Only files whose text changes are written, each
whole (runtime.write_atomically): a second build touches nothing. The output
depends only on the masters and is written with nbformat's stable JSON (sorted
keys, one-space indent). Building and checking import no TensorFlow.

Stored outputs and nbval
------------------------
nbval compares a live run of each master with its stored outputs, so the
stored outputs must come from a run made the way nbval runs: `--execute` does
that. Its kernel does not forward what C++ code writes straight to file
descriptor 2 (TensorFlow's start-up log lines), as ipykernel does not under
pytest; explorers draw their static pictures (ALPACA_WIDGETS=static); the
graders record progress in one temporary file shared by the masters of the
run. Keras reads the weights from your Keras cache (`KERAS_HOME`, filled by
`make data`). The masters always run in course order (named ones too) and share
one artifacts folder (config.ARTIFACTS_DIR): 05 continues from the model 04
saved, 06 exports the one 05 saved, and each stored `graders.summary()` shows
the course as a learner who did the notebooks in order sees it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from helpers import config, runtime
from instructor import answers_export, colab, pipeline, tagging
from instructor.placeholders import BuildError


@dataclass
class BuildReport:
    """What differs between the masters and what is made from them (and what was written)."""

    untagged: list[str] = field(default_factory=list)  # "01_x.ipynb cell 4: ... [reason]"
    tagged: list[str] = field(default_factory=list)  # masters written with new tags
    written: list[str] = field(default_factory=list)  # learner copies written
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    answers_stale: bool = False
    answers_written: bool = False

    @property
    def in_sync(self) -> bool:
        """True when the masters carry their tags and everything made from them is current."""
        return not (self.untagged or self.stale or self.missing or self.extra or self.answers_stale)


def _tagged_master(path: Path, report: BuildReport, check: bool) -> nbformat.NotebookNode:
    """The master after the MASTER pipeline (it adds tags, nothing else); written back, unless
    `check`, when a cell gained a tag."""
    master = nbformat.read(path, as_version=4)
    tags_before = [list(cell.metadata.get("tags", [])) for cell in master.cells]
    pipeline.apply(master, pipeline.MASTER)
    changed = {
        index
        for index, cell in enumerate(master.cells)
        if list(cell.metadata.get("tags", [])) != tags_before[index]
    }
    if not changed:
        return master
    report.untagged += [
        f"{path.name} cell {d.index}: {d.first_line}  [{d.reason}]"
        for d in tagging.plan(master)
        if d.index in changed
    ]
    if not check:
        runtime.write_atomically(path, pipeline.render(master))
        report.tagged.append(path.name)
    return master


def build(
    solutions_dir: Path = config.SOLUTIONS_DIR,
    notebooks_dir: Path = config.NOTEBOOKS_DIR,
    answers_file: Path = answers_export.ANSWERS_FILE,
    check: bool = False,
) -> BuildReport:
    """Tag the masters, write their learner copies and the answers module (with `check`: compare).

    Raises BuildError (placeholders, export) or TaggingError for a master it cannot build.
    """
    report = BuildReport()
    masters = config.course_notebooks(solutions_dir)
    for master_path in masters:
        try:
            master = _tagged_master(master_path, report, check)
            expected = pipeline.render(pipeline.learner_notebook(master, master_path.name))
        except (BuildError, tagging.TaggingError) as error:
            raise BuildError(f"{master_path.name}: {error}") from error
        target = notebooks_dir / master_path.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == expected:
            continue
        (report.missing if current is None else report.stale).append(target.name)
        if not check:
            runtime.write_atomically(target, expected)
            report.written.append(target.name)
    master_names = {path.name for path in masters}
    report.extra = [
        path.name
        for path in config.course_notebooks(notebooks_dir)
        if path.name not in master_names
    ]
    answers = answers_export.module_text(masters)
    current = answers_file.read_text(encoding="utf-8") if answers_file.exists() else None
    if current != answers:
        report.answers_stale = True
        if not check:
            runtime.write_atomically(answers_file, answers)
            report.answers_written = True
    return report


def list_skips(solutions_dir: Path) -> list[str]:
    """One line per cell a grading run skips, in every master: where, its first line and why."""
    lines = []
    for path in config.course_notebooks(solutions_dir):
        for decision in tagging.plan(nbformat.read(path, as_version=4)):
            lines.append(
                f"{path.name} cell {decision.index}: {decision.first_line}  [{decision.reason}]"
            )
    return lines


# --- Executing the masters --------------------------------------------------

EXECUTE_TIMEOUT_S = 600  # per cell; a whole notebook takes about a minute
KERNEL_ARGUMENTS = ["--IPKernelApp.capture_fd_output=False"]


def execute_master(
    path: Path,
    timeout: int = EXECUTE_TIMEOUT_S,
    progress_file: Path | None = None,
    artifacts_dir: Path | None = None,
) -> float:
    """Run one master top to bottom in a fresh kernel, store its outputs; return the seconds taken.

    The graders record progress in `progress_file` (default: a temporary file), and
    notebooks save models for later ones in `artifacts_dir` (default: config's), so
    masters executed one after another with the same two show the course as a learner
    who did them in order sees it. Raises nbclient's CellExecutionError when a cell
    fails; the master is then left unchanged.
    """
    import os
    import tempfile
    import time

    from nbclient import NotebookClient  # only here: building and checking need no kernel

    notebook = nbformat.read(path, as_version=4)
    saved_environment = dict(os.environ)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alpaca-build-") as scratch:
        runtime.quiet_tensorflow_logs()
        os.environ[config.ENV_WIDGETS_MODE] = "static"
        os.environ[config.ENV_PROGRESS_FILE] = str(progress_file or Path(scratch) / "progress.json")
        os.environ[config.ENV_ARTIFACTS_DIR] = str(artifacts_dir or config.ARTIFACTS_DIR)
        try:
            NotebookClient(
                notebook,
                kernel_name=config.NOTEBOOK_KERNELSPEC["name"],
                timeout=timeout,
                extra_arguments=KERNEL_ARGUMENTS,
                resources={"metadata": {"path": str(path.parent)}},
            ).execute()
        finally:
            os.environ.clear()
            os.environ.update(saved_environment)
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)  # timestamps: they would change every run
    language_info = notebook.metadata.get("language_info", {"name": "python"})
    notebook.metadata = nbformat.from_dict(
        {"kernelspec": dict(config.NOTEBOOK_KERNELSPEC), "language_info": language_info}
    )
    runtime.write_atomically(path, pipeline.render(notebook))
    return time.perf_counter() - started


def _print_check(report: BuildReport, notebooks: Path, answers_file: Path) -> int:
    """What --check prints; its exit code."""
    note = colab.remote_mismatch_note()
    if note:
        print(note, file=sys.stderr)
    for line in report.untagged:
        print(f"untagged: {line}", file=sys.stderr)
    for label, names in (
        ("stale", report.stale),
        ("missing", report.missing),
        ("extra", report.extra),
    ):
        for name in names:
            print(f"{label}: {notebooks.name}/{name}", file=sys.stderr)
    if report.answers_stale:
        print(f"stale: {config.relative_to_project(answers_file)}", file=sys.stderr)
    if not report.in_sync:
        print("The build is out of date: run `python -m instructor.build`.", file=sys.stderr)
        return 1
    print("Masters' tags, learner copies and answers are up to date.")
    return 0


def _print_build(report: BuildReport, notebooks: Path, answers_file: Path) -> None:
    """What a build prints: every file it wrote, and copies without a master."""
    for line in report.untagged:
        print(f"tagged: {line}")
    for name in report.written:
        print(f"wrote {notebooks.name}/{name}")
    if report.answers_written:
        print(f"wrote {config.relative_to_project(answers_file)}")
    for name in report.extra:
        print(f"extra (no master; remove it by hand): {notebooks.name}/{name}", file=sys.stderr)
    if not (report.untagged or report.written or report.answers_written):
        print("Everything was already up to date.")


def main(argv: list[str] | None = None) -> int:
    """Command line: build (tags, learner copies, answers), check, list the skips, or execute."""
    parser = argparse.ArgumentParser(
        prog="python -m instructor.build", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when out of date"
    )
    mode.add_argument(
        "--list-skips", action="store_true", help="print every cell a grading run skips, and why"
    )
    mode.add_argument(
        "--execute",
        nargs="*",
        metavar="NAME",
        help="re-run these masters (default: all, in order) and store their outputs, then build",
    )
    parser.add_argument(
        "--solutions", type=Path, default=config.SOLUTIONS_DIR, help="masters folder"
    )
    parser.add_argument(
        "--notebooks", type=Path, default=config.NOTEBOOKS_DIR, help="learner copies folder"
    )
    parser.add_argument(
        "--answers", type=Path, default=answers_export.ANSWERS_FILE, help="answers module to write"
    )
    args = parser.parse_args(argv)
    try:
        if args.list_skips:
            print("\n".join(list_skips(args.solutions)))
            return 0
        if args.execute is not None:
            execute_masters(args.solutions, args.execute)
        report = build(args.solutions, args.notebooks, args.answers, check=args.check)
    except (BuildError, tagging.TaggingError) as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 2
    if args.check:
        return _print_check(report, args.notebooks, args.answers)
    _print_build(report, args.notebooks, args.answers)
    return 0


def in_course_order(names: list[str]) -> list[str]:
    """Master file names sorted as the course runs them (by their NN_ prefix), without repeats."""
    return sorted({Path(name).name for name in names})


def execute_masters(solutions_dir: Path, names: list[str] | None = None) -> list[str]:
    """Execute the named masters (default: all) in course order; print and return what was done.

    They share one fresh progress file and one artifacts folder (config.ARTIFACTS_DIR):
    05 continues from the model 04 saved in this run, 06 exports the one 05 saved, and
    the stored `graders.summary()` of each shows the exercises passed so far in the course.
    """
    import tempfile

    every_master = [path.name for path in config.course_notebooks(solutions_dir)]
    chosen = in_course_order(names or every_master)
    lines = []
    if chosen != every_master:
        lines.append(
            "note: only some masters were executed; their stored graders.summary() counts only "
            "their own exercises, and they load what earlier notebooks left in "
            f"{config.relative_to_project(config.ARTIFACTS_DIR)}/. `make execute` runs all, in order."
        )
        print(lines[-1], file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="alpaca-build-progress-") as scratch:
        for name in chosen:
            seconds = execute_master(
                solutions_dir / name,
                progress_file=Path(scratch) / "progress.json",
                artifacts_dir=config.ARTIFACTS_DIR,
            )
            lines.append(f"executed {solutions_dir.name}/{name} in {seconds:.0f} s")
            print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    sys.exit(main())

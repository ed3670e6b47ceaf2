"""Generate the learner notebooks in `notebooks/` from the masters in `solutions/`.

    python -m instructor.build           write notebooks/NN_*.ipynb from solutions/NN_*.ipynb
    python -m instructor.build --check   change nothing; exit 1 listing stale, missing or
                                      extra learner copies
    python -m instructor.build --execute [NAME ...]
                                      first re-run the masters (all, or the named ones)
                                      top to bottom in a fresh `python3` kernel and store
                                      their outputs, then build

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

What a learner copy is
----------------------
A copy of its master with every code cell's outputs and execution count
cleared, each cell's metadata reduced to its tags, the notebook metadata set
to the `python3` kernel, and each solution region replaced by placeholders.
Cell ids, markdown and code outside the regions are kept as they are.

The placeholder rule
--------------------
A solution region is the lines between a line starting `### START CODE HERE`
and the next line starting `### END CODE HERE` (leading spaces allowed; both
marker lines stay). A cell may hold several regions; they may not nest.
Inside a region, reading its top-level statements in order:

1. Whole-line comments and blank lines between statements are kept: they are
   the learner's step-by-step instructions.
2. An assignment to plain names, `name = <expr>` (also `a = b = <expr>`,
   `a, b = <expr>` and `name: T = <expr>`), becomes `name = None` (`a, b =
   None, None`; `name: T = None`).
3. `return <expr>` becomes `return None`.
4. Every other statement is removed: calls, attribute or item assignments,
   augmented assignments, loops, `if`, `with`, nested `def`, and any comment
   inside them.
5. Each line made by rules 2-3 ends with a hint: the comment that ended the
   statement's first line in the master, or `# replace None with your code`.
6. When no statement is left, a `pass` line is added so that the cell still
   parses.

All lines keep the region's indentation. Applying the rule to its own output
changes nothing.

Override: when a region holds lines starting `# LEARNER:` (after indentation),
the learner sees exactly those lines, with `# LEARNER:` and one following space
removed, and nothing else of the region.

The output is deterministic: it depends only on the master's cells, and is
written with nbformat's stable JSON (sorted keys, one-space indent).
This module imports no TensorFlow, so the check runs in a fraction of a second.
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import sys
import textwrap
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from helpers import config, runtime
from helpers.config import END_MARKER, START_MARKER

SOLUTIONS_DIR: Path = config.PROJECT_ROOT / "solutions"
NOTEBOOKS_DIR: Path = config.PROJECT_ROOT / "notebooks"
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"

LEARNER_PREFIX = "# LEARNER:"
DEFAULT_HINT = "# replace None with your code"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {
    "codemirror_mode": {"name": "ipython", "version": 3},
    "file_extension": ".py",
    "mimetype": "text/x-python",
    "name": "python",
    "nbconvert_exporter": "python",
    "pygments_lexer": "ipython3",
}


class BuildError(ValueError):
    """A master notebook the tool cannot turn into a learner copy (bad markers, bad code)."""


# --- The placeholder rule -------------------------------------------------


def _indent_of(line: str) -> str:
    """The leading whitespace of a line."""
    return line[: len(line) - len(line.lstrip())]


def _comments_by_line(code: str) -> dict[int, tuple[str, bool]]:
    """Each comment's text by line number, with whether it follows code on that line."""
    comments: dict[int, tuple[str, bool]] = {}
    code_lines: set[int] = set()
    skipped = {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING}
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = (token.string, token.start[0] in code_lines)
        elif token.type not in skipped and token.type != tokenize.ENDMARKER:
            code_lines.update(range(token.start[0], token.end[0] + 1))
    return comments


def _assigned_names(target: ast.expr) -> list[str] | None:
    """The names a plain assignment target binds (`a` or `a, b`), or None for anything else."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)) and all(
        isinstance(element, ast.Name) for element in target.elts
    ):
        return [element.id for element in target.elts]
    return None


def _placeholder_for(statement: ast.stmt) -> str | None:
    """The learner's line for one top-level statement (without hint), or None to drop it."""
    if isinstance(statement, ast.Return):
        return "return None"
    if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
        return f"{statement.target.id}: {ast.unparse(statement.annotation)} = None"
    if isinstance(statement, ast.Assign):
        bound = [_assigned_names(target) for target in statement.targets]
        if any(names is None for names in bound):
            return None
        if len(bound) == 1:
            names = bound[0]
            return f"{', '.join(names)} = {', '.join(['None'] * len(names))}"
        if all(isinstance(target, ast.Name) for target in statement.targets):
            return " = ".join(names[0] for names in bound) + " = None"
    return None


def _learner_override(body: list[str]) -> list[str] | None:
    """The `# LEARNER:` lines of a region with the marker removed, or None when there are none."""
    marked = [line for line in body if line.lstrip().startswith(LEARNER_PREFIX)]
    if not marked:
        return None
    result = []
    for line in marked:
        text = line.lstrip()[len(LEARNER_PREFIX) :]
        result.append(_indent_of(line) + (text[1:] if text.startswith(" ") else text))
    return result


def placeholder_lines(body: list[str], indent: str = "") -> list[str]:
    """Apply the placeholder rule (module docstring) to the lines of one solution region.

    `indent` is used for an added `pass` when the region holds no code at all.
    Raises BuildError when the region is not valid Python on its own.
    """
    override = _learner_override(body)
    if override is not None:
        return override
    code = textwrap.dedent("\n".join(body))
    nonblank = [line for line in body if line.strip()]
    if nonblank:
        indent = min((_indent_of(line) for line in nonblank), key=len)
    try:
        tree = ast.parse(code)
        comments = _comments_by_line(code)
    except (SyntaxError, tokenize.TokenError) as error:
        raise BuildError(f"solution region is not valid Python on its own: {error}") from error

    # Which source lines each statement covers, so comments inside a dropped statement go too.
    statement_at: dict[int, ast.stmt] = {}
    for statement in tree.body:
        for number in range(statement.lineno, statement.end_lineno + 1):
            statement_at[number] = statement

    output: list[str] = []
    has_code = False
    for number, line in enumerate(code.split("\n"), start=1):
        statement = statement_at.get(number)
        if statement is None:
            output.append(indent + line if line.strip() else "")
            continue
        if number != statement.lineno:
            continue
        placeholder = _placeholder_for(statement)
        if placeholder is None:
            continue
        comment, trailing = comments.get(number, ("", False))
        hint = comment if trailing else DEFAULT_HINT
        output.append(f"{indent}{placeholder}  {hint}")
        has_code = True
    if not has_code:
        output.append(f"{indent}pass")
    return output


def strip_solutions(source: str) -> str:
    """A code cell's source with each solution region replaced by its placeholders."""
    lines = source.split("\n")
    output: list[str] = []
    position = 0
    while position < len(lines):
        line = lines[position]
        stripped = line.lstrip()
        if stripped.startswith(END_MARKER):
            raise BuildError(f"line {position + 1}: '{END_MARKER}' without a start marker")
        output.append(line)
        position += 1
        if not stripped.startswith(START_MARKER):
            continue
        end = position
        while end < len(lines) and not lines[end].lstrip().startswith(END_MARKER):
            if lines[end].lstrip().startswith(START_MARKER):
                raise BuildError(f"line {end + 1}: solution regions may not nest")
            end += 1
        if end == len(lines):
            raise BuildError(f"line {position}: '{START_MARKER}' without an end marker")
        output.extend(placeholder_lines(lines[position:end], _indent_of(line)))
        output.append(lines[end])
        position = end + 1
    return "\n".join(output)


def has_solution_region(source: str) -> bool:
    """Whether a cell's source holds a solution region."""
    return any(line.lstrip().startswith(START_MARKER) for line in source.split("\n"))


# --- Whole notebooks -------------------------------------------------------


def learner_notebook(master: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner copy of a master notebook (a new object; the master is not changed)."""
    notebook = copy.deepcopy(master)
    notebook.metadata = nbformat.from_dict(
        {"kernelspec": dict(KERNELSPEC), "language_info": copy.deepcopy(LANGUAGE_INFO)}
    )
    for index, cell in enumerate(notebook.cells):
        tags = cell.get("metadata", {}).get("tags")
        cell.metadata = nbformat.from_dict({"tags": list(tags)} if tags else {})
        if cell.cell_type != "code":
            continue
        cell.outputs = []
        cell.execution_count = None
        try:
            cell.source = strip_solutions(cell.source)
        except BuildError as error:
            raise BuildError(f"cell {index}: {error}") from error
    return notebook


def render(notebook: nbformat.NotebookNode) -> str:
    """A notebook as nbformat's stable JSON text, ending with one newline."""
    return nbformat.writes(notebook, version=4).rstrip("\n") + "\n"


def learner_text(master_path: Path) -> str:
    """The exact text the learner copy of `master_path` must have."""
    master = nbformat.read(master_path, as_version=4)
    try:
        return render(learner_notebook(master))
    except BuildError as error:
        raise BuildError(f"{master_path.name}: {error}") from error


@dataclass
class BuildReport:
    """What differs between the masters and the learner copies."""

    written: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)

    @property
    def in_sync(self) -> bool:
        """True when every learner copy matches its master and nothing else is there."""
        return not (self.stale or self.missing or self.extra)


def build(
    solutions_dir: Path = SOLUTIONS_DIR, notebooks_dir: Path = NOTEBOOKS_DIR, check: bool = False
) -> BuildReport:
    """Write (or with `check`, only compare) the learner copy of every master."""
    report = BuildReport()
    masters = sorted(solutions_dir.glob(NOTEBOOK_GLOB))
    if not check:
        notebooks_dir.mkdir(parents=True, exist_ok=True)
    for master_path in masters:
        target = notebooks_dir / master_path.name
        expected = learner_text(master_path)
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == expected:
            continue
        (report.missing if current is None else report.stale).append(target.name)
        if not check:
            # Only files that differ are written, so an unchanged build touches nothing.
            target.write_text(expected, encoding="utf-8")
            report.written.append(target.name)
    master_names = {path.name for path in masters}
    report.extra = sorted(
        path.name for path in notebooks_dir.glob(NOTEBOOK_GLOB) if path.name not in master_names
    )
    return report


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
                kernel_name=KERNELSPEC["name"],
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
        {"kernelspec": dict(KERNELSPEC), "language_info": language_info}
    )
    path.write_text(render(notebook), encoding="utf-8")
    return time.perf_counter() - started


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

    every_master = [path.name for path in sorted(solutions_dir.glob(NOTEBOOK_GLOB))]
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
            path = solutions_dir / name
            seconds = execute_master(
                path,
                progress_file=Path(scratch) / "progress.json",
                artifacts_dir=config.ARTIFACTS_DIR,
            )
            lines.append(f"executed {solutions_dir.name}/{name} in {seconds:.0f} s")
            print(lines[-1], flush=True)
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command line: build the learner copies, or check that they are up to date."""
    parser = argparse.ArgumentParser(
        prog="python -m instructor.build", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 when out of date"
    )
    parser.add_argument("--solutions", type=Path, default=SOLUTIONS_DIR, help="masters folder")
    parser.add_argument(
        "--notebooks", type=Path, default=NOTEBOOKS_DIR, help="learner copies folder"
    )
    parser.add_argument(
        "--execute",
        nargs="*",
        metavar="NAME",
        help="re-run these masters (default: all, in order) and store their outputs, then build",
    )
    args = parser.parse_args(argv)
    if args.execute is not None:
        if args.check:
            parser.error("--check and --execute do not go together")
        execute_masters(args.solutions, args.execute)
    try:
        report = build(args.solutions, args.notebooks, check=args.check)
    except BuildError as error:
        print(f"build failed: {error}", file=sys.stderr)
        return 2
    if args.check:
        for label, names in (
            ("stale", report.stale),
            ("missing", report.missing),
            ("extra", report.extra),
        ):
            for name in names:
                print(f"{label}: {args.notebooks.name}/{name}", file=sys.stderr)
        if not report.in_sync:
            print(
                "Learner copies are out of date: run `python -m instructor.build`.", file=sys.stderr
            )
            return 1
        print("Learner copies are up to date.")
        return 0
    for name in report.written:
        print(f"wrote {args.notebooks.name}/{name}")
    for name in report.extra:
        print(
            f"extra (no master; remove it by hand): {args.notebooks.name}/{name}", file=sys.stderr
        )
    if not report.written:
        print("Learner copies were already up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which cells a grading run skips: the rules that place the `skip-when-grading` tag.

The build applies them to the masters (`python -m instructor.build` tags them,
`--check` fails when a tag is missing, `--list-skips` prints every skipped cell
and why); the learner copies inherit the tags.

A grading run needs every exercise cell and every grader cell, and what they
read, but not the minutes of training and the pictures. A code cell gets the
tag (`config.GRADE_SKIP_TAG`) when, outside any function it defines, it

1. trains or evaluates: calls a method named `fit`, `evaluate`, `predict`,
   `train_on_batch`, `test_on_batch`, `predict_on_batch`, `predict_dataset` or
   `pooled_features` (a pass of the model over the data), or a function
   defined in the notebook that does;
2. measures: reads a clock (`time.perf_counter()`, `time.time()`,
   `time.sleep()`, ...) or calls a function defined in the notebook that does;
3. only draws: every statement is a call to `plots.*`, `widgets.*` or `plt.*`;
4. or reads a name whose latest definition is in a skipped cell (it would
   fail with a NameError).

Cells that hold a graded function or may call a grader (`is_protected`) are
never tagged, and `plan` refuses (TaggingError) when one of them reads a name
that only a skipped cell defines: then a grading run could not grade that
exercise. Tags placed by hand are kept (the rules only add), so tagging twice
changes nothing.

No TensorFlow is imported; the analysis reads the cells' source (Python's
`ast` and `symtable`, after IPython's own transformation of `%magics`).
"""

from __future__ import annotations

import ast
import symtable
from collections.abc import Callable
from dataclasses import dataclass

import nbformat

from helpers import config

SKIP_TAG: str = config.GRADE_SKIP_TAG

TRAINING_METHODS: frozenset[str] = frozenset(
    {
        "fit",
        "evaluate",
        "predict",
        "train_on_batch",
        "test_on_batch",
        "predict_on_batch",
        "predict_dataset",
        "pooled_features",
    }
)
CLOCK_FUNCTIONS: frozenset[str] = frozenset(
    {
        "perf_counter",
        "perf_counter_ns",
        "time",
        "time_ns",
        "monotonic",
        "monotonic_ns",
        "process_time",
        "sleep",
    }
)
DRAWING_MODULES: frozenset[str] = frozenset({"plots", "widgets", "plt"})


class TaggingError(RuntimeError):
    """A grader or graded function would depend on a cell that a grading run skips."""


@dataclass(frozen=True)
class SkipDecision:
    """One skipped cell: its index in the notebook, its first source line and why."""

    index: int
    first_line: str
    reason: str


def python_source(source: str) -> str:
    """The cell as plain Python: IPython's `%magic` and `!shell` lines transformed away."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return TransformerManager().transform_cell(source)
    except Exception:  # no IPython, or a cell it cannot transform: use the text as it is
        return source


def _parse(source: str) -> ast.Module | None:
    """The cell's syntax tree, or None when it is not valid Python."""
    try:
        return ast.parse(python_source(source))
    except SyntaxError:
        return None


def _top_level_calls(tree: ast.AST) -> list[ast.Call]:
    """Calls made when the cell runs: those inside functions or classes it defines are left out."""
    calls: list[ast.Call] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                continue
            if isinstance(child, ast.Call):
                calls.append(child)
            pending.append(child)
    return calls


def _called_name(call: ast.Call) -> str | None:
    """`f` for `f(...)` and `obj.f(...)`; None for other callees."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _reads_clock(calls: list[ast.Call], timing_functions: set[str]) -> bool:
    """Whether any of `calls` reads a clock or calls a function that does."""
    for call in calls:
        name = _called_name(call)
        if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
            if call.func.value.id == "time" and name in CLOCK_FUNCTIONS:
                return True
        if isinstance(call.func, ast.Name) and (
            name in timing_functions or name in {"perf_counter", "sleep"}
        ):
            return True
    return False


def _training_calls(calls: list[ast.Call], training_functions: set[str]) -> list[str]:
    """The names of `calls` that train or evaluate a model (method names, or functions that do)."""
    names = {
        _called_name(c)
        for c in calls
        if isinstance(c.func, ast.Attribute) and c.func.attr in TRAINING_METHODS
    }
    names |= {
        c.func.id for c in calls if isinstance(c.func, ast.Name) and c.func.id in training_functions
    }
    return sorted(n for n in names if n)


def _functions_that(
    tree: ast.Module, known: set[str], does: Callable[[list[ast.Call], set[str]], object]
) -> set[str]:
    """Functions this cell defines at top level whose body `does` (reads a clock, trains...).

    `known` are such functions defined earlier: calling one counts too.
    """
    found: set[str] = set()
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body_calls = [node for node in ast.walk(statement) if isinstance(node, ast.Call)]
            if does(body_calls, known | found):
                found.add(statement.name)
    return found


def _only_draws(tree: ast.Module) -> bool:
    """Whether every statement is a bare call to a drawing module (`plots.x(...)`)."""
    if not tree.body:
        return False
    for statement in tree.body:
        if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
            return False
        function = statement.value.func
        if not (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and function.value.id in DRAWING_MODULES
        ):
            return False
    return True


def cell_names(source: str) -> tuple[set[str], set[str], set[str]]:
    """(defined, read, read-and-not-defined) module-level names of a cell.

    "read" includes module-level names that functions and comprehensions in
    the cell read, since calling them reads those names.
    """
    try:
        table = symtable.symtable(python_source(source), "<cell>", "exec")
    except SyntaxError:
        return set(), set(), set()
    defined: set[str] = set()
    read: set[str] = set()
    for symbol in table.get_symbols():
        if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace():
            defined.add(symbol.get_name())
        if symbol.is_referenced():
            read.add(symbol.get_name())
    pending = list(table.get_children())
    while pending:
        child = pending.pop()
        pending.extend(child.get_children())
        read |= {s.get_name() for s in child.get_symbols() if s.is_global() and s.is_referenced()}
    return defined, read, read - defined


def is_protected(source: str) -> bool:
    """Cells a grading run must always run: a graded function, or a cell that may call a grader."""
    return config.is_graded_function_cell(source) or config.is_grader_cell(source)


def first_line(source: str) -> str:
    """The cell's first non-blank source line (how the report names a cell)."""
    return next((line.strip() for line in source.splitlines() if line.strip()), "")


def plan(notebook: nbformat.NotebookNode) -> list[SkipDecision]:
    """The cells a grading run skips: those already tagged, and those the rules above add.

    Raises TaggingError when a protected cell reads a name whose latest
    definition is in a skipped cell.
    """
    decisions: list[SkipDecision] = []
    made_by: dict[str, int] = {}  # name -> index of the cell that defined it last
    skipped: set[int] = set()
    timing_functions: set[str] = set()
    training_functions: set[str] = set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        source = cell.source
        tree = _parse(source)
        defined, read, read_only = cell_names(source)
        if tree is not None:
            timing_functions |= _functions_that(tree, timing_functions, _reads_clock)
            training_functions |= _functions_that(tree, training_functions, _training_calls)
        blocked = sorted(name for name in read_only if made_by.get(name) in skipped)
        if is_protected(source):
            needs = sorted(
                name for name in read if made_by.get(name) in skipped and name not in defined
            )
            if needs:
                raise TaggingError(
                    f"cell {index} ({first_line(source)!r}) reads {', '.join(needs)}, which only a "
                    f"skipped cell defines: a grading run could not grade it"
                )
            reason = None
        elif tree is None:
            reason = "tagged by hand" if SKIP_TAG in cell.metadata.get("tags", []) else None
        else:
            calls = _top_level_calls(tree)
            trains = _training_calls(calls, training_functions)
            if trains:
                reason = f"trains or evaluates ({', '.join(trains)})"
            elif _reads_clock(calls, timing_functions):
                reason = "measures time"
            elif _only_draws(tree):
                reason = "only draws"
            elif blocked:
                reason = f"reads {', '.join(blocked)} from a skipped cell"
            elif SKIP_TAG in cell.metadata.get("tags", []):
                reason = "tagged by hand"
            else:
                reason = None
        if reason is not None:
            skipped.add(index)
            decisions.append(SkipDecision(index, first_line(source), reason))
        for name in defined:
            made_by[name] = index
    return decisions


def tag(notebook: nbformat.NotebookNode) -> list[SkipDecision]:
    """Add the skip tag to every cell `plan` picks (metadata only); return the cells newly tagged."""
    added = []
    for decision in plan(notebook):
        cell = notebook.cells[decision.index]
        tags = list(cell.metadata.get("tags", []))
        if SKIP_TAG not in tags:
            cell.metadata["tags"] = [*tags, SKIP_TAG]
            added.append(decision)
    return added

"""An answer must be the learner's own: a graded function may not use the course's answer to it.

The course ships its answers (`helpers.reference`, and `helpers.answers`
generated from the masters): later notebooks need the earlier exercises'
results. A graded function that calls the answer to its OWN exercise
(`helpers.exercises` names, per exercise, the graded function and the answer
functions) hands in the course's work, and is reported with the code
`not-own-answer`. Calling the answers of earlier exercises stays allowed
(`alpaca_model` may call `reference.data_augmenter()`).

One rule, looked at two ways:

    function_uses_answer(function, exercise)   in the notebook: the function's code objects
                                               (nested ones too), resolved in its globals,
                                               closures and defaults; aliases included
    source_uses_answer(source, exercise, aliases)   in grading, outside the kernel: the cell's
                                               source, read with `ast` (no code runs)
    notebook_findings(cells)                   grading: each exercise's graded cell and grader
                                               cells of a submitted notebook -> its message

Both see `reference.data_augmenter()`, `import helpers.reference as r`,
`from helpers.reference import data_augmenter as d`, `getattr(reference,
"data_augmenter")`, `vars(reference)[...]` and an answer passed in place of
the function. Neither is a proof against a determined forger (a name built
at run time from pieces escapes both); grading also judges the artifacts.
This module imports nothing heavy, so the grading process can use it.
"""

from __future__ import annotations

import ast
import dis
import inspect
import re
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from helpers import config
from helpers.exercises import ANSWER_MODULES, EXERCISES, Exercise

CODE = "not-own-answer"
# Names a notebook binds to the answer modules without saying so in the analysed cell.
DEFAULT_NAMESPACES = frozenset({"reference", "answers"})
# Calls that look a name up at run time in the namespace they are given.
_LOOKUPS = frozenset({"getattr", "vars", "__import__", "import_module"})
_COMPUTED = "<a name computed at run time>"
# How deep the notebook's own helper functions are followed from the graded function.
_HELPER_DEPTH = 3


def message(exercise: Exercise, found: str) -> str:
    """The learner's message: what was used, what to do, what stays allowed."""
    return (
        f"`{exercise.graded_function}` uses the course's own answer to this exercise "
        f"(`{found}`): write the steps yourself. Calling the answers of earlier exercises "
        "is fine; this exercise's answer must be your own."
    )


def _short(module: str, name: str | None = None) -> str:
    """`reference.data_augmenter` for helpers.reference's data_augmenter."""
    short = module.rsplit(".", 1)[-1]
    return short if name is None else f"{short}.{name}"


# --- In the notebook: the function's code -----------------------------------------------------


def _answer_objects(exercise: Exercise) -> dict[int, str]:
    """id -> name of every loaded answer object of `exercise`."""
    found = {}
    for module_name in ANSWER_MODULES:
        module = sys.modules.get(module_name)
        for name in exercise.answer_names if module is not None else ():
            value = getattr(module, name, None)
            if value is not None:
                found[id(value)] = _short(module_name, name)
    return found


def _is_namespace(value: Any) -> bool:
    """The helpers package or a module of answers."""
    return isinstance(value, types.ModuleType) and value.__name__ in ("helpers", *ANSWER_MODULES)


def _unwrapped(function: Any) -> list[Any]:
    """`function` and what it wraps: partials, bound methods, decorated functions."""
    chain, seen = [function], {id(function)}
    while True:
        inner = None
        for attribute in ("func", "__func__", "__wrapped__", "__self__"):
            try:
                candidate = getattr(chain[-1], attribute, None)
            except Exception:
                candidate = None
            if callable(candidate) and id(candidate) not in seen:
                inner = candidate
                break
        if inner is None:
            return chain
        chain.append(inner)
        seen.add(id(inner))


def _code_objects(code: types.CodeType) -> Iterable[types.CodeType]:
    """A code object and every code object nested in it (inner functions, lambdas)."""
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


@dataclass
class _Uses:
    """What a function's code refers to, gathered over its nested code objects."""

    namespace: bool = False
    names: set[str] = field(default_factory=set)  # attributes, imported names, string constants
    found: str | None = None  # an answer object it refers to directly


def _scan(
    function: Any,
    exercise: Exercise,
    answers: dict[int, str],
    uses: _Uses | None = None,
    depth: int = 0,
    visited: set[int] | None = None,
) -> _Uses:
    """What `function` refers to; the notebook's own functions it calls are followed too."""
    uses = uses if uses is not None else _Uses()
    visited = visited if visited is not None else set()
    visited.add(id(function))
    globals_ = getattr(function, "__globals__", {}) or {}
    builtins = globals_.get("__builtins__", {})
    builtins = vars(builtins) if isinstance(builtins, types.ModuleType) else builtins

    def seen_value(value: Any) -> None:
        if id(value) in answers and uses.found is None:
            uses.found = answers[id(value)]
        uses.namespace |= _is_namespace(value)
        helper = (
            inspect.isfunction(value)
            and value.__module__ == function.__module__
            and value.__module__ not in ANSWER_MODULES
        )
        if helper and depth < _HELPER_DEPTH and id(value) not in visited:
            _scan(value, exercise, answers, uses, depth + 1, visited)

    for value in [*(function.__defaults__ or ()), *(function.__kwdefaults__ or {}).values()]:
        seen_value(value)
    for cell in function.__closure__ or ():
        try:
            seen_value(cell.cell_contents)
        except ValueError:  # an empty cell
            pass
    for code in _code_objects(function.__code__):
        for instruction in dis.get_instructions(code):
            name, argument = instruction.opname, instruction.argval
            if name in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(argument, str):
                if argument in globals_:
                    seen_value(globals_[argument])
                elif isinstance(builtins, dict) and argument in builtins:
                    seen_value(builtins[argument])
            elif name == "IMPORT_NAME" and isinstance(argument, str):
                uses.namespace |= argument in ("helpers", *ANSWER_MODULES)
            elif name in ("LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM") and isinstance(argument, str):
                uses.names.add(argument)
                uses.namespace |= argument in {_short(m) for m in ANSWER_MODULES}
            elif name == "LOAD_CONST" and isinstance(argument, str):
                uses.names.add(argument)
                uses.namespace |= argument in ANSWER_MODULES
    return uses


def function_uses_answer(function: Any, exercise: Exercise) -> str | None:
    """The answer of `exercise` that `function` is or calls (e.g. 'reference.data_augmenter').

    Never raises: what cannot be inspected (a builtin, a callable object) is
    taken as the learner's own.
    """
    try:
        answers = _answer_objects(exercise)
        for candidate in _unwrapped(function):
            if id(candidate) in answers:
                return answers[id(candidate)]
            module = getattr(candidate, "__module__", None)
            qualified = getattr(candidate, "__qualname__", "") or ""
            if module in ANSWER_MODULES and qualified.split(".")[0] in exercise.answer_names:
                return _short(module, qualified.split(".")[0])
            if not inspect.isfunction(candidate):
                continue
            uses = _scan(candidate, exercise, answers)
            if uses.found is not None:
                return uses.found
            named = sorted(uses.names & exercise.answer_names)
            if uses.namespace and named:
                return _short(ANSWER_MODULES[-1], named[0])
    except Exception:
        return None
    return None


# --- In grading: the submitted notebook's source ----------------------------------------------


@dataclass
class Aliases:
    """What a notebook binds to the answers: namespaces, answer functions, their results."""

    namespaces: set[str] = field(default_factory=lambda: set(DEFAULT_NAMESPACES))
    objects: dict[str, str] = field(default_factory=dict)  # name -> "reference.x"
    star: bool = False  # `from helpers.reference import *`


def _parse(source: str) -> ast.Module | None:
    """A cell's source as a syntax tree; IPython magics and shell lines are left out."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError):
        pass
    kept = [
        "" if line.lstrip().startswith(("%", "!", "?")) else line for line in source.splitlines()
    ]
    try:
        return ast.parse("\n".join(kept))
    except (SyntaxError, ValueError, RecursionError):
        return None
    except MemoryError:
        return None


def _constant(node: ast.AST) -> str | None:
    """A string the source spells out (concatenations of constants folded)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _constant(node.left), _constant(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in node.values):
        return "".join(str(v.value) for v in node.values)  # type: ignore[attr-defined]
    return None


def _is_namespace_expression(node: ast.AST, aliases: Aliases) -> bool:
    """`reference`, `helpers.reference`, `importlib.import_module("helpers.reference")`..."""
    if isinstance(node, ast.Name):
        return node.id in aliases.namespaces
    if isinstance(node, ast.Attribute):
        return node.attr in {_short(m) for m in ANSWER_MODULES} and (
            isinstance(node.value, ast.Name) and node.value.id in ("helpers", *aliases.namespaces)
        )
    if isinstance(node, ast.Call) and node.args:
        callee = (
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        )
        return callee in ("import_module", "__import__") and _constant(node.args[0]) in (
            "helpers",
            *ANSWER_MODULES,
        )
    return False


def _answer_use(node: ast.AST, exercise: Exercise, aliases: Aliases) -> str | None:
    """The answer that this one node uses, if any."""
    names = exercise.answer_names
    if isinstance(node, ast.Attribute) and node.attr in names:
        if _is_namespace_expression(node.value, aliases):
            return _short(ANSWER_MODULES[-1], node.attr)
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        if node.id in aliases.objects:
            return aliases.objects[node.id]
        if aliases.star and node.id in names:
            return _short(ANSWER_MODULES[-1], node.id)
    if isinstance(node, ast.ImportFrom) and node.module in ANSWER_MODULES:
        for alias in node.names:
            if alias.name in names:
                return _short(node.module, alias.name)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args:
        if node.func.id in _LOOKUPS and _is_namespace_expression(node.args[0], aliases):
            if node.func.id == "getattr" and len(node.args) > 1:
                name = _constant(node.args[1])
                if name is None or name in names:  # a name computed at run time: hidden
                    return _short(ANSWER_MODULES[-1], name or _COMPUTED)
    if isinstance(node, ast.Subscript):
        holder = node.value
        looked_up = (
            isinstance(holder, ast.Call)
            and isinstance(holder.func, ast.Name)
            and holder.func.id == "vars"
            and holder.args
            and _is_namespace_expression(holder.args[0], aliases)
        ) or (
            isinstance(holder, ast.Attribute)
            and holder.attr == "__dict__"
            and _is_namespace_expression(holder.value, aliases)
        )
        if looked_up:
            name = _constant(node.slice)
            if name is None or name in names:
                return _short(ANSWER_MODULES[-1], name or _COMPUTED)
    return None


def _targets(node: ast.AST) -> list[str]:
    """The plain names an assignment binds."""
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    names = []
    for target in targets:
        for inner in ast.walk(target) if target is not None else ():
            if isinstance(inner, ast.Name):
                names.append(inner.id)
    return names


def collect_aliases(sources: Iterable[str], exercise: Exercise) -> Aliases:
    """Every binding to the answers anywhere in the notebook (two passes: aliases of aliases)."""
    aliases = Aliases()
    trees = [tree for tree in (_parse(source) for source in sources) if tree is not None]
    for _ in range(2):
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        if alias.name in ("helpers", *ANSWER_MODULES):
                            aliases.namespaces.add(alias.asname or alias.name.split(".")[0])
                elif isinstance(node, ast.ImportFrom) and node.module == "helpers":
                    for alias in node.names:
                        if alias.name in {_short(m) for m in ANSWER_MODULES}:
                            aliases.namespaces.add(alias.asname or alias.name)
                elif isinstance(node, ast.ImportFrom) and node.module in ANSWER_MODULES:
                    for alias in node.names:
                        if alias.name == "*":
                            aliases.star = True
                        elif alias.name in exercise.answer_names:
                            aliases.objects[alias.asname or alias.name] = _short(
                                node.module, alias.name
                            )
                elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    # A helper function that uses the answer hands it on to whoever calls it.
                    used = next(
                        (
                            u
                            for inner in node.body
                            for n in ast.walk(inner)
                            if (u := _answer_use(n, exercise, aliases))
                        ),
                        None,
                    )
                    if used is not None:
                        aliases.objects[node.name] = used
                elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
                    value = node.value
                    if value is None:
                        continue
                    if _is_namespace_expression(value, aliases):
                        aliases.namespaces.update(_targets(node))
                        continue
                    # A name bound to an answer, or to what calling one returned.
                    used = next(
                        (u for n in ast.walk(value) if (u := _answer_use(n, exercise, aliases))),
                        None,
                    )
                    if used is not None:
                        aliases.objects.update(dict.fromkeys(_targets(node), used))
    return aliases


def source_uses_answer(
    source: str, exercise: Exercise, aliases: Aliases | None = None
) -> str | None:
    """The answer of `exercise` that this cell's source uses (e.g. 'reference.alpaca_model')."""
    aliases = aliases or collect_aliases([source], exercise)
    tree = _parse(source)
    if tree is None:  # not Python even without magics: look at the text
        spelled = "|".join(re.escape(name) for name in sorted(exercise.answer_names))
        spaces = "|".join(re.escape(name) for name in sorted(aliases.namespaces))
        match = re.search(rf"\b(?:{spaces})\s*\.\s*({spelled})\b", source)
        return _short(ANSWER_MODULES[-1], match.group(1)) if match else None
    for node in ast.walk(tree):
        used = _answer_use(node, exercise, aliases)
        if used is not None:
            return used
    return None


def exercise_cells(sources: list[str], exercise: Exercise) -> list[int]:
    """Indices of the cells that answer `exercise`: its graded cell, its grader cells, and any
    cell that (re)defines its graded function."""
    marker = re.compile(
        rf"^\s*{re.escape(config.GRADED_FUNCTION_MARKER)}\s*{re.escape(exercise.graded_function)}\b",
        re.MULTILINE,
    )
    definition = re.compile(rf"\bdef\s+{re.escape(exercise.graded_function)}\s*\(")
    grader = re.compile(rf"\bcheck_{re.escape(exercise.key)}\b")
    return [
        index
        for index, source in enumerate(sources)
        if marker.search(source) or definition.search(source) or grader.search(source)
    ]


def notebook_findings(sources: list[str], notebook: str | None = None) -> dict[str, str]:
    """{exercise key: message} for each exercise (of notebook `notebook`, or any) whose cells
    in this notebook use its own answer. `sources` are the code cells' sources, in order."""
    found = {}
    for exercise in EXERCISES.values():
        if notebook is not None and exercise.notebook != notebook:
            continue
        cells = exercise_cells(sources, exercise)
        if not cells:
            continue
        aliases = collect_aliases(sources, exercise)
        for index in cells:
            used = source_uses_answer(sources[index], exercise, aliases)
            if used is not None:
                found[exercise.key] = message(exercise, used)
                break
    return found

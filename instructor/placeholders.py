"""The placeholder rule: what a learner sees of a master's solution regions.

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
"""

from __future__ import annotations

import ast
import io
import textwrap
import tokenize

from helpers.config import END_MARKER, START_MARKER

LEARNER_PREFIX = "# LEARNER:"
DEFAULT_HINT = "# replace None with your code"


class BuildError(ValueError):
    """A master notebook the build cannot turn into a learner copy (bad markers, bad code)."""


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

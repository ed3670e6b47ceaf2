"""Every number a learner reads is true: it comes from an output above it, or from the benchmark.

Two ways a number may stand in a master's markdown (and in README.md):

1. It appears in an output of an earlier cell of the same notebook (the same
   digits, or an output number that rounds to it).
2. It cites a figure of `benchmarks/results.json` by key, right after the
   number::

       0.95 (benchmark `val_acc_cv_probe_mean`)
       +0.012 (benchmark `fine_tuning_gain_cv`)
       0.93–0.96 (benchmark `val_acc_cv_final_ci95`)        a [low, high] figure
       [−0.03, +0.01] (benchmark `fine_tuning_gain_cv_ci95`) the same, as an interval
       4.4 % (benchmark `some_share`)                        % and "points": the figure x 100
       about 70 s (benchmark `course_notebooks/04_layer_freezing.ipynb`)   a path: keys / list indices

   The number must equal the figure within the rounding shown: half a unit of
   its last decimal (0.95 covers 0.945-0.955); for an integer, half a unit of
   its last non-zero digit (70 covers 65-75, 75 covers 74.5-75.5).
   `pending (benchmark `key`)` stands for a figure the benchmark does not hold
   yet; it fails as soon as results.json holds that key with a value, so that
   the number gets written in.

The second test flags every decimal number and percentage in markdown prose
that is neither cited nor in an earlier output (code spans, formulas and
links are not prose); ALLOWED lists the few obvious constants, each with its
reason.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest

from helpers import config
from helpers.data import PROVENANCE_STANDIN

RESULTS_FILE = config.PROJECT_ROOT / "benchmarks" / "results.json"
MASTERS = config.course_notebooks()
# Pages that cite benchmark figures too: the learner's README and the instructor's guide.
OTHER_PROSE = (config.PROJECT_ROOT / "README.md", config.PROJECT_ROOT / "docs" / "instructor.md")

NUMBER = r"[-+−]?\d+(?:\.\d+)?"
CITATION = re.compile(
    rf"(?P<value>pending|\[(?P<from>{NUMBER}), (?P<to>{NUMBER})\]"
    rf"|(?P<low>{NUMBER})(?:\s?–\s?(?P<high>{NUMBER}))?)"
    r"(?P<unit> ?%| percentage points| points| s| ms| MB| kB)?"
    r" \(benchmark `(?P<key>[^`]+)`\)"
)
# Units whose number is the figure times 100.
PERCENT_UNITS = ("%", "percentage points", "points")


# --- Citations of benchmark figures ---------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    """One `number (benchmark `key`)` in a markdown text."""

    where: str
    text: str
    key: str
    numbers: tuple[str, ...]  # empty for `pending`
    unit: str


def citations(text: str, where: str) -> list[Citation]:
    """Every benchmark citation in `text`."""
    found = []
    for match in CITATION.finditer(text):
        bounds = (match["from"], match["to"], match["low"], match["high"])
        numbers = tuple(n for n in bounds if n is not None)
        unit = (match["unit"] or "").strip()
        found.append(Citation(where, match.group(0), match["key"], numbers, unit))
    return found


_MISSING = object()


def figure_at(results: dict[str, Any], key: str) -> Any:
    """The figure a key path names (`a/b/3`: dict keys and list indices), or _MISSING."""
    value: Any = results
    for part in key.split("/"):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def rounding_of(number: str) -> float:
    """Half a unit of the last digit shown (for integers, of the last non-zero digit)."""
    digits = number.lstrip("+-−")
    if "." in digits:
        return 0.5 * 10 ** -len(digits.split(".")[1])
    trailing_zeros = len(digits) - len(digits.rstrip("0")) if digits.strip("0") else 0
    return 0.5 * 10**trailing_zeros


def as_float(number: str) -> float:
    """A number as written in prose (a Unicode minus allowed)."""
    return float(number.replace("−", "-"))


def citation_problem(citation: Citation, results: dict[str, Any]) -> str | None:
    """Why a citation does not hold against `results`, or None when it does."""
    figure = figure_at(results, citation.key)
    if not citation.numbers:
        if figure is _MISSING or figure is None:
            return None
        return (
            f"{citation.where}: {citation.text!r}: results.json now holds "
            f"{citation.key} = {figure!r}: write the number in place of 'pending'"
        )
    if figure is _MISSING or figure is None:
        return f"{citation.where}: {citation.text!r}: results.json has no figure {citation.key!r}"
    figures = figure if isinstance(figure, list) else [figure]
    if len(figures) != len(citation.numbers) or not all(
        isinstance(value, (int, float)) for value in figures
    ):
        return (
            f"{citation.where}: {citation.text!r} cites {len(citation.numbers)} number(s), "
            f"but {citation.key} is {figure!r}"
        )
    scale = 100.0 if citation.unit in PERCENT_UNITS else 1.0
    for shown, value in zip(citation.numbers, figures):
        # The tiny slack absorbs float noise at the exact edge of the rounding.
        if abs(as_float(shown) - scale * value) > rounding_of(shown) + 1e-9:
            return (
                f"{citation.where}: {citation.text!r}: {citation.key} is {value!r}, which does "
                f"not round to {shown}"
            )
    return None


def markdown_texts() -> Iterator[tuple[str, str]]:
    """(where, text) for every markdown cell of the masters, and the other prose files."""
    for path in MASTERS:
        notebook = nbformat.read(path, as_version=4)
        for index, cell in enumerate(notebook.cells):
            if cell.cell_type == "markdown":
                yield f"{path.name} cell {index}", cell.source
    for path in OTHER_PROSE:
        yield path.name, path.read_text(encoding="utf-8")


def all_citations() -> list[Citation]:
    """Every benchmark citation in the masters' markdown and the other prose files."""
    return [found for where, text in markdown_texts() for found in citations(text, where)]


def test_every_benchmark_figure_the_prose_cites_matches_results_json() -> None:
    results = json.loads(RESULTS_FILE.read_text())
    found = all_citations()
    assert found, "no benchmark citation found: has the citation form changed?"
    problems = [problem for c in found if (problem := citation_problem(c, results)) is not None]
    assert not problems, "\n".join(problems)


FAKE_RESULTS = {
    "acc_mean": 0.9487,
    "acc_ci95": [0.931, 0.962],
    "gain": 0.0051,
    "wall_s": {"04.ipynb": 74.5},
    "by_epoch": [0.5, 0.872],
    "not_yet": None,
}


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        ("reaches 0.95 (benchmark `acc_mean`)", True),
        ("reaches 0.949 (benchmark `acc_mean`)", True),
        ("reaches 0.94 (benchmark `acc_mean`)", False),
        ("reaches 0.9 (benchmark `acc_mean`)", True),
        ("within 0.93–0.96 (benchmark `acc_ci95`)", True),
        ("within 0.93–0.97 (benchmark `acc_ci95`)", False),
        ("interval [0.93, 0.96] (benchmark `acc_ci95`)", True),
        ("interval [−0.93, 0.96] (benchmark `acc_ci95`)", False),
        ("interval [0.931, 0.97] (benchmark `acc_ci95`)", False),
        ("gains +0.005 (benchmark `gain`)", True),
        ("gains +0.5 percentage points (benchmark `gain`)", True),
        ("gains +1.5 points (benchmark `gain`)", False),
        ("about 70 s (benchmark `wall_s/04.ipynb`)", True),
        ("about 80 s (benchmark `wall_s/04.ipynb`)", False),
        ("after five epochs 0.872 (benchmark `by_epoch/1`)", True),
        ("after five epochs 0.872 (benchmark `by_epoch/2`)", False),
        ("reaches pending (benchmark `not_yet`)", True),
        ("reaches pending (benchmark `absent_key`)", True),
        ("reaches pending (benchmark `acc_mean`)", False),
        ("reaches 0.95 (benchmark `absent_key`)", False),
        ("reaches 0.95 (benchmark `not_yet`)", False),
    ],
)
def test_the_citation_check_accepts_true_figures_and_refuses_others(text: str, holds: bool) -> None:
    (citation,) = citations(text, "example")
    assert (citation_problem(citation, FAKE_RESULTS) is None) == holds


# --- Numbers in prose: from an output above, cited, or an allowed constant --------------------

# Constants a learner reads that are neither measured nor printed, each with its reason.
ALLOWED: dict[str, str] = {
    "0.2": "the original assignment's validation split, dropout rate and rotation factor",
    "0.5": "the decision threshold on a probability",
    "0.62": "the probability of a logit of 0.5, worked out in notebook 04's text",
    "20 %": "the validation split (config.VALIDATION_SPLIT)",
    "80 %": "the training split",
    "100 %": "a model that is always right",
    "95 %": "the confidence level of the benchmark's intervals",
    "0.1 %": "one step of a momentum of 0.999: 1 - momentum",
    "0.999": "MobileNetV2's BatchNorm momentum, printed by notebook 05 before it is discussed",
    "0.001": "the base learning rate of the original assignment",
    "1.3": "ImageNet's 1.3 million training photos (notebook 03)",
}
# A number right after a library's name is its version, not a figure.
VERSION = re.compile(
    r"(?:Keras|TensorFlow|tf-keras|tf\.keras|Python|LiteRT|ai-edge-litert|TF) "
    r"(?P<number>\d+(?:\.\d+)+(?:\.\*)?)"
)
PROSE_NUMBER = re.compile(r"(?<![\w.−+-])(?P<number>\d+\.\d+|\d+(?:\.\d+)? ?%)(?![\w]|\.\d)")
NOT_PROSE = (
    re.compile(r"```.*?```", re.S),  # fenced code
    re.compile(r"`[^`]*`"),  # code spans
    re.compile(r"\$\$.*?\$\$", re.S),  # display formulas
    re.compile(r"\$[^$]*\$"),  # inline formulas
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"<https?://[^>]*>"),  # bare links
)
OUTPUT_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def prose_of(markdown: str) -> str:
    """A markdown text without citations, code, formulas, links and versions."""
    text = CITATION.sub(" ", markdown)
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    return VERSION.sub(" ", text)


def output_text(cell: nbformat.NotebookNode) -> str:
    """What a code cell printed: streams and plain-text results."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        parts.append(output.get("data", {}).get("text/plain", ""))
    return "\n".join(parts)


def shown_in(number: str, outputs: str) -> bool:
    """Whether `number` (e.g. '0.97' or '93%') is in `outputs`: the same digits, or a number
    there that rounds to it (for a percentage also a fraction that does, x 100)."""
    percent = number.endswith("%")
    digits = number.rstrip("% ")
    value, decimals = float(digits), len(digits.split(".")[1]) if "." in digits else 0
    for found in OUTPUT_NUMBER.findall(outputs):
        shown = float(found)
        candidates = [shown, shown * 100] if percent else [shown]
        if any(math.isclose(round(c, decimals), value, abs_tol=1e-9) for c in candidates):
            return True
    return False


def unexplained_numbers(path: Path) -> list[str]:
    """Each number in the notebook's prose that no earlier output shows and no rule allows."""
    notebook = nbformat.read(path, as_version=4)
    outputs_so_far = ""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            outputs_so_far += "\n" + output_text(cell)
            continue
        if cell.cell_type != "markdown":
            continue
        for match in PROSE_NUMBER.finditer(prose_of(cell.source)):
            number = re.sub(r"\s+%", " %", match["number"])
            if number in ALLOWED or number.replace(" ", "") in ALLOWED:
                continue
            if not shown_in(number, outputs_so_far):
                problems.append(f"{path.name} cell {index}: {number!r}")
    return problems


@pytest.mark.parametrize("path", MASTERS, ids=lambda path: path.name)
def test_every_number_in_the_prose_comes_from_an_output_above_or_the_benchmark(path: Path) -> None:
    problems = unexplained_numbers(path)
    assert not problems, (
        "numbers in the prose that no earlier output shows: print them in a cell above, cite "
        "the benchmark (`0.95 (benchmark `key`)`), or allow a constant in ALLOWED with its "
        "reason:\n" + "\n".join(problems)
    )


def test_the_numbers_check_finds_an_unexplained_figure(tmp_path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    printed = nbformat.v4.new_code_cell("print(0.9385)")
    printed.outputs = [nbformat.v4.new_output("stream", text="accuracy 0.9385\n")]
    notebook.cells = [
        nbformat.v4.new_markdown_cell("Before any output: 0.94."),
        printed,
        nbformat.v4.new_markdown_cell(
            "It reached 0.94, not 0.97; prefetch hid 93% of it; "
            "`RandomRotation(0.4)`; the CV says 0.95 (benchmark `x`); Keras 3.15.1."
        ),
    ]
    path = tmp_path / "07_example.ipynb"
    nbformat.write(notebook, path)
    assert unexplained_numbers(path) == [
        "07_example.ipynb cell 0: '0.94'",
        "07_example.ipynb cell 2: '0.97'",
        "07_example.ipynb cell 2: '93%'",
    ]


# --- Which weights made the stored numbers ---------------------------------------------------


@pytest.mark.parametrize("path", MASTERS, ids=lambda path: path.name)
def test_the_stored_setup_output_says_which_weights_made_the_numbers(path: Path) -> None:
    """The outputs stored in solutions/ come from the stand-ins (helpers.setup_notebook's line),
    which is what setup_notebook tells a learner whose weights differ."""
    notebook = nbformat.read(path, as_version=4)
    setup = next(
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and "setup_notebook()" in cell.source
    )
    assert f"ImageNet weights, by checksum: {PROVENANCE_STANDIN}" in output_text(setup)

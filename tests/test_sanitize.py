"""tests/sanitize.cfg hides only what it says it hides.

nbval runs every pattern of the file over every compared output before comparing.
A pattern that hits more than it was written for makes nbval compare less than
it seems to: `0x[0-9a-f]+` once turned `<Figure size 720x760 ...>` into
`<Figure size 72ADDRESS ...>` in 11 cells, so figure sizes were never compared.

Each pattern's header starts with a key; for each key this file says, independently
of the pattern, what a hit must look like (MEANINGS), and gives examples it must
hide and look-alikes it must leave alone (EXAMPLES). The patterns are then run, as
nbval runs them, over every stored output of every master in solutions/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbval.plugin import coalesce_streams, get_sanitize_patterns

from helpers import config

SANITIZE_FILE = config.PROJECT_ROOT / "tests" / "sanitize.cfg"
MASTERS = config.course_notebooks(config.SOLUTIONS_DIR)
# nbval compares neither images nor widget model ids (nbval.plugin.IPyNbFile.skip_compare).
NOT_COMPARED = ("image/png", "image/jpeg", "application/vnd.jupyter.widget-view+json")
ABSL_LINE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w./-]+:\d+\] .*"
)


@dataclass(frozen=True)
class Pattern:
    key: str
    regex: str
    replace: str


def read_patterns(path: Path = SANITIZE_FILE) -> list[Pattern]:
    """The patterns in file order, each with the key its `[key: ...]` header starts with."""
    patterns, key, regex = [], None, None
    for line in path.read_text().splitlines():
        if line.startswith("["):
            key = line[1:].split(":")[0].strip()
        elif line.startswith("regex: "):
            regex = line[len("regex: ") :]
        elif line.startswith("replace: "):
            assert key is not None and regex is not None, (
                f"a pattern without a [key: ...] header: {line}"
            )
            patterns.append(Pattern(key, regex, line[len("replace: ") :]))
            key = regex = None
    return patterns


# --- What each key may hide: judged on the hit and the whole string around it -------------


def _whole_lines(text: str, start: int, end: int) -> bool:
    """The hit starts at a line start and ends at a line end (or takes the newline with it)."""
    starts_line = start == 0 or text[start - 1] == "\n"
    ends_line = end == len(text) or text[end] == "\n" or text[end - 1] == "\n"
    return starts_line and ends_line


def _is_step_line(text: str, start: int, end: int) -> bool:
    hit = text[start:end]
    return _whole_lines(text, start, end) and bool(
        re.fullmatch(r"(\d+)/(\d+) - [\d.]+m?s - [\d.]+[mu]?s/step( - \w+: [-\d.e]+)*", hit)
    )


def _is_time_per_step(text: str, start: int, end: int) -> bool:
    hit = text[start:end]
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    whole_number = not (before.isalnum() or before in "._") and not (
        after.isalnum() or after == "_"
    )
    return whole_number and bool(re.fullmatch(r"[\d.]+ ?(ms|us|s)/(step|epoch|batch)", hit))


def _is_tf_log(text: str, start: int, end: int) -> bool:
    lines = text[start:end].rstrip("\n").split("\n")
    return _whole_lines(text, start, end) and all(ABSL_LINE.fullmatch(line) for line in lines)


def _is_address(text: str, start: int, end: int) -> bool:
    """An address inside an object's repr: `<... at 0x...>` on one line."""
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    return (
        bool(re.fullmatch(r"0x[0-9a-f]{4,16}", text[start:end]))
        and before.endswith(" at ")
        and "<" in before
        and text[end : end + 1] == ">"
    )


def _is_artifacts_path(text: str, start: int, end: int) -> bool:
    hit = text[start:end]
    return (
        _whole_lines(text, start, end)
        and hit.startswith("saved to ")
        and hit.endswith("/alpaca_phase1.keras")
    )


def _is_weights_line(text: str, start: int, end: int) -> bool:
    hit = text[start:end]
    return _whole_lines(text, start, end) and hit.startswith("ImageNet weights, by checksum: ")


MEANINGS: dict[str, Callable[[str, int, int], bool]] = {
    "step-line": _is_step_line,
    "time-per-step": _is_time_per_step,
    "tf-log": _is_tf_log,
    "address": _is_address,
    "artifacts-path": _is_artifacts_path,
    "weights-line": _is_weights_line,
}

# For each key: (text the pattern must change, text it must leave exactly as it is).
EXAMPLES: dict[str, tuple[list[str], list[str]]] = {
    "step-line": (
        [
            "9/9 - 8s - 868ms/step - accuracy: 0.5649 - loss: 0.8128 - val_accuracy: 0.7538",
            "Epoch 6/10\n9/9 - 10s - 1s/step - accuracy: 0.7824 - loss: 0.4769\nEpoch 7/10",
        ],
        ["Epoch 6/10", "Found 327 files belonging to 2 classes.", "9/9 batches - 8 seconds"],
    ),
    "time-per-step": (
        ["3/3 \u2501\u2501\u2501\u2501 1s 302ms/step", "0.5 s/epoch"],
        ["2.30 s", "1x0.5s/stepper", "a 5ms/steps delay"],
    ),
    "tf-log": (
        [
            "I0000 00:00:1795702775.606883    6960 port.cc:153] oneDNN custom operations are on.\n",
            "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "E0000 00:00:1795702785.541033    7188 cuda_platform.cc:52] failed call to cuInit\n",
        ],
        ["I0000 is not a log line", "Epoch 1/5: loss 0.5\n"],
    ),
    "address": (
        [
            "<function data_augmenter at 0x7f8edc7998a0>",
            "<keras.src.models.functional.Functional object at 0x7f3c2a1b9d50>",
        ],
        [
            "<Figure size 720x760 with 9 Axes>",
            "<Figure size 1000x400 with 2 Axes>",
            "0x10 is sixteen",
            "colour #2e7d32",
        ],
    ),
    "artifacts-path": (
        [
            "saved to artifacts/alpaca_phase1.keras\n",
            "saved to test-artifacts/nbval-alpaca-test-k3j_x9/alpaca_phase1.keras\n",
        ],
        ["saved to somewhere/else.keras\n", "Loaded the model saved by notebook 04.\n"],
    ),
    "weights-line": (
        [
            "ImageNet weights, by checksum: stand-in weights (rebuilt, not the official files)\n",
            "Random seed set to 42\nImageNet weights, by checksum: official Keras weights\n",
        ],
        ["Weights: already in '/root/.keras/models/'\n", "the ImageNet weights, by checksum\n"],
    ),
}


def compared_strings(path: Path) -> Iterator[tuple[str, str]]:
    """Every output string of a master that nbval sanitizes and compares: (where, text)."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for output in coalesce_streams(cell.outputs):
            where = f"{path.name} cell {index} ({output.output_type})"
            if output.output_type == "stream":
                yield where, output.text
            for mime, value in output.get("data", {}).items():
                if mime not in NOT_COMPARED and isinstance(value, str):
                    yield f"{where} {mime}", value


def misfires(text: str, patterns: list[Pattern]) -> tuple[str, list[str]]:
    """Apply the patterns in order, as nbval does; the result and every hit that is not what
    its key says it hides."""
    wrong = []
    for pattern in patterns:
        meaning = MEANINGS[pattern.key]
        for match in re.finditer(pattern.regex, text):
            if not meaning(text, match.start(), match.end()):
                shown = text[max(0, match.start() - 30) : match.end() + 10]
                wrong.append(f"[{pattern.key}] hit {match.group(0)!r} in ...{shown!r}...")
        text = re.sub(pattern.regex, pattern.replace, text)
    return text, wrong


PATTERNS = read_patterns()


def test_the_file_parses_as_nbval_parses_it() -> None:
    nbval_pairs = get_sanitize_patterns(SANITIZE_FILE.read_text())
    assert [(p.regex, p.replace) for p in PATTERNS] == nbval_pairs
    assert len(PATTERNS) == len(nbval_pairs) > 0


def test_every_pattern_says_what_it_hides_and_has_examples() -> None:
    keys = [pattern.key for pattern in PATTERNS]
    assert len(keys) == len(set(keys)), keys
    assert set(keys) == set(MEANINGS) == set(EXAMPLES)


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda pattern: pattern.key)
def test_every_pattern_is_anchored(pattern: Pattern) -> None:
    """A line start, a word boundary or a look-behind: never a bare run of characters."""
    regex = re.sub(r"^\(\?[a-z]+\)", "", pattern.regex)  # leading inline flags
    while regex.startswith("(") and not regex.startswith(("(?<=", "(?<!")):
        regex = regex[3:] if regex.startswith("(?:") else regex[1:]  # groups around the anchor
    assert regex.startswith(("^", r"\b", "(?<=", "(?<!")), pattern.regex


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda pattern: pattern.key)
def test_every_pattern_hides_its_examples_and_leaves_look_alikes_alone(pattern: Pattern) -> None:
    must_change, must_stay = EXAMPLES[pattern.key]
    for text in must_change:
        changed, wrong = misfires(text, [pattern])
        assert changed != text, f"{pattern.key} does not hide {text!r}"
        assert wrong == []
    for text in must_stay:
        assert misfires(text, [pattern]) == (text, []), f"{pattern.key} changed {text!r}"


def test_the_same_look_alike_is_caught_in_a_pattern_that_is_not_anchored() -> None:
    """The check below can fail: the unanchored address pattern this file once had is caught."""
    old = Pattern("address", "0x[0-9a-f]+", "ADDRESS")
    changed, wrong = misfires("<Figure size 720x760 with 9 Axes>", [old])
    assert changed == "<Figure size 72ADDRESS with 9 Axes>"
    assert len(wrong) == 1 and "'0x760'" in wrong[0]


@pytest.mark.parametrize("master", MASTERS, ids=lambda path: path.stem)
def test_patterns_hit_nothing_else_in_the_masters_stored_outputs(master: Path) -> None:
    problems = []
    for where, text in compared_strings(master):
        _sanitized, wrong = misfires(text, PATTERNS)
        problems += [f"{where}: {problem}" for problem in wrong]
    assert problems == [], "\n".join(problems)


def test_figure_sizes_are_compared() -> None:
    """The text the old pattern ate survives sanitizing in the masters (there are such cells)."""
    figures = [
        (where, text)
        for master in MASTERS
        for where, text in compared_strings(master)
        if text.startswith("<Figure size ")
    ]
    assert figures, "no stored figure reprs: this test no longer guards anything"
    for where, text in figures:
        assert misfires(text, PATTERNS) == (text, []), where

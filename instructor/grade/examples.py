"""Generated submissions, good and hostile, to try a grading run on (and to test it with).

    python -m instructor.grade.examples DIR [--secret-name NAME] [--outside PATH]

writes one subfolder per kind of learner into DIR; then
`python -m instructor.grade DIR --out grades.csv --feedback feedback` grades them.

| learner          | what they submitted                                         | expected row              |
| ---------------- | ----------------------------------------------------------- | ------------------------- |
| solutions        | the masters                                                 | every exercise passed     |
| untouched        | the learner copies as handed out                            | every exercise not yet    |
| endless_loop     | 01 whose exercise cell never ends                           | 01 timeout, datasets error|
| memory_hog       | 01 whose exercise cell allocates without end                | 01 memory, datasets error |
| reads_secret     | 01 that hunts for an instructor variable (env, /proc)       | value never in CSV/pages  |
| writes_outside   | 01 that writes to a path outside its folder, then solves it | datasets passed, no file  |
| not_json         | a 01 file that is not JSON                                  | 01 not a notebook         |
| empty            | an empty 01 file                                            | 01 empty file             |
| nbformat3        | the 01 master saved as notebook format 3                    | datasets passed           |
| own_helpers      | the 01 learner copy plus a `helpers/` whose graders always pass | datasets not yet      |
| missing_module   | the 01 master importing a module that does not exist        | datasets failed           |

Every other exercise of a learner who sent only 01 is `missing`.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import nbformat

from helpers import config

DEFAULT_SECRET_NAME = "ALPACA_INSTRUCTOR_TOKEN"

_FAKE_GRADERS = '''"""A learner's own graders: everything passes (a grading run must never import this)."""
from types import SimpleNamespace


def __getattr__(name):
    def check(*args, **kwargs):
        print("Passed")
        return SimpleNamespace(passed=True, status="passed", messages=["Passed"])
    return check
'''
_FAKE_INIT = '''"""A learner's own helpers package."""
def setup_notebook(*args, **kwargs):
    print("the learner's own helpers")
'''


def graded_notebooks(folder: Path) -> list[Path]:
    """The notebooks of `folder` that hold a graded exercise (01, 02, 04, 05, 06 today)."""
    return [
        p
        for p in config.course_notebooks(folder)
        if any(
            config.is_graded_function_cell(c.source) for c in nbformat.read(p, as_version=4).cells
        )
    ]


def _first(folder: Path, number: str) -> Path:
    return next(folder.glob(f"{number}_*.ipynb"))


def _with_exercise_cell(
    source_path: Path, change: str, mode: str = "prepend"
) -> nbformat.NotebookNode:
    """The notebook with its graded-function cell's source prepended with (or replaced by) `change`."""
    notebook = nbformat.read(source_path, as_version=4)
    cell = next(
        c
        for c in notebook.cells
        if c.cell_type == "code" and config.is_graded_function_cell(c.source)
    )
    cell.source = change if mode == "replace" else f"{change}\n{cell.source}"
    return notebook


def _write(notebook: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def write_examples(
    destination: Path,
    secret_name: str = DEFAULT_SECRET_NAME,
    outside: Path | None = None,
    kinds: list[str] | None = None,
) -> list[str]:
    """Write the learners of the table above (or only `kinds`) into `destination`; return their names."""
    master_01, copy_01 = _first(config.SOLUTIONS_DIR, "01"), _first(config.NOTEBOOKS_DIR, "01")
    outside = outside or destination.parent / f"{destination.name}-outside" / "escaped.txt"
    hunt = (
        "import glob, os\n"
        f"found = os.environ.get({secret_name!r}, '')\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n"
        "        for entry in open(path, 'rb').read().split(b'\\0'):\n"
        f"            if entry.startswith({secret_name!r}.encode() + b'='):\n"
        "                found += entry.decode(errors='replace')\n"
        "    except OSError:\n"
        "        pass\n"
        "print('found:', found)\n"
        "def create_datasets(*args, **kwargs):\n"
        "    raise RuntimeError('leaked: ' + found)\n"
    )
    escape = (
        "from pathlib import Path\n"
        f"for target in [Path({str(outside)!r}), Path.cwd().parent.parent / 'escaped-from-sandbox.txt']:\n"
        "    try:\n"
        "        target.parent.mkdir(parents=True, exist_ok=True)\n"
        "        target.write_text('written by a submission')\n"
        "        print('wrote', target)\n"
        "    except OSError as error:\n"
        "        print('could not write', target, type(error).__name__)\n"
    )
    makers = {
        "solutions": lambda folder: [
            shutil.copy(p, folder) for p in graded_notebooks(config.SOLUTIONS_DIR)
        ],
        "untouched": lambda folder: [
            shutil.copy(p, folder) for p in graded_notebooks(config.NOTEBOOKS_DIR)
        ],
        "endless_loop": lambda folder: _write(
            _with_exercise_cell(copy_01, "while True:\n    pass"), folder / copy_01.name
        ),
        "memory_hog": lambda folder: _write(
            _with_exercise_cell(
                copy_01, "hog = []\nwhile True:\n    hog.append(b'x' * 50_000_000)"
            ),
            folder / copy_01.name,
        ),
        "reads_secret": lambda folder: _write(
            _with_exercise_cell(copy_01, hunt, "replace"), folder / copy_01.name
        ),
        "writes_outside": lambda folder: _write(
            _with_exercise_cell(master_01, escape), folder / master_01.name
        ),
        "not_json": lambda folder: (folder / copy_01.name).write_text("this is not a notebook\n"),
        "empty": lambda folder: (folder / copy_01.name).write_bytes(b""),
        "nbformat3": lambda folder: (folder / master_01.name).write_text(
            nbformat.writes(nbformat.convert(nbformat.read(master_01, as_version=4), 3), version=3)
        ),
        "own_helpers": lambda folder: (
            shutil.copy(copy_01, folder),
            (folder / "helpers").mkdir(),
            (folder / "helpers" / "__init__.py").write_text(_FAKE_INIT),
            (folder / "helpers" / "graders.py").write_text(_FAKE_GRADERS),
        ),
        "missing_module": lambda folder: _write(
            _with_exercise_cell(master_01, "import alpaca_magic_that_does_not_exist"),
            folder / master_01.name,
        ),
    }
    names = kinds or list(makers)
    for name in names:
        folder = destination / name
        folder.mkdir(parents=True, exist_ok=True)
        makers[name](folder)
    return names


def main(argv: list[str] | None = None) -> int:
    """Command line: write the example submissions."""
    parser = argparse.ArgumentParser(
        prog="python -m instructor.grade.examples", description=__doc__.split("\n")[0]
    )
    parser.add_argument("destination", type=Path)
    parser.add_argument(
        "--secret-name",
        default=DEFAULT_SECRET_NAME,
        help="the instructor variable the reads_secret learner hunts for",
    )
    parser.add_argument(
        "--outside", type=Path, help="the file the writes_outside learner tries to write"
    )
    parser.add_argument("--kinds", nargs="*", help="only these learners")
    arguments = parser.parse_args(argv)
    names = write_examples(
        arguments.destination, arguments.secret_name, arguments.outside, arguments.kinds
    )
    print(f"wrote {len(names)} learners into {arguments.destination}: {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

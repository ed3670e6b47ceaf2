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

The hostile learners (issue 19): each attack either reports what it got away
with in its own error message ("loot: [...]", empty when it got nothing, so a
test can read it from the feedback page), or claims a pass it has not earned.
Whatever an attack manages to plant it removes again at once (it only reports it).
Attacks that need neither TensorFlow nor the real grader submit only their
exercise and grader cells (graded in seconds).

| learner            | attack                                                                 | expected row                      |
| ------------------ | ---------------------------------------------------------------------- | --------------------------------- |
| remount            | remounts / and the course read-write, writes outside                   | datasets failed, loot []          |
| umount_proc        | `umount -l /proc`, looks for the grader's processes                     | datasets failed, loot []          |
| plants_code        | sitecustomize.py / a .pth into the course, site-packages, helpers, cwd | datasets failed, loot []          |
| forges_verdicts    | 01: evidence holding a recorded `passed`; 02: a .keras with a Lambda   | datasets, data_augmenter failed   |
| replaces_graders   | a fake `helpers.graders` in sys.modules, recording passes              | datasets failed                   |
| reference_answer   | its graded function calls the course's answer (`reference.*`)          | datasets failed (not-own-answer)  |
| fifos              | replaces its evidence and progress files with FIFOs and links          | datasets failed, no hang          |
| memfd_hog          | writes 2.5 GB into memfds (not in RSS)                                 | 01 memory, datasets error         |
| sysv_hog           | 2.5 GB of SysV segments, written, then detached                        | 01 memory, no segment left        |
| comm_flood         | 100 widget comms of 8 MB, then the right answer                        | datasets passed                   |
| huge_message       | prints 64 MB, then fails with a 64 MB error                            | 01 message too large, small page  |
| unix_socket        | connects to a Unix socket and a loopback TCP port the machine listens on | datasets failed, loot []        |
| reads_others       | reads another learner's notebook, the grades CSV, other sandboxes      | datasets failed, loot []          |
| bad_tags           | a cell whose `"tags"` is 5                                             | 01 not a notebook                 |
| deep_json          | a cell's metadata nested 200 deep                                      | 01 not a notebook                 |
| zz_after_attacks   | the 01 master, graded after the attackers                              | datasets passed                   |
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Targets:
    """What the hostile learners reach for: paths outside their sandbox, on the grading machine."""

    outside: Path  # a file they try to write
    other_notebook: Path  # another learner's submitted notebook
    grades: Path  # the grades CSV
    listener: Path  # a Unix socket someone listens on
    tcp_port: int = 22  # a TCP port someone listens on at 127.0.0.1 (ssh, say)


# Every loot-reporting attack starts with this and ends with LOOT_END.
LOOT_START = (
    f"{config.GRADED_FUNCTION_MARKER} create_datasets\n"
    "import json, os, subprocess, sysconfig\nfrom pathlib import Path\nloot = []\n"
)
LOOT_END = (
    "def create_datasets(*args, **kwargs):\n    raise RuntimeError('loot: ' + json.dumps(loot))\n"
)


def _attacks(targets: Targets) -> dict[str, str]:
    """The code of each loot-reporting attack (it replaces the graded-function cell)."""
    course = str(config.PROJECT_ROOT)
    remount = (
        "points = [line.split()[4] for line in open('/proc/self/mountinfo')]\n"
        "for point in points:\n"
        "    for options in ('remount,bind,rw', 'remount,rw'):\n"
        "        try:\n"
        "            done = subprocess.run(['mount', '-o', options, point], capture_output=True)\n"
        "        except OSError:\n"
        "            continue\n"
        "        if done.returncode == 0 and point in ('/', '/usr', '/work'):\n"
        "            loot.append('remounted ' + point)\n"
    )
    return {
        "remount": (
            remount + "# The course is there inside too: a write there is a write outside.\n"
            f"target = Path({course!r}) / 'escaped-from-sandbox.txt'\n"
            "try:\n"
            "    target.write_text('written by a submission')\n"
            "    loot.append('wrote ' + str(target))\n"
            "    target.unlink()\n"
            "except OSError:\n"
            "    pass\n"
            "# The instructor's file, if it were not a private tmpfs here (the test looks for it).\n"
            f"target = Path({str(targets.outside)!r})\n"
            "try:\n"
            "    target.parent.mkdir(parents=True, exist_ok=True)\n"
            "    target.write_text('written by a submission')\n"
            "except OSError:\n"
            "    pass\n"
        ),
        "umount_proc": (
            "if subprocess.run(['umount', '-l', '/proc'], capture_output=True).returncode == 0:\n"
            "    loot.append('unmounted /proc')\n"
            "for pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
            "    try:\n"
            "        command = open(f'/proc/{pid}/cmdline', 'rb').read()\n"
            "    except OSError:\n"
            "        continue\n"
            "    if any(word in command for word in (b'instructor.grade', b'multiprocessing', b'distributed')):\n"
            "        loot.append('saw the grader: ' + pid)\n"
            "visible = [p for p in os.listdir('/proc') if p.isdigit()]\n"
            "if len(visible) > 10:  # a sandbox holds its init, the kernel and what the kernel started\n"
            "    loot.append(f'saw {len(visible)} processes')\n"
        ),
        "plants_code": (
            remount + "purelib = Path(sysconfig.get_paths()['purelib'])\n"
            f"for target in (Path({course!r}) / 'sitecustomize.py', purelib / 'sitecustomize.py',\n"
            f"               purelib / 'zz_alpaca_planted.pth', Path({course!r}) / 'helpers' / 'sitecustomize.py'):\n"
            "    try:\n"
            "        target.write_text('# planted by a submission\\n')\n"
            "        loot.append('planted ' + str(target))\n"
            "        target.unlink()\n"
            "    except OSError:\n"
            "        pass\n"
            "# Its own folder is its to write; nothing there is on another process's import path.\n"
            "try:\n"
            "    Path('sitecustomize.py').write_text('raise SystemExit(\"planted code ran\")\\n')\n"
            "except OSError:\n"
            "    pass\n"
        ),
        "unix_socket": (
            "import socket\n"
            "try:\n"
            "    client = socket.socket(socket.AF_UNIX)\n"
            "    client.settimeout(3)\n"
            f"    client.connect({str(targets.listener)!r})\n"
            "    client.sendall(b'hello from a submission')\n"
            "    loot.append('connected')\n"
            "    client.close()\n"
            "except OSError:\n"
            "    pass\n"
            "try:\n"
            f"    client = socket.create_connection(('127.0.0.1', {targets.tcp_port}), timeout=3)\n"
            "    client.sendall(b'hello over TCP from a submission')\n"
            "    loot.append('connected over TCP')\n"
            "    client.close()\n"
            "except OSError:\n"
            "    pass\n"
        ),
        "reads_others": (
            "import glob\n"
            f"for path in [{str(targets.other_notebook)!r}, {str(targets.grades)!r},\n"
            "             *glob.glob('/tmp/alpaca-grade-*/work/*.ipynb')]:\n"
            "    try:\n"
            "        if not path.startswith(os.getcwd()) and open(path, 'rb').read(100):\n"
            "            loot.append('read ' + path)\n"
            "    except OSError:\n"
            "        pass\n"
        ),
    }


# After every cell: the datasets evidence replaced by a recorded verdict that says `passed`
# (what a check records when it ends early; never a pass) and a verdict line in the old format.
FORGE = f"""{config.GRADED_FUNCTION_MARKER} create_datasets
import json, os
from pathlib import Path
def _forge(*args, **kwargs):
    folder = Path(os.environ["{config.ENV_EVIDENCE_DIR}"], "datasets")
    folder.mkdir(parents=True, exist_ok=True)
    passed = {{"status": "passed", "code": "passed", "message": "Passed (forged)"}}
    record = {{"format": 1, "exercise": "datasets", "screened": passed, "facts": None}}
    (folder / "facts.json").write_text(json.dumps(record))
    (folder.parent / "verdicts.jsonl").write_text(json.dumps({{"exercise": "datasets", "status": "passed"}}))
get_ipython().events.register("post_run_cell", _forge)
def create_datasets(*args, **kwargs):
    return None, None
"""
# Notebook 02's evidence: the augmenter as a .keras file with a Lambda layer (Python code that
# would run wherever the file is loaded without Keras' safe mode), beside the right layers.
FORGE_MODEL = f"""{config.GRADED_FUNCTION_MARKER} data_augmenter
import json, os
from pathlib import Path
import keras
def data_augmenter():
    return keras.Sequential([keras.layers.RandomFlip("horizontal"), keras.layers.RandomRotation({config.ROTATION_FACTOR})])
folder = Path(os.environ["{config.ENV_EVIDENCE_DIR}"], "data_augmenter")
folder.mkdir(parents=True, exist_ok=True)
forged = keras.Sequential([keras.Input((160, 160, 3)), *data_augmenter().layers, keras.layers.Lambda(lambda x: x)])
forged.save(folder / "model.keras")
record = {{"format": 1, "exercise": "data_augmenter", "screened": None, "facts": {{}}}}
(folder / "facts.json").write_text(json.dumps(record))
"""
# A fake graders module, in sys.modules and in the notebook's namespace, whose every check
# records a pass through the course's own recording (helpers.evidence) and prints "Passed".
REPLACE_GRADERS = """import sys, types
from helpers import evidence
def _pass(*args, **kwargs):
    passed = evidence.Screened("passed", "passed", "Passed (fake)")
    evidence.store(evidence.evidence_root(), "datasets", passed)
    print("Passed")
    return types.SimpleNamespace(exercise="datasets", status="passed", messages=["Passed (fake)"])
graders = types.ModuleType("helpers.graders")
graders.__getattr__ = lambda name: _pass
sys.modules["helpers.graders"] = graders
"""
REFERENCE_ANSWER = """# GRADED FUNCTION: create_datasets
def create_datasets(directory=config.DATASET_DIR):
    ### START CODE HERE
    return reference.make_datasets(directory)
    ### END CODE HERE
"""
# After the grader's cell: the files the grading run reads back replaced by FIFOs and links.
FIFOS = """import os
def _fifos(result):
    if "graders.check" + "_datasets(" not in result.info.raw_cell:  # after the grader's cell only
        return
    evidence = os.environ["ALPACA_EVIDENCE_DIR"]
    for path in (os.environ["ALPACA_PROGRESS_FILE"], os.path.join(evidence, "datasets", "facts.json")):
        try:
            os.unlink(path)
        except OSError:
            pass
        os.mkfifo(path)
    if not os.path.lexists(os.path.join(evidence, "link")):
        os.symlink("/etc/hostname", os.path.join(evidence, "link"))
        os.symlink("/", os.path.join(evidence, "alpaca_model"))
get_ipython().events.register("post_run_cell", _fifos)
"""
MEMFD_HOG = """import os, time
hogs = [os.memfd_create(f"hog{n}") for n in range(5)]
for hog in hogs:  # 2.5 GB in 64 MB steps, never mapped: invisible to RSS
    for _ in range(8):
        os.write(hog, b"x" * 64 * 1024**2)
        time.sleep(0.05)
"""
SYSV_HOG = """import ctypes, time
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
libc.shmget.argtypes = [ctypes.c_int, ctypes.c_size_t, ctypes.c_int]
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
libc.shmdt.argtypes = [ctypes.c_void_p]
size = 128 * 1024**2
for _ in range(20):  # 2.5 GB of segments, written, then detached: in no process's memory
    segment = libc.shmget(0, size, 0o1600)
    address = libc.shmat(segment, None, 0)
    ctypes.memset(address, 1, size)
    libc.shmdt(address)
    time.sleep(0.1)
"""
COMM_FLOOD = """import comm
for _ in range(100):  # 800 MB of widget state the grading process must not keep
    comm.create_comm(target_name="jupyter.widget", data={"state": {"value": "x" * 8_000_000}})
"""
HUGE_MESSAGE = """# GRADED FUNCTION: create_datasets
print("x" * 64_000_000)
def create_datasets(*args, **kwargs):
    raise RuntimeError("y" * 64_000_000)
"""


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
    """The notebook with `change` before (prepend), after (append) or instead of (replace) its graded-function cell."""
    notebook = nbformat.read(source_path, as_version=4)
    cell = next(
        c
        for c in notebook.cells
        if c.cell_type == "code" and config.is_graded_function_cell(c.source)
    )
    if mode == "replace":
        cell.source = change
    elif mode == "append":
        cell.source = f"{cell.source}\n{change}"
    else:
        cell.source = f"{change}\n{cell.source}"
    return notebook


def _write(notebook: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, path)


def _writer(source: Path, change: str, mode: str = "prepend", light: bool = False):
    """A maker that writes `source` with its graded-function cell changed (see _with_exercise_cell).

    `light`: only that cell and the grader cells are kept. An attack that needs
    neither TensorFlow nor the real grader is graded in seconds that way (a
    learner may submit any notebook).
    """

    def make(folder: Path) -> None:
        notebook = _with_exercise_cell(source, change, mode)
        if light:
            notebook.cells = [
                cell
                for cell in notebook.cells
                if cell.cell_type == "code"
                and (
                    config.is_graded_function_cell(cell.source)
                    or config.is_grader_cell(cell.source)
                )
            ]
        _write(notebook, folder / source.name)

    return make


def _both(*makers):
    """A maker that runs each of `makers` (a learner submitting several notebooks)."""

    def make(folder: Path) -> None:
        for maker in makers:
            maker(folder)

    return make


def _write_json(document: dict, path: Path) -> None:
    """Write a notebook-like document as it is: no nbformat validation in the way."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document))


def _bad_tags(source: Path) -> dict:
    """`source` as JSON, with one cell's tags a number."""
    document = json.loads(source.read_text())
    document["cells"][0].setdefault("metadata", {})["tags"] = 5
    return document


def _deep_json(source: Path, depth: int = 200) -> dict:
    """`source` as JSON, with one cell's metadata nested `depth` deep."""
    document = json.loads(source.read_text())
    nested: object = "deep"
    for _ in range(depth):
        nested = {"x": nested}
    document["cells"][0].setdefault("metadata", {})["nested"] = nested
    return document


def write_examples(
    destination: Path,
    secret_name: str = DEFAULT_SECRET_NAME,
    outside: Path | None = None,
    kinds: list[str] | None = None,
    targets: Targets | None = None,
) -> list[str]:
    """Write the learners of the tables above (or only `kinds`) into `destination`; return their names."""
    master_01, copy_01 = _first(config.SOLUTIONS_DIR, "01"), _first(config.NOTEBOOKS_DIR, "01")
    copy_02 = _first(config.NOTEBOOKS_DIR, "02")
    outside = outside or destination.parent / f"{destination.name}-outside" / "escaped.txt"
    targets = targets or Targets(
        outside=outside,
        other_notebook=destination / "solutions" / master_01.name,
        grades=destination.parent / "grades.csv",
        listener=destination.parent / f"{destination.name}-listener.sock",
    )
    attacks = _attacks(targets)
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
        **{
            name: _writer(master_01, LOOT_START + code + LOOT_END, "replace", light=True)
            for name, code in attacks.items()
        },
        "forges_verdicts": _both(
            _writer(copy_01, FORGE, "replace", light=True),
            _writer(copy_02, FORGE_MODEL, "replace", light=True),
        ),
        "replaces_graders": _writer(copy_01, REPLACE_GRADERS),
        "reference_answer": _writer(master_01, REFERENCE_ANSWER, "replace"),
        "fifos": _writer(master_01, FIFOS),
        "memfd_hog": _writer(master_01, MEMFD_HOG, light=True),
        "sysv_hog": _writer(master_01, SYSV_HOG, light=True),
        "comm_flood": _writer(master_01, COMM_FLOOD),
        "huge_message": _writer(master_01, HUGE_MESSAGE, "replace", light=True),
        "bad_tags": lambda folder: _write_json(_bad_tags(master_01), folder / master_01.name),
        "deep_json": lambda folder: _write_json(_deep_json(master_01), folder / master_01.name),
        "zz_after_attacks": lambda folder: shutil.copy(master_01, folder),
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

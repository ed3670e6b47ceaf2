"""The course on Google Colab: knowing where it runs, and setting up a fresh Colab session.

Locally nothing here does anything: `running_on_colab()` is one dictionary lookup,
and `helpers.setup_notebook()` calls `prepare()` only when it is True.

How Colab is recognised
-----------------------
Colab's kernel is `google.colab._kernel.Kernel`, whose shell class lives in
`google.colab._shell` (googlecolab/colabtools, google/colab/_kernel.py), so
`google.colab` is in `sys.modules` before the first cell runs. kagglehub
recognises Colab by the same shell (kagglehub/env.py: `"google.colab" in
str(get_ipython())`). The course never imports `google.colab` itself unless
that check is already true, so locally the check cannot be fooled by an
installed `google-colab` package.

What happens on Colab
---------------------
1. The learner copy's Colab cell (written by `instructor/colab.py`, only into
   copies of a course with a public address) clones the course at its ref
   into `/content/<name>`, puts it first on `sys.path` and calls
   `check_notebook(name, content_hash, clone_started)`. A file cannot hold
   its own commit's hash, so the build embeds a hash of the learner copy's
   content instead: when the fetched course's copy of this notebook carries
   another hash (the ref moved on since the learner opened or saved the
   notebook), the course's history is searched for the commit whose copy
   carries this one, and that commit is checked out. Then the working folder
   becomes the course's `notebooks/`, as under `make lab`.
2. `helpers.setup_notebook()` calls `prepare()` before TensorFlow is imported:
   it installs the packages of `requirements.txt` (read now, never
   hard-coded) whose installed version differs from the pin, except Colab's
   own kernel and front end (`config.COLAB_KEEPS`); a changed package that
   this session had already imported makes it stop with "restart the session
   and run this cell again". Then it fetches the dataset (Kaggle, through
   kagglehub) and the weights (Keras' address) when they are missing, turns on
   Colab's custom widget manager for the explorers, and prints one line: what
   it did and how long it took. A second run finds everything in place.

`check_notebook`'s signature is called by the cells of every built version of
the course: keep it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from helpers import config
from helpers.setup_errors import SetupError

if TYPE_CHECKING:  # packaging is imported only on Colab, when requirements are read
    from packaging.requirements import Requirement

COLAB_MODULE = "google.colab"
# What this kernel process did so far (the clone, a switch of commit), kept in its environment:
# a switch of commit re-imports `helpers`, and a restarted session starts without it.
SESSION_VARIABLE = "ALPACA_COLAB_SESSION"
# The call the set-up cell makes, as the build writes it: check_notebook("NAME", "HASH", ...).
_CHECK_CALL = re.compile(r'check_notebook\(\s*"(?P<name>[^"]+)",\s*"(?P<hash>[0-9a-f]+)"')
RESTART_HINT = "Restart the session (Runtime > Restart session) and run this cell again"
WIDGET_MANAGER_NOTE = (
    "Note: on Colab the explorers are ipywidgets 8 widgets, which Colab shows only with its "
    "custom widget manager (loaded from a CDN). It is off in this session, so here is a static "
    "picture. To get the widget: run `from google.colab import output; "
    "output.enable_custom_widget_manager()` (helpers.setup_notebook() does it), then this cell again."
)
PACKAGES_LISTED = 4  # changed packages named in the summary line; the rest are counted

_widget_manager_enabled = False


class RestartNeeded(SetupError):
    """Packages this session had already imported were replaced; the message says to restart."""


def running_on_colab() -> bool:
    """True inside a Colab kernel (its shell lives in `google.colab`, loaded before any cell)."""
    return COLAB_MODULE in sys.modules


# --- The notebook and the fetched course -------------------------------------------------


def _session() -> dict:
    """What this kernel process recorded about the course (see SESSION_VARIABLE)."""
    try:
        return json.loads(os.environ.get(SESSION_VARIABLE, "{}"))
    except ValueError:
        return {}


def _record(**facts: object) -> None:
    """Add facts to this process's session record."""
    os.environ[SESSION_VARIABLE] = json.dumps({**_session(), **facts})


def embedded_hash(notebook_text: str) -> str | None:
    """The content hash the build wrote into a learner copy's Colab cell, or None."""
    try:
        cells = json.loads(notebook_text).get("cells", [])
    except (ValueError, AttributeError):
        return None
    for cell in cells:
        if isinstance(cell, dict) and cell.get("id") == config.COLAB_SETUP_CELL_ID:
            source = cell.get("source", "")
            match = _CHECK_CALL.search("".join(source) if isinstance(source, list) else source)
            return match["hash"] if match else None
    return None


def _git(course: Path, *arguments: str) -> str:
    """Run git in the course folder; its stdout, or a SetupError with git's own words."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(course), *arguments], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError) as error:
        said = getattr(error, "stderr", "") or str(error)
        raise SetupError(
            f"git {' '.join(arguments[:2])} failed in {course}: {said.strip()[-500:]}. Check the "
            "session's network and run this cell again; if it keeps failing, delete the folder "
            f"(`!rm -rf {course}`) so that the cell fetches the course afresh."
        ) from error
    return completed.stdout


def find_commit(course: Path, name: str, wanted: str) -> str | None:
    """The newest commit of the course whose copy of notebooks/`name` carries hash `wanted`.

    A shallow clone (the set-up cell's) first gets its whole history.
    """
    if _git(course, "rev-parse", "--is-shallow-repository").strip() == "true":
        _git(course, "fetch", "--quiet", "--unshallow")
    path = f"notebooks/{name}"
    for commit in _git(course, "log", "--format=%H", "HEAD", "--", path).split():
        if embedded_hash(_git(course, "show", f"{commit}:{path}")) == wanted:
            return commit
    return None


def _forget_helpers() -> None:
    """Drop the imported `helpers` modules, so that the next import reads the checked-out files."""
    for module in [m for m in sys.modules if m == "helpers" or m.startswith("helpers.")]:
        del sys.modules[module]
    importlib.invalidate_caches()


def check_notebook(name: str, content_hash: str, clone_started: float | None = None) -> None:
    """Make sure the fetched course is the one this notebook was built with; work in its notebooks/.

    Called by the Colab cell of every learner copy (keep the signature): `name` is the
    notebook's file name, `content_hash` the hash the build embedded in that cell, and
    `clone_started` the time the cell began cloning (None when the course was already there).
    """
    course = config.PROJECT_ROOT
    if clone_started is not None:
        _record(clone_s=round(time.time() - clone_started, 1))
    copy = course / "notebooks" / name
    fetched = embedded_hash(copy.read_text(encoding="utf-8")) if copy.is_file() else None
    if fetched != content_hash:
        commit = find_commit(course, name, content_hash)
        if commit is None:
            raise SetupError(
                f"This notebook ({name}, content {content_hash}) is not in the history of the "
                f"course fetched into {course} (ref {config.COLAB_REF}): it comes from another copy "
                "of the course. Open the notebook again from the course's own 'Open in Colab' link, "
                "or delete that folder (`!rm -rf "
                f"{course}`) and run this cell again."
            )
        _git(course, "checkout", "--quiet", "--detach", commit)
        _record(switched_to=commit[:7])
        print(
            f"Colab: this notebook is from commit {commit[:7]} of the course, not the newest on "
            f"{config.COLAB_REF}; using the course as it was at that commit."
        )
        _forget_helpers()  # the setup cell's `import helpers` must read that commit's files
    os.chdir(course / "notebooks")  # relative paths as under `make lab`


# --- Packages ------------------------------------------------------------------------------


def _canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def learner_requirements(path: Path | None = None) -> list[Requirement]:
    """The requirements of the learner's requirements file that apply on this machine.

    Markers are evaluated here; Colab's own kernel and front end (`config.COLAB_KEEPS`)
    and option lines (`-r`, `--index-url`) are left out.
    """
    from packaging.requirements import InvalidRequirement, Requirement

    path = Path(path or config.REQUIREMENTS_FILE)
    keeps = {_canonical(name) for name in config.COLAB_KEEPS}
    found = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = re.sub(r"(^|\s)#.*$", "", line).strip()  # pip's comment rule
        if not text or text.startswith("-"):
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            raise SetupError(
                f"Line {number} of {path} is not a requirement pip understands "
                f"({' '.join(str(error).split())}): "
                f"{line!r}. Restore the file (`!git -C {path.parent} checkout -- {path.name}`) "
                "and run this cell again."
            ) from error
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        if _canonical(requirement.name) not in keeps:
            found.append(requirement)
    return found


def _installed_version(name: str) -> str | None:
    """The version of a distribution as imports see it (the first on sys.path), or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def packages_to_install(
    requirements: Sequence[Requirement],
    version_of: Callable[[str], str | None] = _installed_version,
) -> list[tuple[Requirement, str | None]]:
    """The requirements the installed versions do not satisfy, each with the version found."""
    wrong = []
    for requirement in requirements:
        found = version_of(requirement.name)
        if found is None or not requirement.specifier.contains(found, prereleases=True):
            wrong.append((requirement, found))
    return wrong


def _distribution_versions() -> dict[str, str]:
    """{canonical name: version} of every installed distribution, the first on sys.path winning."""
    versions: dict[str, str] = {}
    for distribution in importlib.metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            versions.setdefault(_canonical(name), distribution.version)
    return versions


def imported_among(names: Sequence[str]) -> list[str]:
    """The distributions among `names` whose modules this process has imported."""
    modules_of: dict[str, set[str]] = defaultdict(set)
    for module, distributions in importlib.metadata.packages_distributions().items():
        for distribution in distributions:
            modules_of[_canonical(distribution)].add(module)
    return sorted(name for name in names if modules_of[_canonical(name)] & set(sys.modules))


@dataclass
class Installed:
    """What one run of pip changed: (name, old version or None, new version or None)."""

    changes: list[tuple[str, str | None, str | None]] = field(default_factory=list)

    def describe(self) -> str:
        """'installed a 1.0 (was 0.9), b 2.0' with at most PACKAGES_LISTED names."""
        parts = [
            f"{name} {new}" + (f" (was {old})" if old else "") if new else f"removed {name} {old}"
            for name, old, new in self.changes
        ]
        more = len(parts) - PACKAGES_LISTED
        return (
            "installed "
            + ", ".join(parts[:PACKAGES_LISTED])
            + (f" and {more} more" if more > 0 else "")
        )


def install(
    requirements: Sequence[Requirement], wanted: Sequence[tuple[Requirement, str | None]]
) -> Installed:
    """pip-install `wanted` with every requirement as a constraint; raise RestartNeeded when
    a package this session had imported changed (pip may change dependencies too)."""
    before = _distribution_versions()
    with tempfile.TemporaryDirectory(prefix="alpaca-colab-") as scratch:
        constraints = Path(scratch) / "constraints.txt"
        # Constraints take no extras and no markers (pip): the name and the pin only.
        constraints.write_text(
            "".join(f"{r.name}{r.specifier}\n" for r in requirements), encoding="utf-8"
        )
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--constraint",
            str(constraints),
            *[f"{r.name}{r.specifier}" for r, _ in wanted],
        ]
        completed = subprocess.run(command, capture_output=True, text=True)
    importlib.invalidate_caches()
    names = ", ".join(f"{r.name}{r.specifier}" for r, _ in wanted)
    if completed.returncode != 0:
        said = (completed.stderr or completed.stdout).strip()[-1500:]
        raise SetupError(
            f"pip could not install {names}:\n{said}\nCheck the session's network and run this "
            "cell again."
        )
    still_wrong = packages_to_install([r for r, _ in wanted])
    if still_wrong:
        raise SetupError(
            f"pip ran, but {', '.join(f'{r.name} is {found}' for r, found in still_wrong)} "
            f"(wanted {names}). {RESTART_HINT}."
        )
    after = _distribution_versions()
    changed = Installed(
        [
            (name, before.get(name), after.get(name))
            for name in sorted(set(before) | set(after))
            if before.get(name) != after.get(name)
        ]
    )
    imported = imported_among([name for name, _, _ in changed.changes])
    if imported:
        raise RestartNeeded(
            f"Colab: {changed.describe()}. This session had already imported "
            f"{', '.join(imported)}, so the old version is still the one in use. {RESTART_HINT}: "
            "nothing is installed twice."
        )
    return changed


# --- Widgets -------------------------------------------------------------------------------


def enable_custom_widget_manager() -> bool:
    """Turn on Colab's custom widget manager, which ipywidgets 8 widgets need there; True if on.

    Colab's own manager renders ipywidgets 7; for others it offers
    `google.colab.output.enable_custom_widget_manager()` (colabtools #498, #4525).
    """
    global _widget_manager_enabled
    try:
        from google.colab import output

        output.enable_custom_widget_manager()
    except Exception:  # an old or local runtime without it: the explorers stay static
        return False
    _widget_manager_enabled = True
    return True


def custom_widget_manager_enabled() -> bool:
    """Whether this session's explorers can be widgets: turned on here or by the learner."""
    widgets = sys.modules.get("google.colab.output._widgets")  # where Colab keeps its state
    return _widget_manager_enabled or bool(getattr(widgets, "_installed_url", None))


# --- The set-up ----------------------------------------------------------------------------


def _course_label() -> str:
    """'main@1a2b3c4', from the configured ref and the checked-out commit."""
    try:
        commit = _git(config.PROJECT_ROOT, "rev-parse", "--short=7", "HEAD").strip()
    except SetupError:
        commit = "?"
    return f"{config.COLAB_REF}@{commit}"


@contextlib.contextmanager
def _quietly() -> Iterator[None]:
    """Keep the downloads' own lines and progress bars (kagglehub, Keras) out of the cell: the
    set-up says what it did in one line. Their errors still raise, with the course's message."""
    kagglehub_log = logging.getLogger("kagglehub")
    level = kagglehub_log.level
    kagglehub_log.setLevel(logging.WARNING)  # its handler writes to the stdout it found at import
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        kagglehub_log.setLevel(level)


def _dataset_complete() -> bool:
    """Whether the course's dataset/ holds every image of the manifest, intact."""
    from helpers import data

    try:
        data.require_dataset()
    except data.DataError:
        return False
    return True


def _weights_complete() -> bool:
    """Whether Keras' cache holds the weight files and the class index."""
    models = config.keras_models_dir()
    return all((models / name).is_file() for name in config.KERAS_CACHE_FILES)


def _fetch_dataset() -> str:
    """Fetch the dataset (Kaggle unless a source is set); say from where."""
    from helpers import data

    if os.environ.get(config.ENV_DATASET_SOURCE):
        origin = f"from {os.environ[config.ENV_DATASET_SOURCE]}"
    elif os.environ.get(config.ENV_DATASET_URL):
        origin = f"from {os.environ[config.ENV_DATASET_URL]}"
    else:
        origin = f"from Kaggle ({config.KAGGLE_DATASET})"
    with _quietly():
        data.fetch_dataset()
    return f"dataset fetched {origin}"


def _fetch_weights() -> str:
    """Fetch the weights into Keras' cache; say which weights they are."""
    from helpers import data

    with _quietly():
        data.fetch_weights()
    return f"weights fetched ({data.weights_provenance()})"


def prepare() -> str:
    """Set up this Colab session for the course (module docstring); print and return one line.

    While it works, a line says what it is doing; the summary line then replaces it.
    """
    started = time.time()
    session = _session()
    requirements = learner_requirements()
    wanted = packages_to_install(requirements)
    need_dataset, need_weights = not _dataset_complete(), not _weights_complete()
    todo = [f"installing {', '.join(r.name for r, _ in wanted)}"] if wanted else []
    todo += ["downloading the dataset"] * need_dataset + ["downloading the weights"] * need_weights
    if todo:
        print(f"Colab: setting up this session ({'; '.join(todo)})...", end="\r", flush=True)
    steps = [f"course {_course_label()}" + (" fetched" if "clone_s" in session else "")]
    steps.append(install(requirements, wanted).describe() if wanted else "packages as pinned")
    steps.append(_fetch_dataset() if need_dataset else "dataset in place")
    steps.append(_fetch_weights() if need_weights else "weights in place")
    steps.append(
        "interactive explorers on (custom widget manager)"
        if enable_custom_widget_manager() or custom_widget_manager_enabled()
        else "explorers as static pictures (no custom widget manager)"
    )
    # The clone happened before this call; count it, once.
    seconds = time.time() - started + float(session.pop("clone_s", 0.0))
    os.environ[SESSION_VARIABLE] = json.dumps(session)
    line = f"Colab: {'; '.join(steps)}; {seconds:.0f} s."
    print(line)
    return line

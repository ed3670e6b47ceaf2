"""Run in Colab: the badge and the Colab cell of every learner copy, and the one setting behind them.

    python -m instructor.colab --show                 the setting, and this clone's remote
    python -m instructor.colab --from-remote [--ref REF]
                                                      take the address from this clone's
                                                      GitHub remote (origin), then build
    python -m instructor.colab --repository URL [--ref REF]
    python -m instructor.colab --off                  no badges, then build

The setting
-----------
Two committed lines of helpers/config.py: `COLAB_REPOSITORY`, the course's public
GitHub address (`https://github.com/OWNER/NAME`, or empty), and `COLAB_REF`, the
branch or tag its links open. The build reads only them, never the git remote:
so every clone of a commit (a GitHub checkout, a clone of a local path in CI, an
instructor's machine) builds the same learner copies, and `instructor.build
--check` gives the same answer everywhere. The remote is read once, by
`--from-remote`, which writes the two lines; `--check` prints a note (it does not
fail) when this clone's GitHub remote is another repository than the setting: a
fork that has not yet pointed the badges at itself. A course without a public
address gets no badges and no Colab cell (no placeholder links).

What the build adds (when an address is set)
-------------------------------------------
1. After the title cell, a markdown cell (id `config.COLAB_BADGE_CELL_ID`) with an
   "Open in Colab" badge linking to this notebook's learner copy at the ref:
   colab.research.google.com/github/OWNER/NAME/blob/REF/notebooks/FILE.
2. Before the set-up cell (the first code cell calling `helpers.setup_notebook(`), a
   code cell (id `config.COLAB_SETUP_CELL_ID`) that does nothing outside Colab; on
   Colab it clones the course at the same ref into /content/NAME once per
   session and calls `helpers.colab.check_notebook(FILE, HASH, ...)`.

The ref and the commit: a file cannot hold its own commit's hash, so the badge
and the clone both use the ref, and the Colab cell carries HASH, a hash of the
learner copy's content (every cell's type and source, the Colab cell itself left
out). On Colab, `check_notebook` compares it with the fetched copy's; when the
ref has moved on since the notebook was opened or saved, it finds the commit
whose copy carries HASH in the course's history and checks that commit out. For
a class that must not move, set the ref to a release tag before tagging.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from helpers import config

CONFIG_FILE: Path = config.PROJECT_ROOT / "helpers" / "config.py"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
COLAB_OPEN_GITHUB = "https://colab.research.google.com/github/"
SETUP_CALL = "helpers.setup_notebook("
HASH_LENGTH = 16  # hex digits of sha256: 64 bits, enough to tell versions of a notebook apart

# GitHub's names: owner (letters, digits, hyphens) and repository (also . and _).
_OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"
_NAME = r"[A-Za-z0-9._-]+"
_GITHUB_REMOTE = re.compile(
    rf"^(?:(?:https?|git|ssh)://(?:[^@/]+@)?(?:www\.)?github\.com(?::\d+)?/|git@github\.com:)"
    rf"(?P<owner>{_OWNER})/(?P<name>{_NAME}?)(?:\.git)?/?$"
)
# A branch or tag name that is safe in a URL path and on a command line.
_REF = re.compile(r"^(?!-)(?!.*\.\.)[A-Za-z0-9._/-]+(?<![./])$")

SETUP_CELL_TEMPLATE = """\
# Colab only (elsewhere this cell does nothing): fetch the course once per session, so that
# `helpers` can be imported; helpers.setup_notebook() below installs and fetches the rest.
import sys

if "google.colab" in sys.modules and "helpers" not in sys.modules:
    import os
    import shutil
    import subprocess
    import time

    course, clone_started = os.environ.get("{env_home}", "{home}") + "/{folder}", None
    if not os.path.isdir(course):
        clone_started = time.time()
        url = os.environ.get("{env_url}", "{clone_url}")
        shutil.rmtree(course + ".part", ignore_errors=True)
        clone = ["git", "clone", "--quiet", "--depth=1", "--branch={ref}", "--", url]
        subprocess.run([*clone, course + ".part"], check=True)
        os.rename(course + ".part", course)
    sys.path.insert(0, course)
    from helpers import colab

    colab.check_notebook("{name}", "{content_hash}", clone_started)"""


class ColabSettingError(ValueError):
    """An address or ref that cannot be used; the message says what would be accepted."""


@dataclass(frozen=True)
class ColabLink:
    """Where the Colab links of the learner copies point: a GitHub repository and a ref."""

    repository: str  # https://github.com/OWNER/NAME
    ref: str

    @property
    def owner_and_name(self) -> str:
        """'OWNER/NAME'."""
        return self.repository.removeprefix("https://github.com/")

    @property
    def folder(self) -> str:
        """The folder the course is cloned into on Colab: the repository's name."""
        return self.owner_and_name.split("/", 1)[1]

    @property
    def clone_url(self) -> str:
        """What `git clone` fetches."""
        return self.repository + ".git"

    def notebook_url(self, name: str) -> str:
        """Colab's address of one learner copy at the ref."""
        return f"{COLAB_OPEN_GITHUB}{self.owner_and_name}/blob/{self.ref}/notebooks/{name}"


def public_address(remote: str) -> str | None:
    """`https://github.com/OWNER/NAME` for a GitHub remote (https, ssh or scp form), else None.

    Credentials in the remote (https://user:token@github.com/...) are dropped.
    """
    match = _GITHUB_REMOTE.match(remote.strip())
    if match is None or match["name"] in ("", ".", ".."):
        return None
    return f"https://github.com/{match['owner']}/{match['name']}"


def checked_ref(ref: str) -> str:
    """`ref` when it is a plain branch or tag name; else ColabSettingError."""
    if not _REF.match(ref):
        raise ColabSettingError(
            f"{ref!r} is not a branch or tag name this tool accepts (letters, digits, '.', '_', "
            "'-', '/'; no '..'; not starting with '-')."
        )
    return ref


def configured_link() -> ColabLink | None:
    """The link the build uses: from helpers/config.py, None when no address is set."""
    if not config.COLAB_REPOSITORY:
        return None
    repository = public_address(config.COLAB_REPOSITORY)
    if repository is None:
        raise ColabSettingError(
            f"config.COLAB_REPOSITORY is {config.COLAB_REPOSITORY!r}, not a GitHub address "
            "(https://github.com/OWNER/NAME). Fix it with `python -m instructor.colab "
            "--repository URL`, or `--off`."
        )
    return ColabLink(repository, checked_ref(config.COLAB_REF))


# --- The transform ---------------------------------------------------------------------------


def content_hash(notebook: nbformat.NotebookNode) -> str:
    """A hash of what the learner copy holds: every cell's type and source, the Colab cell left out."""
    cells = [
        [cell.cell_type, cell.source]
        for cell in notebook.cells
        if cell.get("id") != config.COLAB_SETUP_CELL_ID
    ]
    text = json.dumps(cells, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


def badge_cell(link: ColabLink, name: str) -> nbformat.NotebookNode:
    """The markdown cell with the 'Open in Colab' badge of one learner copy."""
    source = f"[![Open In Colab]({BADGE_IMAGE})]({link.notebook_url(name)})"
    return nbformat.v4.new_markdown_cell(source, id=config.COLAB_BADGE_CELL_ID)


def setup_cell(link: ColabLink, name: str, digest: str) -> nbformat.NotebookNode:
    """The code cell that fetches the course on Colab and does nothing elsewhere."""
    source = SETUP_CELL_TEMPLATE.format(
        env_home=config.ENV_COLAB_HOME,
        home=config.COLAB_HOME,
        folder=link.folder,
        env_url=config.ENV_COURSE_GIT_URL,
        clone_url=link.clone_url,
        ref=link.ref,
        name=name,
        content_hash=digest,
    )
    return nbformat.v4.new_code_cell(source, id=config.COLAB_SETUP_CELL_ID)


def _setup_index(cells: list[nbformat.NotebookNode]) -> int:
    """Where the Colab cell goes: before the set-up cell, else before the first code cell."""
    code = [index for index, cell in enumerate(cells) if cell.cell_type == "code"]
    calls = [index for index in code if SETUP_CALL in cells[index].source]
    return (calls or code or [len(cells)])[0]


def add_colab_cells(
    notebook: nbformat.NotebookNode, name: str, link: ColabLink | None = None
) -> nbformat.NotebookNode:
    """The learner copy with its badge and Colab cell (a new object), per `link` or the setting.

    Without a link (no public address) the notebook comes back without either cell.
    Applying it to its own output gives the same notebook.
    """
    link = link if link is not None else configured_link()
    result = copy.deepcopy(notebook)
    ours = (config.COLAB_BADGE_CELL_ID, config.COLAB_SETUP_CELL_ID)
    result.cells = [cell for cell in result.cells if cell.get("id") not in ours]
    if link is None:
        return result
    result.cells.insert(min(1, len(result.cells)), badge_cell(link, name))
    digest = content_hash(result)
    result.cells.insert(_setup_index(result.cells), setup_cell(link, name, digest))
    return result


# --- The setting -----------------------------------------------------------------------------


def remote_url(repository: Path = config.PROJECT_ROOT, remote: str = "origin") -> str | None:
    """The URL of a git remote of this clone, or None (no git, no such remote)."""
    try:
        completed = subprocess.run(
            ["git", "-C", str(repository), "remote", "get-url", remote],
            capture_output=True,
            text=True,
        )
    except OSError:
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip() or None


def remote_default_branch(repository: Path = config.PROJECT_ROOT, remote: str = "origin") -> str:
    """The remote's default branch as this clone knows it (origin/HEAD), else 'main'."""
    completed = subprocess.run(
        ["git", "-C", str(repository), "symbolic-ref", "--short", f"refs/remotes/{remote}/HEAD"],
        capture_output=True,
        text=True,
    )
    branch = completed.stdout.strip().removeprefix(f"{remote}/")
    return branch if completed.returncode == 0 and branch else "main"


def write_setting(repository: str, ref: str, config_file: Path = CONFIG_FILE) -> None:
    """Rewrite the COLAB_REPOSITORY and COLAB_REF lines of helpers/config.py (and the loaded module)."""
    text = config_file.read_text(encoding="utf-8")
    for variable, value in (("COLAB_REPOSITORY", repository), ("COLAB_REF", ref)):
        pattern = re.compile(rf'^{variable}: str = "[^"\n]*"$', re.MULTILINE)
        if len(pattern.findall(text)) != 1:
            raise ColabSettingError(
                f'{config_file} must hold exactly one line `{variable}: str = "..."`; restore it '
                "from git."
            )
        text = pattern.sub(f'{variable}: str = "{value}"', text)
        if config_file.resolve() == CONFIG_FILE.resolve():
            setattr(config, variable, value)
    config_file.write_text(text, encoding="utf-8")


def remote_mismatch_note(repository: Path = config.PROJECT_ROOT) -> str | None:
    """A note when this clone's GitHub remote is another repository than the setting, else None."""
    remote = remote_url(repository)
    address = public_address(remote) if remote else None
    if address is None or address == public_address(config.COLAB_REPOSITORY or ""):
        return None
    now = (
        f"point at {config.COLAB_REPOSITORY}"
        if config.COLAB_REPOSITORY
        else "are off (no public address set)"
    )
    return (
        f"note: this clone's remote is {address}, but the learner copies' Colab links {now}. "
        "To give them this repository's links: `python -m instructor.colab --from-remote`, then "
        "commit helpers/config.py and notebooks/."
    )


def _show() -> None:
    """Print the setting and this clone's remote."""
    link = configured_link()
    print(f"Colab links: {link.repository} at {link.ref}" if link else "Colab links: off")
    remote = remote_url()
    print(f"This clone's remote (origin): {remote or 'none'}")
    note = remote_mismatch_note()
    if note:
        print(note)


def main(argv: list[str] | None = None) -> int:
    """Command line: show or change the Colab setting, then rebuild the learner copies."""
    parser = argparse.ArgumentParser(
        prog="python -m instructor.colab", description=__doc__.split("\n")[0]
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--show", action="store_true", help="print the setting and the remote")
    what.add_argument("--from-remote", action="store_true", help="use this clone's GitHub remote")
    what.add_argument("--repository", metavar="URL", help="https://github.com/OWNER/NAME")
    what.add_argument("--off", action="store_true", help="no badges, no Colab cell")
    parser.add_argument("--ref", help="branch or tag the links open (default: the remote's)")
    args = parser.parse_args(argv)
    if args.show:
        _show()
        return 0
    try:
        if args.off:
            repository = ""
        else:
            given = args.repository or remote_url()
            repository = public_address(given or "") or ""
            if not repository:
                where = args.repository or f"this clone's remote 'origin' ({given or 'none'})"
                raise ColabSettingError(
                    f"{where} is not a GitHub repository: Colab opens notebooks from GitHub. "
                    "Give one with --repository https://github.com/OWNER/NAME."
                )
        ref = checked_ref(args.ref or (config.COLAB_REF if args.off else remote_default_branch()))
        write_setting(repository, ref)
    except ColabSettingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from instructor import build  # here: the build imports this module

    report = build.build()
    print(
        f"Colab links: {repository} at {ref}" if repository else "Colab links: off",
        f"({len(report.written)} learner copies rewritten). Commit helpers/config.py and notebooks/.",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

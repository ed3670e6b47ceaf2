"""`make lab`, the learners' set-up command, brings up JupyterLab on notebooks/.

The server runs with Jupyter folders of its own (config, data, runtime, settings,
workspaces, IPython): nothing in the user's ~/.jupyter or ~/.local/share/jupyter
changes the result, and the test leaves nothing there. `make -o data` takes the
environment and the data as they are: the test never installs packages into the
(possibly shared) .venv nor fetches data, and a dry run checks that.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from helpers import config

STARTUP_TIMEOUT_S = 180
# Targets `make lab` depends on that install or download; the test treats them as done.
MAKE_ARGS = ["-o", "data", "-o", "setup"]
JUPYTER_FOLDERS = {
    "JUPYTER_CONFIG_DIR": "config",
    "JUPYTER_DATA_DIR": "data",
    "JUPYTER_RUNTIME_DIR": "runtime",
    "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
    "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
    "IPYTHONDIR": "ipython",
}
# No look-ups of extensions on PyPI, no news fetched.
LAB_ARGS = "--no-browser --ServerApp.ip=127.0.0.1 --LabApp.extension_manager=readonly"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get_json(url: str, token: str) -> dict | None:
    """The JSON at `url`, or None while the server is not answering yet."""
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def private_jupyter_environment(home: Path) -> dict[str, str]:
    """os.environ with every Jupyter and IPython folder moved under `home`."""
    env = dict(os.environ)
    for variable, folder in JUPYTER_FOLDERS.items():
        (home / folder).mkdir(parents=True, exist_ok=True)
        env[variable] = str(home / folder)
    return env


def make_lab_command(port: int) -> list[str]:
    return ["make", *MAKE_ARGS, "lab", f"JUPYTER_PORT={port}", f"LAB_ARGS={LAB_ARGS}"]


def test_the_lab_command_installs_and_downloads_nothing() -> None:
    """What the slow test runs, dry: only `jupyter lab`, no pip, no venv, no fetch."""
    # Under `make test` this runs inside make: without the parent's MAKEFLAGS/MAKELEVEL the
    # dry run prints only its own commands, not "make[1]: Entering directory" lines.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    dry_run = subprocess.run(
        ["make", "-n", "--no-print-directory", *make_lab_command(8888)[1:]],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert dry_run.returncode == 0, dry_run.stderr
    commands = [line for line in dry_run.stdout.splitlines() if line.strip()]
    assert len(commands) == 1 and " lab " in commands[0] and "jupyter" in commands[0], commands
    assert "--LabApp.extension_manager=readonly" in commands[0]


def dry_run(*targets: str) -> list[str]:
    """The commands `make -n -B` would run for `targets`: everything, whatever is already done."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    completed = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", *targets],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout.splitlines()


def installs(commands: list[str]) -> list[str]:
    """The requirement files the commands install (`pip install ... -r FILE`)."""
    return [line.split(" -r ", 1)[1].split()[0] for line in commands if " -r " in line]


def test_a_learners_set_up_installs_requirements_txt_and_an_instructors_adds_its_tools() -> None:
    assert installs(dry_run("lab", "LAB_ARGS=--version")) == ["requirements.txt"]
    assert installs(dry_run("data")) == ["requirements.txt"]
    for target in ("test", "test-fast", "build", "lint", "grade", "benchmark"):
        assert installs(dry_run(target, "SUBMISSIONS=x")) == ["requirements-instructor.txt"], target


@pytest.mark.slow
def test_make_lab_serves_the_learner_notebooks(tmp_path: Path) -> None:
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    env = private_jupyter_environment(tmp_path / "jupyter") | {"JUPYTER_TOKEN": token}
    with log.open("w") as log_file:
        lab = subprocess.Popen(
            make_lab_command(port),
            cwd=config.PROJECT_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so the whole make -> jupyter tree can be stopped
        )
    try:
        listing = None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while listing is None and time.monotonic() < deadline and lab.poll() is None:
            time.sleep(1)
            listing = get_json(f"http://127.0.0.1:{port}/api/contents/", token)
        assert listing is not None, (
            f"JupyterLab did not answer on port {port}:\n{log.read_text()[-3000:]}"
        )
        served = sorted(item["name"] for item in listing["content"])
        expected = sorted(path.name for path in (config.PROJECT_ROOT / "notebooks").glob("*.ipynb"))
        assert expected, "notebooks/ holds no learner notebooks"
        assert served == expected
        # The server really used the private folders: its runtime files are there.
        runtime = Path(env["JUPYTER_RUNTIME_DIR"])
        assert list(runtime.glob("jpserver-*.json")), (
            f"nothing in the private runtime folder {runtime}"
        )
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            lab.wait(timeout=30)

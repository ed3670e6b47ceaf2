"""`make lab`, the learners' set-up command, brings up JupyterLab on notebooks/."""

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

import pytest

from helpers import config

STARTUP_TIMEOUT_S = 180


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


@pytest.mark.slow
def test_make_lab_serves_the_learner_notebooks(tmp_path) -> None:
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path / "lab.log"
    env = {**os.environ, "JUPYTER_TOKEN": token}
    with log.open("w") as log_file:
        lab = subprocess.Popen(
            ["make", "lab", f"JUPYTER_PORT={port}", "LAB_ARGS=--no-browser --ServerApp.ip=127.0.0.1"],
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
        assert listing is not None, f"JupyterLab did not answer on port {port}:\n{log.read_text()[-3000:]}"
        served = sorted(item["name"] for item in listing["content"])
        expected = sorted(path.name for path in (config.PROJECT_ROOT / "notebooks").glob("*.ipynb"))
        assert expected, "notebooks/ holds no learner notebooks"
        assert served == expected
    finally:
        if lab.poll() is None:
            os.killpg(lab.pid, signal.SIGTERM)
            lab.wait(timeout=30)

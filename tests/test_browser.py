"""End to end: the explorers work in JupyterLab, in a real (headless) browser.

Starts JupyterLab from this environment on 127.0.0.1 (random free port, a token
made here and never printed), opens a temporary copy of the 02 solution
notebook in Debian's Chromium through Playwright, runs all cells, moves the
augmentation explorer's rotation slider and checks that the picture changes.
A second test does the same for the prediction browser (its heatmap toggle
too, on Grad-CAM maps of an untrained MobileNetV2) and the fine-tuning
explorer in a small generated notebook (03 and 05 need trained weights), and
a third uploads photos to notebook 06's photo explorer through the browser's
file chooser. Screenshots go to test-artifacts/browser/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixtures.isolation import make_notebook_environment
from fixtures.pinned import import_pinned

from helpers import config

pytestmark = [pytest.mark.slow, pytest.mark.browser]

# Debian's Chromium; the variable lets tests/test_environment.py check the loud "not run"
# summary without uninstalling anything.
CHROMIUM = Path(os.environ.get("ALPACA_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = config.PROJECT_ROOT / "test-artifacts" / "browser"
# Every wait is bounded; together they keep a failing run near two minutes.
SERVER_START_S = 60
NOTEBOOK_OPEN_S = 60
RUN_ALL_S = 150
PICTURE_CHANGE_S = 30
SHUTDOWN_S = 20

# JupyterLab settings for a quiet, fully rendered notebook: no news or update
# toasts over the outputs, and every cell attached to the page (no windowing).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

EXPLORER = ".alpaca-augmentation-explorer"
PICTURE = f"{EXPLORER} img.alpaca-picture"
SLIDER = f"{EXPLORER} .alpaca-rotation-slider"

# True once every queued cell has run: no "[*]" prompt left and the kernel is idle.
ALL_CELLS_DONE_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext.session && panel.sessionContext.session.kernel;
  const prompts = panel ? Array.from(panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')) : [];
  return !!kernel && kernel.status === 'idle' && prompts.length > 0
    && prompts.some(p => /\\[\\d+\\]/.test(p.textContent))
    && !prompts.some(p => p.textContent.includes('*'));
}"""
# True once `name` is the notebook in front and its kernel is idle: "run all" must
# not go to another tab (JupyterLab restores the tabs a previous test left open).
KERNEL_IDLE_JS = """(name) => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const session = panel && panel.sessionContext && panel.sessionContext.session;
  return !!(session && session.kernel && session.kernel.status === 'idle'
    && panel.context && panel.context.path.endsWith(name));
}"""
ERROR_OUTPUTS_JS = """() => {
  const cells = Array.from(window.jupyterapp.shell.currentWidget.content.model.cells);
  return cells.flatMap(cell => (cell.toJSON().outputs || []))
    .filter(output => output.output_type === 'error')
    .map(output => output.ename + ': ' + output.evalue);
}"""


def solution_02() -> Path:
    """The 02 solution notebook (a missing one fails the test: it is part of the course)."""
    found = sorted(config.SOLUTIONS_DIR.glob("02_*.ipynb"))
    assert len(found) == 1, f"expected one solutions/02_*.ipynb, found {found}"
    return found[0]


def free_port() -> int:
    """A port nobody listens on right now (the server is told not to try others)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Secret(str):
    """A string that pytest's failure reports show as *** (its repr), not its value."""

    def __repr__(self) -> str:
        return "'***'"


@dataclass
class LabServer:
    url: str
    token: Secret
    log: Path
    process: subprocess.Popen[bytes]


def write_lab_settings(settings_dir: Path) -> None:
    for name, values in LAB_SETTINGS.items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def server_environment(home: Path, token: str) -> dict[str, str]:
    """The test's environment plus a private Jupyter home, Keras cache, progress file and
    artifacts folder (the kernels inherit them)."""
    env = dict(os.environ)
    env.update(make_notebook_environment(home / "course").variables())
    env["JUPYTER_TOKEN"] = token  # read by the server, never on its command line
    env.pop("MPLBACKEND", None)  # a learner's kernel uses the inline backend
    env[config.ENV_WIDGETS_MODE] = "auto"  # let the explorer detect JupyterLab itself
    for variable, folder in (
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("JUPYTERLAB_SETTINGS_DIR", "settings"),
        ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
        ("IPYTHONDIR", "ipython"),
    ):
        (home / folder).mkdir(parents=True, exist_ok=True)
        env[variable] = str(home / folder)
    write_lab_settings(home / "settings")
    return env


def request(url: str, token: str, method: str = "GET", timeout: float = 5) -> int:
    """HTTP status of an authenticated request to the server (0 when it does not answer)."""
    req = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return 0


def stop_kernels(server: LabServer) -> None:
    """Shut down every running kernel, so the next notebook has the CPU to itself."""
    req = urllib.request.Request(
        f"{server.url}/api/kernels", headers={"Authorization": f"token {server.token}"}
    )
    with urllib.request.urlopen(req, timeout=5) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request(
            f"{server.url}/api/kernels/{kernel['id']}", server.token, "DELETE", timeout=SHUTDOWN_S
        )


def wait_until_up(server: LabServer) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(f"JupyterLab exited with {server.process.returncode}; see {server.log}")
        if request(f"{server.url}/api/status", server.token) == 200:
            return
        time.sleep(0.5)
    pytest.fail(f"JupyterLab did not answer within {SERVER_START_S} s; see {server.log}")


def stop(server: LabServer) -> None:
    """Shut the server down through its API (it stops its kernels), then make sure."""
    import psutil

    try:
        started = psutil.Process(server.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    request(f"{server.url}/api/shutdown", server.token, method="POST")
    try:
        server.process.wait(timeout=SHUTDOWN_S)
    except subprocess.TimeoutExpired:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=5)
    # Kernels run in sessions of their own; end any that outlived the server.
    for child in started:
        if child.is_running():
            child.kill()


EXPLORERS_NOTEBOOK = "explorers_check.ipynb"
# The other two explorers, on real validation images and a real (untrained) MobileNetV2.
EXPLORERS_CELLS = [
    "import numpy as np\n"
    "import keras\n"
    "from helpers import config, gradcam, reference, widgets\n"
    "_train, validation_dataset = reference.make_datasets()\n"
    "images, labels = next(iter(validation_dataset))\n"
    "images, labels = images[:8], labels[:8].numpy()\n"
    "# Made-up predictions: exactly images 1, 2 and 5 are wrong.\n"
    "probabilities = np.where(labels == 1, 0.9, 0.1)\n"
    "probabilities[[1, 2, 5]] = 1 - probabilities[[1, 2, 5]]\n"
    "base_model = keras.applications.MobileNetV2(\n"
    "    weights=None, include_top=False, input_shape=config.IMG_SHAPE\n"
    ")\n"
    "inputs = keras.Input(config.IMG_SHAPE)\n"
    "x = base_model(keras.applications.mobilenet_v2.preprocess_input(inputs), training=False)\n"
    "model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x)))\n"
    "heatmaps = gradcam.gradcam_heatmaps(model, images, toward=1)",
    "widgets.prediction_browser(\n"
    "    images, labels, probabilities, config.CLASS_NAMES, heatmaps=heatmaps, heatmap_toward=1\n"
    ")",
    "widgets.fine_tuning_explorer(base_model)",
]


PHOTO_NOTEBOOK = "photo_check.ipynb"
# Notebook 06's photo explorer on a small model with the course's input, exported to
# int8 LiteRT in seconds (the real model would need notebook 05's training first).
PHOTO_CELLS = [
    "import numpy as np\n"
    "import keras\n"
    "import tensorflow as tf\n"
    "from helpers import config, litert, reference, widgets\n"
    "keras.utils.set_random_seed(config.SEED)\n"
    "inputs = keras.Input(shape=config.IMG_SHAPE)\n"
    "x = keras.applications.mobilenet_v2.preprocess_input(inputs)\n"
    "x = keras.layers.Conv2D(8, 3, strides=4, activation='relu')(x)\n"
    "model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.GlobalAveragePooling2D()(x)))\n"
    "pixels = np.random.default_rng(0).uniform(0, 255, (8, *config.IMG_SHAPE)).astype('float32')\n"
    "calibration = tf.data.Dataset.from_tensor_slices((pixels, np.zeros(8, 'int32'))).batch(4)\n"
    "path = litert.export(model, 'photo_check_int8.tflite', litert.INT8,\n"
    "                     reference.make_representative_dataset(calibration, 8))\n"
    "int8_model = litert.LiteRTModel(path)",
    "widgets.photo_explorer(model, int8_model)",
]


def write_notebook(path: Path, cells: list[str]) -> None:
    """A small notebook of code cells, for the python3 kernel."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    notebook = new_notebook(
        cells=[new_code_cell(source) for source in cells],
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(notebook, path)


def write_explorers_notebook(path: Path) -> None:
    """A small notebook that shows the prediction browser and the fine-tuning explorer."""
    write_notebook(path, EXPLORERS_CELLS)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LabServer, Path]]:
    """JupyterLab serving a temporary folder: a copy of solutions/ (the masters are never
    saved over) and the generated explorers notebook."""
    if not CHROMIUM.exists():
        # The one skip of this file: the root conftest.py says loudly under the results that
        # the browser test did not run, and how to install Chromium.
        pytest.skip(
            f"{CHROMIUM} not found: `make browser` (as root) or `sudo apt-get install chromium`"
        )
    import_pinned("playwright.sync_api")
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    solutions = config.PROJECT_ROOT / "solutions"
    if solutions.is_dir():
        shutil.copytree(solutions, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    root.mkdir(exist_ok=True)
    write_explorers_notebook(root / EXPLORERS_NOTEBOOK)
    write_notebook(root / PHOTO_NOTEBOOK, PHOTO_CELLS)
    token = Secret(secrets.token_hex(24))
    port = free_port()
    log = home / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells, read kernel state
        "--LabApp.extension_manager=readonly",  # no PyPI look-ups from a test
        "--ServerApp.terminals_enabled=False",
    ]  # fmt: skip
    if os.geteuid() == 0:  # CI containers run as root; Jupyter refuses that unless told
        command.append("--allow-root")
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env=server_environment(home / "jupyter-home", token),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=root,
        )
    server = LabServer(f"http://127.0.0.1:{port}", token, log, process)
    try:
        wait_until_up(server)
        yield server, root
    finally:
        stop(server)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy2(log, ARTIFACTS / "jupyterlab.log")


def assert_token_not_logged(server: LabServer) -> None:
    """The token reached the server through its environment; it must not be in the log."""
    assert request(f"{server.url}/api/status", "wrong-token") == 403
    log = server.log.read_text(errors="replace")
    assert "127.0.0.1" in log, "the log should at least say where the server listens"
    assert server.token not in log, "the server log contains the token"


@contextmanager
def notebook_page(server: LabServer, name: str, failure_shot: str) -> Iterator[Any]:
    """A Chromium page with `name` open in JupyterLab, all cells run; its kernel is stopped after.

    On failure, a screenshot goes to test-artifacts/browser/<failure_shot>.
    """
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(PICTURE_CHANGE_S * 1000)
        try:
            # ?reset: start from an empty workspace, not the tabs of the previous test.
            page.goto(f"{server.url}/lab/tree/{name}?reset&token={server.token}")
            page.wait_for_function(
                KERNEL_IDLE_JS, arg=name, timeout=NOTEBOOK_OPEN_S * 1000, polling=500
            )
            run_all_cells(page)
            yield page
        except Exception:
            page.screenshot(path=str(ARTIFACTS / failure_shot))
            raise
        finally:
            browser.close()
            stop_kernels(server)


def run_all_cells(page: Any) -> None:
    """Run the notebook top to bottom and wait for the kernel to finish; fail on an error output."""
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(ALL_CELLS_DONE_JS, timeout=RUN_ALL_S * 1000, polling=1000)
    errors = page.evaluate(ERROR_OUTPUTS_JS)
    assert not errors, f"cells raised: {errors}"


def drag_to_start(page: Any, slider: str) -> None:
    """Drag a slider's handle past its left end, as a learner would."""
    handle = page.locator(f"{slider} .noUi-handle").first
    handle.scroll_into_view_if_needed()
    track = page.locator(f"{slider} .noUi-target").first.bounding_box()
    box = handle.bounding_box()
    assert track is not None and box is not None, f"{slider} is not on the page"
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(track["x"] - 20, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()


def wait_for_new_src(page: Any, picture: Any, before: str | None) -> None:
    """Wait until the widget's <img> shows new bytes, and they are decoded."""
    page.wait_for_function(
        "([img, before]) => img.getAttribute('src') !== before && img.complete && img.naturalWidth > 0",
        arg=[picture.element_handle(), before],
        timeout=PICTURE_CHANGE_S * 1000,
    )


def test_augmentation_explorer_in_jupyterlab(lab: tuple[LabServer, Path]) -> None:
    """Notebook 02: run it all, move the rotation slider, the picture changes."""
    server, root = lab
    notebook = solution_02()
    with notebook_page(server, notebook.name, "augmentation-failure.png") as page:
        picture = page.locator(PICTURE).first
        picture.wait_for(state="visible")
        picture.scroll_into_view_if_needed()
        readout = page.locator(f"{SLIDER} .widget-readout").first
        assert readout.inner_text().strip() == f"{config.ROTATION_FACTOR:.2f}"
        before_src = picture.get_attribute("src")
        explorer = page.locator(EXPLORER).first
        before_png = explorer.screenshot(path=str(ARTIFACTS / "augmentation-before.png"))

        drag_to_start(page, SLIDER)
        wait_for_new_src(page, picture, before_src)
        assert readout.inner_text().strip() == "0.00"
        assert "rotation factor 0.00" in explorer.locator(".widget-html").first.inner_text()
        after_png = explorer.screenshot(path=str(ARTIFACTS / "augmentation-after.png"))
        assert after_png != before_png, "the explorer looks the same after moving the slider"
        page.screenshot(path=str(ARTIFACTS / "augmentation-notebook.png"))
    assert_token_not_logged(server)


def test_prediction_browser_and_fine_tuning_explorer_in_jupyterlab(
    lab: tuple[LabServer, Path],
) -> None:
    """The other two explorers render and respond in JupyterLab too."""
    server, _root = lab
    with notebook_page(server, EXPLORERS_NOTEBOOK, "explorers-failure.png") as page:
        browser = page.locator(".alpaca-prediction-browser").first
        picture = browser.locator("img.alpaca-picture")
        picture.wait_for(state="visible")
        text = browser.locator(".widget-html").first
        assert "(1 of 8 in view)" in text.inner_text()
        before_src = picture.get_attribute("src")
        browser.locator(".alpaca-misclassified-only input").check()
        wait_for_new_src(page, picture, before_src)
        assert "image 1 (1 of 3 in view)" in text.inner_text() and "WRONG" in text.inner_text()
        before_src = picture.get_attribute("src")
        browser.locator(".alpaca-next").click()
        wait_for_new_src(page, picture, before_src)
        assert "image 2 (2 of 3 in view)" in text.inner_text()
        browser.screenshot(path=str(ARTIFACTS / "prediction-browser.png"))
        # The heatmap toggle draws image 2's Grad-CAM over it (an untrained base: any map will do).
        before_src = picture.get_attribute("src")
        browser.locator(".alpaca-heatmap-toggle input").check()
        wait_for_new_src(page, picture, before_src)
        assert "heatmap: Grad-CAM toward not alpaca" in text.inner_text()
        assert "image 2 (2 of 3 in view)" in text.inner_text()
        browser.screenshot(path=str(ARTIFACTS / "prediction-browser-heatmap.png"))

        explorer = page.locator(".alpaca-fine-tuning-explorer").first
        picture = explorer.locator("img.alpaca-picture")
        picture.scroll_into_view_if_needed()
        text = explorer.locator(".widget-html").first
        assert "34 of 154 layers trainable" in text.inner_text()
        before_src = picture.get_attribute("src")
        drag_to_start(page, ".alpaca-fine-tuning-explorer .alpaca-fine-tune-slider")
        wait_for_new_src(page, picture, before_src)
        assert "fine_tune_at = 0: 154 of 154 layers trainable" in text.inner_text()
        explorer.screenshot(path=str(ARTIFACTS / "fine-tuning-explorer.png"))
    assert_token_not_logged(server)


def photo_jpeg() -> bytes:
    """A 640 x 480 colour photo-like JPEG, made here (nothing is committed)."""
    import io

    import numpy as np
    from PIL import Image

    rows = np.linspace(0, 255, 480, dtype=np.uint8)[:, None]
    red, blue = np.broadcast_to(rows, (480, 640)), np.broadcast_to(rows[::-1], (480, 640))
    pixels = np.stack([red, np.full((480, 640), 120, np.uint8), blue], axis=-1)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_photo_explorer_upload_in_jupyterlab(lab: tuple[LabServer, Path]) -> None:
    """Notebook 06: click upload, choose a photo, see both predictions; a bad file gets a message."""
    server, _root = lab
    with notebook_page(server, PHOTO_NOTEBOOK, "photo-failure.png") as page:
        explorer = page.locator(".alpaca-photo-explorer").first
        explorer.wait_for(state="visible")
        text = explorer.locator(".widget-html").first
        assert "Upload a photo" in text.inner_text()
        picture = explorer.locator("img.alpaca-picture")
        button = explorer.locator(".alpaca-photo-upload").first

        def choose(name: str, mime_type: str, content: bytes) -> None:
            """Click the upload button and pick a file in the browser's file chooser."""
            with page.expect_file_chooser() as chooser:
                button.click()
            chooser.value.set_files(
                files=[{"name": name, "mimeType": mime_type, "buffer": content}]
            )

        choose("my_alpaca.jpg", "image/jpeg", photo_jpeg())
        page.wait_for_function(
            "(node) => node.innerText.includes('LiteRT int8: P(not alpaca)')",
            arg=text.element_handle(),
            timeout=PICTURE_CHANGE_S * 1000,
        )
        shown = text.inner_text()
        assert "my_alpaca.jpg: 640 \u00d7 480 pixels" in shown and "Keras: P(not alpaca)" in shown
        # This small model has no MobileNetV2: the widget says so in a line and carries on.
        assert "No heatmap: No MobileNetV2" in shown
        wait_for_new_src(page, picture, None)
        explorer.screenshot(path=str(ARTIFACTS / "photo-explorer.png"))

        choose("notes.txt", "text/plain", b"not a photo at all")
        page.wait_for_function(
            "(node) => node.innerText.includes('not an image')",
            arg=text.element_handle(),
            timeout=PICTURE_CHANGE_S * 1000,
        )
        assert "'notes.txt' is not an image" in text.inner_text()
        assert not picture.is_visible()
        explorer.screenshot(path=str(ARTIFACTS / "photo-explorer-bad-file.png"))
        assert not page.evaluate(ERROR_OUTPUTS_JS)
    assert_token_not_logged(server)

"""The environment files agree with each other and with what is installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from jupyter_client.manager import KernelManager

from helpers import config

ROOT = config.PROJECT_ROOT
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s#]+)")


def requirement_pins() -> dict[str, str]:
    """`name -> version` for every pinned line of requirements.txt."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    return pins


def test_every_requirement_is_pinned_and_explained() -> None:
    lines = [
        line
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines, "requirements.txt lists no packages"
    for line in lines:
        assert PIN.match(line), f"not pinned with ==: {line!r}"
        assert "#" in line, f"no comment saying why it is there: {line!r}"


def test_course_packages_are_all_pinned() -> None:
    pins = requirement_pins()
    for package in [
        "tensorflow",
        "numpy",
        "matplotlib",
        "jupyterlab",
        "nbval",
        "ipywidgets",
        "pillow",
        "pytest",
    ]:
        assert package in pins, f"{package} is missing from requirements.txt"
    assert pins["tensorflow"].startswith("2.21")


def test_environment_yml_installs_requirements_txt() -> None:
    """environment.yml takes its packages from requirements.txt, so the two cannot drift."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [dep["pip"] for dep in environment["dependencies"] if isinstance(dep, dict)]
    assert pip_sections == [["-r requirements.txt"]]
    conda_packages = [dep for dep in environment["dependencies"] if isinstance(dep, str)]
    assert "pip" in conda_packages
    # Nothing pinned twice: a conda pin of a pip package would be a second source of truth.
    conda_names = {re.split(r"[=<>]", dep)[0].lower() for dep in conda_packages}
    assert conda_names <= {"python", "pip"}, conda_names


def test_environment_python_is_supported() -> None:
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(dep for dep in environment["dependencies"] if str(dep).startswith("python="))
    minor = int(python.split("=")[1].split(".")[1])
    assert 10 <= minor <= 13, "TensorFlow 2.21 wheels exist for Python 3.10 to 3.13"


def test_installed_versions_match_the_pins() -> None:
    mismatches = {}
    for name, pinned in requirement_pins().items():
        installed = metadata.version(name)
        if installed != pinned:
            mismatches[name] = (pinned, installed)
    assert not mismatches, f"pinned vs installed (run `make setup`): {mismatches}"


def test_python3_kernel_runs_this_environments_python() -> None:
    """The notebooks ask for the `python3` kernel; started from here, it is this environment's Python."""
    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        printed: list[str] = []
        client.execute_interactive(
            "import sys; print(sys.executable)",
            timeout=60,
            output_hook=lambda msg: printed.append(msg["content"].get("text", "")),
        )
        client.stop_channels()
    finally:
        manager.shutdown_kernel(now=True)
    assert Path("".join(printed).strip()).resolve() == Path(sys.executable).resolve()


@pytest.mark.parametrize(
    "notebook", sorted([*ROOT.glob("solutions/*.ipynb"), *ROOT.glob("notebooks/*.ipynb")]), ids=str
)
def test_notebooks_ask_for_the_python3_kernel(notebook: Path) -> None:
    kernelspec = json.loads(notebook.read_text())["metadata"].get("kernelspec", {})
    assert kernelspec.get("name") == "python3", f"{notebook.name}: kernelspec {kernelspec}"


# Selects no test: what a run prints around its (empty) results.
NO_TEST = ["-k", "no_test_has_this_name"]


def _run_suite(
    arguments: list[str], env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    """Run this suite's pytest on `arguments` in a subprocess (no cache, no default options)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _pytest_header_and_summary(env_changes: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """Run an empty selection of this suite in a subprocess; its exit code and output."""
    env = {key: value for key, value in os.environ.items() if key != config.ENV_WEIGHTS_SOURCE}
    env |= {"KERAS_HOME": str(tmp_path / "empty-keras-home")} | env_changes
    completed = _run_suite(["tests/test_benchmark.py", *NO_TEST], env)
    return completed.returncode, completed.stdout


def test_without_weights_the_suite_says_what_to_do_before_and_after(tmp_path: Path) -> None:
    returncode, output = _pytest_header_and_summary({}, tmp_path)
    assert returncode != 0
    # Once in the header, once under the (here: empty) results.
    assert output.count("No MobileNetV2 weights to copy") == 2, output
    assert "make data" in output and config.ENV_WEIGHTS_SOURCE in output


def test_with_weights_the_suite_names_their_folder(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / config.WEIGHT_FILES["no_top"]).write_bytes(b"stand-in for the test")
    _returncode, output = _pytest_header_and_summary(
        {config.ENV_WEIGHTS_SOURCE: str(weights)}, tmp_path
    )
    assert f"MobileNetV2 weights for the tests: copied from {weights}" in output
    assert "No MobileNetV2 weights" not in output


# --- Skips that would hide failures -------------------------------------------------


def test_no_test_skips_when_a_pinned_package_fails_to_import() -> None:
    """A broken install of a pinned package is a failure with the fix (fixtures.pinned), not a
    skip. (Packages the course does not pin, e.g. PyYAML, may still be skipped on.)"""
    from fixtures.pinned import pinned_packages

    distributions = metadata.packages_distributions()  # import name -> distributions
    pinned = pinned_packages()
    offenders = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for module in re.findall(r"importorskip\(\s*[\"']([\w.]+)", line):
                top = module.split(".")[0]
                names = {top.lower(), *(d.lower() for d in distributions.get(top, []))}
                if names & pinned:
                    offenders.append(f"{path.name}:{number} ({module})")
    assert offenders == [], f"use fixtures.pinned.import_pinned instead: {offenders}"


def test_a_failed_import_of_a_pinned_package_fails_with_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import fixtures.pinned as pinned

    def broken_import(name: str) -> None:
        raise ImportError(f"No module named {name!r}")

    monkeypatch.setattr(pinned.importlib, "import_module", broken_import)
    with pytest.raises(pytest.fail.Exception, match=r"requirements.txt pins nbformat.*make setup"):
        pinned.import_pinned("nbformat")
    with pytest.raises(ValueError, match="not pinned"):
        pinned.import_pinned("not_a_course_package")


def _browser_tests_output(chromium: str, tmp_path: Path) -> tuple[int, str]:
    """Run only the browser tests in a subprocess, with Chromium looked for at `chromium`."""
    env = dict(os.environ) | {"ALPACA_TEST_CHROMIUM": chromium}
    completed = _run_suite(
        ["-rs", f"--basetemp={tmp_path / 'basetemp'}", "tests/test_browser.py"], env, timeout=300
    )
    return completed.returncode, completed.stdout


def test_a_skipped_browser_test_is_announced_loudly_with_the_install_command(
    tmp_path: Path,
) -> None:
    returncode, output = _browser_tests_output(str(tmp_path / "no-chromium-here"), tmp_path)
    assert returncode == 0, output
    assert "3 skipped" in output  # the three browser tests: 02, the other explorers, 06's upload
    summary = output[output.index("browser test not run") :]
    assert "THE BROWSER TEST DID NOT RUN" in summary
    assert "sudo apt-get install chromium" in summary and "make browser" in summary
    assert "tests/test_browser.py::test_augmentation_explorer_in_jupyterlab" in summary


def test_the_browser_announcement_is_absent_when_no_browser_test_was_skipped(
    tmp_path: Path,
) -> None:
    completed = _run_suite(["tests/test_browser.py", *NO_TEST])
    assert "collected 3 items / 3 deselected" in completed.stdout, completed.stdout
    assert "DID NOT RUN" not in completed.stdout

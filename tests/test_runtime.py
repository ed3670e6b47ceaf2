"""helpers.runtime: the one home of TensorFlow log quieting and the IPython-shell probe."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import config, runtime


def test_quiet_logs_sets_the_level_only_when_unset() -> None:
    environment: dict[str, str] = {}
    runtime.quiet_tensorflow_logs(environment)
    assert environment == {runtime.TF_LOG_LEVEL_VARIABLE: runtime.QUIET_TF_LOG_LEVEL}
    chosen = {runtime.TF_LOG_LEVEL_VARIABLE: "0"}  # a user who wants every line keeps them
    runtime.quiet_tensorflow_logs(chosen)
    assert chosen[runtime.TF_LOG_LEVEL_VARIABLE] == "0"


def test_benchmark_children_get_quiet_logs(monkeypatch) -> None:
    from benchmarks import child

    monkeypatch.delenv(runtime.TF_LOG_LEVEL_VARIABLE, raising=False)
    assert child.child_environment()[runtime.TF_LOG_LEVEL_VARIABLE] == runtime.QUIET_TF_LOG_LEVEL


def test_no_shell_outside_ipython() -> None:
    assert runtime.ipython_shell() is None


def test_the_shell_inside_ipython() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert runtime.ipython_shell() is shell
    finally:
        InteractiveShell.clear_instance()


def test_native_stderr_is_silenced_and_restored() -> None:
    """C++ code writes to file descriptor 2 directly; inside the block nothing reaches it."""
    code = (
        "import os\n"
        "from helpers import runtime\n"
        "with runtime.native_stderr_silenced():\n"
        "    os.write(2, b'hidden\\n')\n"
        "os.write(2, b'shown\\n')\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=config.PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ},
        check=True,
    )
    assert completed.stderr == "shown\n"


# --- write_atomically: the one whole-file write ----------------------------------------------


def test_write_atomically_replaces_the_file_whole_and_leaves_no_temporary(tmp_path) -> None:
    target = tmp_path / "new folder" / "grades.csv"
    assert runtime.write_atomically(target, "learner,status\njo,graded\n") == target
    assert target.read_bytes() == b"learner,status\njo,graded\n"  # text as UTF-8, \n kept
    runtime.write_atomically(target, b"\x00binary", durable=True)
    assert target.read_bytes() == b"\x00binary"
    assert sorted(p.name for p in target.parent.iterdir()) == ["grades.csv"]


def test_a_write_that_fails_keeps_the_old_file_and_removes_its_temporary(
    tmp_path, monkeypatch
) -> None:
    target = tmp_path / "progress.json"
    target.write_text("old")

    def failing_replace(source, destination) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(runtime.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk gone"):
        runtime.write_atomically(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]

"""The judge: a learner's verdicts, computed where the learner's code cannot reach.

In a grading run the kernel's checks judge nothing: each stores its EVIDENCE
(`helpers/evidence.py`: facts as JSON, models in Keras format, sample arrays)
in the folder named by `config.ENV_EVIDENCE_DIR`. Once the kernel is dead, a
trusted copy of that folder is judged here with the course's own rules
(`helpers.check_runner.judge_stored`), in a process that runs no learner
code: models load with `safe_mode=True` and `compile=False`, nothing is
unpickled, every file is size-capped and read as a regular file only.
Forging a pass therefore means producing evidence that passes: an answer.
Odd or forged evidence gives a failed verdict, never an exception.

Process model: TensorFlow takes seconds to import, so each grading worker
keeps ONE judge process (`worker_judge()`), started on first use and reused
for every learner. It is started through a launch prefix, by which a
grading run confines it (`instructor.grade.bwrap.judge_prefix`: read-only,
no network, a tmpfs for TMPDIR, which loading a model needs, its Keras home
made under `home_parent`, a folder the prefix lets it write), and dies with
its parent. It speaks one JSON line per request on stdin/stdout:

    -> {"folder": "/trusted/copy/of/evidence", "exercises": ["alpaca_model"]}
    <- {"verdicts": [{"exercise": ..., "status": ..., "messages": [...], "codes": [...]}]}

    judge_folder(folder, exercises=None)         judge in THIS process (imports TensorFlow)
    Judge(launch_prefix=(), weights_dir=None, home_parent=None)
                                                 the judge process: .judge(folder, exercises), .close()
    worker_judge(weights_dir, launch_prefix, home_parent)   this worker's Judge, started once
    with_own_answers(verdicts, sources, notebook)   the not-own-answer rule, from the submitted
                                                 cells' source (no kernel, no TensorFlow)
    python -m instructor.grade.judge             the judge process's loop (`serve`)
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from helpers import config
from helpers.exercises import EXERCISES
from helpers.own_answer import CODE as NOT_OWN_ANSWER
from helpers.own_answer import notebook_findings
from helpers.verdicts import ERROR, FAILED

# A request or a reply longer than this is refused (a reply holds at most five verdicts).
MAX_LINE_BYTES = 4 * 2**20
MAX_MESSAGES = 20
# The child's own start-up: isolated from the user's site and PYTHONPATH (-I), this
# repository first on its path.
_CHILD_CODE = (
    "import sys; sys.path.insert(0, {root!r}); from instructor.grade.judge import serve; serve()"
)


class JudgeFailed(RuntimeError):
    """The judge process died, timed out or answered nonsense while judging one learner."""


class JudgeUnavailable(RuntimeError):
    """The judge process could not be started (the grading machinery's fault, not the learner's)."""


# --- Judging, in this process -------------------------------------------------------------------


def _as_verdict(result: Any) -> dict[str, Any]:
    """A GradeResult as the grading run's verdict: exercise, status, messages, codes."""
    return {
        "exercise": str(result.exercise),
        "status": str(result.status),
        "messages": [str(m)[: config.EVIDENCE_MAX_MESSAGE_CHARS] for m in result.messages][
            :MAX_MESSAGES
        ],
        "codes": [str(c)[:100] for c in result.codes][:MAX_MESSAGES],
    }


def judge_folder(folder: Path, exercises: Iterable[str] | None = None) -> list[dict[str, Any]]:
    """The verdicts of every exercise folder (of `exercises`, default all) in an evidence folder.

    Only folders named after a known exercise are read; links are not followed.
    """
    from helpers import graders  # noqa: F401  (registers every exercise's judging)
    from helpers.check_runner import judge_stored

    wanted = set(EXERCISES) if exercises is None else set(exercises) & set(EXERCISES)
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return []
    verdicts = []
    for entry in entries:
        if entry.name in wanted and entry.is_dir(follow_symlinks=False):
            verdicts.append(_as_verdict(judge_stored(Path(entry.path))))
    return verdicts


def with_own_answers(
    verdicts: list[dict[str, Any]], sources: list[str], notebook: str | None
) -> list[dict[str, Any]]:
    """`verdicts` with each exercise whose submitted cells use its own answer failed as such.

    `sources` are the submitted notebook's code cells, read statically here
    (no kernel); an exercise without a verdict gets one.
    """
    found = notebook_findings(sources, notebook)
    kept = [v for v in verdicts if v["exercise"] not in found]
    own = [
        {"exercise": key, "status": FAILED, "messages": [message], "codes": [NOT_OWN_ANSWER]}
        for key, message in found.items()
    ]
    return kept + own


def not_judged(exercises: Iterable[str], why: str) -> list[dict[str, Any]]:
    """Verdicts for exercises whose evidence could not be judged (`error`: not graded)."""
    return [
        {
            "exercise": key,
            "status": ERROR,
            "messages": [f"Not graded: {why}."],
            "codes": ["judge-failed"],
        }
        for key in exercises
    ]


# --- The judge process: the parent's side -------------------------------------------------------


def judge_environment(keras_home: Path) -> dict[str, str]:
    """The judge's whole environment: none of the instructor's variables."""
    return {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(keras_home),
        "KERAS_HOME": str(keras_home),
        "TMPDIR": tempfile.gettempdir(),
        "LANG": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "CUDA_VISIBLE_DEVICES": "",
    }


def private_keras_home(weights_dir: Path | None, parent: Path | None = None) -> Path:
    """A Keras home of the judge's own (in `parent`, default the temporary folder) whose
    `models` is the instructor's weight folder.

    The weights-differ rule compares a model's first kernel with Keras' cached
    ImageNet file; Keras writes its keras.json here, not into the instructor's cache.
    """
    home = Path(tempfile.mkdtemp(prefix="alpaca-judge-", dir=parent))
    (home / "models").symlink_to(Path(weights_dir or config.keras_models_dir()).resolve())
    return home


class Judge:
    """One long-lived judge process; `judge()` starts it when needed and restarts it after a failure."""

    def __init__(
        self,
        launch_prefix: Sequence[str] = (),
        weights_dir: Path | None = None,
        timeout_s: float = config.GRADE_JUDGE_TIMEOUT_S,
        start_timeout_s: float = config.GRADE_JUDGE_START_TIMEOUT_S,
        home_parent: Path | None = None,
    ) -> None:
        self.launch_prefix = list(launch_prefix)
        self.weights_dir = weights_dir
        self.home_parent = home_parent
        self.timeout_s = timeout_s
        self.start_timeout_s = start_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = b""
        self._keras_home: Path | None = None

    @property
    def pid(self) -> int | None:
        """The judge process's pid while it runs."""
        running = self._process is not None and self._process.poll() is None
        return self._process.pid if running else None  # type: ignore[union-attr]

    def start(self) -> None:
        """Start the judge process and wait until it has imported TensorFlow."""
        if self.pid is not None:
            return
        code = _CHILD_CODE.format(root=str(config.PROJECT_ROOT))
        command = [*self.launch_prefix, sys.executable, "-I", "-c", code]
        self._keras_home = self._keras_home or private_keras_home(
            self.weights_dir, self.home_parent
        )
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=judge_environment(self._keras_home),
                cwd=tempfile.gettempdir(),
                close_fds=True,
            )
        except OSError as error:
            raise JudgeUnavailable(f"the judge could not be started: {error}") from None
        self._buffer = b""
        try:
            ready = self._reply(self.start_timeout_s)
        except JudgeFailed as failure:
            self.close()
            raise JudgeUnavailable(f"the judge did not start: {failure}") from None
        if ready != {"ready": True}:
            self.close()
            raise JudgeUnavailable("the judge started but did not say it was ready")

    def judge(self, folder: Path, exercises: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The verdicts for one evidence folder; JudgeFailed when the judge dies or times out."""
        self.start()
        wanted = EXERCISES if exercises is None else exercises
        request = {"folder": str(folder), "exercises": sorted(wanted)}
        try:
            assert self._process is not None and self._process.stdin is not None
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
            reply = self._reply(self.timeout_s)
        except (OSError, JudgeFailed) as error:
            self.close()  # a fresh one for the next learner
            raise JudgeFailed(str(error)) from None
        verdicts = reply.get("verdicts") if isinstance(reply, dict) else None
        if not isinstance(verdicts, list) or not all(_well_formed(v) for v in verdicts):
            self.close()
            raise JudgeFailed("the judge's reply was not a list of verdicts")
        return verdicts

    def _reply(self, timeout_s: float) -> Any:
        """One JSON line from the judge, within `timeout_s` and MAX_LINE_BYTES."""
        assert self._process is not None and self._process.stdout is not None
        stream = self._process.stdout
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise JudgeFailed(f"no answer within {timeout_s:.0f} s")
            ready, _, _ = select.select([stream], [], [], left)
            if not ready:
                continue
            chunk = os.read(stream.fileno(), 2**16)
            if not chunk:
                raise JudgeFailed("the judge process ended")
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE_BYTES:
                raise JudgeFailed("the judge's reply is too long")
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            raise JudgeFailed("the judge's reply is not JSON") from None

    def close(self) -> None:
        """Stop the judge process (it is started again when needed) and remove its Keras home."""
        process, self._process = self._process, None
        home, self._keras_home = self._keras_home, None
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)
        if process is None:
            return
        try:
            process.kill()
            process.wait(timeout=10)
        except Exception:
            pass
        for stream in (process.stdin, process.stdout):
            try:
                if stream is not None:
                    stream.close()
            except Exception:
                pass


def _well_formed(verdict: Any) -> bool:
    """A verdict as judge_folder makes them."""
    return (
        isinstance(verdict, dict)
        and isinstance(verdict.get("exercise"), str)
        and isinstance(verdict.get("status"), str)
        and isinstance(verdict.get("messages"), list)
        and all(isinstance(m, str) for m in verdict["messages"])
        and isinstance(verdict.get("codes"), list)
    )


_WORKER_JUDGE: Judge | None = None


def worker_judge(
    weights_dir: Path | None = None,
    launch_prefix: Sequence[str] = (),
    home_parent: Path | None = None,
) -> Judge:
    """This process's judge (one per grading worker), created on first use and kept."""
    global _WORKER_JUDGE
    wanted = (weights_dir, list(launch_prefix), home_parent)
    if _WORKER_JUDGE is not None and (
        (_WORKER_JUDGE.weights_dir, _WORKER_JUDGE.launch_prefix, _WORKER_JUDGE.home_parent)
        != wanted
    ):
        _WORKER_JUDGE.close()
        _WORKER_JUDGE = None
    if _WORKER_JUDGE is None:
        _WORKER_JUDGE = Judge(launch_prefix, weights_dir, home_parent=home_parent)
        atexit.register(_WORKER_JUDGE.close)
    return _WORKER_JUDGE


# --- The judge process: the child's side --------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: be killed when the process that started the judge dies (PR_SET_PDEATHSIG)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except Exception:
        pass


def _request(line: bytes) -> tuple[Path, list[str]] | None:
    """A request line: the folder and the exercises to judge, or None when it is not one."""
    try:
        request = json.loads(line)
    except ValueError:
        return None
    if not isinstance(request, dict) or not isinstance(request.get("folder"), str):
        return None
    exercises = request.get("exercises", list(EXERCISES))
    if not isinstance(exercises, list) or not all(isinstance(e, str) for e in exercises):
        return None
    return Path(request["folder"]), exercises


def _loaded_a_model(folder: Path, exercises: list[str]) -> bool:
    """Whether judging `folder` loaded a model (a model file in one of the exercises' folders)."""
    from helpers import evidence

    return any(os.path.lexists(folder / key / evidence.MODEL_FILE) for key in exercises)


def serve(requests: BinaryIO | None = None, replies: BinaryIO | None = None) -> None:
    """The judge process: import TensorFlow once, then answer one line per request until EOF.

    Anything printed while judging (TensorFlow's chatter) goes to stderr: the
    replies have the real stdout to themselves.
    """
    if replies is None:
        replies = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
    requests = requests or sys.stdin.buffer
    _die_with_parent()
    from helpers.runtime import quiet_tensorflow_logs

    quiet_tensorflow_logs()
    import keras

    from helpers import graders  # noqa: F401  (TensorFlow, Keras and the rules, once)

    replies.write(b'{"ready": true}\n')
    replies.flush()
    while line := requests.readline(MAX_LINE_BYTES):
        asked = _request(line)
        if asked is None:
            reply: dict[str, Any] = {"error": "not a request"}
        else:
            try:
                reply = {"verdicts": judge_folder(*asked)}
            except Exception as error:  # judge_folder never raises; if it does, say so
                reply = {"error": f"{type(error).__name__}"}
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()
        if asked is not None and _loaded_a_model(*asked):
            # One learner's models must not pile up; clearing costs a full garbage collection
            # (~0.2 s of CPU with TensorFlow loaded), so only after a model was loaded.
            keras.backend.clear_session()


if __name__ == "__main__":
    serve()

"""What a confined kernel's launch needs that bubblewrap does not do: limits, a cgroup, dying with its grader.

A grading run starts each kernel as

    python -I -S .../instructor/grade/confine.py [--fsize BYTES] [--cgroup DIR] -- bwrap ... -- python -I -m ipykernel_launcher ...

(run as a file, with `-I -S`: it imports nothing but the standard library
and reads no user site, no PYTHONPATH and no current folder). Before it
executes the rest of its command line it

- asks Linux to SIGKILL it when the grading thread that started it ends
  (`PR_SET_PDEATHSIG`; bwrap's `--die-with-parent` carries that on to the
  sandbox, so a killed Dask worker leaves no kernel behind);
- caps the size of any one file the kernel writes (`RLIMIT_FSIZE`) and
  forbids core dumps (`RLIMIT_CORE` 0);
- with `--cgroup DIR`, moves itself into that cgroup v2 (its memory.max and
  pids.max then hold for every process the kernel starts).

It exits 126 without running anything when it cannot do one of them.
"""

from __future__ import annotations

import ctypes
import os
import resource
import signal
import sys

PR_SET_PDEATHSIG = 1
CANNOT_CONFINE = 126


def die_with_parent() -> None:
    """SIGKILL this process when the thread that started it ends (kept across exec)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def main(argv: list[str]) -> int:
    """`[--fsize BYTES] [--cgroup DIR] -- COMMAND...`: never returns when COMMAND starts."""
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    settings = dict(zip(options[::2], options[1::2]))
    if not command or len(options) % 2 or set(settings) - {"--fsize", "--cgroup"}:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        die_with_parent()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if "--fsize" in settings:
            size = int(settings["--fsize"])
            resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        if "--cgroup" in settings:
            with open(os.path.join(settings["--cgroup"], "cgroup.procs"), "w") as procs:
                procs.write("0")  # "0" moves the writing process
        os.execv(command[0], command)
    except (OSError, ValueError) as error:
        print(f"confine: cannot start the kernel confined: {error}", file=sys.stderr)
    return CANNOT_CONFINE


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

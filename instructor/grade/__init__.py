"""Instructors: grade a class of submitted notebooks with the course's own graders.

    python -m instructor.grade SUBMISSIONS --out grades.csv [--feedback DIR]
        [--workers N] [--scheduler ADDRESS] [--timeout S] [--memory-mb MB] [--isolation bwrap|off]

Modules, one concern each (none imports TensorFlow; kernels do):
    submissions  find each learner's NN_*.ipynb in a folder, a flat LMS export or a zip
    tasks        what a worker is sent (settings, one learner's notebooks as bytes)
    notebook_run one learner: each notebook parsed, run by a GradedKernel, verdicts collected (a Dask task)
    kernel       GradedKernel: owns one kernel's life (sandbox, confinement, limits, client, report)
    sandbox      the sandbox folder, the kernel's allow-listed environment, sweeping up
    bwrap        the bubblewrap command line that confines a kernel, and the probe that it can
    confine      the launcher before bwrap: rlimits, a cgroup, dying with the grader (stdlib only)
    limits       cgroup v2 limits where delegated; the watchdog (time, memory, tasks, disk)
    safe_files   reading what a kernel touched: regular files only, never blocking, capped
    stand_in     the phase-1 model notebook 05 loads instead of training
    registry     the graded exercises, read from the graders' own registry
    results      verdicts, rows, the atomically written grades CSV, redaction, summary
    feedback     one escaped HTML page per learner
    tagging      the `skip-when-grading` tag: its rules, and the script that tags the masters
    run          the Dask loop: submit, gather as completed, write, resume

Verdicts come from the kernel's evidence folder, copied out after it died:
today the JSON lines each grader call appends to $ALPACA_VERDICTS_FILE
(`helpers/verdict_log.py`), read in `notebook_run.verdicts_from_evidence`.
See README, "Instructors: grading a class". Process trees (memory, CPU,
killing) live in `instructor/processes.py`, shared with the benchmark.
"""

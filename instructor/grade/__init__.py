"""Instructors: grade a class of submitted notebooks with the course's own graders.

    python -m instructor.grade SUBMISSIONS --out grades.csv [--feedback DIR]
        [--workers N] [--scheduler ADDRESS] [--timeout S] [--memory-mb MB] [--isolation auto|namespaces|off]

Modules, one concern each (none imports TensorFlow; kernels and the judge's process do):
    submissions  find each learner's NN_*.ipynb in a folder, a flat LMS export or a zip
    tasks        what a worker is sent (settings, one learner's notebooks as bytes)
    notebook_run one learner: each notebook in a sandbox, verdicts collected (a Dask task)
    sandbox      the sandbox folder, the kernel's allow-listed environment, the watchdog
    confine      the launcher that confines a kernel with Linux namespaces
    stand_in     the phase-1 model notebook 05 loads instead of training
    judge        the verdicts: the kernels' evidence judged in a process of its own
    results      verdicts, rows, the atomically written grades CSV, redaction, summary
    feedback     one escaped HTML page per learner
    tagging      the `skip-when-grading` tag: its rules, and the script that tags the masters
    run          the Dask loop: submit, gather as completed, write, resume

Verdicts come from `judge`: in a grading run each grader call only stores
its evidence in the folder named by $ALPACA_EVIDENCE_DIR (helpers/evidence.py),
and the judge, a process that runs no learner code, judges it once the
kernel is dead. See README, "Instructors: grading a class".
"""

"""Instructors: grade a class of submitted notebooks with the course's own graders.

    python -m instructor.grade SUBMISSIONS --out grades.csv [--feedback DIR]
        [--workers N] [--scheduler ADDRESS] [--timeout S] [--memory-mb MB] [--isolation bwrap|off]

One Dask task per learner; each notebook runs in a confined kernel of its own and
its graders only store evidence, which a judge process that runs no learner
code turns into verdicts: a CSV row and a feedback page. What each module
owns: CONTRIBUTING.md; how to use it and what it isolates: docs/instructor.md.
"""

"""The instructor's tools: authoring the learner copies (`python -m instructor.build`) and
grading a class (`python -m instructor.grade`). Never imported by a notebook or by `helpers`;
its modules are listed in CONTRIBUTING.md, its commands explained in docs/instructor.md.
"""

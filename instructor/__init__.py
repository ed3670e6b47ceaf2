"""The instructor's tools: never imported by a notebook or by `helpers`.

build    solutions/ -> notebooks/ (python -m instructor.build)
grade    grade a class of submitted notebooks (python -m instructor.grade)
"""

# One entry point for learners and instructors. Every target is idempotent:
# a second run reuses the environment, the dataset and the weights.
#
# Learners (installs requirements.txt only):
#   make lab     set everything up, then open JupyterLab on notebooks/
# Instructors and developers (adds requirements-instructor.txt; docs/instructor.md):
#   make test    set everything up, then run the whole test suite (what CI runs)
#   make build   tag the masters, regenerate notebooks/ and helpers/answers.py from solutions/
#   make lint    ruff: lint and format check of the whole repository
#   make grade SUBMISSIONS=folder-or-zip [OUT=grades.csv] [FEEDBACK=feedback] [GRADE_ARGS=...]
#                grade a class of submitted notebooks

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Each stamp holds a hash of the files its install read, so editing any of them reinstalls:
# a learner's (requirements.txt, pyproject.toml), an instructor's (both requirement files too).
LEARNER_FILES := requirements.txt pyproject.toml
INSTRUCTOR_FILES := requirements-instructor.txt $(LEARNER_FILES)
LEARNER_STAMP := $(VENV)/.learner-$(shell cat $(LEARNER_FILES) | cksum | cut -d' ' -f1)
INSTRUCTOR_STAMP := $(VENV)/.instructor-$(shell cat $(INSTRUCTOR_FILES) | cksum | cut -d' ' -f1)
JUPYTER_PORT ?= 8888
# Jupyter refuses to run as root (containers, CI) unless told it is on purpose.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# make grade: where the submissions are, and where the CSV and the feedback pages go.
SUBMISSIONS ?=
OUT ?= grades.csv
FEEDBACK ?= feedback
GRADE_ARGS ?=

.PHONY: setup setup-instructor data data-instructor lab test test-fast lint build check-build execute benchmark browser grade clean

# What a learner needs: the notebooks' packages and the course installed in .venv.
setup: $(LEARNER_STAMP)

# What an instructor needs on top: the tools that test, build and grade the course. An
# instructor's environment holds a learner's, so its install counts as both.
setup-instructor: $(INSTRUCTOR_STAMP)

# $(1): the requirements file to install, $(2): the stamp files to remove first.
define install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r $(1)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . || \
		$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(2)
endef

$(LEARNER_STAMP): $(LEARNER_FILES)
	$(call install,requirements.txt,$(VENV)/.learner-* $(VENV)/.installed-*)
	touch $@

$(INSTRUCTOR_STAMP): $(INSTRUCTOR_FILES)
	$(call install,requirements-instructor.txt,$(VENV)/.learner-* $(VENV)/.instructor-* $(VENV)/.installed-*)
	touch $@ $(LEARNER_STAMP)

# Dataset into dataset/, ImageNet weights into Keras' cache; skipped when already there.
FETCH := $(BIN)/python -m helpers.data fetch
data: setup
	$(FETCH)

# The same in an instructor's environment.
data-instructor: setup-instructor
	$(FETCH)

lab: data
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(JUPYTER_PORT) $(ALLOW_ROOT) $(LAB_ARGS)

# Debian's Chromium for the JupyterLab browser test (Playwright drives it; it downloads no browser).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium not found and not root: the browser test will be skipped. Install it with: sudo apt-get install chromium"; fi

# Two workers (pytest-xdist): a serial run keeps about one of CI's two cores busy. Each test
# file stays in one worker (its module fixtures run once); conftest.py makes the masters and
# the tests that read their run one unit, run in order. PYTEST_WORKERS=0 runs serially.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder

test: data-instructor browser
	$(BIN)/python -m pytest $(PYTEST_PARALLEL)

test-fast: data-instructor
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_PARALLEL)

# Lint and format check, notebooks included (settings in pyproject.toml); the fast tests run it too.
lint: setup-instructor
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Tag the masters for grading, write the learner copies and helpers/answers.py (one pass).
build: setup-instructor
	$(BIN)/python -m instructor.build

# Re-run the masters and store their outputs (after changing a grader's wording, say).
execute: data-instructor
	$(BIN)/python -m instructor.build --execute

check-build: setup-instructor
	$(BIN)/python -m instructor.build --check

benchmark: data-instructor
	$(BIN)/python -m benchmarks

grade: data-instructor
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-or-zip [OUT=grades.csv] [FEEDBACK=feedback] [GRADE_ARGS='--workers 4']"; exit 2; }
	$(BIN)/python -m instructor.grade "$(SUBMISSIONS)" --out "$(OUT)" --feedback "$(FEEDBACK)" $(GRADE_ARGS)

clean:
	rm -rf $(VENV) artifacts .pytest_cache test-artifacts

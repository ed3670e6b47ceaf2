# One entry point for learners and instructors. Every target is idempotent:
# a second run reuses the environment, the dataset and the weights.
#
#   make lab     set everything up, then open JupyterLab on notebooks/
#   make test    set everything up the same way, then run the whole test suite
#   make build   regenerate the learner copies in notebooks/ from solutions/
#   make lint    ruff: lint and format check of the whole repository
#   make grade SUBMISSIONS=folder-or-zip [OUT=grades.csv] [FEEDBACK=feedback] [GRADE_ARGS=...]
#                grade a class of submitted notebooks (README: "Instructors: grading a class")

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp holds a hash of requirements.txt and pyproject.toml, so editing either reinstalls.
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
JUPYTER_PORT ?= 8888
# Jupyter refuses to run as root (containers, CI) unless told it is on purpose.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

# make grade: where the submissions are, and where the CSV and the feedback pages go.
SUBMISSIONS ?=
OUT ?= grades.csv
FEEDBACK ?= feedback
GRADE_ARGS ?=

.PHONY: setup data lab test test-fast lint build check-build execute benchmark browser grade clean

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e . || \
		$(BIN)/python -m pip install --quiet --no-deps -e .
	rm -f $(VENV)/.installed-*
	touch $@

# Dataset into dataset/, ImageNet weights into Keras' cache; skipped when already there.
data: setup
	$(BIN)/python -m helpers.data fetch

lab: data
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(JUPYTER_PORT) $(ALLOW_ROOT) $(LAB_ARGS)

# Debian's Chromium for the JupyterLab browser test (Playwright drives it; it downloads no browser).
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium not found and not root: the browser test will be skipped. Install it with: sudo apt-get install chromium"; fi

test: data browser
	$(BIN)/python -m pytest

test-fast: data
	$(BIN)/python -m pytest -m "not slow"

# Lint and format check, notebooks included (settings in pyproject.toml); the fast tests run it too.
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

build: setup
	$(BIN)/python -m instructor.build

# Re-run the masters and store their outputs (after changing a grader's wording, say).
execute: data
	$(BIN)/python -m instructor.build --execute

check-build: setup
	$(BIN)/python -m instructor.build --check

benchmark: data
	$(BIN)/python -m benchmarks

grade: data
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder-or-zip [OUT=grades.csv] [FEEDBACK=feedback] [GRADE_ARGS='--workers 4']"; exit 2; }
	$(BIN)/python -m instructor.grade "$(SUBMISSIONS)" --out "$(OUT)" --feedback "$(FEEDBACK)" $(GRADE_ARGS)

clean:
	rm -rf $(VENV) artifacts .pytest_cache test-artifacts

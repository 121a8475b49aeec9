# Two commands for a fresh machine: `make demo` and `make test` (everything; what CI runs).
# `make test-fast` runs the fast tier only, while you work.
# Each sets up its own virtualenv and installs what it needs.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test pytest test-fast lint install browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/migrayt demo $(ARGS)

# Browser tests (tests/e2e) drive Debian's Chromium through the `playwright` package; Playwright's
# own browser download is never used.
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	test -x $(CHROMIUM) || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

# checkov (Terraform static analysis in tests/deploy) pins packages ours need newer: it gets its own venv.
CHECKOV := .venv-tools/checkov/bin/checkov
$(CHECKOV):
	$(PY) -m venv .venv-tools/checkov
	.venv-tools/checkov/bin/python -m pip install -q 'checkov>=3.2'

# Style and types (configuration in pyproject.toml): ruff's lint and import order, ruff's formatting, mypy
# (strict for the core, contracts, workflows and the Temporal package). Seconds with mypy's cache; `make test`
# runs it beside the tests, so CI fails on a lint or type error.
LINT_PATHS := migrayt tests bench
lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/python -m mypy

# Three test processes, a file each at a time (module fixtures stay whole): most of a test's time is spent waiting
# on the sandbox's latency and on Temporal — with two the 2 cores were only ~60% busy (33.9 min of CI for 41 min of
# CPU); four, tried once (on a machine not idle), took 36 min for 49 min of CPU: a test that waits longer also keeps
# its servers polling longer. Each starts its own PostgreSQL, Temporal and sandboxes on free ports.
# PYTEST_WORKERS=0: one process.
# The files go longest first (tests/file_order.py), not xdist's most-tests-first (--no-loadscope-reorder), which
# left the minutes-long integration files to the end, run one beside nothing.
PYTEST_WORKERS ?= 3
# `make test` is CI's whole run, so its steps overlap where they can: the two virtualenvs install side by side, and
# lint (mostly mypy, ~30 s of one core) runs beside the tests, which leave a core idle a sixth of the time. A lint or
# type error still fails the command — once the tests are done.
test: browser
	$(MAKE) --no-print-directory -j3 lint pytest

pytest: $(STAMP) $(CHECKOV)
	MIGRAYT_CHECKOV=$(CURDIR)/$(CHECKOV) $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadfile \
		--no-loadscope-reorder --durations=30 $(ARGS)

# The fast tier, under 2 minutes: pure unit tests, the activities in Temporal's ActivityEnvironment,
# the workflows on a local Temporal with fake activities, the replay of the committed histories and
# the schema check (one embedded PostgreSQL). No sandbox, no worker, no browser.
FAST_TESTS := tests/unit tests/api/test_units.py tests/codec/test_codec_unit.py \
	tests/activities tests/workflows tests/replay tests/store
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q $(FAST_TESTS) $(ARGS)

clean:
	rm -rf $(VENV) .migrayt

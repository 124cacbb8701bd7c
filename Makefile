# The two set-up commands for a fresh machine are `make demo` and `make test`; both create .venv and
# install hrcam into it when needed, and are safe to run again. The install includes the [beam] and [coco]
# (pycocotools: the COCO loader's masks) extras, and
# the test targets set HRCAM_REQUIRE_BEAM=1 so that the Beam test fails rather than skips without it.
# The browser test of the HTML report runs Debian's `chromium` (headless) and skips without it; .ci/run
# installs it (apt-get install chromium) before `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hrcam-installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYTHONUNBUFFERED := 1

.PHONY: demo test test-fast bench lint clean

$(STAMP): setup.py pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,serving,beam,coco]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/hrcam demo --out demo_output

test: $(STAMP)
	HRCAM_REQUIRE_BEAM=1 $(BIN)/python -m pytest -q tests

test-fast: $(STAMP)
	HRCAM_REQUIRE_BEAM=1 $(BIN)/python -m pytest -q -m "not slow" tests

bench: $(STAMP)
	PYTHON=$(BIN)/python bash scripts/run_benchmarks.sh

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) demo_output build dist *.egg-info

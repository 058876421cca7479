# Two commands do all the set-up (see README.md):
#   make course   create .venv, install, execute every notebook (quick mode; FULL=1 for full mode), write the report
#   make test     create .venv, install, run unit tests + hygiene checks + every notebook in quick mode
#   make seeds    every quick claim over seeds 0-2 and 1/2 threads, with its worst margin (not part of CI)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MODE_FLAG := $(if $(FULL),--full,)

.PHONY: setup course test seeds lab clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

course: setup
	$(PY) -m course_utils.course.runner $(MODE_FLAG)

test: setup
	$(PY) -m pytest

seeds: setup
	$(PY) -m course_utils.course.runner --seeds 0 1 2 --threads 1 2

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf build

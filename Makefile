# Two commands do all the set-up (see README.md):
#   make course   create .venv, install, execute every notebook (quick mode; FULL=1 for full mode), write the report
#   make test     create .venv, install, run unit tests + hygiene checks + every notebook in quick mode
#   make seeds    every quick claim over seeds 0-2 and 1/2 threads, with its worst margin (not part of CI)
#   make student  student copies of every notebook (solutions stubbed, checks locked) → build/student/;
#                 a copy that differs (a student's work?) is kept unless FORCE=1
#   make grade NOTEBOOK=path/to/submitted.ipynb   points per exercise, against the teacher's copy → build/grades/
#   make grade CLASS=submitted/ [ONLY="00 07"] [REGRADE=1]   a whole class → build/grades/gradebook.csv + reports
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
MODE_FLAG := $(if $(FULL),--full,)
# A relative COURSE_DATASETS / COURSE_DATA_DIR / COURSE_OUTPUT_DIR means the folder make was started in, also for
# kernels and workers that run elsewhere (the Python commands do the same for themselves).
$(foreach var,COURSE_DATASETS COURSE_DATA_DIR COURSE_OUTPUT_DIR,$(if $($(var)),$(eval export $(var) := $(abspath $($(var))))))

.PHONY: setup browser course test seeds lab student grade clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[teacher,dev]"  # teacher: papermill, nbgrader, JupyterLab, the cross-checks; dev: pytest, ruff
	touch $@

course: setup
	$(PY) -m course_utils.course.runner $(MODE_FLAG)

# The report test opens the HTML page in Chromium; on Debian/Ubuntu this installs it when missing.
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || \
	  (command -v apt-get >/dev/null && apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || \
	  (echo "Install Chromium or Chrome (or set CHROMIUM=/path/to/it): the report test opens the HTML page in it"; exit 1)

test: setup browser
	$(PY) -m pytest

seeds: setup
	$(PY) -m course_utils.course.runner --seeds 0 1 2 --threads 1 2

student: setup
	$(PY) -m course_utils.course.student $(if $(FORCE),--force,)

grade: setup
	$(PY) -m course_utils.course.grade $(if $(CLASS),--class $(CLASS),$(NOTEBOOK)) $(if $(ONLY),--only $(ONLY),) \
	  $(if $(REGRADE),--regrade,)

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf build

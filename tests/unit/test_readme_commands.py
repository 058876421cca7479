"""The README's commands work exactly as written: CI runs the README's offline test line, and a relative
COURSE_DATASETS means the folder the command was typed in."""

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def readme_lines(pattern: str) -> list[str]:
    return [line.split("#")[0].strip() for line in (REPO / "README.md").read_text().splitlines() if re.search(pattern, line)]


def test_ci_runs_exactly_the_readmes_offline_test_line():
    offline_test = readme_lines(r"^COURSE_DATASETS=\S+ make test\b")
    assert len(offline_test) == 1, f"the README should show one offline test line, found {offline_test}"
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert offline_test[0] in ci, f".ci/run must run {offline_test[0]!r} as written"
    assert readme_lines(r"^COURSE_DATASETS=\S+ make course\b"), "the README shows the offline course line too"


def test_make_anchors_a_relative_path_where_it_was_typed(tmp_path):
    """`make -p` prints the variables as make sees them: the relative path is made absolute."""
    env = {**os.environ, "COURSE_DATASETS": "../shared/datasets", "COURSE_DATA_DIR": "cache"}
    printed = subprocess.run(["make", "-n", "-p", "lab"], cwd=REPO, env=env, capture_output=True, text=True).stdout
    assert f"COURSE_DATASETS := {REPO.parent / 'shared' / 'datasets'}" in printed
    assert f"COURSE_DATA_DIR := {REPO / 'cache'}" in printed

"""What the notebook tests share: the quick baselines, trained once and first (timed), and the test report.

Every test here that executes a notebook asks for ``trained_baselines``, so the baselines are trained in their
own timed step before any notebook runs, whichever test pytest runs first.
"""

from __future__ import annotations

import pytest
from notebook_runs import OUTPUT, REPO, record_run

from course_utils.course import report, runner


@pytest.fixture(scope="session")
def trained_baselines():
    """Train (or load) the quick baselines once, timed as the runner's first step; write the report at the end."""
    for stale in OUTPUT.glob("*.claims.json"):
        stale.unlink()
    (OUTPUT / report.RUNS_FILE).unlink(missing_ok=True)
    step = runner.train_baselines_step(quick=True, seed=0)
    record_run("baselines", step)
    print(f"\nbaselines step: {step['seconds']:.1f} s")
    assert step["status"] == "ok", f"training the quick baselines failed: {step['error']}"
    yield
    print(f"\nreport: {report.write_report(OUTPUT, REPO / 'build' / 'report-test.md')}")

"""Execute every notebook once in quick mode (papermill) and check the claims it recorded.

The shared baselines are trained first, in their own timed step (as ``make course`` does), so a notebook's
time is its own. A notebook fails this test when a cell raises (a claim's own assert included), when it
recorded no asserted claim, or when any recorded claim did not hold. Time is not a test: the runner's
per-cell timeout guards against hangs, and each notebook's time is printed against the quick-mode budget
and written to the report ``build/report-test.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils import claims, report, runner

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "build" / "test-executed"


def _record(name: str, entry: dict) -> None:
    runs = report.load_runs(OUTPUT)
    runs[name] = entry
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / report.RUNS_FILE).write_text(json.dumps(runs, indent=1))


@pytest.fixture(scope="session")
def trained_baselines():
    """Train (or load) the quick baselines once, timed as the runner's first step; write the report at the end."""
    for stale in OUTPUT.glob("*.claims.json"):
        stale.unlink()
    (OUTPUT / report.RUNS_FILE).unlink(missing_ok=True)
    step = runner.train_baselines_step(quick=True, seed=0)
    _record("baselines", step)
    print(f"\nbaselines step: {step['seconds']:.1f} s")
    assert step["status"] == "ok", f"training the quick baselines failed: {step['error']}"
    yield
    print(f"\nreport: {report.write_report(OUTPUT, REPO / 'build' / 'report-test.md')}")


@pytest.mark.parametrize("path", runner.list_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode_and_its_claims_hold(path, trained_baselines):
    run = runner.execute_notebook(path, quick=True, output_dir=OUTPUT)
    _record(run.name, {"seconds": round(run.seconds, 1), "status": "ok" if run.ok else "failed", "error": run.error,
                       "budget_s": runner.QUICK_BUDGET_S})  # fmt: skip
    budget = "within" if run.seconds <= runner.QUICK_BUDGET_S else "OVER"
    print(f"\n{path.name}: {run.seconds:.1f} s in quick mode ({budget} the {runner.QUICK_BUDGET_S} s budget)")
    error = run.error or {}
    assert run.ok, f"{path.name} stopped at cell {error['cell']} ({error['source']}): {error['ename']}: {error['evalue']}"

    doc = claims.load_claims(claims.claims_path(path.stem, OUTPUT))
    assert doc["mode"] == "quick"
    failed = [c["name"] for c in doc["claims"] if not c["passed"]]
    assert not failed, f"claims that did not hold: {failed}"
    asserted = [c for c in doc["claims"] if claims.is_asserted(c)]
    assert len(asserted) >= 3, f"{path.name} asserts only {len(asserted)} claims"

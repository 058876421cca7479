"""Execute every notebook once in quick mode (papermill) and check the claims it recorded.

A notebook fails this test when a cell raises (a claim's own assert included), when it recorded no
claims, when any recorded claim did not hold, or when quick mode blows its time budget.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from course_utils import claims, runner

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "build" / "test-executed"
QUICK_BUDGET_S = 90  # the course's promise per notebook on 2 CPU cores
HARD_LIMIT_S = 150  # fail beyond this: CI noise may cost a little, not this much


@pytest.mark.parametrize("path", runner.list_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_in_quick_mode_and_its_claims_hold(path):
    run = runner.execute_notebook(path, quick=True, output_dir=OUTPUT)
    timings_file = OUTPUT / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    timings[run.name] = round(run.seconds, 1)
    timings_file.write_text(json.dumps(timings, indent=1))
    budget = "within" if run.seconds <= QUICK_BUDGET_S else "OVER"
    print(f"\n{path.name}: {run.seconds:.1f} s in quick mode ({budget} the {QUICK_BUDGET_S} s budget)")

    doc = claims.load_claims(claims.claims_path(path.stem, OUTPUT))
    assert doc["mode"] == "quick"
    assert len(doc["claims"]) >= 5, f"{path.name} recorded only {len(doc['claims'])} figures"
    failed = [c["name"] for c in doc["claims"] if not c["passed"]]
    assert not failed, f"claims that did not hold: {failed}"
    assert any(c["at_least"] is not None or c["at_most"] is not None for c in doc["claims"]), "no claim is asserted"
    assert run.seconds <= HARD_LIMIT_S, f"{path.name} took {run.seconds:.0f} s in quick mode"

"""Where the notebook tests write executed notebooks, claims and run records (read by the test report)."""

from __future__ import annotations

import json
from pathlib import Path

from course_utils.course import report

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "build" / "test-executed"


def record_run(name: str, entry: dict) -> None:
    """Add one step's run record to the runs file the report reads."""
    runs = report.load_runs(OUTPUT)
    runs[name] = entry
    OUTPUT.mkdir(parents=True, exist_ok=True)
    (OUTPUT / report.RUNS_FILE).write_text(json.dumps(runs, indent=1))

import json

import pytest

from course_utils import claims
from course_utils.course import report


def _demo(executed):
    c = claims.Claims("00_demo", quick=True, seed=0, device="cpu", folder=executed)
    c.record("accuracy", 0.98, "fraction", at_least=0.97)
    c.record("drop_pp", 0.2, "pp", at_most=1.0, target_at_most=0.06, source="Deep Compression, Table 1",
             catches="masks not applied during fine-tuning")
    c.require("equal", True)
    with pytest.raises(claims.ClaimFailed):
        c.record("speedup", 1.1, "x", at_least=1.3)


def test_report_lists_claims_targets_times_and_failures(tmp_path):
    executed = tmp_path / "executed"
    _demo(executed)
    runs = {
        "baselines": {"seconds": 30.0, "status": "ok", "error": None, "budget_s": None},
        "00_demo": {"seconds": 42.0, "status": "failed", "budget_s": 90,
                    "error": {"cell": 7, "ename": "ClaimFailed", "evalue": "claim 'speedup' failed", "source": "x"}},
        "01_next": {"seconds": 95.0, "status": "ok", "error": None, "budget_s": 90},
    }
    (executed / report.RUNS_FILE).write_text(json.dumps(runs))
    text = report.write_report(executed, tmp_path / "report.md").read_text()
    assert "Total time: 167 s, baselines step included." in text and "2 step(s)" not in text
    assert "**1 step(s) failed: 00_demo.**" in text
    assert "**FAILED** at cell 7: `ClaimFailed: claim 'speedup' failed`" in text
    assert "42 s of 90 s (within)" in text and "95 s of 90 s (**OVER**)" in text
    assert "| accuracy | 0.98 | fraction | ≥ 0.97 | ✅ |  |  |  |" in text
    assert "| speedup | 1.1 | x | ≥ 1.3 | ❌ |" in text
    assert "| equal | yes | bool | must hold | ✅ |" in text
    assert ("| drop_pp | 0.2 | pp | ≤ 1 | ✅ | masks not applied during fine-tuning | ≤ 0.06 (Deep Compression, Table 1) "
            "| **missed** |") in text
    assert "## Targets" in text and "| 00_demo | drop_pp | 0.2 pp |" in text
    assert "## 01_next" in text and "No claims were recorded." in text


def test_report_needs_claims(tmp_path):
    with pytest.raises(FileNotFoundError, match="execute the notebooks"):
        report.write_report(tmp_path, tmp_path / "report.md")


def test_full_mode_report_shows_the_course_budget_and_the_machine(tmp_path):
    executed = tmp_path / "executed"
    _demo(executed)
    runs = {"baselines": {"seconds": 5000.0, "status": "ok", "error": None, "budget_s": None},
            "00_demo": {"seconds": 1300.0, "status": "ok", "error": None, "budget_s": 1200},
            "01_next": {"seconds": 1000.0, "status": "ok", "error": None, "budget_s": 1200}}  # fmt: skip
    (executed / report.RUNS_FILE).write_text(json.dumps(runs))
    path = report.write_report(executed, tmp_path / "report-full.md", course_budget_s=7200)
    text = path.read_text()
    assert "Total time: 7300 s of the course's 7200 s budget (**OVER**)" in text
    assert "1300 s of 1200 s (**OVER**)" in text and "1000 s of 1200 s (within)" in text
    data = json.loads(path.with_suffix(".json").read_text())
    assert data["total_s"] == 7300 and data["course_budget_s"] == 7200
    assert {"cpu", "cpu_capability", "features", "physical_cores", "torch", "date"} <= set(data["machine"])
    runs["00_demo"]["seconds"] = 1100.0
    (executed / report.RUNS_FILE).write_text(json.dumps(runs))
    assert "of the course's 7200 s budget (within)" in report.write_report(executed, path, course_budget_s=7200).read_text()

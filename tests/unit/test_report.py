import json

import pytest

from course_utils import claims, report


def test_report_lists_claims_times_and_figures(tmp_path):
    executed = tmp_path / "executed"
    c = claims.Claims("00_demo", quick=True, seed=0, device="cpu", folder=executed)
    c.record("accuracy", 0.98, "fraction", at_least=0.97)
    c.require("equal", True)
    with pytest.raises(claims.ClaimFailed):
        c.record("speedup", 1.1, "x", at_least=1.3)
    (executed / "timings.json").write_text(json.dumps({"00_demo": 42.0}))
    text = report.write_report(executed, tmp_path / "report.md").read_text()
    assert "## 00_demo" in text and "ran in 42 s" in text and "**A CLAIM FAILED**" in text
    assert "| accuracy | 0.98 | fraction | ≥ 0.97 | ✅ |" in text
    assert "| speedup | 1.1 | x | ≥ 1.3 | ❌ |" in text
    assert "| equal | yes | bool | must hold | ✅ |" in text


def test_report_needs_claims(tmp_path):
    with pytest.raises(FileNotFoundError, match="execute the notebooks"):
        report.write_report(tmp_path, tmp_path / "report.md")

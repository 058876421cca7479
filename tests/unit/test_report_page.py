"""The report as a self-contained HTML page (opened in headless Chromium) and the comparison of two runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from course_utils import claims
from course_utils.course import report, report_page


def _run(executed, accuracy=0.98, speedup_ok=True, failed=False):
    c = claims.Claims("00_demo", quick=True, seed=0, device="cpu", folder=executed)
    c.record("accuracy", accuracy, "fraction", at_least=0.9)
    c.record("drop_pp", 0.2, "pp", at_most=1.0, target_at_most=0.06, source="Deep Compression, Table 1")
    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1])
    c.figure(fig, "curve")
    plt.close(fig)
    runs = {"00_demo": {"seconds": 12.0, "status": "failed" if failed else "ok", "budget_s": 90,
                        "error": {"cell": 3, "ename": "ValueError", "evalue": "bad input", "source": "x"} if failed else None}}
    (executed / report.RUNS_FILE).write_text(json.dumps(runs))


def browser() -> str:
    """Chromium (or Chrome) for the page test: $CHROMIUM or the first found on PATH."""
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    pytest.fail("no Chromium found: install it (Debian: apt-get install chromium) or set CHROMIUM; `make test` does it")


def test_html_page_is_self_contained_and_renders_in_a_browser(tmp_path):
    executed = tmp_path / "executed"
    _run(executed, failed=True)
    md = report.write_report(executed, tmp_path / "site" / "report.md")
    page = md.with_suffix(".html").read_text()
    assert "data:image/png;base64," in page and 'src="00_demo' not in page, "figures must be embedded, not linked"
    chrome = browser()
    command = [chrome, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
               f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", md.with_suffix(".html").as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "<table>" in dom and "accuracy" in dom and "Deep Compression, Table 1" in dom
    assert "FAILED" in dom and "ValueError: bad input" in dom
    assert 'src="data:image/png;base64,' in dom


def test_compare_lists_moved_new_gone_and_flipped_figures(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    _run(old, accuracy=0.98)
    _run(new, accuracy=0.91)
    first = json.loads(report.write_report(old, tmp_path / "a.md").with_suffix(".json").read_text())
    text = report.write_report(new, tmp_path / "b.md", compare_with=tmp_path / "a.json").read_text()
    assert "## Compared with a.json" in text and "| 00_demo | accuracy | 0.98 | 0.91 fraction | -7.1% |" in text
    assert "drop_pp" not in text.split("## Compared")[1].split("## Targets")[0], "an unchanged figure is not listed"
    second = json.loads((tmp_path / "b.json").read_text())
    drop = second["notebooks"]["00_demo"]["claims"]["drop_pp"]  # the JSON keeps the bound, the target and its source
    assert drop["at_most"] == 1.0 and drop["target"] == {"at_least": None, "at_most": 0.06, "met": False,
                                                         "source": "Deep Compression, Table 1"}
    second["notebooks"]["00_demo"]["claims"]["accuracy"]["passed"] = False
    second["notebooks"]["00_demo"]["claims"]["extra"] = {"value": 1, "unit": "x", "passed": True}
    del second["notebooks"]["00_demo"]["claims"]["drop_pp"]
    rows = "\n".join(report_page.compare(first, second))
    assert "held → FAILED" in rows and "| extra | (new) | 1 |" in rows and "| drop_pp | 0.2 | (gone) |" in rows
    assert "None: every figure is within" in "\n".join(report_page.compare(first, first))
    with pytest.raises(ValueError, match="format 1"):
        report_page.compare({"notebooks": {}}, first)


def test_a_missing_figure_is_named_not_a_crash(tmp_path):
    html = report_page.page("# T\n\n![gone](nowhere.png)\n", tmp_path)
    assert "figure nowhere.png is missing" in html

import json

import nbformat
import pytest

from course_utils.course import report, runner, seeds


def test_notebooks_listed_in_reading_order():
    names = [p.name for p in runner.list_notebooks()]
    assert names == sorted(names) and names[0].startswith("00_")


def test_only_filters_and_rejects_unknown():
    assert [p.name[:2] for p in runner.list_notebooks(["00"])] == ["00"]
    with pytest.raises(ValueError, match="'77'"):
        runner.list_notebooks(["77"])


def _notebook(path, *cells):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    params = nbformat.v4.new_code_cell("QUICK = None\nSEED = 0")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, path)
    return path


def test_a_failing_notebook_is_reported_and_the_next_still_runs(tmp_path, monkeypatch):
    broken = _notebook(tmp_path / "00_broken.ipynb", "x = 1", "raise ValueError('measured 3, expected 4')", "y = 2")
    fine = _notebook(tmp_path / "01_fine.ipynb", "assert SEED == 5 and QUICK is True")
    monkeypatch.setattr(runner, "list_notebooks", lambda only=None: [broken, fine])
    monkeypatch.setattr(runner, "train_baselines_step", lambda **kw: {"seconds": 0.1, "status": "ok", "error": None,
                                                                      "budget_s": None})  # fmt: skip
    out = tmp_path / "out"
    ok = runner.run_course(quick=True, output_dir=out, report_path=tmp_path / "report.md", seed=5)
    runs = json.loads((out / report.RUNS_FILE).read_text())
    assert ok is False
    assert runs["00_broken"]["status"] == "failed" and runs["01_fine"]["status"] == "ok"
    assert runs["00_broken"]["error"]["ename"] == "ValueError"
    assert "measured 3, expected 4" in runs["00_broken"]["error"]["evalue"]
    assert runs["00_broken"]["error"]["source"].startswith("raise ValueError")
    text = (tmp_path / "report.md").read_text()
    assert "**FAILED** at cell" in text and "00_broken" in text


def test_a_hung_cell_is_stopped_by_the_cell_timeout(tmp_path):
    hung = _notebook(tmp_path / "00_hung.ipynb", "import time\ntime.sleep(60)")
    run = runner.execute_notebook(hung, quick=True, output_dir=tmp_path / "out", cell_timeout_s=3)
    assert not run.ok and run.seconds < 45
    assert "Timeout" in run.error["ename"] or "timed out" in run.error["evalue"].lower()


def test_seeds_summary_finds_the_worst_run_and_margin(tmp_path):
    from course_utils import claims

    dirs = {}
    for seed, value in ((0, 0.9), (1, 0.6)):
        folder = tmp_path / f"seed{seed}"
        c = claims.Claims("00_demo", quick=True, seed=seed, device="cpu", folder=folder)
        c.record("accuracy", value, "fraction", at_least=0.5)
        c.record("seconds", 3.0, "s")
        c.require("equal", True)
        dirs[f"seed{seed}"] = folder
    rows = {r["claim"]: r for r in seeds.summarise(dirs)}
    assert set(rows) == {"accuracy", "equal"}
    assert rows["accuracy"]["worst_run"] == "seed1" and rows["accuracy"]["worst_margin"] == pytest.approx(0.1)
    text = seeds.markdown(list(rows.values()), list(dirs), {})
    assert "| 00_demo | accuracy | ≥ 0.5 | 0.6 | 0.1 | seed1 | 0.9 | 0.6 |" in text


def test_seeds_summary_ignores_runs_where_the_hardware_exempts_a_claim(tmp_path, monkeypatch):
    from course_utils import claims, hardware

    dirs = {}
    for threads, value in ((1, 1.0), (2, 1.8)):
        monkeypatch.setattr(hardware, "has", lambda feature, t=threads: t >= 2)
        folder = tmp_path / f"threads{threads}"
        claims.Claims("00_demo", quick=True, seed=0, device="cpu", folder=folder).record(
            "thread_speedup", value, "x", at_least=1.2, needs="multicore")
        dirs[f"threads{threads}"] = folder
    (row,) = seeds.summarise(dirs)
    assert row["worst_run"] == "threads2" and row["worst_margin"] == pytest.approx(0.6)
    assert not row["asserted_everywhere"] and row["values"] == {"threads1": 1.0, "threads2": 1.8}


def test_only_skips_the_baselines_step(tmp_path, monkeypatch):
    fine = _notebook(tmp_path / "01_fine.ipynb", "x = 1")
    monkeypatch.setattr(runner, "list_notebooks", lambda only=None: [fine])

    def must_not_train(**kw):
        raise AssertionError("--only must not train every baseline")

    monkeypatch.setattr(runner, "train_baselines_step", must_not_train)
    assert runner.run_course(quick=True, output_dir=tmp_path / "out", report_path=tmp_path / "r.md", only=["01"])
    assert "baselines" not in json.loads((tmp_path / "out" / report.RUNS_FILE).read_text())

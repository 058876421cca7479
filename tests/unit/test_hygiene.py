"""Repository hygiene: notebooks stripped and well-formed, dependencies in sync, lint clean."""

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_stripped_named_and_has_parameters(path):
    assert re.fullmatch(r"\d\d_[a-z0-9_]+\.ipynb", path.name), f"{path.name} is not NN_snake_case.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", "papermill needs kernelspec metadata"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{path.name} has outputs: strip them"
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
    assert "QUICK = None" in tagged[0].source and "SEED =" in tagged[0].source
    text = "\n".join(c.source for c in nb.cells)
    for section in ("## Results", "## Exercises", "## Summary", "# BEGIN SOLUTION", "# END SOLUTION"):
        assert section in text, f"{path.name} lacks {section!r} (see ../shared/COURSE_STYLE.md)"
    assert text.count("# BEGIN SOLUTION") >= 3, f"{path.name} needs at least 3 exercises"


def _normalise(requirement: str) -> str:
    return requirement.replace(" ", "").lower()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_reads_every_parameter(path, caplog):
    """Every line of the parameters cell is one papermill can parse (an '=' in a comment confuses it)."""
    from papermill.inspection import inspect_notebook

    with caplog.at_level("WARNING", logger="papermill"):
        names = list(inspect_notebook(str(path)))
    assert not [r.message for r in caplog.records if "Unable to parse" in r.message], f"{path.name}: {caplog.text}"
    assert names[:2] == ["QUICK", "SEED"], f"{path.name}: QUICK and SEED come first, got {names[:2]}"


def test_environment_yml_matches_pyproject_and_takes_cpu_wheels():
    """Binder builds environment.yml: the same packages as pyproject.toml, torch from PyTorch's CPU wheel index."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    options = [p for p in pip if p.startswith("--")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"], f"CPU wheels for Binder: {options}"
    packages = [p for p in pip if not p.startswith("-")]
    assert "-e ." in pip, "Binder installs the course package itself"
    assert sorted(map(_normalise, packages)) == sorted(map(_normalise, project))


def test_ruff_is_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run([ruff, "check", str(REPO)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_dataset_or_checkpoint_files_are_tracked():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    if not tracked:
        pytest.fail("git ls-files found nothing: run the tests inside the git checkout")
    heavy = [f for f in tracked if f.endswith((".gz", ".pt", ".pth", ".onnx", ".npz")) or "cifar-10" in f]
    assert not heavy, f"data or weights are committed: {heavy}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_quotes_no_run_time_and_hard_codes_no_claim(path):
    """The run time is measured, not typed; a yes/no claim is computed, not a literal True."""
    nb = nbformat.read(path, as_version=4)
    header = nb.cells[0].source
    run_time = [line for line in header.splitlines() if "Run time" in line]
    assert run_time, f"{path.name}: the first cell needs a 'Run time' line (see ../shared/COURSE_STYLE.md)"
    measured = re.sub(r"\b90 s quick-mode budget", "", run_time[0])  # the budget is a promise, not a measurement
    assert not re.search(r"\d", measured), f"{path.name}: the Run time line quotes a number: {run_time[0]!r}"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    literal = re.findall(r"require\(\s*[^,]+,\s*(?:True|False)\s*[,)]", code)
    assert not literal, f"{path.name}: a claim hard-coded to a literal: {literal}"

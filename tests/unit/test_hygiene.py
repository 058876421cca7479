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


def _code(nb) -> str:
    """The notebook's code cells as one Python module (IPython magics and shell lines blanked)."""
    cells = [c.source for c in nb.cells if c.cell_type == "code"]
    return "\n".join(re.sub(r"(?m)^\s*[%!].*$", "", source) for source in cells)


def _asserted_claims_without_catches(code: str) -> list[str]:
    """Every ``claims.require(...)`` and ``claims.record(...)`` with a bound (or ``**bound``) that names no ``catches``."""
    import ast

    missing = []
    for node in ast.walk(ast.parse(code)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"record", "require"}
                and isinstance(node.func.value, ast.Name) and node.func.value.id == "claims"):  # fmt: skip
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        bounded = node.func.attr == "require" or None in keywords or any(  # None: a **bound dict
            k in keywords and not (isinstance(keywords[k], ast.Constant) and keywords[k].value is None)
            for k in ("at_least", "at_most")
        )
        catches = keywords.get("catches")
        named = catches is not None and not (isinstance(catches, ast.Constant) and not catches.value)
        if bounded and not named:
            missing.append(f"line {node.lineno}: {ast.unparse(node.args[0]) if node.args else '?'}")
    return missing


def test_the_catches_scan_finds_an_asserted_claim_without_its_mistake():
    code = ('claims.record("a", x, "x", at_least=1.0)\nclaims.record("b", x, "x")\nclaims.require("c", ok)\n'
            'claims.record("d", x, at_most=2.0 if QUICK else None, catches="summed, not averaged")\n'
            'claims.record("e", x, at_most=None)\nclaims.require("f", ok, catches="")\n'
            'claims.record("g", x, **bound)')  # fmt: skip
    assert [m.split(": ", 1)[1] for m in _asserted_claims_without_catches(code)] == ["'a'", "'c'", "'f'", "'g'"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_asserted_claim_names_the_mistake_it_catches(path):
    """A claim with a bound says which plausible mistake it catches; one that catches none is a figure (no bound)."""
    missing = _asserted_claims_without_catches(_code(nbformat.read(path, as_version=4)))
    assert not missing, f"{path.name}: asserted claims without catches= (see ../shared/COURSE_STYLE.md): {missing}"


# "issue 12", "issues #4", "(#6)": the course's own tracker; "pytorch/pytorch#153892" names its repository: allowed
ISSUE_NUMBER = re.compile(r"\bissues?\s*#?\s*\d+|(?<![\w/])#\d+\b", re.IGNORECASE)


def test_the_issue_number_scan():
    texts = ("course goal, issue #4", "issue 12: DDP", "issue 15", "(issue 13)", "Han et al. 2015, Table 1", "see #7",
             "course goal: 1 pp", "(pytorch/pytorch#153892)", "# 1 comment")
    found = [t for t in texts if ISSUE_NUMBER.search(t)]
    assert found == ["course goal, issue #4", "issue 12: DDP", "issue 15", "(issue 13)", "see #7"]


@pytest.mark.parametrize("path", [*NOTEBOOKS, REPO / "course_utils" / "course" / "report.py"], ids=lambda p: p.name)
def test_sources_name_no_issue_number(path):
    """A reader cannot look up the course's tracker: cite the paper (author, year, table) or write 'course goal: why'."""
    text = path.read_text()
    hits = sorted({m.group(0) for m in ISSUE_NUMBER.finditer(text)})
    assert not hits, f"{path.name} names issue numbers {hits}: cite the paper or write 'course goal: <reason>'"

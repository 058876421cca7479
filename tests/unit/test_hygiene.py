"""Repository hygiene: notebooks stripped and well-formed, dependencies in sync, lint clean."""

import ast
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


def _project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def _requirement(line: str) -> str:
    """A requirement without its comment, spaces or case."""
    return _normalise(line.split("#")[0])


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[]", _normalise(requirement), maxsplit=1)[0].replace("_", "-")


TEACHER_TOOLS = {"nbgrader", "jupyterlab", "papermill", "nbval", "transformers", "peft", "mistune", "pytest", "ruff"}


def test_environment_yml_matches_pyproject_and_takes_cpu_wheels():
    """Binder builds environment.yml for a learner: the base dependencies plus [lab] and [crosscheck], nothing of
    [teacher] or [dev] beyond those, torch from PyTorch's CPU wheel index."""
    project = _project()
    extras = project["optional-dependencies"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    options = [p for p in pip if p.startswith("--")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"], f"CPU wheels for Binder: {options}"
    packages = [p for p in pip if not p.startswith("-")]
    assert "-e ." in pip, "Binder installs the course package itself"
    learner = {_requirement(r) for r in project["dependencies"] + extras["lab"] + extras["crosscheck"]}
    assert sorted(map(_requirement, packages)) == sorted(learner)
    assert not {_name(p) for p in packages} & {"nbgrader", "papermill", "nbval", "mistune", "pytest", "ruff"}


def test_base_install_has_no_teacher_tools_and_extras_say_who_needs_what():
    """``pip install .`` is what the notebooks import: grading, running, testing and the heavy cross-check
    libraries are extras (README, "Install")."""
    project = _project()
    base = {_name(r) for r in project["dependencies"]}
    assert not base & TEACHER_TOOLS, f"in the base install: {sorted(base & TEACHER_TOOLS)}"
    extras = project["optional-dependencies"]
    assert set(extras) == {"lab", "crosscheck", "teacher", "dev"}
    teacher = {_name(r) for r in extras["teacher"]}
    assert {"nbgrader", "jupyterlab", "papermill", "nbval", "mistune"} <= teacher
    assert {_name(r) for r in extras["crosscheck"]} <= teacher, "make course/test run every cross-check"
    ruff = [r for r in extras["dev"] if _name(r) == "ruff"]
    assert len(ruff) == 1 and re.fullmatch(r"ruff==[\d.]+", _requirement(ruff[0])), "pin ruff exactly: a new rule fails CI"
    assert re.search(r'pip install[^\n]*-e "\.\[teacher,dev\]"', (REPO / "Makefile").read_text()), "make setup"


def test_torch_floors_are_the_versions_the_course_was_run_on():
    """The README's "Versions run" table has a row with exactly the torch and torchvision floors of pyproject.toml."""
    floors = {_name(r): _requirement(r) for r in _project()["dependencies"]}
    readme = (REPO / "README.md").read_text()
    assert "\n## Versions run\n" in readme, "README needs a 'Versions run' section"
    section = readme.split("\n## Versions run\n", 1)[1].split("\n## ", 1)[0]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines() if line.startswith("|")]
    header, runs = rows[0], rows[2:]
    run = {tuple(row[header.index(n)] for n in ("torch", "torchvision")) for row in runs}
    wanted = []
    for name in ("torch", "torchvision"):
        floor = re.fullmatch(rf"{name}>=([\d.]+)", floors[name])
        assert floor, f"{name} needs a floor: {floors[name]}"
        wanted.append(floor.group(1))
    assert tuple(wanted) in run, f"the floors {wanted} are not a row of the README's 'Versions run' table: {sorted(run)}"


def _base_distributions() -> set[str]:
    """The base dependencies and everything they pull in, as installed here (distribution names, normalised)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    todo = [Requirement(r.split("#")[0]) for r in _project()["dependencies"]]
    seen: set[str] = set()
    while todo:
        requirement = todo.pop()
        name = _name(requirement.name)
        if name in seen or (requirement.marker is not None and not requirement.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in metadata.requires(name) or []]
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} (a base dependency or one of theirs) is not installed here")
    return seen


def _imported_modules(source: str, where: str) -> set[str]:
    """Top-level modules ``source`` imports outside a ``try`` that catches ImportError (an optional import)."""
    optional: set[int] = set()
    tree = ast.parse(source, filename=where)
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            h.type is None or any(getattr(t, "id", "") in ("ImportError", "ModuleNotFoundError", "Exception")
                                  for t in (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]))
            for h in node.handlers
        ):
            optional |= {id(n) for statement in node.body for n in ast.walk(statement)}
    modules = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def _learner_code() -> dict[str, str]:
    """What runs in a learner's kernel: notebook code (the Colab cell aside), notebooks/scripts, course_utils/*.py."""
    from course_utils.course.badges import COLAB_MARKER

    sources = {}
    for path in NOTEBOOKS:
        cells = nbformat.read(path, as_version=4).cells
        sources[path.name] = "\n".join(c.source for c in cells if c.cell_type == "code" and COLAB_MARKER not in c.source)
    for path in [*sorted((REPO / "notebooks" / "scripts").glob("*.py")), *sorted((REPO / "course_utils").glob("*.py"))]:
        sources[str(path.relative_to(REPO))] = path.read_text(encoding="utf-8")
    return sources


def test_the_base_install_provides_every_module_a_notebook_imports():
    """``pip install .`` (no extras) is enough to run every notebook: each import is the standard library, the
    course's own code, a base dependency (or one it pulls in), or optional (inside ``try: ... except ImportError``,
    like 12's peft cross-check and 10's torchaudio one)."""
    from importlib import metadata

    base = _base_distributions()
    providers = metadata.packages_distributions()
    local = {"course_utils"} | {p.stem for p in (REPO / "notebooks" / "scripts").glob("*.py")}
    missing = {}
    for where, source in _learner_code().items():
        for module in sorted(_imported_modules(source, where) - set(sys.stdlib_module_names) - local):
            dists = {_name(d) for d in providers.get(module, [])}
            if not dists & base:
                missing.setdefault(where, []).append(f"{module} ({', '.join(sorted(dists)) or 'not installed'})")
    assert not missing, f"imported but not in the base install (make it a base dependency, or optional): {missing}"


def test_optional_imports_are_detected():
    """The check above can fail: a plain import of an extra's library counts, a guarded one does not."""
    assert _imported_modules("import peft\nfrom torch import nn", "x") == {"peft", "torch"}
    assert _imported_modules("try:\n    import peft\nexcept ImportError:\n    peft = None", "x") == set()
    assert "papermill" not in {_name(d) for d in _base_distributions()}


def _torch_load_calls(text: str) -> list[str]:
    """Every ``torch.load(...)`` call in ``text`` (also inside strings, e.g. a script a notebook writes), whole."""
    calls, start = [], text.find("torch.load(")
    while start != -1:
        depth, end = 0, start + len("torch.load")
        while end < len(text) - 1:
            depth += {"(": 1, ")": -1}.get(text[end], 0)
            if depth == 0:
                break
            end += 1
        calls.append(text[start:end + 1])
        start = text.find("torch.load(", end)
    return calls


def test_every_torch_load_is_weights_only():
    """``torch.load`` unpickles arbitrary code unless told ``weights_only=True`` (the default only from torch 2.6)."""
    texts = {name: source for name, source in _learner_code().items()}
    for path in sorted((REPO / "tests").rglob("*.py")) + sorted((REPO / "course_utils" / "course").glob("*.py")):
        if path != Path(__file__).resolve():
            texts[str(path.relative_to(REPO))] = path.read_text(encoding="utf-8")
    unsafe = {name: calls for name, text in texts.items()
              if (calls := [c for c in _torch_load_calls(text) if not re.search(r"\bweights_only\s*=\s*True\b", c)])}
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"
    assert _torch_load_calls("x = torch.load(p, map_location=f(1))\n") == ["torch.load(p, map_location=f(1))"]


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

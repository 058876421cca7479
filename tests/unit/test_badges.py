"""Every notebook opens in Colab and Binder from the repository that pyproject.toml names, and installs from it.

The Colab install cell is also run here on a simulated Colab (``google.colab`` in ``sys.modules``, pip and the
installed packages replaced by fakes): it installs the course without its dependencies, then exactly the missing
ones, never torch, and says what it did.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import types
from importlib import metadata
from pathlib import Path

import nbformat
import pytest
import torch

from course_utils.course import badges
from course_utils.course.runner import list_notebooks

REPO_NAME = badges.repository()
PYPROJECT = tomllib.loads((Path(badges.__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_notebook_has_this_repositorys_badges_and_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert badges.badges(path.name, REPO_NAME) in nb.cells[0].source, f"{path.name}: run python -m course_utils.course.badges"
    cell = badges.colab_cell(nb)
    assert cell is not None, f"{path.name} has no Colab install cell (one that checks 'google.colab' in sys.modules)"
    assert badges.colab_install(REPO_NAME) in cell.source
    assert cell.source == badges.colab_source(REPO_NAME, badges.notebook_extras(nb)), \
        f"{path.name}: run python -m course_utils.course.badges"
    assert cell.source.index('if "google.colab" in sys.modules') < cell.source.index("pip("), "installs on Colab only"


def test_only_the_notebook_that_imports_peft_installs_the_crosscheck_extra():
    extras = {path.name[:2]: badges.notebook_extras(nbformat.read(path, as_version=4)) for path in list_notebooks()}
    assert extras["12"] == ["crosscheck"]
    assert all(not e for name, e in extras.items() if name != "12"), extras


def test_rewrite_moves_badges_to_a_fork(tmp_path):
    source = list_notebooks()[0]
    copy = tmp_path / source.name
    copy.write_bytes(source.read_bytes())
    assert badges.rewrite(copy, "someone/fork") is True
    nb = nbformat.read(copy, as_version=4)
    assert "github/someone/fork/blob/main/notebooks/" in nb.cells[0].source and REPO_NAME not in nb.cells[0].source
    assert '"git+https://github.com/someone/fork"' in badges.colab_cell(nb).source
    assert badges.rewrite(copy, "someone/fork") is False


def test_repository_refuses_an_address_that_is_not_github(tmp_path):
    bad = tmp_path / "pyproject.toml"
    bad.write_text('[project]\nname = "x"\n[project.urls]\nRepository = "https://example.com/x"\n')
    with pytest.raises(ValueError, match="github.com"):
        badges.repository(bad)


def _requires_from_pyproject() -> list[str]:
    """What ``metadata.requires`` gives for the package built from this pyproject.toml."""
    lines = list(PYPROJECT["dependencies"])
    for extra, requirements in PYPROJECT["optional-dependencies"].items():
        lines += [f'{r.split("#")[0].strip()}; extra == "{extra}"' for r in requirements]
    return lines


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower()


def _run_colab_cell(monkeypatch, source: str, installed: dict[str, str]) -> list[list[str]]:
    """Execute the cell as Colab would, with pip and the installed distributions faked; the pip calls it made."""
    calls: list[list[str]] = []
    constraints: list[str] = []

    def fake_run(args, check=False, **kwargs):
        assert args[:4] == [sys.executable, "-m", "pip", "install"] and check
        calls.append(list(args[4:]))
        if "--constraint" in args:
            constraints.append(Path(args[args.index("--constraint") + 1]).read_text())
            for requirement in args[args.index("--constraint") + 2:]:
                installed[_name(requirement)] = "9.9"
        else:
            installed["efficient-ai-course"] = "0.1.0"
        return subprocess.CompletedProcess(args, 0)

    def fake_distributions():
        return [types.SimpleNamespace(metadata={"Name": n}, version=v) for n, v in installed.items()]

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(metadata, "distributions", fake_distributions)
    monkeypatch.setattr(metadata, "requires", lambda name: _requires_from_pyproject() if name == badges.DISTRIBUTION else None)
    exec(compile(source, "colab_cell", "exec"), {})
    return calls, constraints


@pytest.mark.parametrize("extras", [[], ["crosscheck"]], ids=["base", "crosscheck"])
def test_colab_cell_installs_only_what_colab_lacks_and_never_torch(monkeypatch, capsys, extras):
    colab = {_name(r): "99.0" for r in PYPROJECT["dependencies"]}  # Colab has every base library, new enough ...
    for lacking in ("captum", "torch-pruning", "torch-geometric"):  # ... but these
        del colab[lacking]
    colab.update({"torch": "2.8.0", "numpy": "2.0.2", "nvidia-cudnn-cu12": "9.1.0", "transformers": "4.57.0"})
    calls, constraints = _run_colab_cell(monkeypatch, badges.colab_source("someone/fork", extras), colab)

    assert calls[0] == ["-q", "--no-deps", "git+https://github.com/someone/fork"]  # the course alone, no dependency
    expected = {r for r in PYPROJECT["dependencies"] if _name(r) in ("captum", "torch-pruning", "torch-geometric")}
    if extras:
        expected |= {r.split("#")[0].strip() for r in PYPROJECT["optional-dependencies"]["crosscheck"]}
    assert calls[1][:2] == ["-q", "--constraint"] and set(calls[1][3:]) == expected and len(calls) == 2
    assert not any(_name(a) in ("torch", "torchvision", "torchaudio", "numpy") for call in calls for a in call)
    held = set(constraints[0].split())
    assert {"torch==2.8.0", "numpy==2.0.2", "nvidia-cudnn-cu12==9.1.0"} <= held  # what a library could pull stays
    assert not any(line.startswith("transformers") for line in held)
    out = capsys.readouterr().out
    assert "installed: captum 9.9, efficient-ai-course 0.1.0" in out
    floor = next(r for r in PYPROJECT["dependencies"] if _name(r) == "torch")
    assert f"kept Colab's torch 2.8.0; the course was run with {floor}" in out  # too old: said, not replaced


@pytest.mark.parametrize(("colab_torch", "torchao"), [("2.9.1", "torchao==0.15.0"), ("2.10.0", "torchao==0.16.0"),
                                                     ("2.14.1", None)])
def test_colab_cell_installs_the_torchao_built_for_colabs_torch(monkeypatch, colab_torch, torchao):
    colab = {_name(r): "99.0" for r in PYPROJECT["dependencies"] if _name(r) != "torchao"} | {"torch": colab_torch}
    calls, _ = _run_colab_cell(monkeypatch, badges.colab_source("someone/fork"), colab)
    floor = next(r for r in PYPROJECT["dependencies"] if _name(r) == "torchao")
    assert calls[1][3:] == [torchao or floor]


@pytest.mark.parametrize(("colab_torch", "peft"), [("2.9.1", "peft==0.18.1"), ("2.14.1", None)])
def test_colab_cell_installs_a_peft_that_accepts_that_torchao(monkeypatch, colab_torch, peft):
    """peft 0.19 and newer raise ImportError beside torchao 0.15, the torchao torch 2.9 needs."""
    colab = {_name(r): "99.0" for r in PYPROJECT["dependencies"]} | {"torch": colab_torch}
    calls, _ = _run_colab_cell(monkeypatch, badges.colab_source("someone/fork", ["crosscheck"]), colab)
    floor = next(r.split("#")[0].strip() for r in PYPROJECT["optional-dependencies"]["crosscheck"] if _name(r) == "peft")
    assert calls[1][3:] == [peft or floor]


def test_colab_cell_on_a_colab_that_has_everything_installs_only_the_course(monkeypatch, capsys):
    colab = {_name(r): "99.0" for r in PYPROJECT["dependencies"]} | {"torch": torch.__version__.split("+")[0]}
    calls, _ = _run_colab_cell(monkeypatch, badges.colab_source("someone/fork"), colab)
    assert calls == [["-q", "--no-deps", "git+https://github.com/someone/fork"]]
    assert capsys.readouterr().out.strip() == "installed: efficient-ai-course 0.1.0"


def test_colab_cell_does_nothing_outside_colab(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("the cell ran pip outside Colab"))
    exec(compile(badges.colab_source("someone/fork"), "colab_cell", "exec"), {})

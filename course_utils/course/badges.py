"""The "Open in Colab" and Binder badges and the Colab install cell, all built from one repository address.

The address is ``[project.urls] Repository`` in ``pyproject.toml``. A fork changes it there and runs

    python -m course_utils.course.badges          # rewrite every notebook's badges and Colab install cell

``tests/unit/test_badges.py`` checks that every notebook carries exactly what :func:`badges` and
:func:`colab_source` build, so the links never point at another repository than the package's.

The Colab install cell (:func:`colab_source`) installs the course package with ``--no-deps``, then only those of
its base dependencies that the runtime lacks (plus, in a notebook that imports a cross-check library, that
extra's), with a constraints file that holds torch, torchvision, torchaudio, triton, their CUDA libraries and NumPy at
the versions Colab ships: nothing it installs can replace Colab's torch. torchao is the release built for that
torch where the newest one fails to import (torch 2.9: torchao 0.15.0, the pair the course ran; torch 2.10: 0.16.0).
It prints what it installed, and each package Colab has at a version older than the course's floor (kept as it is).
"""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

import nbformat

from .. import config

BADGES = re.compile(r"\[!\[Open in Colab\].*\n\[!\[Binder\][^\n]*")
COLAB_INSTALL = re.compile(r'"git\+https://github\.com/[^"]+"')
COLAB_MARKER = '"google.colab" in sys.modules'
DISTRIBUTION = "efficient-ai-course"


def repository(pyproject: Path | None = None) -> str:
    """``owner/name`` of the GitHub repository named in ``pyproject.toml`` (``[project.urls] Repository``)."""
    path = pyproject or (config.repo_root() or Path.cwd()) / "pyproject.toml"
    url = tomllib.loads(Path(path).read_text())["project"].get("urls", {}).get("Repository", "")
    match = re.fullmatch(r"https://github\.com/([\w.-]+/[\w.-]+?)/?", url)
    if not match:
        raise ValueError(f"[project.urls] Repository in {path} must be https://github.com/<owner>/<name>, got {url!r}")
    return match.group(1)


def badges(notebook: str, repo: str, branch: str = "main") -> str:
    """The two badge lines for ``notebooks/<notebook>`` (a file name like ``01_pruning.ipynb``)."""
    colab = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{notebook}"
    binder = f"https://mybinder.org/v2/gh/{repo}/{branch}?labpath={quote(f'notebooks/{notebook}', safe='')}"
    return (f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})\n"
            f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder})")  # fmt: skip


def colab_install(repo: str) -> str:
    """The quoted pip argument of the Colab install cell."""
    return f'"git+https://github.com/{repo}"'


def _pyproject(pyproject: Path | None = None) -> dict:
    return tomllib.loads(Path(pyproject or (config.repo_root() or Path.cwd()) / "pyproject.toml").read_text())


def _import_name(requirement: str) -> str:
    """The module a requirement's distribution is imported as, by the usual convention (``torch-pruning`` → ``torch_pruning``)."""
    return re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].strip().lower().replace("-", "_")


def notebook_extras(nb: nbformat.NotebookNode, pyproject: Path | None = None) -> list[str]:
    """The ``[crosscheck]`` extra when the notebook imports one of its libraries (notebook 12: peft), else none.

    On Colab such a notebook installs that library too, so its cross-check runs rather than being skipped.
    """
    extra = _pyproject(pyproject)["project"].get("optional-dependencies", {}).get("crosscheck", [])
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    modules = {_import_name(r) for r in extra}
    imported = any(re.search(rf"^\s*(?:import|from)\s+{re.escape(m)}\b", code, re.M) for m in modules)
    return ["crosscheck"] if imported else []


def colab_source(repo: str, extras: list[str] | tuple[str, ...] = ()) -> str:
    """The whole Colab install cell: the course package without its dependencies, then only what Colab lacks.

    ``extras``: optional-dependency groups whose packages this notebook also needs (``["crosscheck"]``).
    """
    return f'''# On Colab only: install the course's helper package and those of its libraries Colab lacks, nothing else.
# Colab's own packages stay as they are (torch is never reinstalled). Elsewhere this cell does nothing.
import subprocess
import sys

if {COLAB_MARKER}:
    import importlib
    import re
    import tempfile
    from importlib import metadata

    try:
        from packaging.requirements import Requirement
    except ImportError:  # pip carries its own copy
        from pip._vendor.packaging.requirements import Requirement

    def versions() -> dict[str, str]:
        return {{re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in metadata.distributions()
                if d.metadata["Name"]}}

    def pip(*args: str) -> None:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *args], check=True)

    before = versions()
    pip("--no-deps", {colab_install(repo)})
    importlib.invalidate_caches()
    extras = {json.dumps(list(extras))}
    needed = [Requirement(line) for line in metadata.requires("{DISTRIBUTION}")]
    needed = [r for r in needed if r.marker is None or any(r.marker.evaluate({{"extra": e}}) for e in ["", *extras])]
    missing = [str(r).split(";")[0] for r in needed if re.sub(r"[-_.]+", "-", r.name).lower() not in before]
    # newer torchao fails to import on these torches, and peft 0.19 and newer refuse torchao below 0.16
    built_for = {{"2.9": {{"torchao": "torchao==0.15.0", "peft": "peft==0.18.1"}}, "2.10": {{"torchao": "torchao==0.16.0"}}}}
    pins = built_for.get(".".join(before.get("torch", "").split(".")[:2]), {{}})
    missing = [pins.get(re.split(r"[<>=!~ ]", m)[0].lower(), m) for m in missing]
    held = [f"{{n}}=={{v}}" for n, v in before.items() if n in ("torch", "torchvision", "torchaudio", "numpy", "triton")
            or n.startswith(("nvidia-", "cuda-"))]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as constraints:
        constraints.write("\\n".join(held) + "\\n")
    if missing:
        pip("--constraint", constraints.name, *missing)
    importlib.invalidate_caches()
    after = versions()
    print("installed:", ", ".join(f"{{n}} {{v}}" for n, v in sorted(after.items()) if n not in before) or "nothing")
    for n, v in sorted(after.items()):
        if n in before and before[n] != v:
            print(f"moved: {{n}} {{before[n]}} → {{v}} (a library installed above needed it)")
    for r in needed:
        name = re.sub(r"[-_.]+", "-", r.name).lower()
        if name in before and not r.specifier.contains(before[name], prereleases=True):
            print(f"kept Colab's {{name}} {{before[name]}}; the course was run with {{r}}")'''


def colab_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The notebook's Colab install cell (the code cell that checks ``google.colab``), or None."""
    return next((c for c in nb.cells if c.cell_type == "code" and COLAB_MARKER in c.source), None)


def rewrite(path: Path, repo: str) -> bool:
    """Put this repository's badges and install address into the notebook at ``path``; True if it changed."""
    nb = nbformat.read(path, as_version=4)
    header, cell = nb.cells[0], colab_cell(nb)
    if not BADGES.search(header.source) or cell is None or not COLAB_INSTALL.search(cell.source):
        raise ValueError(f"{path.name}: expected badge lines in the first cell and a Colab install cell")
    before = (header.source, cell.source)
    header.source = BADGES.sub(lambda _: badges(path.name, repo), header.source, count=1)
    cell.source = colab_source(repo, notebook_extras(nb))
    if (header.source, cell.source) == before:
        return False
    nbformat.write(nb, path)
    return True


def main() -> int:
    from .runner import list_notebooks

    repo = repository()
    for path in list_notebooks():
        print(f"{path.name}: {'updated' if rewrite(path, repo) else 'already'} → {repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

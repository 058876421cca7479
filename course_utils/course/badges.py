"""The "Open in Colab" and Binder badges and the Colab install cell, all built from one repository address.

The address is ``[project.urls] Repository`` in ``pyproject.toml``. A fork changes it there and runs

    python -m course_utils.course.badges          # rewrite every notebook's badges and Colab install cell

``tests/unit/test_badges.py`` checks that every notebook carries exactly what :func:`badges` and
:func:`colab_install` build, so the links never point at another repository than the package's.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path
from urllib.parse import quote

import nbformat

from .. import config

BADGES = re.compile(r"\[!\[Open in Colab\].*\n\[!\[Binder\][^\n]*")
COLAB_INSTALL = re.compile(r'"git\+https://github\.com/[^"]+"')


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


def colab_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode | None:
    """The notebook's Colab install cell (the code cell that checks ``google.colab``), or None."""
    return next((c for c in nb.cells if c.cell_type == "code" and '"google.colab" in sys.modules' in c.source), None)


def rewrite(path: Path, repo: str) -> bool:
    """Put this repository's badges and install address into the notebook at ``path``; True if it changed."""
    nb = nbformat.read(path, as_version=4)
    header, cell = nb.cells[0], colab_cell(nb)
    if not BADGES.search(header.source) or cell is None or not COLAB_INSTALL.search(cell.source):
        raise ValueError(f"{path.name}: expected badge lines in the first cell and a Colab install cell")
    before = (header.source, cell.source)
    header.source = BADGES.sub(lambda _: badges(path.name, repo), header.source, count=1)
    cell.source = COLAB_INSTALL.sub(lambda _: colab_install(repo), cell.source, count=1)
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

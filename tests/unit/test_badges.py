"""Every notebook opens in Colab and Binder from the repository that pyproject.toml names, and installs from it."""

from __future__ import annotations

import nbformat
import pytest

from course_utils.course import badges
from course_utils.course.runner import list_notebooks

REPO_NAME = badges.repository()


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_notebook_has_this_repositorys_badges_and_colab_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert badges.badges(path.name, REPO_NAME) in nb.cells[0].source, f"{path.name}: run python -m course_utils.course.badges"
    cell = badges.colab_cell(nb)
    assert cell is not None, f"{path.name} has no Colab install cell (one that checks 'google.colab' in sys.modules)"
    assert badges.colab_install(REPO_NAME) in cell.source
    assert cell.source.index('if "google.colab" in sys.modules') < cell.source.index("pip"), "installs on Colab only"


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

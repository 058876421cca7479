"""Student copies of the notebooks: every solution replaced by a stub, outputs cleared, check cells locked.

    python -m course_utils.course.student                  # every notebook → build/student/
    python -m course_utils.course.student --out DIR 01 03  # some notebooks, another folder

It uses nbgrader's own preprocessors (``ClearSolutions``, ``LockCells``, ``ClearOutput``), so a teacher who runs
the full nbgrader workflow gets the same cells: solution cells are marked ``solution`` and check cells are
locked ``grade`` cells worth one point each (:func:`.exercises.mark_for_nbgrader`). The stub is nbgrader's:
``# YOUR CODE HERE`` then ``raise NotImplementedError()``. The build folder is not committed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from .exercises import find_exercises, mark_for_nbgrader

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy of a teacher notebook (a new object; ``nb`` is not changed)."""
    from nbgrader.preprocessors import ClearOutput, ClearSolutions, LockCells

    if not find_exercises(nb):
        raise ValueError("the notebook has no exercise (a code cell with '# BEGIN SOLUTION' ... '# END SOLUTION')")
    student = mark_for_nbgrader(nb)
    resources: dict = {}
    for preprocessor in (ClearSolutions(code_stub={"python": STUB}), LockCells(), ClearOutput()):
        student, resources = preprocessor.preprocess(student, resources)
    return student


def write_student_copy(path: Path, out_dir: Path) -> Path:
    """Write the student copy of the notebook at ``path`` into ``out_dir`` (same file name); return its path."""
    path, out_dir = Path(path), Path(out_dir)
    if out_dir.resolve() == path.parent.resolve():
        raise ValueError(f"out_dir {out_dir} is the teacher notebooks' folder: the copy would overwrite {path.name}")
    student = student_version(nbformat.read(path, as_version=4))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    nbformat.write(student, target)
    return target


def main(argv: list[str] | None = None) -> int:
    from .. import config
    from .runner import list_notebooks

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="notebook number prefixes (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the copies (default: <repo>/build/student)")
    args = parser.parse_args(argv)
    out = args.out or (config.repo_root() or Path.cwd()) / "build" / "student"
    for path in list_notebooks(args.only or None):
        target = write_student_copy(path, out)
        print(f"{path.name}: {len(find_exercises(nbformat.read(target, as_version=4)))} exercises → {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

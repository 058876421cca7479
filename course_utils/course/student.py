"""Student copies of the notebooks: every solution replaced by a stub, outputs cleared, check cells locked.

    python -m course_utils.course.student                  # every notebook → build/student/
    python -m course_utils.course.student --out DIR 01 03  # some notebooks, another folder
    python -m course_utils.course.student --force          # also replace copies that differ (a student's work?)

It uses nbgrader's own preprocessors (``ClearSolutions``, ``LockCells``, ``ClearOutput``, ``ComputeChecksums``), so
a teacher who runs the full nbgrader workflow gets the same cells: solution cells are marked ``solution`` and check
cells are locked ``grade`` cells worth one point each (:func:`.exercises.mark_for_nbgrader`), with nbgrader's
checksums, which grading (:mod:`.grade`) verifies. The stub is nbgrader's: ``# YOUR CODE HERE`` then
``raise NotImplementedError()``. The build folder is not committed.

Nothing a student wrote is overwritten: an existing copy that differs from what would be written (someone worked
in it) is kept, and the command says so and exits 1, unless ``--force``. Each copy is written atomically.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

from ..atomic import write_bytes_atomic
from .exercises import find_exercises, mark_for_nbgrader

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def student_version(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student copy of a teacher notebook (a new object; ``nb`` is not changed)."""
    from nbgrader.preprocessors import ClearOutput, ClearSolutions, ComputeChecksums, LockCells

    if not find_exercises(nb):
        raise ValueError("the notebook has no exercise (a code cell with '# BEGIN SOLUTION' ... '# END SOLUTION')")
    student = mark_for_nbgrader(nb)
    resources: dict = {}
    for preprocessor in (ClearSolutions(code_stub={"python": STUB}), LockCells(), ClearOutput(), ComputeChecksums()):
        student, resources = preprocessor.preprocess(student, resources)
    return student


class CopyDiffers(FileExistsError):
    """An existing student copy differs from the one that would be written: it is kept (``force`` replaces it)."""


def write_student_copy(path: Path, out_dir: Path, *, force: bool = False) -> Path:
    """Write the student copy of the notebook at ``path`` into ``out_dir`` (same file name); return its path.

    An existing copy with the same bytes is left as it is; one that differs raises :class:`CopyDiffers` and is
    kept, unless ``force``. The write is atomic: a crash leaves the old copy or the new one, never half of one.
    """
    path, out_dir = Path(path), Path(out_dir)
    if out_dir.resolve() == path.parent.resolve():
        raise ValueError(f"out_dir {out_dir} is the teacher notebooks' folder: the copy would overwrite {path.name}")
    text = nbformat.writes(student_version(nbformat.read(path, as_version=4)))
    data = (text if text.endswith("\n") else text + "\n").encode()
    target = out_dir / path.name
    if target.exists() and target.read_bytes() != data:
        if not force:
            raise CopyDiffers(f"{target} differs from the student copy of {path.name} (a student's work?): kept; "
                              "--force replaces it")  # fmt: skip
    if not target.exists() or target.read_bytes() != data:
        write_bytes_atomic(target, data)
    return target


def main(argv: list[str] | None = None) -> int:
    from .. import config
    from .runner import list_notebooks

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="notebook number prefixes (default: all)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the copies (default: <repo>/build/student)")
    parser.add_argument("--force", action="store_true", help="replace existing copies that differ (a student's work is lost)")
    args = parser.parse_args(argv)
    out = args.out or (config.repo_root() or Path.cwd()) / "build" / "student"
    kept = []
    for path in list_notebooks(args.only or None):
        try:
            target = write_student_copy(path, out, force=args.force)
        except CopyDiffers as error:
            kept.append(path.name)
            print(f"{path.name}: KEPT, {error}", file=sys.stderr)
            continue
        print(f"{path.name}: {len(find_exercises(nbformat.read(target, as_version=4)))} exercises → {target}")
    if kept:
        print(f"{len(kept)} existing copies differ and were kept: {', '.join(kept)}. Move them away, or run with --force "
              "(make student FORCE=1) to replace them.", file=sys.stderr)  # fmt: skip
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

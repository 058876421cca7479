"""Grade a submitted notebook: run it in quick mode and score each exercise's check cell.

    python -m course_utils.course.grade submitted/01_pruning.ipynb            # → build/grades/01_pruning.{json,md}
    python -m course_utils.course.grade SUBMISSION --out DIR --cell-timeout 120 --full

Every cell runs, even after one fails (:mod:`.execute`): a crash or a hang (interrupted after the cell timeout)
in one exercise is that exercise's zero, and the others are still graded. An exercise earns its points when its
check cell runs without error. The report names, per exercise, what went wrong (the check's assertion message, or
the solution's ``NotImplementedError`` when it was left as the stub).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat

from ..atomic import write_bytes_atomic
from .execute import CellOutcome, Execution, run_notebook
from .exercises import find_exercises


@dataclass
class ExerciseGrade:
    number: int
    title: str
    points: int
    max_points: int
    check: str  # ok / error / timeout / not run
    reason: str


def _reason(check: CellOutcome, solution: CellOutcome) -> str:
    if check.status == "ok":
        return ""
    if solution.status != "ok":
        return f"solution cell: {solution.ename}: {solution.evalue}".strip()
    return f"check: {check.ename}: {check.evalue}".strip()


def score(execution: Execution) -> list[ExerciseGrade]:
    """The grade of every exercise of the executed notebook (teacher's or student's) from its cells' outcomes."""
    grades = []
    for exercise in find_exercises(execution.notebook):
        check, solution = execution.cells[exercise.check_cell], execution.cells[exercise.solution_cell]
        passed = check.status == "ok"
        grades.append(ExerciseGrade(exercise.number, exercise.title, exercise.points if passed else 0, exercise.points,
                                    check.status, _reason(check, solution)))  # fmt: skip
    return grades


def table(name: str, grades: list[ExerciseGrade]) -> str:
    """A Markdown table of the grades, with the total."""
    total, most = sum(g.points for g in grades), sum(g.max_points for g in grades)
    lines = [f"# {name}: {total} of {most} points", "", "| exercise | points | check | what went wrong |", "|---|---|---|---|"]
    lines += [f"| {g.title} | {g.points}/{g.max_points} | {g.check} | {g.reason.replace('|', '/')} |" for g in grades]
    return "\n".join(lines) + "\n"


def grade_notebook(path: Path, *, out_dir: Path, quick: bool = True, seed: int = 0,
                   cell_timeout_s: int = 300) -> dict[str, Any]:  # fmt: skip
    """Run and grade the notebook at ``path``; write ``<name>.json`` and ``<name>.md`` into ``out_dir``; return the JSON."""
    path, out_dir = Path(path), Path(out_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    nb = nbformat.read(path, as_version=4)
    if not find_exercises(nb):
        raise ValueError(f"{path} has no exercises to grade (no '# BEGIN SOLUTION' cell and no cell marked as a solution)")
    execution = run_notebook(path, quick=quick, seed=seed, output_dir=out_dir / "executed", cell_timeout_s=cell_timeout_s)
    grades = score(execution)
    graded = {i for e in find_exercises(execution.notebook) for i in (e.solution_cell, e.check_cell)}
    other = [c.as_dict() for c in execution.cells if c.status not in {"ok", "skipped"} and c.index not in graded]
    result = {"notebook": path.stem, "submission": str(path), "mode": "quick" if quick else "full", "seed": seed,
              "points": sum(g.points for g in grades), "max_points": sum(g.max_points for g in grades),
              "exercises": [asdict(g) for g in grades], "other_failed_cells": other}  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out_dir / f"{path.stem}.json", json.dumps(result, indent=1).encode())
    write_bytes_atomic(out_dir / f"{path.stem}.md", table(path.stem, grades).encode())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", type=Path, nargs="+", help="submitted notebook(s)")
    parser.add_argument("--out", type=Path, default=Path("build") / "grades", help="report folder (default build/grades)")
    parser.add_argument("--full", action="store_true", help="grade in full mode (default: quick mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cell-timeout", type=int, default=300, help="seconds a cell may run before it is interrupted")
    args = parser.parse_args(argv)
    for path in args.submission:
        result = grade_notebook(path, out_dir=args.out, quick=not args.full, seed=args.seed, cell_timeout_s=args.cell_timeout)
        print(table(result["notebook"], [ExerciseGrade(**g) for g in result["exercises"]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

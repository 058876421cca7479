"""Find the exercises of a course notebook: the solution cell and the check cell of each.

An exercise is a code cell holding a ``# BEGIN SOLUTION`` ... ``# END SOLUTION`` region (the solution; in a
student copy, the cell nbgrader's metadata marks as a solution), followed by the next code cell (its check:
plain asserts, which must fail on a wrong answer). The
prompt is the nearest Markdown cell above the solution. This is the layout every notebook uses
(``tests/unit/test_exercises.py`` checks it), and what :mod:`.student` and :mod:`.grade` rely on.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import nbformat

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
POINTS_PER_EXERCISE = 1


@dataclass(frozen=True)
class Exercise:
    """One exercise: its number (1, 2, ...), title, and the indices of its cells in the notebook."""

    number: int
    title: str
    solution_cell: int
    check_cell: int
    points: int = POINTS_PER_EXERCISE

    @property
    def grade_id(self) -> str:
        return f"exercise-{self.number}"


def _title(nb: nbformat.NotebookNode, before: int, number: int) -> str:
    for index in range(before - 1, -1, -1):
        cell = nb.cells[index]
        if cell.cell_type == "markdown":
            match = re.search(r"\*\*(Exercise[^*]*)\*\*\s*([^\n]*)", cell.source)
            if match:
                return f"{match.group(1).strip().rstrip('.')}: {match.group(2).strip()}"[:120]
            break
    return f"Exercise {number}"


def find_exercises(nb: nbformat.NotebookNode) -> list[Exercise]:
    """Every exercise of ``nb`` in order; ``ValueError`` naming the cell where the layout is broken."""
    exercises: list[Exercise] = []
    for index, cell in enumerate(nb.cells):
        marked = cell.get("metadata", {}).get("nbgrader", {}).get("solution", False)
        if cell.cell_type != "code" or not (BEGIN in cell.source or marked):
            continue
        if not marked and (cell.source.count(BEGIN) != 1 or cell.source.count(END) != 1):
            raise ValueError(f"cell {index}: a solution cell needs exactly one {BEGIN!r} and one {END!r}")
        check = next((i for i in range(index + 1, len(nb.cells)) if nb.cells[i].cell_type == "code"), None)
        if check is None:
            raise ValueError(f"cell {index}: the solution has no check cell after it")
        if BEGIN in nb.cells[check].source or "assert" not in nb.cells[check].source:
            raise ValueError(f"cell {check}: the check of the solution in cell {index} must be a code cell of asserts")
        number = len(exercises) + 1
        exercises.append(Exercise(number, _title(nb, index, number), index, check))
    return exercises


def solution_region(source: str) -> str:
    """The code between the ``BEGIN``/``END`` lines of a solution cell (dedented as the cell has it)."""
    inside = source.split(BEGIN, 1)[1].split(END, 1)[0]
    return inside.split("\n", 1)[1] if "\n" in inside else ""


def assigned_names(source: str) -> list[str]:
    """Names a solution binds at top level (functions, classes, assignments, imports), in order."""
    names: list[str] = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                names += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names += [(alias.asname or alias.name).split(".")[0] for alias in node.names]
        elif isinstance(node, (ast.For, ast.With)):
            names += [n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)]
    return list(dict.fromkeys(names))


def mark_for_nbgrader(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose solution and check cells carry nbgrader's metadata (solution / locked grade cell)."""
    marked = nbformat.from_dict(nb)
    for exercise in find_exercises(marked):
        marked.cells[exercise.solution_cell].metadata["nbgrader"] = {
            "solution": True, "grade": False, "locked": False, "task": False,
            "grade_id": f"{exercise.grade_id}-solution", "schema_version": 3}  # fmt: skip
        marked.cells[exercise.check_cell].metadata["nbgrader"] = {
            "solution": False, "grade": True, "locked": True, "task": False, "points": exercise.points,
            "grade_id": f"{exercise.grade_id}-check", "schema_version": 3}  # fmt: skip
    return marked

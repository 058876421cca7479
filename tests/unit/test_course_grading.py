"""Student copies and grading on a small synthetic notebook: stubs, locks, partial scores, a hang, a crash."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.course import exercises, grade, student


def _exercise(number: int, solution: str, check: str) -> list:
    return [new_markdown_cell(f"**Exercise {number}.** Do thing {number}."),
            new_code_cell(f"# BEGIN SOLUTION\n{solution}\n# END SOLUTION"), new_code_cell(check)]


def _notebook(*cells) -> nbformat.NotebookNode:
    params = new_code_cell("QUICK = None\nSEED = 0", metadata={"tags": ["parameters"]})
    nb = new_notebook(cells=[params, *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def test_find_exercises_pairs_each_solution_with_the_next_code_cell():
    later = new_code_cell("print('later')")
    nb = _notebook(*_exercise(1, "x = 1", "assert x == 1"), later, *_exercise(2, "y = 2", "assert y == 2"))
    found = exercises.find_exercises(nb)
    assert [(e.number, e.solution_cell, e.check_cell) for e in found] == [(1, 2, 3), (2, 6, 7)]
    assert found[0].title == "Exercise 1: Do thing 1."


def test_a_solution_without_a_check_of_asserts_is_refused():
    with pytest.raises(ValueError, match="check"):
        exercises.find_exercises(_notebook(*_exercise(1, "x = 1", "print(x)")))
    with pytest.raises(ValueError, match="no check cell"):
        exercises.find_exercises(_notebook(new_code_cell("# BEGIN SOLUTION\nx = 1\n# END SOLUTION")))


def test_assigned_names_covers_defs_assignments_and_imports():
    source = ("import math as m\ndef f():\n    pass\nclass C:\n    pass\na, (b, c) = 1, (2, 3)\nd: int = 4\n"
              "for i in range(2):\n    e = i")
    assert exercises.assigned_names(source) == ["m", "f", "C", "a", "b", "c", "d", "i", "e"]


def test_student_copy_stubs_solutions_locks_checks_and_clears_outputs(tmp_path):
    nb = _notebook(*_exercise(1, "secret = 42", "assert secret == 42"))
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="leak")]
    teacher = tmp_path / "teacher" / "99_demo.ipynb"
    teacher.parent.mkdir()
    nbformat.write(nb, teacher)
    copy = nbformat.read(student.write_student_copy(teacher, tmp_path / "student"), as_version=4)
    solution, check = copy.cells[2], copy.cells[3]
    assert "secret = 42" not in solution.source and "raise NotImplementedError()" in solution.source
    assert solution.outputs == [] and check.metadata["nbgrader"]["locked"] and check.metadata["editable"] is False
    assert check.source == "assert secret == 42"
    with pytest.raises(ValueError, match="overwrite"):
        student.write_student_copy(teacher, teacher.parent)


def test_grading_scores_each_exercise_even_after_a_hang_and_a_wrong_answer(tmp_path):
    nb = _notebook(
        *_exercise(1, "a = 2", "assert a == 2, 'a must be 2'"),
        *_exercise(2, "b = 3", "assert b == 2, 'b must be 2'"),  # a wrong answer
        *_exercise(3, "import time\ntime.sleep(60)\nc = 1", "assert c == 1"),  # a hang
        *_exercise(4, "d = 4", "assert d == 4"),
    )
    submission = tmp_path / "99_demo.ipynb"
    nbformat.write(student.student_version(nb), tmp_path / "stub.ipynb")
    nb.cells[11].source = exercises.BEGIN + "\nraise NotImplementedError()\n" + exercises.END  # exercise 4 left unsolved
    nbformat.write(nb, submission)
    result = grade.grade_notebook(submission, out_dir=tmp_path / "grades", cell_timeout_s=3)
    got = [(g["number"], g["points"], g["check"]) for g in result["exercises"]]
    assert got == [(1, 1, "ok"), (2, 0, "error"), (3, 0, "error"), (4, 0, "error")]
    reasons = [g["reason"] for g in result["exercises"]]
    assert "b must be 2" in reasons[1] and "CellTimeoutError" in reasons[2] and "NotImplementedError" in reasons[3]
    assert (result["points"], result["max_points"]) == (1, 4)
    assert json.loads((tmp_path / "grades" / "99_demo.json").read_text())["points"] == 1
    assert "1 of 4 points" in (tmp_path / "grades" / "99_demo.md").read_text()


def test_grading_survives_a_kernel_that_dies(tmp_path):
    nb = _notebook(*_exercise(1, "a = 1", "assert a == 1"), *_exercise(2, "import os\nos._exit(1)", "assert True is not None"))
    path = tmp_path / "98_crash.ipynb"
    nbformat.write(nb, path)
    result = grade.grade_notebook(path, out_dir=tmp_path / "grades", cell_timeout_s=20)
    assert [(g["points"], g["check"]) for g in result["exercises"]] == [(1, "ok"), (0, "not run")]


def test_grading_refuses_a_notebook_without_exercises(tmp_path):
    path = tmp_path / "97_empty.ipynb"
    nbformat.write(_notebook(new_code_cell("x = 1")), path)
    with pytest.raises(ValueError, match="no exercises"):
        grade.grade_notebook(path, out_dir=tmp_path)
    with pytest.raises(FileNotFoundError):
        grade.grade_notebook(tmp_path / "missing.ipynb", out_dir=tmp_path)

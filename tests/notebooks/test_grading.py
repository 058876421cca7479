"""Grading a real student copy: half the exercises solved gives half the points, and the report says why."""

from __future__ import annotations

import nbformat

from course_utils.course import exercises, grade, student
from course_utils.course.runner import notebooks_dir

NOTEBOOK = "00_setup_and_baselines.ipynb"  # the shortest notebook with four exercises


def test_a_half_solved_student_copy_gets_the_expected_partial_score(tmp_path, trained_baselines):
    teacher = nbformat.read(notebooks_dir() / NOTEBOOK, as_version=4)
    copy = student.student_version(teacher)
    found = exercises.find_exercises(copy)
    solved = found[: len(found) // 2]
    for exercise in solved:  # the student solved the first half: their cell is the teacher's solution
        copy.cells[exercise.solution_cell].source = teacher.cells[exercise.solution_cell].source
    submission = tmp_path / "submitted" / NOTEBOOK
    submission.parent.mkdir()
    nbformat.write(copy, submission)
    result = grade.grade_notebook(submission, out_dir=tmp_path / "grades")
    expected = sum(e.points for e in solved)
    assert (result["points"], result["max_points"]) == (expected, sum(e.points for e in found)), result["exercises"]
    for entry in result["exercises"][len(solved):]:
        assert entry["points"] == 0 and "NotImplementedError" in entry["reason"], entry
    assert result["other_failed_cells"] == [], "cells outside the exercises must not fail in a student copy"

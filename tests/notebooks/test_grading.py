"""A class graded in one command, from a folder outside the repository, against the teacher's copies of 00 and 07.

Four students in nbgrader's layout (``submitted/<student>/ps1/<notebook>.ipynb``): a solved copy of each (full
points); a blank student copy of 07, and no 00 (not submitted); a blank 00 whose four check cells were edited to
``assert True`` (0 points, each flagged as restored); a solved 07 with one check cell deleted (0 for that exercise,
flagged) and a corrupt 00 (0, with the reason). 07 needs ``scripts/`` beside it: it grades from ``tmp_path``
because every submission runs in a sandbox copy of the course layout. Five notebook runs in all (the corrupt file
and the missing one run nothing); a second call grades nothing again.
"""

from __future__ import annotations

import csv

import nbformat

from course_utils.course import exercises, grade, student
from course_utils.course.runner import notebooks_dir

FIRST, SECOND = "00_setup_and_baselines", "07_model_and_pipeline_parallel"  # two of the quickest; 07 launches workers
CELL_TIMEOUT_S = 300


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _copies(name: str) -> tuple[nbformat.NotebookNode, nbformat.NotebookNode, int]:
    """The blank student copy and the solved one (the teacher's solutions typed in), and the number of exercises."""
    teacher = nbformat.read(notebooks_dir() / f"{name}.ipynb", as_version=4)
    blank = student.student_version(teacher)
    solved = nbformat.from_dict(blank)
    found = exercises.find_exercises(blank)
    for exercise in found:
        solved.cells[exercise.solution_cell].source = teacher.cells[exercise.solution_cell].source
    return blank, solved, len(found)


def _hand_in(root, who: str, name: str, nb: nbformat.NotebookNode) -> None:
    path = root / who / "ps1" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)


def test_a_class_of_four_is_graded_against_the_teachers_copies(tmp_path, trained_baselines):
    blank00, solved00, n00 = _copies(FIRST)
    blank07, solved07, n07 = _copies(SECOND)
    root = tmp_path / "course" / "submitted"
    _hand_in(root, "alice", FIRST, solved00)
    _hand_in(root, "alice", SECOND, solved07)
    _hand_in(root, "bob", SECOND, blank07)  # bob handed in no 00
    cheat = nbformat.from_dict(blank00)
    for cell in cheat.cells:
        if (_grade_id(cell) or "").endswith("-check"):
            cell.source = "assert True"
    _hand_in(root, "carol", FIRST, cheat)
    deleted = nbformat.from_dict(solved07)
    deleted.cells = [c for c in deleted.cells if _grade_id(c) != "exercise-2-check"]
    _hand_in(root, "dave", SECOND, deleted)
    (root / "dave" / "ps1" / f"{FIRST}.ipynb").write_bytes(b'{"cells": [{"cell_type": "code", "sour')  # cut off
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    out = tmp_path / "grades"
    teachers = [notebooks_dir() / f"{FIRST}.ipynb", notebooks_dir() / f"{SECOND}.ipynb"]

    summary = grade.grade_class(tmp_path / "course", teachers, out_dir=out, cell_timeout_s=CELL_TIMEOUT_S)
    results = summary["students"]

    def points(who: str, name: str) -> list[int]:
        return [g["points"] for g in results[who][name]["exercises"]]

    for name, n in ((FIRST, n00), (SECOND, n07)):
        alice = results["alice"][name]
        assert points("alice", name) == [1] * n, alice["exercises"]
        assert alice["other_failed_cells"] == [], "cells outside the exercises must not fail in a solved copy"
    assert results["bob"][FIRST]["status"] == "not submitted" and points("bob", FIRST) == [0] * n00
    assert points("bob", SECOND) == [0] * n07
    assert all("NotImplementedError" in g["reason"] for g in results["bob"][SECOND]["exercises"])
    carol = results["carol"][FIRST]["exercises"]
    assert [g["points"] for g in carol] == [0] * n00 and [g["integrity"] for g in carol] == [grade.MODIFIED] * n00
    dave = results["dave"][SECOND]["exercises"]
    assert [g["points"] for g in dave] == [1, 0] + [1] * (n07 - 2)
    assert [g["integrity"] for g in dave] == [grade.INTACT, grade.MISSING] + [grade.INTACT] * (n07 - 2)
    corrupt = results["dave"][FIRST]
    assert corrupt["status"] == "unreadable" and corrupt["points"] == 0 and "cannot read the notebook" in corrupt["reason"]
    assert summary["graded"] == 6 and sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before

    rows = {r["student"]: r for r in csv.DictReader((out / grade.GRADEBOOK).open())}
    total = n00 + n07
    assert rows[grade.MAX_ROW]["total"] == str(total)
    assert {who: rows[who]["total"] for who in ("alice", "bob", "carol", "dave")} == {
        "alice": str(total), "bob": "0", "carol": "0", "dave": str(n07 - 1)}  # fmt: skip
    assert rows["carol"]["flags"].count(grade.MODIFIED) == n00
    assert f"{SECOND} ex2: {grade.MISSING}" in rows["dave"]["flags"] and "cannot read the notebook" in rows["dave"]["flags"]
    assert f"# alice: {total} of {total} points" in (out / "alice" / "report.md").read_text()

    again = grade.grade_class(tmp_path / "course", teachers, out_dir=out, cell_timeout_s=CELL_TIMEOUT_S)
    assert (again["graded"], again["skipped"]) == (0, 6), "a re-run grades nothing that is already graded"


LEADERBOARD = "13_capstone"


def test_a_class_of_two_gets_a_leaderboard_column_scored_on_held_out_images(tmp_path, trained_baselines):
    """alice hands in the teacher's solution (the smallest model that clears the bar on the public split); bob the
    start's int8 ONNX file, which qualifies but is larger. The grader scores each file in its own process on the
    held-out images and writes accuracy, bytes and latency into the gradebook beside the points."""
    from course_utils import leaderboard

    _, solved, n = _copies(LEADERBOARD)
    bigger = nbformat.from_dict(solved)
    chosen = "leaderboard_entry = _candidates[min(_good or list(_public), key=lambda n: _public[n][1])]"
    exercise = exercises.find_exercises(bigger)[-1]
    assert chosen in bigger.cells[exercise.solution_cell].source
    bigger.cells[exercise.solution_cell].source = bigger.cells[exercise.solution_cell].source.replace(
        chosen, 'leaderboard_entry = _candidates["start ONNX int8"]')
    root = tmp_path / "class" / "submitted"
    _hand_in(root, "alice", LEADERBOARD, solved)
    _hand_in(root, "bob", LEADERBOARD, bigger)
    out = tmp_path / "grades"

    summary = grade.grade_class(tmp_path / "class", [notebooks_dir() / f"{LEADERBOARD}.ipynb"], out_dir=out,
                                cell_timeout_s=CELL_TIMEOUT_S)  # fmt: skip

    boards = {who: summary["students"][who][LEADERBOARD]["leaderboard"] for who in ("alice", "bob")}
    for who, board in boards.items():
        assert [g["points"] for g in summary["students"][who][LEADERBOARD]["exercises"]] == [1] * n, who
        assert board["status"] == "scored", board
        assert board["held_out_images"] == leaderboard.HELD_OUT_PER_CLASS * 10
        assert board["qualifies"] and board["accuracy"] >= leaderboard.min_accuracy(True), board
        assert not board["suspicious"], board
    assert boards["alice"]["bytes"] < boards["bob"]["bytes"], boards
    rows = {r["student"]: r for r in csv.DictReader((out / grade.GRADEBOOK).open())}
    for who, board in boards.items():
        assert rows[who][f"{LEADERBOARD} leaderboard bytes"] == str(board["bytes"])
        assert rows[who][f"{LEADERBOARD} leaderboard held-out accuracy"] == f"{board['accuracy']:.4f}"
        assert float(rows[who][f"{LEADERBOARD} leaderboard latency b1 ms"]) > 0
        assert rows[who][f"{LEADERBOARD} leaderboard qualifies"] == "True"
        assert rows[who][f"{LEADERBOARD} total"] == str(n)
    assert "Leaderboard: held-out accuracy" in (out / "alice" / "report.md").read_text()

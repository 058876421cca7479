"""Student copies and grading on small synthetic notebooks: stubs, locks, checksums, a class with every kind of trouble."""

from __future__ import annotations

import csv
import io
import json
import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_utils.course import exercises, grade, student


def _exercise(number: int, solution: str, check: str) -> list:
    return [new_markdown_cell(f"**Exercise {number}.** Do thing {number}."),
            new_code_cell(f"# BEGIN SOLUTION\n{solution}\n# END SOLUTION"), new_code_cell(check)]  # fmt: skip


def _notebook(*cells) -> nbformat.NotebookNode:
    params = new_code_cell("QUICK = None\nSEED = 0", metadata={"tags": ["parameters"]})
    nb = new_notebook(cells=[params, *cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _write(nb: nbformat.NotebookNode, path) -> object:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def _solved(teacher: nbformat.NotebookNode, numbers=None) -> nbformat.NotebookNode:
    """The student copy with the teacher's solution typed into the exercises ``numbers`` (default: all)."""
    copy = student.student_version(teacher)
    for exercise in exercises.find_exercises(copy):
        if numbers is None or exercise.number in numbers:
            copy.cells[exercise.solution_cell].source = teacher.cells[exercise.solution_cell].source
    return copy


def _cell(nb, grade_id: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


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
              "for i in range(2):\n    e = i")  # fmt: skip
    assert exercises.assigned_names(source) == ["m", "f", "C", "a", "b", "c", "d", "i", "e"]


def test_student_copy_stubs_solutions_locks_checks_and_clears_outputs(tmp_path):
    nb = _notebook(*_exercise(1, "secret = 42", "assert secret == 42"))
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="leak")]
    teacher = _write(nb, tmp_path / "teacher" / "99_demo.ipynb")
    copy = nbformat.read(student.write_student_copy(teacher, tmp_path / "student"), as_version=4)
    solution, check = copy.cells[2], copy.cells[3]
    assert "secret = 42" not in solution.source and "raise NotImplementedError()" in solution.source
    assert solution.outputs == [] and check.metadata["nbgrader"]["locked"] and check.metadata["editable"] is False
    assert check.source == "assert secret == 42"
    from nbgrader.utils import compute_checksum

    assert check.metadata["nbgrader"]["checksum"] == compute_checksum(check), "nbgrader's checksum of the locked check"
    with pytest.raises(ValueError, match="overwrite"):
        student.write_student_copy(teacher, teacher.parent)


def test_make_student_keeps_a_copy_a_student_worked_in_unless_forced(tmp_path, capsys, monkeypatch):
    teacher = _write(_notebook(*_exercise(1, "secret = 42", "assert secret == 42")), tmp_path / "teacher" / "99_demo.ipynb")
    out = tmp_path / "student"
    target = student.write_student_copy(teacher, out)
    fresh = target.read_bytes()
    before = target.stat().st_mtime_ns
    assert student.write_student_copy(teacher, out) == target and target.stat().st_mtime_ns == before, "same bytes: untouched"
    worked = nbformat.read(target, as_version=4)
    worked.cells[2].source = "secret = 42  # my answer"
    nbformat.write(worked, target)
    work = target.read_bytes()
    with pytest.raises(student.CopyDiffers, match="force"):
        student.write_student_copy(teacher, out)
    assert target.read_bytes() == work, "the student's work is kept"
    monkeypatch.setattr("course_utils.course.runner.list_notebooks", lambda only=None: [teacher])
    assert student.main(["--out", str(out)]) == 1
    assert "KEPT" in capsys.readouterr().err and target.read_bytes() == work
    assert student.main(["--out", str(out), "--force"]) == 0
    assert target.read_bytes() == fresh
    assert [p.name for p in out.iterdir()] == ["99_demo.ipynb"], "an atomic write leaves no temporary file"


def test_restore_puts_back_edited_checks_and_flags_deleted_ones(tmp_path):
    teacher = _notebook(*_exercise(1, "a = 1", "assert a == 1"), *_exercise(2, "b = 2", "assert b == 2"),
                        *_exercise(3, "c = 3", "assert c == 3"))  # fmt: skip
    reference = grade.Reference(_write(teacher, tmp_path / "99_demo.ipynb"), tmp_path / "db")
    submitted = _solved(teacher)
    _cell(submitted, "exercise-1-check").source = "assert True"
    _cell(submitted, "exercise-2-check").source = "pass"  # no assert left: the exercise still comes from the teacher
    _cell(submitted, "exercise-2-check").metadata["nbgrader"]["points"] = 5  # more points for a check of one
    submitted.cells.remove(_cell(submitted, "exercise-3-check"))
    restored, integrity = reference.restore(submitted)
    assert integrity == {1: grade.MODIFIED, 2: grade.MODIFIED, 3: grade.MISSING}
    assert _cell(restored, "exercise-1-check").source == "assert a == 1"
    assert _cell(restored, "exercise-2-check").metadata["nbgrader"]["points"] == 1
    assert _cell(restored, "exercise-2-check").source == "assert b == 2"
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in restored.cells]
    assert ids.index("exercise-3-check") == ids.index("exercise-3-solution") + 1, "put back after its solution"
    assert "assert c == 3" in _cell(restored, "exercise-3-check").source
    assert reference.restore(_solved(teacher))[1] == {1: grade.INTACT, 2: grade.INTACT, 3: grade.INTACT}


def test_grading_scores_each_exercise_even_after_a_hang_and_a_wrong_answer(tmp_path):
    teacher = _notebook(
        *_exercise(1, "a = 2", "assert a == 2, 'a must be 2'"),
        *_exercise(2, "b = 2", "assert b == 2, 'b must be 2'"),
        *_exercise(3, "c = 1", "assert c == 1"),
        *_exercise(4, "d = 4", "assert d == 4"),
    )
    teacher_path = _write(teacher, tmp_path / "teacher" / "99_demo.ipynb")
    submitted = _solved(teacher, {1, 2, 3})  # exercise 4 left as the stub
    _cell(submitted, "exercise-2-solution").source = "b = 3"  # a wrong answer
    _cell(submitted, "exercise-3-solution").source = "import time\ntime.sleep(60)\nc = 1"  # a hang
    path = _write(submitted, tmp_path / "submitted" / "99_demo.ipynb")
    result = grade.grade_notebook(path, teacher=teacher_path, out_dir=tmp_path / "grades", cell_timeout_s=3)
    got = [(g["number"], g["points"], g["check"]) for g in result["exercises"]]
    assert got == [(1, 1, "ok"), (2, 0, "error"), (3, 0, "error"), (4, 0, "error")]
    reasons = [g["reason"] for g in result["exercises"]]
    assert "b must be 2" in reasons[1] and "CellTimeoutError" in reasons[2] and "NotImplementedError" in reasons[3]
    assert (result["points"], result["max_points"]) == (1, 4)
    assert json.loads((tmp_path / "grades" / "99_demo.json").read_text())["points"] == 1
    assert "1 of 4 points" in (tmp_path / "grades" / "99_demo.md").read_text()


def test_grading_survives_a_kernel_that_dies(tmp_path):
    teacher = _notebook(*_exercise(1, "a = 1", "assert a == 1"), *_exercise(2, "z = 2", "assert z == 2"))
    teacher_path = _write(teacher, tmp_path / "teacher" / "98_crash.ipynb")
    submitted = _solved(teacher)
    _cell(submitted, "exercise-2-solution").source = "import os\nos._exit(1)"
    path = _write(submitted, tmp_path / "98_crash.ipynb")
    result = grade.grade_notebook(path, teacher=teacher_path, out_dir=tmp_path / "grades", cell_timeout_s=20)
    assert [(g["points"], g["check"]) for g in result["exercises"]] == [(1, "ok"), (0, "not run")]


def test_grading_ends_when_a_cell_ignores_the_interrupt(tmp_path, monkeypatch):
    from course_utils.course import execute

    monkeypatch.setattr(execute, "RESPONSIVE_AFTER_INTERRUPT_S", 3)
    teacher = _notebook(*_exercise(1, "a = 1", "assert a == 1"), *_exercise(2, "z = 2", "assert z == 2"),
                        *_exercise(3, "c = 3", "assert c == 3"))  # fmt: skip
    teacher_path = _write(teacher, tmp_path / "teacher" / "92_stuck.ipynb")
    submitted = _solved(teacher)
    stuck = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"
    _cell(submitted, "exercise-2-solution").source = stuck
    path = _write(submitted, tmp_path / "92_stuck.ipynb")
    result = grade.grade_notebook(path, teacher=teacher_path, out_dir=tmp_path / "grades", cell_timeout_s=3)
    assert [(g["points"], g["check"]) for g in result["exercises"]] == [(1, "ok"), (0, "not run"), (0, "not run")]
    assert "did not answer" in result["exercises"][2]["reason"]


def test_grading_refuses_a_teacher_without_exercises_and_a_missing_file(tmp_path):
    teacher = _write(_notebook(new_code_cell("x = 1")), tmp_path / "97_empty.ipynb")
    with pytest.raises(ValueError, match="no exercises"):
        grade.grade_notebook(teacher, teacher=teacher, out_dir=tmp_path)
    with pytest.raises(FileNotFoundError):
        grade.grade_notebook(tmp_path / "missing.ipynb", teacher=teacher, out_dir=tmp_path)


def test_a_class_is_graded_whatever_one_submission_does(tmp_path):
    """nbgrader's layout; checks edited and deleted, a corrupt file, a dead kernel, a hang, two files of one name."""
    teacher = _notebook(
        new_code_cell("import os\nopen('written_here.txt', 'w').write(os.getcwd())"),  # where does a submission write?
        *_exercise(1, "a = 1", "assert a == 1"),
        *_exercise(2, "b = 2", "assert b == 2"),
    )
    teacher_path = _write(teacher, tmp_path / "teacher" / "96_class.ipynb")
    other = _notebook(*_exercise(1, "x = 1", "assert x == 1"))
    other_path = _write(other, tmp_path / "teacher" / "95_other.ipynb")
    root = tmp_path / "course" / "submitted"
    blank = student.student_version(teacher)
    _write(_solved(teacher), root / "alice" / "ps1" / "96_class.ipynb")
    _write(_solved(other), root / "alice" / "ps1" / "95_other.ipynb")
    _write(blank, root / "bob" / "ps1" / "96_class.ipynb")  # bob did not hand in 95_other
    cheat = student.student_version(teacher)
    for cell in cheat.cells:
        if cell.metadata.get("nbgrader", {}).get("grade", False):
            cell.source = "assert True"
    _write(cheat, root / "carol" / "ps1" / "96_class.ipynb")
    deleted = _solved(teacher)
    deleted.cells.remove(_cell(deleted, "exercise-2-check"))
    _write(deleted, root / "dave" / "ps1" / "96_class.ipynb")
    (root / "erin" / "ps1").mkdir(parents=True)
    (root / "erin" / "ps1" / "96_class.ipynb").write_text('{"cells": [')  # cut off mid-upload
    dies = _solved(teacher)
    _cell(dies, "exercise-1-solution").source = "import os\nos._exit(1)"
    _write(dies, root / "frank" / "ps1" / "96_class.ipynb")
    hangs = _solved(teacher)
    _cell(hangs, "exercise-2-solution").source = "while True:\n    pass"
    _write(hangs, root / "grace" / "ps1" / "96_class.ipynb")
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    out = tmp_path / "grades"
    summary = grade.grade_class(tmp_path / "course", [teacher_path, other_path], out_dir=out, cell_timeout_s=5)

    def points(student_name, name="96_class"):
        result = summary["students"][student_name][name]
        return [g["points"] for g in result["exercises"]], [g["integrity"] for g in result["exercises"]], result

    assert points("alice")[0] == [1, 1] and points("alice", "95_other")[0] == [1]
    assert points("bob")[0] == [0, 0] and points("bob", "95_other")[2]["status"] == "not submitted"
    assert points("carol")[:2] == ([0, 0], [grade.MODIFIED, grade.MODIFIED])
    assert points("dave")[:2] == ([1, 0], [grade.INTACT, grade.MISSING])
    erin = points("erin")[2]
    assert erin["status"] == "unreadable" and erin["points"] == 0 and "cannot read the notebook" in erin["reason"]
    assert points("frank")[0] == [0, 0] and points("frank")[2]["exercises"][1]["check"] == "not run"
    assert points("grace")[0] == [1, 0] and "CellTimeoutError" in points("grace")[2]["exercises"][1]["reason"]
    assert summary["graded"] == 8 and summary["skipped"] == 0

    rows = list(csv.reader((out / "gradebook.csv").open()))
    assert rows[0] == ["student", "96_class ex1", "96_class ex2", "96_class total", "95_other ex1", "95_other total",
                       "total", "flags"]  # fmt: skip
    assert rows[1][:7] == [grade.MAX_ROW, "1", "1", "2", "1", "1", "3"]
    table = {r[0]: r for r in rows[2:]}
    assert sorted(table) == ["alice", "bob", "carol", "dave", "erin", "frank", "grace"]
    assert table["alice"][6] == "3" and table["bob"][6] == "0" and table["dave"][6] == "1"
    assert "96_class ex1: check cell modified: restored" in table["carol"][7]
    assert "96_class ex2: check cell missing: 0 points" in table["dave"][7]
    assert "cannot read the notebook" in table["erin"][7] and "95_other: not submitted" in table["bob"][7]
    report = (out / "carol" / "report.md").read_text()
    assert "# carol: 0 of 3 points" in report and "check cell modified: restored" in report
    assert (out / "alice" / "executed" / "96_class.ipynb").is_file()

    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before, "a submission wrote beside itself"
    assert not list(tmp_path.rglob("written_here.txt")), "a submission's file outlived its sandbox"

    gradebook = (out / "gradebook.csv").read_text()
    again = grade.grade_class(tmp_path / "course", [teacher_path, other_path], out_dir=out, cell_timeout_s=5)
    assert again["graded"] == 0 and again["skipped"] == 8, "a re-run grades nothing twice (erin's file included)"
    assert (out / "gradebook.csv").read_text() == gradebook
    _write(_solved(teacher), root / "erin" / "ps1" / "96_class.ipynb")  # erin hands in a readable file
    third = grade.grade_class(tmp_path / "course", [teacher_path], out_dir=out, cell_timeout_s=5)
    assert third["graded"] == 1 and third["students"]["erin"]["96_class"]["points"] == 2
    forced = grade.grade_class(tmp_path / "course", [other_path], out_dir=out, cell_timeout_s=5, regrade=True)
    assert forced["graded"] == 1 and forced["skipped"] == 0


def test_two_students_with_the_same_file_name_keep_their_own_grades(tmp_path):
    teacher = _notebook(*_exercise(1, "a = 1", "assert a == 1"))
    teacher_path = _write(teacher, tmp_path / "teacher" / "94_same.ipynb")
    _write(_solved(teacher), tmp_path / "class" / "alice" / "94_same.ipynb")  # a folder of students, no assignment level
    _write(student.student_version(teacher), tmp_path / "class" / "bob" / "94_same.ipynb")
    summary = grade.grade_class(tmp_path / "class", [teacher_path], out_dir=tmp_path / "grades", cell_timeout_s=20)
    assert summary["students"]["alice"]["94_same"]["points"] == 1
    assert summary["students"]["bob"]["94_same"]["points"] == 0
    assert json.loads((tmp_path / "grades" / "alice" / "94_same.json").read_text())["points"] == 1
    assert json.loads((tmp_path / "grades" / "bob" / "94_same.json").read_text())["points"] == 0
    assert os.path.isfile(tmp_path / "grades" / "bob" / "report.md")


def test_the_class_command_writes_the_gradebook_and_prints_it(tmp_path, capsys):
    teacher = _notebook(*_exercise(1, "a = 1", "assert a == 1"))
    teacher_path = _write(teacher, tmp_path / "teacher" / "93_cli.ipynb")
    _write(_solved(teacher), tmp_path / "class" / "submitted" / "alice" / "ps1" / "93_cli.ipynb")
    argv = ["--class", str(tmp_path / "class"), "--teacher", str(teacher_path), "--out", str(tmp_path / "grades"),
            "--no-baselines", "--cell-timeout", "60"]  # fmt: skip
    assert grade.main(argv) == 0
    printed = capsys.readouterr().out
    assert "1 graded, 0 skipped" in printed and "alice,1,1,1," in printed
    assert (tmp_path / "grades" / "gradebook.csv").read_text().splitlines()[2] == "alice,1,1,1,"
    assert grade.main(argv) == 0 and "0 graded, 1 skipped" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        grade.main(["--no-baselines"])  # neither files nor a class


def test_the_leaderboard_columns_hold_each_students_scored_file(tmp_path, monkeypatch):
    import types

    import torch
    from torch import nn

    from course_utils import leaderboard

    assert grade.score_leaderboard(tmp_path, "13_capstone", True) == {"status": "no model submitted"}
    monkeypatch.setenv("COURSE_OUTPUT_DIR", str(tmp_path))
    leaderboard.export_onnx(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), torch.zeros(1, 1, 28, 28),
                            leaderboard.artifact_path())  # fmt: skip
    board = grade.score_leaderboard(tmp_path, "13_capstone", True)
    assert board["status"] == "scored" and board["held_out_images"] == 1000 and board["bytes"] > 784 * 10 * 4
    (tmp_path / "leaderboard" / "13_capstone.onnx").write_bytes(b"not onnx")
    assert grade.score_leaderboard(tmp_path, "13_capstone", True)["status"].startswith("could not score")

    reference = types.SimpleNamespace(name="13_capstone", exercises=[types.SimpleNamespace(number=1, points=1)],
                                      max_points=1)  # fmt: skip
    results = {"ann": {"13_capstone": {"status": "graded", "points": 1, "exercises": [{"points": 1, "integrity": "intact"}],
                                       "leaderboard": board}},
               "ben": {"13_capstone": {"status": "graded", "points": 0, "exercises": [{"points": 0, "integrity": "intact"}],
                                       "leaderboard": {"status": "no model submitted"}}}}  # fmt: skip
    rows = {r["student"]: r for r in csv.DictReader(io.StringIO(grade.gradebook_csv([reference], results)))}
    assert rows["ann"]["13_capstone leaderboard bytes"] == str(board["bytes"])
    assert rows["ann"]["13_capstone leaderboard held-out accuracy"] == f"{board['accuracy']:.4f}"
    assert rows["ann"]["13_capstone leaderboard qualifies"] == "False"
    assert rows["ben"]["13_capstone leaderboard bytes"] == "" and rows[grade.MAX_ROW]["13_capstone leaderboard bytes"] == ""

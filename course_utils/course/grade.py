"""Grade submissions against the teacher's copy: one notebook, or a whole class into one gradebook.

    python -m course_utils.course.grade submitted/01_pruning.ipynb     # one file → build/grades/01_pruning.{json,md}
    python -m course_utils.course.grade --class submitted/             # a class → build/grades/gradebook.csv + reports
    python -m course_utils.course.grade --class DIR --only 00 07 --regrade --cell-timeout 120 --out DIR

**The teacher's copy is the truth** (nbgrader's rule). Each notebook is graded against the teacher's notebook of the
same name in ``notebooks/`` (or ``--teacher`` files: teacher notebooks or the released student copies made from
them): it gives the exercise list, the points and the check cells. Before a submission runs, nbgrader's own
machinery restores its check cells: ``DeduplicateIds``, then ``OverwriteCells`` against an nbgrader gradebook that
holds the released copy (``SaveCells``), which puts back every locked check cell whose ``compute_checksum`` differs.
An exercise whose check cell was edited is reported ``check cell modified: restored`` (graded by the teacher's
check); one whose check cell was deleted (or its nbgrader metadata stripped) is reported ``check cell missing: 0
points``, and the teacher's check is added back so that the rest of the notebook runs as written.

**A class** is nbgrader's layout ``submitted/<student>/<assignment>/<notebook>.ipynb`` or a folder of students each
holding notebooks. Every submission runs in its own temporary copy of the course's working layout
(``notebooks/<notebook>.ipynb`` beside a copy of ``notebooks/scripts/``, ``data/`` with a copy of the checkpoints,
``build/``; datasets read from the mirror), so 06 and 07 grade wherever the file came from and a submission writes
nothing outside its copy. A file that cannot be read, a cell that hangs (interrupted after ``--cell-timeout``), a
kernel that dies, or any other failure costs that student's notebook and nothing else. The reports go to
``<out>/<student>/`` (so two students' files of the same name never meet), the gradebook to ``<out>/gradebook.csv``;
a re-run skips every submission already graded from the same bytes against the same teacher's copy, unless
``--regrade``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import nbformat

from .. import config
from ..atomic import write_bytes_atomic
from .execute import CellOutcome, Execution, run_notebook
from .exercises import Exercise, find_exercises

INTACT = "intact"
MODIFIED = "check cell modified: restored"
MISSING = "check cell missing: 0 points"
NOT_READ = "-"  # no submission, or one that could not be read: no check cell to speak of
ASSIGNMENT = "course"  # the assignment name inside the private nbgrader gradebook
GRADEBOOK = "gradebook.csv"
MAX_ROW = "(max points)"
LEADERBOARDS = ("13_capstone",)  # notebooks whose submissions also enter a class leaderboard (course_utils.leaderboard)
LEADERBOARD_COLUMNS = {"accuracy": "leaderboard held-out accuracy", "held_out_images": "leaderboard held-out images",
                       "bytes": "leaderboard bytes", "latency_b1_ms": "leaderboard latency b1 ms",
                       "qualifies": "leaderboard qualifies"}  # fmt: skip


@dataclass
class ExerciseGrade:
    number: int
    title: str
    points: int
    max_points: int
    check: str  # ok / error / timeout / not run / not submitted
    reason: str
    integrity: str = INTACT  # INTACT, MODIFIED, MISSING, or NOT_READ


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    info = cell.get("metadata", {}).get("nbgrader")
    return info.get("grade_id") if isinstance(info, dict) else None


def _new_gradebook(path: Path) -> None:
    """An empty nbgrader gradebook database at ``path``, stamped with nbgrader's schema version.

    ``nbgrader.api.Gradebook`` stamps a new database by running the ``alembic`` script (which must be on PATH, and
    costs a Python start-up each time); the same version is read here in-process from nbgrader's own migrations.
    """
    from alembic.script import ScriptDirectory
    from nbgrader.dbutil import ALEMBIC_DIR

    head = ScriptDirectory(ALEMBIC_DIR).get_current_head()
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (head,))
        db.commit()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Reference:
    """The teacher's truth for one notebook: the released copy (with nbgrader's checksums) in an nbgrader gradebook.

    ``path`` is the teacher's notebook (solutions between ``# BEGIN SOLUTION`` / ``# END SOLUTION``) or the released
    student copy made from it. ``workdir`` holds the gradebook database.
    """

    def __init__(self, path: Path, workdir: Path):
        from nbgrader.api import Gradebook
        from nbgrader.preprocessors import ComputeChecksums, SaveCells

        from .student import student_version

        self.path = Path(path)
        self.name = self.path.stem
        teacher = nbformat.read(self.path, as_version=4)
        is_teacher = any(c.cell_type == "code" and "# BEGIN SOLUTION" in c.source for c in teacher.cells)
        released = student_version(teacher) if is_teacher else nbformat.from_dict(teacher)
        released, _ = ComputeChecksums().preprocess(released, {})
        self.released = released
        self.exercises: list[Exercise] = find_exercises(released)
        if not self.exercises:
            raise ValueError(f"{self.path} has no exercises to grade (no '# BEGIN SOLUTION' cell, no nbgrader solution cell)")
        for exercise in self.exercises:
            check = released.cells[exercise.check_cell]
            if _grade_id(check) != f"{exercise.grade_id}-check" or not check.metadata["nbgrader"].get("locked"):
                raise ValueError(
                    f"{self.path}: the check of exercise {exercise.number} is not a locked nbgrader "
                    f"grade cell '{exercise.grade_id}-check' (release it with course_utils.course.student)"
                )
        self.checks = {e.number: released.cells[e.check_cell] for e in self.exercises}
        self.max_points = sum(e.points for e in self.exercises)
        self.sha256 = _sha256(nbformat.writes(released).encode())
        self.scripts = self.path.parent / "scripts"
        workdir.mkdir(parents=True, exist_ok=True)
        self.db_url = f"sqlite:///{(workdir / f'{self.name}.gradebook.db').resolve()}"
        _new_gradebook(workdir / f"{self.name}.gradebook.db")
        with Gradebook(self.db_url) as gradebook:
            gradebook.update_or_create_assignment(ASSIGNMENT)
        SaveCells().preprocess(nbformat.from_dict(released), self._resources())

    def _resources(self) -> dict[str, Any]:
        return {"nbgrader": {"notebook": self.name, "assignment": ASSIGNMENT, "db_url": self.db_url}}

    def restore(self, submitted: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, dict[int, str]]:
        """The submission with the teacher's check cells (a new object), and each exercise's integrity."""
        from nbgrader.api import Gradebook
        from nbgrader.preprocessors import DeduplicateIds, OverwriteCells
        from nbgrader.utils import compute_checksum

        nb = nbformat.from_dict(submitted)
        nb, _ = DeduplicateIds().preprocess(nb, {})
        teacher_meta = {_grade_id(c): c.metadata["nbgrader"] for c in self.released.cells if _grade_id(c)}
        integrity: dict[int, str] = {}
        for cell in nb.cells:  # nbgrader metadata is the teacher's: a student's edit of it or a made-up id is dropped
            grade_id = _grade_id(cell)
            if "nbgrader" in cell.get("metadata", {}) and grade_id not in teacher_meta:
                del cell.metadata["nbgrader"]
        found = {_grade_id(c): c for c in nb.cells if _grade_id(c)}
        for exercise in self.exercises:
            cell = found.get(f"{exercise.grade_id}-check")
            if cell is None:
                integrity[exercise.number] = MISSING
                continue
            teacher = self.checks[exercise.number].metadata["nbgrader"]
            try:
                intact = cell.cell_type == "code" and compute_checksum(cell) == teacher["checksum"]
            except (KeyError, TypeError, ValueError):  # metadata edited so that nbgrader cannot read it
                intact = False
            integrity[exercise.number] = INTACT if intact else MODIFIED
        for cell in nb.cells:
            if _grade_id(cell):
                cell.metadata["nbgrader"] = nbformat.from_dict(teacher_meta[_grade_id(cell)])
        nb, _ = OverwriteCells().preprocess(nb, self._resources())  # puts back every locked cell whose checksum differs
        with Gradebook(self.db_url) as gradebook:
            for exercise in self.exercises:
                if integrity[exercise.number] != MISSING:
                    continue
                grade_id = f"{exercise.grade_id}-check"
                source = gradebook.find_source_cell(grade_id, self.name, ASSIGNMENT)
                cell = OverwriteCells().missing_cell_transform(source, exercise.points)
                cell.metadata["nbgrader"]["checksum"] = self.checks[exercise.number].metadata["nbgrader"]["checksum"]
                cell = nbformat.from_dict({**cell, "id": f"{grade_id}-restored"})
                nb.cells.insert(self._insert_at(nb, exercise), cell)
        return nb, integrity

    @staticmethod
    def _insert_at(nb: nbformat.NotebookNode, exercise: Exercise) -> int:
        """Where a missing check goes back: after its solution cell, else after the previous exercise's check, else last."""
        ids = [_grade_id(c) for c in nb.cells]
        for anchor in (f"{exercise.grade_id}-solution", f"exercise-{exercise.number - 1}-check"):
            if anchor in ids:
                return ids.index(anchor) + 1
        return len(nb.cells)


def _reason(check: CellOutcome, solution: CellOutcome | None) -> str:
    if check.status == "ok":
        return ""
    if solution is not None and solution.status not in {"ok", "skipped"}:
        return f"solution cell: {solution.ename}: {solution.evalue}".strip()
    return f"check: {check.ename}: {check.evalue}".strip()


def score(execution: Execution, reference: Reference, integrity: dict[int, str]) -> list[ExerciseGrade]:
    """The grade of every exercise of the teacher's copy, from the outcomes of the restored submission's cells."""
    index = {_grade_id(c): i for i, c in enumerate(execution.notebook.cells) if _grade_id(c)}
    grades = []
    for exercise in reference.exercises:
        check = execution.cells[index[f"{exercise.grade_id}-check"]]
        solution_index = index.get(f"{exercise.grade_id}-solution")
        solution = execution.cells[solution_index] if solution_index is not None else None
        state = integrity[exercise.number]
        passed = check.status == "ok" and state != MISSING
        reason = _reason(check, solution)
        if state != INTACT:
            reason = f"{state}" + (f"; {reason}" if reason else "")
        grades.append(ExerciseGrade(exercise.number, exercise.title, exercise.points if passed else 0, exercise.points,
                                    check.status, reason, state))  # fmt: skip
    return grades


def zero_grades(reference: Reference, check: str, reason: str) -> list[ExerciseGrade]:
    """Every exercise at 0 points, for a submission that could not be graded (or was not submitted)."""
    return [ExerciseGrade(e.number, e.title, 0, e.points, check, reason, NOT_READ) for e in reference.exercises]


def table(name: str, grades: list[ExerciseGrade], note: str = "") -> str:
    """A Markdown table of the grades, with the total."""
    total, most = sum(g.points for g in grades), sum(g.max_points for g in grades)
    lines = [f"# {name}: {total} of {most} points", ""] + ([note, ""] if note else [])
    lines += ["| exercise | points | check | check cell | what went wrong |", "|---|---|---|---|---|"]
    lines += [f"| {g.title} | {g.points}/{g.max_points} | {g.check} | {g.integrity} | {g.reason.replace('|', '/')} |"
              for g in grades]  # fmt: skip
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# the sandbox: a temporary copy of the course's working layout


def _mirror() -> Path | None:
    """Where a sandbox reads datasets: the mirror (COURSE_DATASETS), else the course's own dataset cache."""
    mirror = config.datasets_mirror()
    if mirror is not None:
        return mirror
    cache = Path(os.environ.get(config.DATA_DIR_ENV) or (config.repo_root() or Path.cwd()) / "data") / "datasets"
    return cache.resolve() if any((cache / name).is_dir() for name in ("MNIST/raw", "cifar-10-batches-py", "fsdd")) else None


def _data_source() -> Path:
    return Path(os.environ.get(config.DATA_DIR_ENV) or (config.repo_root() or Path.cwd()) / "data")


def make_sandbox(root: Path, reference: Reference, nb: nbformat.NotebookNode) -> tuple[Path, dict[str, str]]:
    """Lay out ``root`` as the course's working tree with ``nb`` in ``notebooks/``; return its path and environment."""
    notebooks = root / "notebooks"
    notebooks.mkdir(parents=True)
    if reference.scripts.is_dir():
        shutil.copytree(reference.scripts, notebooks / "scripts", ignore=shutil.ignore_patterns("__pycache__"))
    data = root / "data"
    data.mkdir()
    source = _data_source()
    if source.is_dir():  # the checkpoints and feature caches (small), copied: a submission cannot touch the originals
        for item in source.iterdir():
            if item.name == "datasets" or item.name.startswith("."):
                continue
            if item.is_dir():
                shutil.copytree(item, data / item.name, ignore=shutil.ignore_patterns(".*.tmp"))
            elif item.is_file():
                shutil.copy2(item, data / item.name)
    (root / "tmp").mkdir()
    env = {config.DATA_DIR_ENV: str(data.resolve()), "TMPDIR": str((root / "tmp").resolve())}
    mirror = _mirror()
    if mirror is not None:
        env[config.DATASETS_ENV] = str(mirror)
    path = notebooks / f"{reference.name}.ipynb"
    nbformat.write(nb, path)
    return path, env


# ---------------------------------------------------------------------------------------------------------------
# one submission


@dataclass
class Submission:
    student: str
    notebook: str
    path: Path | None  # None: not submitted
    note: str = ""


def grade_submission(path: Path, reference: Reference, *, quick: bool = True, seed: int = 0, cell_timeout_s: int = 300,
                     executed_copy: Path | None = None) -> dict[str, Any]:  # fmt: skip
    """Grade one submitted file against ``reference`` in a sandbox; never raises for a bad submission.

    Returns the result: ``status`` (``graded``, ``unreadable`` or ``failed``), points, per exercise grades.
    """
    path = Path(path)
    start = time.perf_counter()
    result: dict[str, Any] = {"notebook": reference.name, "submission": str(path), "mode": "quick" if quick else "full",
                              "seed": seed, "teacher": str(reference.path), "max_points": reference.max_points}  # fmt: skip
    try:
        raw = path.read_bytes()
        result["key"] = _key(raw, reference, quick, seed)
        submitted = nbformat.reads(raw.decode("utf-8"), as_version=4)
        restored, integrity = reference.restore(submitted)
    except Exception as error:  # anything unreadable is this submission's zero, with the reason
        message = str(error).strip().splitlines()
        reason = f"cannot read the notebook: {type(error).__name__}: {message[0][:300] if message else ''}"
        return _finish(result, "unreadable", zero_grades(reference, "not run", reason), start, reason=reason)
    try:
        with tempfile.TemporaryDirectory(prefix=f"grade-{reference.name}-") as sandbox:
            notebook, env = make_sandbox(Path(sandbox), reference, restored)
            execution = run_notebook(notebook, quick=quick, seed=seed, output_dir=Path(sandbox) / "build" / "executed",
                                     cell_timeout_s=cell_timeout_s, env=env)  # fmt: skip
            if reference.name in LEADERBOARDS:  # scored here, in the grader's process, before the sandbox goes
                result["leaderboard"] = score_leaderboard(Path(sandbox) / "build" / "executed", reference.name, quick)
            if executed_copy is not None:
                executed_copy.parent.mkdir(parents=True, exist_ok=True)
                write_bytes_atomic(executed_copy, nbformat.writes(execution.notebook).encode())
        grades = score(execution, reference, integrity)
    except Exception as error:  # a failure of the run itself (a kernel that cannot start, a full disk...)
        reason = f"grading failed: {type(error).__name__}: {str(error).strip()[:300]}"
        return _finish(result, "failed", zero_grades(reference, "not run", reason), start, reason=reason)
    graded = {i for i, c in enumerate(execution.notebook.cells) if _grade_id(c)}
    result["other_failed_cells"] = [c.as_dict() for c in execution.cells
                                    if c.status not in {"ok", "skipped"} and c.index not in graded]  # fmt: skip
    return _finish(result, "graded", grades, start)


def score_leaderboard(output_dir: Path, name: str, quick: bool) -> dict[str, Any]:
    """The leaderboard record of the file a submission left (``<output_dir>/leaderboard/<name>.onnx``), scored here.

    The grader's own process scores the file (:func:`course_utils.leaderboard.score`): held-out accuracy on images
    no notebook reads, file bytes, ONNX Runtime latency. No file, or one that cannot be scored, gives a ``status``
    saying so and no figures; it never raises.
    """
    from .. import leaderboard

    path = Path(output_dir) / "leaderboard" / f"{name}.onnx"
    if not path.is_file():
        return {"status": "no model submitted"}
    try:
        return {"status": "scored", **leaderboard.score(path, quick=quick)}
    except Exception as error:  # a broken file is this student's problem, not the class's
        return {"status": f"could not score: {type(error).__name__}: {str(error).strip()[:200]}"}


def _key(raw: bytes, reference: Reference, quick: bool, seed: int) -> dict[str, Any]:
    return {"submission_sha256": _sha256(raw), "teacher_sha256": reference.sha256, "quick": quick, "seed": seed}


def _finish(result: dict[str, Any], status: str, grades: list[ExerciseGrade], start: float, reason: str = "") -> dict[str, Any]:
    result.update(status=status, reason=reason, points=sum(g.points for g in grades),
                  exercises=[asdict(g) for g in grades], seconds=round(time.perf_counter() - start, 1))  # fmt: skip
    result.setdefault("other_failed_cells", [])
    return result


def grade_notebook(path: Path, *, out_dir: Path, teacher: Path | None = None, quick: bool = True, seed: int = 0,
                   cell_timeout_s: int = 300) -> dict[str, Any]:  # fmt: skip
    """Grade the notebook at ``path`` against the teacher's copy; write ``<name>.json`` and ``<name>.md`` into ``out_dir``.

    ``teacher`` defaults to the course notebook of the same file name. Raises when there is no teacher's copy or
    no submitted file; a submission that cannot be read or run gets zero points with the reason.
    """
    path, out_dir = Path(path), Path(out_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no notebook at {path}")
    teacher = Path(teacher) if teacher is not None else _teacher_for(path.stem)
    with tempfile.TemporaryDirectory(prefix="gradebook-") as workdir:
        reference = Reference(teacher, Path(workdir))
        result = grade_submission(path, reference, quick=quick, seed=seed, cell_timeout_s=cell_timeout_s,
                                  executed_copy=out_dir / "executed" / f"{path.stem}.ipynb")  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    grades = [ExerciseGrade(**g) for g in result["exercises"]]
    write_bytes_atomic(out_dir / f"{path.stem}.json", json.dumps(result, indent=1).encode())
    write_bytes_atomic(out_dir / f"{path.stem}.md", table(path.stem, grades, result["reason"]).encode())
    return result


def _teacher_for(name: str) -> Path:
    from .runner import notebooks_dir

    teacher = notebooks_dir() / f"{name}.ipynb"
    if not teacher.is_file():
        raise FileNotFoundError(f"no teacher's notebook {teacher.name} in {notebooks_dir()}: name it with --teacher")
    return teacher


# ---------------------------------------------------------------------------------------------------------------
# a class


def find_submissions(root: Path, names: Iterable[str]) -> tuple[dict[str, dict[str, Submission]], list[str]]:
    """``{student: {notebook: Submission}}`` for every student folder under ``root`` (or ``root/submitted``).

    ``names`` are the teacher's notebook names; a student without one of them gets a "not submitted" entry. Also
    returns notes on files that match no teacher's notebook.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no class folder at {root}")
    if (root / "submitted").is_dir():
        root = root / "submitted"
    names = list(names)
    found: dict[str, dict[str, Submission]] = {}
    ignored: list[str] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in folder.rglob("*.ipynb")
                       if not any(part.startswith(".") for part in p.relative_to(folder).parts))  # fmt: skip
        entries: dict[str, Submission] = {}
        for name in names:
            matches = [p for p in files if p.stem == name]
            note = ""
            if len(matches) > 1:
                note = f"{len(matches)} files named {name}.ipynb: graded {matches[0].relative_to(folder)}"
            entries[name] = Submission(folder.name, name, matches[0] if matches else None, note)
        ignored += [f"{folder.name}/{p.relative_to(folder)}: no teacher's notebook of that name" for p in files
                    if p.stem not in names]  # fmt: skip
        found[folder.name] = entries
    return found, ignored


def _load_previous(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def grade_class(root: Path, teachers: Sequence[Path], *, out_dir: Path, quick: bool = True, seed: int = 0,
                cell_timeout_s: int = 300, regrade: bool = False, log=print) -> dict[str, Any]:  # fmt: skip
    """Grade every student's notebooks under ``root`` against ``teachers``; write the gradebook and the reports.

    Returns ``{"students": {student: {notebook: result}}, "gradebook": path, "graded": n, "skipped": n}``.
    """
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory(prefix="gradebook-") as workdir:
        references = [Reference(Path(t), Path(workdir)) for t in teachers]
        names = [r.name for r in references]
        if len(set(names)) != len(names):
            raise ValueError(f"two teacher's notebooks share a name: {names}")
        submissions, ignored = find_submissions(root, names)
        for line in ignored:
            log(f"ignored {line}")
        results: dict[str, dict[str, dict[str, Any]]] = {}
        graded = skipped = 0
        for student, entries in submissions.items():
            results[student] = {}
            for reference in references:
                entry = entries[reference.name]
                result_path = out_dir / student / f"{reference.name}.json"
                if entry.path is None:
                    result = _finish({"notebook": reference.name, "submission": None, "max_points": reference.max_points},
                                     "not submitted", zero_grades(reference, "not submitted", "not submitted"),
                                     time.perf_counter(), reason="not submitted")  # fmt: skip
                    results[student][reference.name] = result
                    continue
                previous = _load_previous(result_path)
                try:
                    key = _key(entry.path.read_bytes(), reference, quick, seed)
                except OSError:  # graded below as unreadable, with the reason
                    key = None
                if (not regrade and key is not None and previous and previous.get("key") == key
                        and previous.get("status") in {"graded", "unreadable"}):  # fmt: skip
                    previous["skipped"] = True
                    results[student][reference.name] = previous
                    skipped += 1
                    log(f"{student}/{reference.name}: already graded ({previous['points']} of {previous['max_points']}), "
                        "skipped (--regrade grades it again)")  # fmt: skip
                    continue
                result = grade_submission(entry.path, reference, quick=quick, seed=seed, cell_timeout_s=cell_timeout_s,
                                          executed_copy=out_dir / student / "executed" / f"{reference.name}.ipynb")  # fmt: skip
                result["student"] = student
                if entry.note:
                    result["note"] = entry.note
                write_bytes_atomic(result_path, json.dumps(result, indent=1).encode())
                results[student][reference.name] = result
                graded += 1
                log(f"{student}/{reference.name}: {result['points']} of {result['max_points']} ({result['status']}, "
                    f"{result['seconds']:.0f} s){' — ' + result['reason'] if result['reason'] else ''}")  # fmt: skip
            write_bytes_atomic(out_dir / student / "report.md", student_report(student, results[student]).encode())
        path = out_dir / GRADEBOOK
        write_bytes_atomic(path, gradebook_csv(references, results).encode())
    return {"students": results, "gradebook": path, "graded": graded, "skipped": skipped, "ignored": ignored}


def _flags(results: dict[str, dict[str, Any]]) -> str:
    flags = []
    for name, result in results.items():
        if result["status"] != "graded":
            flags.append(f"{name}: {result['reason']}")
            continue
        flags += [f"{name} ex{g['number']}: {g['integrity']}" for g in result["exercises"] if g["integrity"] != INTACT]
        if result.get("note"):
            flags.append(f"{name}: {result['note']}")
    return "; ".join(flags)


def gradebook_csv(references: Sequence[Reference], results: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One row per student: the points of every exercise, each notebook's total, the total, and the flags."""
    boards = [r.name for r in references if r.name in LEADERBOARDS]
    header = ["student"]
    for reference in references:
        header += [f"{reference.name} ex{e.number}" for e in reference.exercises] + [f"{reference.name} total"]
    header += ["total", "flags"]
    header += [f"{name} {column}" for name in boards for column in LEADERBOARD_COLUMNS.values()]
    most = [MAX_ROW]
    for reference in references:
        most += [e.points for e in reference.exercises] + [reference.max_points]
    most += [sum(r.max_points for r in references), ""] + [""] * len(boards) * len(LEADERBOARD_COLUMNS)
    rows = [header, most]
    for student, by_name in results.items():
        row: list[Any] = [student]
        for reference in references:
            result = by_name[reference.name]
            row += [g["points"] for g in result["exercises"]] + [result["points"]]
        row += [sum(r["points"] for r in by_name.values()), _flags(by_name)]
        for name in boards:  # an empty cell where nothing was scored; the reason is in the student's report
            board = by_name[name].get("leaderboard") or {}
            row += [_board_cell(board.get(key)) for key in LEADERBOARD_COLUMNS]
        rows.append(row)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _board_cell(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else value


def student_report(student: str, results: dict[str, dict[str, Any]]) -> str:
    """One student's report: a table per notebook (points, check outcome, check cell integrity, what went wrong)."""
    total, most = sum(r["points"] for r in results.values()), sum(r["max_points"] for r in results.values())
    parts = [f"# {student}: {total} of {most} points", ""]
    for name, result in results.items():
        note = {"graded": "", "not submitted": "Not submitted."}.get(result["status"], f"Not graded: {result['reason']}")
        if result.get("note"):
            note = (note + " " if note else "") + result["note"]
        parts.append(table(name, [ExerciseGrade(**g) for g in result["exercises"]], note).replace("# ", "## ", 1))
        board = result.get("leaderboard")
        if board:
            figures = (f"held-out accuracy {board['accuracy']:.4f} on {board['held_out_images']} images, "
                       f"{board['bytes']:,} bytes, {board['latency_b1_ms']:.3f} ms at batch 1"
                       if board.get("status") == "scored" else board.get("status", ""))  # fmt: skip
            parts.append(f"Leaderboard: {figures}\n")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------------------


def _teachers(only: Sequence[str], teacher_files: Sequence[Path]) -> list[Path]:
    from .runner import list_notebooks

    if teacher_files:
        return [Path(t) for t in teacher_files]
    return list(list_notebooks(list(only) or None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("submission", type=Path, nargs="*", help="submitted notebook(s), graded one by one")
    parser.add_argument(
        "--class",
        dest="class_dir",
        type=Path,
        default=None,
        help="a class: submitted/<student>/<assignment>/<notebook>.ipynb or <student>/<notebook>.ipynb",
    )
    parser.add_argument("--only", nargs="*", default=[], help="with --class: notebook number prefixes (default: every "
                        "course notebook some student submitted)")  # fmt: skip
    parser.add_argument("--teacher", type=Path, nargs="*", default=[],
                        help="the teacher's notebooks (or released copies) to grade against (default: notebooks/)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=Path("build") / "grades", help="report folder (default build/grades)")
    parser.add_argument("--regrade", action="store_true", help="grade again what an earlier run already graded")
    parser.add_argument("--full", action="store_true", help="grade in full mode (default: quick mode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cell-timeout", type=int, default=300, help="seconds a cell may run before it is interrupted")
    parser.add_argument("--no-baselines", action="store_true", help="do not train/load the shared baselines first")
    args = parser.parse_args(argv)
    if bool(args.class_dir) == bool(args.submission):
        parser.error("give either submitted notebook files or --class DIR")
    config.anchor_relative_paths()  # kernels run in the sandboxes: a relative folder means where the command started
    if not args.no_baselines:  # once, before any sandbox: each copies the trained checkpoints
        from .runner import train_baselines_step

        print("▶ baselines (trained once, or loaded)", flush=True)
        step = train_baselines_step(quick=not args.full, seed=args.seed)
        if step["status"] != "ok":
            print(f"baselines failed: {step['error']}; each notebook then trains what it needs", file=sys.stderr)
    if args.class_dir is not None:
        teachers = _teachers(args.only, args.teacher)
        if not args.only and not args.teacher:  # only the notebooks some student handed in
            submitted, _ = find_submissions(args.class_dir, [t.stem for t in teachers])
            handed_in = {n for entries in submitted.values() for n, s in entries.items() if s.path is not None}
            teachers = [t for t in teachers if t.stem in handed_in]
        if not teachers:
            parser.error(f"no submission in {args.class_dir} is named like a teacher's notebook")
        summary = grade_class(args.class_dir, teachers, out_dir=args.out, quick=not args.full, seed=args.seed,
                              cell_timeout_s=args.cell_timeout, regrade=args.regrade)  # fmt: skip
        print(f"\n{summary['graded']} graded, {summary['skipped']} skipped (already graded) → {summary['gradebook']}\n")
        print(Path(summary["gradebook"]).read_text())
        return 0
    stems = [p.stem for p in args.submission]
    if len(set(stems)) != len(stems):
        parser.error("two files share a name: grade a class with --class, which keeps each student's reports apart")
    teachers = {Path(t).stem: Path(t) for t in args.teacher}
    for path in args.submission:
        result = grade_notebook(path, out_dir=args.out, teacher=teachers.get(path.stem), quick=not args.full,
                                seed=args.seed, cell_timeout_s=args.cell_timeout)  # fmt: skip
        print(table(result["notebook"], [ExerciseGrade(**g) for g in result["exercises"]], result["reason"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

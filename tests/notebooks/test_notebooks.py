"""Execute every notebook once in quick mode, check its claims, and show that every exercise check can fail.

The shared baselines are trained first, in their own timed step (as ``make course`` does), so a notebook's
time is its own. A notebook fails this test when a cell raises (a claim's own assert included), when it
recorded fewer than three asserted claims, or when a recorded claim did not hold.

Then, in the same kernel (no second run of the notebook), each exercise is probed three times:
1. as in the student copy (the solution's names removed, the cell replaced by nbgrader's stub): its check fails;
2. with each deliberately wrong answer of ``wrong_answers.py`` (at least two per exercise): its check fails with
   an assertion;
3. with the teacher's solution again: its check passes.
Then each asserted claim listed in ``sabotage.py`` is re-evaluated twice in the same kernel: as written (it holds) and
with the mistake its ``catches`` names injected (it raises ClaimFailed).
Time is not a test: the per-cell timeout guards against hangs, and each notebook's time is written to the
report ``build/report-test.md`` against the quick-mode budget.
"""

from __future__ import annotations

import time

import nbformat
import pytest
import sabotage
from notebook_runs import OUTPUT, record_run
from wrong_answers import WRONG_ANSWERS

from course_utils import claims
from course_utils.course import execute, exercises, runner, student

CELL_TIMEOUT_S = runner.CELL_TIMEOUT_S["quick"]


def _with_region(source: str, region: str) -> str:
    before, rest = source.split(exercises.BEGIN, 1)
    after = rest.split(exercises.END, 1)[1]
    return f"{before}{exercises.BEGIN}\n{region}{exercises.END}{after}"


MIN_WRONG_ANSWERS = 2


def _probes(nb: nbformat.NotebookNode, name: str) -> list[list[str]]:
    """Per exercise: the student's stub, each wrong answer, the teacher's solution; each followed by the check."""
    stub_nb = student.student_version(nb)
    probes = []
    for exercise in exercises.find_exercises(nb):
        solution, check = nb.cells[exercise.solution_cell].source, nb.cells[exercise.check_cell].source
        region = exercises.solution_region(solution)
        forget = f"for _name in {exercises.assigned_names(region)!r}:\n    globals().pop(_name, None)"
        probes.append([forget, stub_nb.cells[exercise.solution_cell].source, check])
        for edits in WRONG_ANSWERS[name][exercise.number]:
            wrong = region
            for old, new in edits:
                assert old in wrong, f"{name} exercise {exercise.number}: the wrong answer's {old!r} is not in the solution"
                wrong = wrong.replace(old, new)
            assert wrong != region, f"{name} exercise {exercise.number}: a wrong answer that changes nothing"
            probes.append([forget, _with_region(solution, wrong), check])
        probes.append([solution, check])
    return probes


@pytest.mark.parametrize("path", runner.list_notebooks(), ids=lambda p: p.stem)
def test_notebook_runs_its_claims_hold_and_its_checks_can_fail(path, trained_baselines):
    nb = nbformat.read(path, as_version=4)
    found = exercises.find_exercises(nb)
    missing = [e.number for e in found if len(WRONG_ANSWERS.get(path.stem, {}).get(e.number, [])) < MIN_WRONG_ANSWERS]
    assert not missing, (f"{path.name}: give exercise(s) {missing} at least {MIN_WRONG_ANSWERS} wrong answers in "
                         "tests/notebooks/wrong_answers.py")  # fmt: skip
    unsabotaged = sabotage.missing(nb, path.stem)
    assert not unsabotaged, f"{path.name}: add the mistake of asserted claim(s) {unsabotaged} to tests/notebooks/sabotage.py"
    exercise_probes = _probes(nb, path.stem)
    sabotage_probes = sabotage.probes(nb, path.stem)
    claims_file = claims.claims_path(path.stem, OUTPUT)
    kept: dict[str, str] = {}

    def keep_claims() -> None:  # the probes' checks may record again: keep what the notebook itself recorded
        kept["text"] = claims_file.read_text() if claims_file.is_file() else ""

    start = time.perf_counter()
    execution = execute.run_notebook(path, quick=True, output_dir=OUTPUT, cell_timeout_s=CELL_TIMEOUT_S,
                                     probes=exercise_probes + [p for _, original, sabotaged in sabotage_probes
                                                               for p in (original, sabotaged)],
                                     before_probes=keep_claims)  # fmt: skip
    seconds = time.perf_counter() - start
    if kept.get("text"):
        claims_file.write_text(kept["text"])
    first = execution.first_error()
    error = None if first is None else {"cell": first.index, "ename": first.ename, "evalue": first.evalue,
                                        "source": execution.notebook.cells[first.index].source.splitlines()[0][:200]}  # fmt: skip
    record_run(path.stem, {"seconds": round(seconds, 1), "status": "ok" if first is None else "failed", "error": error,
                        "budget_s": runner.QUICK_BUDGET_S})  # fmt: skip
    print(f"\n{path.name}: {seconds:.1f} s in quick mode with its exercise probes (budget {runner.QUICK_BUDGET_S} s)")
    assert first is None, f"{path.name} stopped at cell {first.index} ({error['source']}): {first.ename}: {first.evalue}"

    doc = claims.load_claims(claims_file)
    assert doc["mode"] == "quick"
    failed = [c["name"] for c in doc["claims"] if not c["passed"]]
    assert not failed, f"claims that did not hold: {failed}"
    asserted = [c for c in doc["claims"] if claims.is_asserted(c)]
    assert len(asserted) >= 3, f"{path.name} asserts only {len(asserted)} claims"

    problems = []
    claim_outcomes = execution.probes[len(exercise_probes):]
    outcomes = iter(execution.probes[:len(exercise_probes)])
    for exercise in found:
        stub = next(outcomes)
        wrongs = [next(outcomes) for _ in WRONG_ANSWERS[path.stem][exercise.number]]
        solved = next(outcomes)
        if stub[-1].status == "ok":
            problems.append(f"exercise {exercise.number}: the check passes on the student's stub")
        for number, wrong in enumerate(wrongs, 1):
            if wrong[-1].ename not in {"AssertionError", "ClaimFailed"}:
                problems.append(f"exercise {exercise.number}: wrong answer {number} gives {wrong[-1].status} "
                                f"{wrong[-1].ename} {wrong[-1].evalue[:200]}, not a failed assertion")  # fmt: skip
        if solved[-1].status != "ok":
            problems.append(f"exercise {exercise.number}: the solution fails its check on re-run: {solved[-1].evalue[:200]}")
    for (claim, _, _), original, sabotaged in zip(sabotage_probes, claim_outcomes[0::2], claim_outcomes[1::2], strict=True):
        if original[-1].status != "ok" and original[-1].ename != "NotAssertedHere":
            problems.append(f"claim {claim} fails when re-run as written: {original[-1].ename}: {original[-1].evalue[:200]}")
        if sabotaged[-1].ename not in {"ClaimFailed", "NotAssertedHere"}:
            problems.append(f"claim {claim} with its mistake injected gives {sabotaged[-1].status} {sabotaged[-1].ename}: "
                            f"{sabotaged[-1].evalue[:200]}, not ClaimFailed")  # fmt: skip
    exempt = [c for (c, _, _), s in zip(sabotage_probes, claim_outcomes[1::2], strict=True) if s[-1].ename == "NotAssertedHere"]
    print(f"{path.name}: {len(sabotage_probes)} claims sabotaged; not asserted on this machine: {exempt}")
    assert not problems, f"{path.name}: " + "; ".join(problems)

"""Execute the course: train the baselines, run every notebook with papermill, write the results report.

    python -m course_utils.course.runner                  # quick mode → build/executed/quick, build/report-quick.md
    python -m course_utils.course.runner --full           # full mode (what a learner's Run All gives; budget: 2 h on 2 cores)
    python -m course_utils.course.runner --only 00 01     # some notebooks (no baselines step: each trains what it needs)
    python -m course_utils.course.runner --seeds 0 1 2 --threads 1 2   # every quick claim over seeds and threads
    python -m course_utils.course.runner --compare old.json   # also list the figures that moved since an earlier run

The report is written as Markdown, as one self-contained HTML page and as JSON (every figure, for ``--compare``).

The first step trains (or loads) the shared baselines with a progress bar, so that no notebook's time hides
a training run; its time counts in the report's total. A notebook that fails does not stop the others: the
report marks it with its cell and error line, and the command exits non-zero at the end. Each cell has a
timeout, so a hung cell cannot stall a run for hours. Each mode has a time budget per notebook
(:data:`QUICK_BUDGET_S`, :data:`FULL_BUDGET_S`) and full mode one for the whole course
(:data:`FULL_COURSE_BUDGET_S`); the runner measures and reports them, it does not fail on them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config
from ..atomic import write_bytes_atomic
from .report import RUNS_FILE, load_runs, write_report

QUICK_BUDGET_S = 90  # the course's promise per notebook in quick mode, on 2 slow CPU cores
FULL_BUDGET_S = 20 * 60  # ... per notebook in full mode (what a learner's Run All gives), after the baselines step
FULL_COURSE_BUDGET_S = 2 * 3600  # ... for the whole full-mode course, baselines step included
CELL_TIMEOUT_S = {"quick": 600, "full": 6 * 3600}  # generous guards against a hung cell, not budgets


@dataclass
class NotebookRun:
    name: str
    seconds: float
    executed: Path
    error: dict[str, Any] | None = field(default=None)

    @property
    def ok(self) -> bool:
        return self.error is None


def notebooks_dir() -> Path:
    root = config.repo_root()
    if root is None:
        raise FileNotFoundError("course_utils is not inside a course checkout; clone the repository to run notebooks")
    return root / "notebooks"


def list_notebooks(only: list[str] | None = None) -> list[Path]:
    """Notebooks in reading order; ``only`` keeps those whose name starts with one of the prefixes."""
    paths = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if only:
        unknown = [p for p in only if not any(path.name.startswith(p) for path in paths)]
        if unknown:
            raise ValueError(f"no notebook matches {unknown}; have {[p.name for p in paths]}")
        paths = [path for path in paths if any(path.name.startswith(p) for p in only)]
    return paths


@contextlib.contextmanager
def _environ(**values: str | None):
    """Set (or with None, remove) environment variables for the kernels started inside the block."""
    previous = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def describe_error(error: BaseException) -> dict[str, Any]:
    """Where and how a notebook failed: ``{cell, ename, evalue, source}`` (cell None when not a cell's error)."""
    source = getattr(error, "source", "") or ""
    return {
        "cell": getattr(error, "exec_count", None),
        "ename": getattr(error, "ename", None) or type(error).__name__,
        "evalue": str(getattr(error, "evalue", None) or error).strip().splitlines()[-1:][0][:500] if str(error) else "",
        "source": source.strip().splitlines()[0][:200] if source.strip() else "",
    }


def execute_notebook(path: Path, *, quick: bool, output_dir: Path, seed: int = 0, threads: int | None = None,
                     cell_timeout_s: int | None = None) -> NotebookRun:  # fmt: skip
    """Run one notebook top to bottom with ``QUICK`` and ``SEED`` injected; claims land in ``output_dir``.

    A failing cell does not raise: the returned run carries the error (cell, exception, message).
    """
    import papermill

    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / path.name
    timeout = cell_timeout_s or CELL_TIMEOUT_S["quick" if quick else "full"]
    start = time.perf_counter()
    error = None
    env = {config.OUTPUT_DIR_ENV: str(output_dir.resolve())}  # inherited by the kernel
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    with _environ(**env):
        try:
            papermill.execute_notebook(
                str(path), str(executed), parameters={"QUICK": quick, "SEED": seed}, kernel_name="python3",
                cwd=str(path.parent), progress_bar=False, execution_timeout=timeout,
            )  # fmt: skip
        except Exception as exc:  # any failure is reported, and the next notebook still runs
            error = describe_error(exc)
    return NotebookRun(path.stem, time.perf_counter() - start, executed, error)


def _save_runs(output_dir: Path, runs: dict[str, dict[str, Any]]) -> None:
    write_bytes_atomic(output_dir / RUNS_FILE, json.dumps(runs, indent=1).encode())


def train_baselines_step(*, quick: bool, seed: int) -> dict[str, Any]:
    """The runner's first, visible step: train (or load) every shared baseline. Returns its run record."""
    from .. import baselines

    start = time.perf_counter()
    try:
        baselines.train_all(quick, seed=seed, progress=True)
        error = None
    except Exception as exc:  # reported; each notebook then retries and shows its own error
        error = describe_error(exc)
    return {"seconds": round(time.perf_counter() - start, 1), "status": "ok" if error is None else "failed",
            "error": error, "budget_s": None}  # fmt: skip


def run_course(*, quick: bool, output_dir: Path, report_path: Path, only: list[str] | None = None, seed: int = 0,
               threads: int | None = None, cell_timeout_s: int | None = None,
               compare_with: Path | None = None) -> bool:  # fmt: skip
    """Train the baselines, execute the notebooks in order, write runs.json and the report; True if all ran."""
    if compare_with is not None and not Path(compare_with).is_file():
        raise FileNotFoundError(f"--compare {compare_with}: no such results file (a report-<mode>.json of an earlier run)")
    output_dir.mkdir(parents=True, exist_ok=True)
    runs = load_runs(output_dir)
    budget = QUICK_BUDGET_S if quick else FULL_BUDGET_S
    mode = "quick" if quick else "full"
    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    if only:  # a few notebooks train (or load) just the baselines they use, inside their own time
        print("▶ baselines: skipped with --only (each notebook loads or trains the baselines it needs)", flush=True)
    else:
        print(f"▶ baselines ({mode} mode, seed {seed}): training what is not cached yet ...", flush=True)
        runs["baselines"] = train_baselines_step(quick=quick, seed=seed)
        print(f"  {runs['baselines']['status']} in {runs['baselines']['seconds']:.1f} s", flush=True)
        _save_runs(output_dir, runs)
    for path in list_notebooks(only):
        print(f"▶ {path.name} ({mode} mode, seed {seed}) ...", flush=True)
        run = execute_notebook(path, quick=quick, output_dir=output_dir, seed=seed, threads=threads,
                               cell_timeout_s=cell_timeout_s)  # fmt: skip
        runs[run.name] = {"seconds": round(run.seconds, 1), "status": "ok" if run.ok else "failed", "error": run.error,
                          "budget_s": budget}  # fmt: skip
        _save_runs(output_dir, runs)
        verdict = "" if budget is None else f" ({'within' if run.seconds <= budget else 'OVER'} the {budget} s budget)"
        print(f"  {'done' if run.ok else 'FAILED'} in {run.seconds:.1f} s{verdict} → {run.executed}", flush=True)
        if not run.ok:
            print(f"  cell {run.error['cell']}: {run.error['ename']}: {run.error['evalue']}", flush=True)
    course_budget = None if quick or only else FULL_COURSE_BUDGET_S
    report = write_report(output_dir, report_path, compare_with=compare_with, course_budget_s=course_budget)
    failed = [name for name, r in runs.items() if r["status"] != "ok"]
    total = sum(r["seconds"] for r in runs.values())
    verdict = "" if course_budget is None else f", {'within' if total <= course_budget else 'OVER'} the {course_budget} s budget"
    print(f"Report: {report} and {report.with_suffix('.html')}  (total {total:.0f} s, baselines step included{verdict})")
    if failed:
        print(f"FAILED: {', '.join(failed)} (see the report)")
    return not failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="full mode (default: quick mode)")
    parser.add_argument("--only", nargs="*", help="notebook number prefixes, e.g. 00 01")
    parser.add_argument("--seed", type=int, default=0, help="SEED passed to every notebook (default 0)")
    parser.add_argument("--seeds", type=int, nargs="+", help="run quick mode once per seed and summarise each claim")
    parser.add_argument("--threads", type=int, nargs="+", help="torch threads per run (with --seeds: each value)")
    parser.add_argument("--cell-timeout", type=int, default=None, help="seconds a cell may run (default: 600 quick, 6 h full)")
    parser.add_argument("--build", type=Path, default=None, help="build folder (default: <repo>/build)")
    parser.add_argument("--compare", type=Path, default=None, help="results JSON of an earlier run to compare with")
    args = parser.parse_args(argv)
    config.anchor_relative_paths()  # kernels run in notebooks/: a relative folder means where the command started
    build = args.build or (config.repo_root() or Path.cwd()) / "build"
    if args.seeds:
        from .seeds import run_seeds

        return 0 if run_seeds(args.seeds, args.threads or [None], build=build, only=args.only,
                              cell_timeout_s=args.cell_timeout) else 1  # fmt: skip
    if args.threads and len(args.threads) > 1:
        parser.error("--threads takes one value without --seeds")
    mode = "full" if args.full else "quick"
    ok = run_course(quick=not args.full, output_dir=build / "executed" / mode, report_path=build / f"report-{mode}.md",
                    only=args.only, seed=args.seed, threads=args.threads[0] if args.threads else None,
                    cell_timeout_s=args.cell_timeout, compare_with=args.compare)  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

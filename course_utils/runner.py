"""Execute the course notebooks with papermill and write the results report.

    python -m course_utils.runner            # every notebook, quick mode → build/executed, build/report.md
    python -m course_utils.runner --full     # full mode (what a student runs; hours on a laptop CPU)
    python -m course_utils.runner --only 00 01
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from . import config
from .report import write_report


@dataclass
class NotebookRun:
    name: str
    seconds: float
    executed: Path


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


def execute_notebook(path: Path, *, quick: bool, output_dir: Path, timeout_s: int = 7200) -> NotebookRun:
    """Run one notebook top to bottom with ``QUICK`` injected; claims land in ``output_dir``."""
    import papermill

    output_dir.mkdir(parents=True, exist_ok=True)
    executed = output_dir / path.name
    previous = os.environ.get(config.OUTPUT_DIR_ENV)
    os.environ[config.OUTPUT_DIR_ENV] = str(output_dir.resolve())  # inherited by the kernel
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(path), str(executed), parameters={"QUICK": quick}, kernel_name="python3",
            cwd=str(path.parent), progress_bar=False, execution_timeout=timeout_s,
        )  # fmt: skip
    finally:
        if previous is None:
            os.environ.pop(config.OUTPUT_DIR_ENV, None)
        else:
            os.environ[config.OUTPUT_DIR_ENV] = previous
    return NotebookRun(path.stem, time.perf_counter() - start, executed)


def run_course(*, quick: bool, output_dir: Path, report_path: Path, only: list[str] | None = None) -> list[NotebookRun]:
    """Execute notebooks in order, print each one's time, write timings.json and the report."""
    runs = []
    timings_file = output_dir / "timings.json"
    output_dir.mkdir(parents=True, exist_ok=True)
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    for path in list_notebooks(only):
        print(f"▶ {path.name} ({'quick' if quick else 'full'} mode) ...", flush=True)
        run = execute_notebook(path, quick=quick, output_dir=output_dir)
        print(f"  done in {run.seconds:.1f} s → {run.executed}", flush=True)
        timings[run.name] = round(run.seconds, 1)
        timings_file.write_text(json.dumps(timings, indent=1))
        runs.append(run)
    report = write_report(output_dir, report_path)
    print(f"Report: {report}  (total {sum(r.seconds for r in runs):.0f} s)")
    return runs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="full mode (default: quick mode)")
    parser.add_argument("--only", nargs="*", help="notebook number prefixes, e.g. 00 01")
    parser.add_argument("--build", type=Path, default=None, help="build folder (default: <repo>/build)")
    args = parser.parse_args(argv)
    build = args.build or (config.repo_root() or Path.cwd()) / "build"
    mode = "full" if args.full else "quick"
    run_course(quick=not args.full, output_dir=build / "executed" / mode, report_path=build / f"report-{mode}.md",
               only=args.only)  # fmt: skip


if __name__ == "__main__":
    main()

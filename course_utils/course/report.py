"""Turn the claims files and run records of executed notebooks into one Markdown results report.

The report shows, per notebook, its time against the quick-mode budget, whether it ran to the end (and where
it stopped if not), every recorded figure with its bound, and every target with its source, met or missed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import write_bytes_atomic
from ..claims import claims_table, format_value, is_asserted, load_claims, target_text
from . import report_page

RUNS_FILE = "runs.json"


def load_runs(executed_dir: Path) -> dict[str, dict[str, Any]]:
    """The run records the runner wrote (``{step: {seconds, status, error, budget_s}}``), or {} if none."""
    path = Path(executed_dir) / RUNS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def _status(run: dict[str, Any] | None) -> str:
    if run is None:
        return "not run by the runner"
    if run["status"] == "ok":
        return "ran to the end"
    error = run.get("error") or {}
    where = f"cell {error['cell']}" if error.get("cell") is not None else "before any cell"
    return f"**FAILED** at {where}: `{error.get('ename', 'Error')}: {error.get('evalue', '')[:300]}`"


def _time(run: dict[str, Any] | None) -> str:
    if run is None:
        return ""
    budget = run.get("budget_s")
    if budget is None:
        return f"{run['seconds']:.0f} s"
    return f"{run['seconds']:.0f} s of {budget:.0f} s ({'within' if run['seconds'] <= budget else '**OVER**'})"


def _machine(doc: dict[str, Any]) -> str:
    hw = doc.get("hardware", {})
    caps = ", ".join(f"{k}={v}" for k, v in hw.get("isa_caps", {}).items())
    return (f"{hw.get('cpu', '?')}, kernels {hw.get('cpu_capability', '?')}, features "
            f"{', '.join(hw.get('features', [])) or 'none'}{f' (capped: {caps})' if caps else ''}")  # fmt: skip


def notebook_section(name: str, doc: dict[str, Any] | None, run: dict[str, Any] | None, figures_prefix: str) -> str:
    """The Markdown section of one notebook: status, machine, claims table, figures."""
    lines = [f"## {name}", "", f"{_status(run)}{'; ' + _time(run) if run else ''}.", ""]
    if doc is None:
        return "\n".join(lines + ["No claims were recorded.", ""])
    held = all(c["passed"] for c in doc["claims"])
    lines += [f"{doc['mode']} mode, seed {doc['seed']}, {doc['device']}, torch {doc['torch']}, {doc['threads']} threads; "
              f"{_machine(doc)}. {'Every asserted claim held.' if held else '**A CLAIM FAILED.**'}", ""]  # fmt: skip
    lines += claims_table(doc["claims"]) + [""]
    lines += [f"![{figure}]({figures_prefix}{figure})\n" for figure in doc.get("figures", [])]
    return "\n".join(lines)


def _overview(names: list[str], docs: dict[str, dict[str, Any]], runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["| step | time | status | claims held | targets met |", "|---|---|---|---|---|"]
    for name in names:
        run, doc = runs.get(name), docs.get(name)
        entries = doc["claims"] if doc else []
        asserted = [c for c in entries if is_asserted(c)]
        targets = [c for c in entries if c.get("target")]
        held = f"{sum(c['passed'] for c in asserted)} of {len(asserted)}" if doc else ""
        met = f"{sum(c['target']['met'] for c in targets)} of {len(targets)}" if targets else ""
        lines.append(f"| {name} | {_time(run)} | {_status(run)} | {held} | {met} |")
    return lines


def _targets(docs: dict[str, dict[str, Any]]) -> list[str]:
    rows = [(name, c) for name, doc in docs.items() for c in doc["claims"] if c.get("target")]
    if not rows:
        return []
    lines = ["## Targets", "", "Each target is a paper's figure or the course's goal; it is shown, never lowered.", "",
             "| notebook | figure | value | target (source) | target |", "|---|---|---|---|---|"]  # fmt: skip
    for name, claim in rows:
        target, met = target_text(claim)
        lines.append(f"| {name} | {claim['name']} | {format_value(claim['value'])} {claim['unit']} | {target} | {met} |")
    return lines + [""]


def machine() -> dict[str, Any]:
    """Where and when the report was written: CPU, its kernels and features, cores, torch, date."""
    import datetime as dt
    import platform

    import torch

    from .. import cores, hardware

    return {**hardware.cpu_summary(), "physical_cores": cores.physical_cores(), "torch": torch.__version__,
            "python": platform.python_version(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}  # fmt: skip


def _total_line(total: float, budget: float | None) -> str:
    if budget is None:
        return f"Total time: {total:.0f} s, baselines step included."
    verdict = "within" if total <= budget else "**OVER**"
    return f"Total time: {total:.0f} s of the course's {budget:.0f} s budget ({verdict}), baselines step included."


def write_report(executed_dir: Path, report_path: Path, compare_with: Path | None = None,
                 course_budget_s: float | None = None) -> Path:  # fmt: skip
    """Write ``report_path`` (Markdown) and beside it ``.html`` and ``.json`` from ``executed_dir``'s claims and runs.

    The HTML page is self-contained (figures embedded); the JSON holds every figure for a later
    ``compare_with``: the results JSON of an earlier run, whose moved figures get their own section.
    ``course_budget_s``: the whole run's time budget (full mode), shown met or missed beside the total.
    """
    executed_dir, report_path = Path(executed_dir), Path(report_path)
    runs = load_runs(executed_dir)
    docs = {(doc := load_claims(f))["notebook"]: doc for f in sorted(executed_dir.glob("*.claims.json"))}
    if not docs and not runs:
        raise FileNotFoundError(f"no *.claims.json or {RUNS_FILE} in {executed_dir}; execute the notebooks first")
    names = list(runs) + [n for n in docs if n not in runs]
    root = report_path.parent.resolve()
    folder = executed_dir.resolve()
    prefix = f"{folder.relative_to(root)}/" if folder.is_relative_to(root) else f"{folder}/"
    total = sum(r["seconds"] for r in runs.values())
    failed = [n for n, r in runs.items() if r["status"] != "ok"]
    header = ["# Efficient AI Course: measured results", "",
              "Every figure below was measured by the notebooks on this machine in this run.",
              _total_line(total, course_budget_s) if runs else "",
              "Machine: {cpu}, kernels {cpu_capability}, {physical_cores} physical cores, torch {torch}, {date}.".format(
                  **(where := machine())),
              f"**{len(failed)} step(s) failed: {', '.join(failed)}.**" if failed else "", ""]  # fmt: skip
    sections = [notebook_section(n, docs.get(n), runs.get(n), prefix) for n in names if n != "baselines"]
    data = {**report_page.figures(runs, docs), "machine": where, "total_s": round(total, 1),
            "course_budget_s": course_budget_s}  # fmt: skip
    comparison = []
    if compare_with is not None:
        earlier = json.loads(Path(compare_with).read_text())
        comparison = [f"## Compared with {Path(compare_with).name}", "", *report_page.compare(earlier, data)]
    text = "\n".join(header + _overview(names, docs, runs) + [""] + comparison + _targets(docs) + sections)
    report_path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(report_path, text.encode())
    write_bytes_atomic(report_path.with_suffix(".html"), report_page.page(text, report_path.parent).encode())
    write_bytes_atomic(report_path.with_suffix(".json"), json.dumps(data, indent=1).encode())
    return report_path

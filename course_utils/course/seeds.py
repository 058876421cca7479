"""Run the quick-mode course over several seeds and thread counts, and show how close each claim came to its bound.

    python -m course_utils.course.runner --seeds 0 1 2 --threads 1 2

A quick-mode bound must hold for every seed and thread count a reader may use. This command runs the whole
course once per (seed, threads), then prints, for every asserted claim, its worst value over the runs and the
margin left to the bound (negative: the claim failed in some run). It is a tool for setting bounds from
noise, not part of CI (a sweep takes about 6 × the quick course).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..claims import format_value, load_claims, margin
from .report import load_runs


def run_label(seed: int, threads: int | None) -> str:
    return f"seed{seed}-threads{threads if threads is not None else 'default'}"


def summarise(run_dirs: dict[str, Path]) -> list[dict[str, Any]]:
    """One row per (notebook, claim with a bound): worst value, its run, the margin, every run's value."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for label, folder in run_dirs.items():
        for path in sorted(Path(folder).glob("*.claims.json")):
            doc = load_claims(path)
            for entry in doc["claims"]:
                left = margin(entry)
                if left is None and not (entry["unit"] == "bool" and entry.get("at_least") is True):
                    continue
                if left is None:  # a yes/no claim: margin 1 held, -1 failed
                    left = 1.0 if entry["value"] else -1.0
                row = rows.setdefault((doc["notebook"], entry["name"]), {
                    "notebook": doc["notebook"], "claim": entry["name"], "unit": entry["unit"],
                    "at_least": entry.get("at_least"), "at_most": entry.get("at_most"), "values": {},
                    "worst_margin": None, "worst_run": None, "asserted_everywhere": True})  # fmt: skip
                row["values"][label] = entry["value"]
                row["asserted_everywhere"] &= entry.get("asserted", True)
                if not entry.get("asserted", True):  # shown, but its bound does not apply on this hardware
                    continue
                if row["worst_margin"] is None or left < row["worst_margin"]:
                    row["worst_margin"], row["worst_run"] = left, label
    return list(rows.values())


def _bound(row: dict[str, Any]) -> str:
    if row["unit"] == "bool":
        return "must hold"
    parts = [f"≥ {format_value(row['at_least'])}" if row["at_least"] is not None else "",
             f"≤ {format_value(row['at_most'])}" if row["at_most"] is not None else ""]  # fmt: skip
    return " and ".join(p for p in parts if p)


def markdown(rows: list[dict[str, Any]], labels: list[str], failures: dict[str, list[str]]) -> str:
    """The sweep as Markdown: failed runs first, then one line per claim, tightest margin first."""
    lines = ["# Quick-mode claims over seeds and threads", "", f"Runs: {', '.join(labels)}.", ""]
    for label, steps in failures.items():
        lines.append(f"- **{label}: failed steps {', '.join(steps)}**")
    lines += ["", "| notebook | claim | bound | worst | margin | worst run | " + " | ".join(labels) + " |",
              "|---" * (6 + len(labels)) + "|"]  # fmt: skip
    for row in sorted(rows, key=lambda r: (r["unit"] == "bool", r["worst_margin"] is None, r["worst_margin"] or 0)):
        worst = row["values"][row["worst_run"]] if row["worst_run"] else "–"
        values = " | ".join(format_value(row["values"][label]) if label in row["values"] else "–" for label in labels)
        flag = "" if row["asserted_everywhere"] else " (asserted only where the hardware has it)"
        lines.append(f"| {row['notebook']} | {row['claim']}{flag} | {_bound(row)} | {format_value(worst)} | "
                     f"{format_value(row['worst_margin']) if row['worst_run'] else '–'} | {row['worst_run'] or '–'} | "
                     f"{values} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def run_seeds(seeds: list[int], threads: list[int | None], *, build: Path, only: list[str] | None = None,
              cell_timeout_s: int | None = None) -> bool:  # fmt: skip
    """Run quick mode for every (seed, threads), write ``build/seeds/report.md``; True when every run passed."""
    from .runner import run_course

    run_dirs: dict[str, Path] = {}
    for seed in seeds:
        for count in threads:
            label = run_label(seed, count)
            folder = build / "seeds" / label
            run_course(quick=True, output_dir=folder, report_path=folder / "report.md", only=only, seed=seed,
                       threads=count, cell_timeout_s=cell_timeout_s)  # fmt: skip
            run_dirs[label] = folder
    failures = {label: [n for n, r in load_runs(folder).items() if r["status"] != "ok"] for label, folder in run_dirs.items()}
    failures = {label: steps for label, steps in failures.items() if steps}
    text = markdown(summarise(run_dirs), list(run_dirs), failures)
    path = build / "seeds" / "report.md"
    path.write_text(text)
    print(text)
    print(f"Written to {path}")
    return not failures

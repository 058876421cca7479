"""Turn the claims files of executed notebooks into one Markdown results report."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .claims import load_claims


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _threshold(claim: dict[str, Any]) -> str:
    if claim.get("unit") == "bool" and claim.get("at_least") is True:
        return "must hold"
    parts = [f"≥ {_format_value(claim['at_least'])}" if claim.get("at_least") is not None else "",
             f"≤ {_format_value(claim['at_most'])}" if claim.get("at_most") is not None else ""]  # fmt: skip
    return " and ".join(p for p in parts if p) or "(figure)"


def notebook_section(doc: dict[str, Any], seconds: float | None, figures_prefix: str) -> str:
    """The Markdown section of one notebook: header, claims table, figures."""
    status = "all claims hold" if all(c["passed"] for c in doc["claims"]) else "**A CLAIM FAILED**"
    timing = f", ran in {seconds:.0f} s" if seconds is not None else ""
    lines = [
        f"## {doc['notebook']}",
        "",
        f"{doc['mode']} mode, seed {doc['seed']}, {doc['device']}, torch {doc['torch']}, "
        f"{doc['threads']} threads{timing}: {status}.",
        "",
        "| figure | value | unit | claim | holds |",
        "|---|---|---|---|---|",
    ]
    for claim in doc["claims"]:
        mark = "✅" if claim["passed"] else "❌"
        has_claim = claim.get("at_least") is not None or claim.get("at_most") is not None
        lines.append(f"| {claim['name']} | {_format_value(claim['value'])} | {claim['unit']} | {_threshold(claim)} | "
                     f"{mark if has_claim else ''} |")  # fmt: skip
    lines.append("")
    for figure in doc.get("figures", []):
        lines += [f"![{figure}]({figures_prefix}{figure})", ""]
    return "\n".join(lines)


def write_report(executed_dir: Path, report_path: Path) -> Path:
    """Write ``report_path`` from every ``*.claims.json`` (and ``timings.json``) in ``executed_dir``."""
    executed_dir, report_path = Path(executed_dir), Path(report_path)
    claim_files = sorted(executed_dir.glob("*.claims.json"))
    if not claim_files:
        raise FileNotFoundError(f"no *.claims.json in {executed_dir}; execute the notebooks first")
    timings_file = executed_dir / "timings.json"
    timings = json.loads(timings_file.read_text()) if timings_file.exists() else {}
    prefix = f"{executed_dir.resolve().relative_to(report_path.parent.resolve())}/" \
        if executed_dir.resolve().is_relative_to(report_path.parent.resolve()) else f"{executed_dir.resolve()}/"
    sections = [notebook_section(load_claims(f), timings.get(load_claims(f)["notebook"]), prefix) for f in claim_files]
    total = sum(timings.values()) if timings else None
    header = ["# Efficient AI Course: measured results", "",
              "Every figure below was measured by the notebooks on this machine in this run.",
              f"Total notebook time: {total:.0f} s." if total is not None else "", ""]  # fmt: skip
    report_path.parent.mkdir(parents=True, exist_ok=True)
    report_path.write_text("\n".join(header + sections))
    return report_path

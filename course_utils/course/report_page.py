"""The results report as one self-contained HTML page, its figures as JSON, and the comparison of two runs.

``page(markdown, folder)`` renders the Markdown report with the figures it links embedded as data URIs, so
the file opens offline and can be mailed or archived on its own. ``figures(...)`` is the machine-readable
record of a run (every claim's value per notebook, the steps' times and status) that ``compare`` reads
back: ``--compare old.json`` lists which figures moved between two runs and by how much.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path
from typing import Any

STYLE = """body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}th,td{border:1px solid #ccc;
padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}
h2{border-top:2px solid #ddd;padding-top:1rem}code{background:#f6f6f6;padding:0 .2rem}strong{color:#a00}"""
MOVED_FRACTION = 0.05  # a figure that changed by more than 5 % (or flipped a bool / a held claim) is listed as moved


def _embed(alt: str, src: str, folder: Path) -> str:
    path = Path(src) if Path(src).is_absolute() else folder / src
    if not path.is_file():
        return f"<p><em>figure {html.escape(src)} is missing</em></p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<p><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></p>'


def page(markdown: str, folder: Path, title: str = "Efficient AI Course: measured results") -> str:
    """The Markdown report as a standalone HTML page; images linked relative to ``folder`` are embedded."""
    import mistune

    images: list[tuple[str, str]] = []

    def hold(match: re.Match[str]) -> str:  # images are embedded after rendering, in place of a plain token
        images.append((match.group(1), match.group(2)))
        return f"\n\nFIGURETOKEN{len(images) - 1}\n\n"

    body = mistune.create_markdown(plugins=["table"], escape=True)(re.sub(r"!\[([^\]]*)\]\(([^)]+)\)", hold, markdown))
    body = re.sub(r"<p>FIGURETOKEN(\d+)</p>", lambda m: _embed(*images[int(m.group(1))], Path(folder)), body)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")  # fmt: skip


def figures(runs: dict[str, dict[str, Any]], docs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Per notebook its run record and ``{claim: {value, unit, passed, ...}}``: every field the claims file holds
    (bounds, targets and their sources, what the claim catches, its note), so the JSON is a full record of the run."""
    notebooks: dict[str, Any] = {}
    for name in list(runs) + [n for n in docs if n not in runs]:
        doc = docs.get(name) or {}
        notebooks[name] = {
            "run": runs.get(name),
            "mode": doc.get("mode"), "seed": doc.get("seed"), "device": doc.get("device"), "torch": doc.get("torch"),
            "cpu_capability": doc.get("hardware", {}).get("cpu_capability"),
            "claims": {c["name"]: {k: v for k, v in c.items() if k != "name"} for c in doc.get("claims", [])},
        }  # fmt: skip
    return {"format": 1, "notebooks": notebooks}


def _moved(old: dict[str, Any], new: dict[str, Any]) -> tuple[bool, str]:
    a, b = old["value"], new["value"]
    if old["passed"] != new["passed"]:
        return True, f"{'held' if old['passed'] else 'failed'} → {'held' if new['passed'] else 'FAILED'}"
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return a != b, "changed" if a != b else ""
    if a == b:
        return False, ""
    change = (b - a) / abs(a) if a else float("inf")
    return abs(change) > MOVED_FRACTION, f"{change:+.1%}" if a else "from 0"


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Markdown lines: the figures that moved by more than :data:`MOVED_FRACTION`, appeared or disappeared."""
    if old.get("format") != 1 or new.get("format") != 1:
        raise ValueError("both runs must be results JSON files written by the runner (format 1)")
    rows = []
    for notebook in dict.fromkeys([*old["notebooks"], *new["notebooks"]]):
        before = (old["notebooks"].get(notebook) or {}).get("claims", {})
        after = (new["notebooks"].get(notebook) or {}).get("claims", {})
        for claim in dict.fromkeys([*before, *after]):
            if claim not in after:
                rows.append(f"| {notebook} | {claim} | {before[claim]['value']} | (gone) | |")
            elif claim not in before:
                rows.append(f"| {notebook} | {claim} | (new) | {after[claim]['value']} | |")
            else:
                moved, how = _moved(before[claim], after[claim])
                if moved:
                    rows.append(f"| {notebook} | {claim} | {_short(before[claim]['value'])} | {_short(after[claim]['value'])} "
                                f"{after[claim]['unit']} | {how} |")  # fmt: skip
    header = [f"Figures that moved by more than {MOVED_FRACTION:.0%}, appeared or disappeared since the earlier run:", ""]
    if not rows:
        return header[:1] + ["", "None: every figure is within that of the earlier run.", ""]
    return header + ["| notebook | figure | before | now | change |", "|---|---|---|---|---|", *rows, ""]


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)

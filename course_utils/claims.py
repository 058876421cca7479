"""Record every figure a notebook teaches, and assert the claims it makes about them.

    claims = cu.claims.Claims("01_pruning", quick=QUICK, seed=SEED, device=device)
    claims.record("sparse_file_ratio", ratio, "x", at_least=5.0,        # raises ClaimFailed if ratio < 5
                  catches="zeros saved densely, not as indices and values")  # the mistake the bound catches
    claims.record("drop_pp", drop, "pp", at_most=0.3,                   # the bound set from noise ...
                  target_at_most=0.06, source="Deep Compression, Table 1",  # ... and the paper's target
                  catches="masks not applied during fine-tuning")
    claims.record("int8_speedup", s, "x", at_least=1.5, needs="vnni",   # asserted only where VNNI exists
                  catches="int8 compared with fp32 eager, not compiled")
    claims.record("train_seconds", seconds, "s")                        # a figure, no bound
    claims.require("own_mask_equals_library", torch.equal(a, b),        # a yes/no claim
                   catches="the mask prunes the largest weights")

A claim's *bound* is what must hold on any reader's machine (set from the noise measured over seeds or the
standard error of an accuracy); its *target* is what a paper or the course aims for. A missed bound raises;
a missed target is shown as missed in the report, never moved. Every asserted claim names, in ``catches``, the
plausible mistake (in a learner's words) that would fail it; the tests inject that mistake and see the claim fail.
A value no plausible mistake can move is a figure: record it without a bound. Each call rewrites
``<output dir>/<notebook>.claims.json`` atomically; a failed claim is written before it raises. Recording a
name again (a student re-running a cell) replaces the earlier value and says so. ``record`` and
``require`` return None, so a cell that ends in a claim prints nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import torch

from . import config, hardware
from .atomic import write_bytes_atomic


class ClaimFailed(AssertionError):
    """A measured figure missed the bound its notebook claims."""


def claims_path(notebook: str, folder: Path | None = None) -> Path:
    """Where the claims of ``notebook`` are written."""
    return (folder or config.output_dir()) / f"{notebook}.claims.json"


def load_claims(path: Path | str) -> dict[str, Any]:
    """Read a claims file written by :class:`Claims`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no claims file at {path}; was the notebook executed?")
    return json.loads(path.read_text())


def _within(value: float, at_least: float | None, at_most: float | None) -> bool:
    return (at_least is None or value >= at_least) and (at_most is None or value <= at_most)


def _check_bounds(name: str, low: Any, high: Any, what: str) -> None:
    for bound in (low, high):
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float)) or math.isnan(bound)):
            raise ValueError(f"claim {name!r}: {what} must be a number or None, got {bound!r}")
    if low is not None and high is not None and low > high:
        raise ValueError(f"claim {name!r}: {what} at_least={low} is above at_most={high}")


def is_asserted(entry: dict[str, Any]) -> bool:
    """Whether a recorded entry has a bound that was asserted on this machine (not a figure, not hardware-exempt)."""
    return (entry.get("at_least") is not None or entry.get("at_most") is not None) and entry.get("asserted", True)


def margin(entry: dict[str, Any]) -> float | None:
    """How far a recorded value lies inside its bound (negative: outside), in the claim's unit; None without one."""
    value = entry["value"]
    if isinstance(value, bool) or (entry.get("at_least") is None and entry.get("at_most") is None):
        return None
    sides = [value - entry["at_least"]] if entry.get("at_least") is not None else []
    sides += [entry["at_most"] - value] if entry.get("at_most") is not None else []
    return min(sides)


def format_value(value: Any) -> str:
    """A figure as the report and Results tables print it (4 significant digits)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _interval(at_least: Any, at_most: Any) -> str:
    parts = [f"≥ {format_value(at_least)}" if at_least is not None else "",
             f"≤ {format_value(at_most)}" if at_most is not None else ""]  # fmt: skip
    return " and ".join(p for p in parts if p)


def bound_text(entry: dict[str, Any]) -> str:
    """The asserted bound of a claim in words: '≥ 5', 'must hold', '(figure)', or why it is not asserted here."""
    if entry.get("unit") == "bool" and entry.get("at_least") is True:
        return "must hold"
    text = _interval(entry.get("at_least"), entry.get("at_most")) or "(figure)"
    if not entry.get("asserted", True):
        text += f" (not asserted: {entry.get('not_asserted_because', 'hardware')})"
    return text


def status_mark(entry: dict[str, Any]) -> str:
    """✅ held, ❌ failed, ➖ a bound not asserted on this hardware, '' a figure."""
    if entry.get("at_least") is None and entry.get("at_most") is None:
        return ""
    if not entry.get("asserted", True):
        return "➖"
    return "✅" if entry["passed"] else "❌"


def catches_text(entry: dict[str, Any]) -> str:
    """The mistake a claim's bound catches, or '' for a figure (a claim recorded without a bound)."""
    if entry.get("at_least") is None and entry.get("at_most") is None:
        return ""
    return entry.get("catches", "")


def target_text(entry: dict[str, Any]) -> tuple[str, str]:
    """``(target with source, 'met' / 'missed' / '')`` of a claim."""
    target = entry.get("target")
    if not target:
        return "", ""
    return f"{_interval(target['at_least'], target['at_most'])} ({target['source']})", "met" if target["met"] else "**missed**"


def claims_table(entries: list[dict[str, Any]]) -> list[str]:
    """Markdown table lines of recorded claims: value, unit, bound, held, the mistake it catches, target and met."""
    lines = ["| figure | value | unit | bound | holds | catches | target (source) | target |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for entry in entries:
        target, met = target_text(entry)
        lines.append(f"| {entry['name']} | {format_value(entry['value'])} | {entry['unit']} | {bound_text(entry)} | "
                     f"{status_mark(entry)} | {catches_text(entry)} | {target} | {met} |")  # fmt: skip
    return lines


class Claims:
    """The figures and claims of one notebook run (one JSON file, rewritten on every record)."""

    def __init__(self, notebook: str, *, quick: bool, seed: int, device: torch.device | str,
                 folder: Path | None = None) -> None:  # fmt: skip
        if not notebook or "/" in notebook:
            raise ValueError(f"notebook must be a bare name like '01_pruning', got {notebook!r}")
        self.path = claims_path(notebook, folder)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.doc: dict[str, Any] = {
            "notebook": notebook,
            "mode": "quick" if quick else "full",
            "seed": seed,
            "device": str(device),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "hardware": hardware.cpu_summary(),
            "context": {},
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "claims": [],
            "figures": [],
        }
        self._write()

    @property
    def mode(self) -> str:
        return self.doc["mode"]

    def context(self, **facts: str | int | float | bool) -> None:
        """Record facts about how this run measured (e.g. ``allocator_stabilised=True``, ``timing_threads=1``)."""
        self.doc["context"].update(facts)
        self._write()

    def record(
        self,
        name: str,
        value: float | int | bool,
        unit: str = "",
        *,
        at_least: float | None = None,
        at_most: float | None = None,
        target_at_least: float | None = None,
        target_at_most: float | None = None,
        source: str = "",
        needs: str | None = None,
        premise: tuple[bool, str] | None = None,
        note: str = "",
        catches: str = "",
    ) -> None:
        """Record a figure; with a bound it is a claim that raises :class:`ClaimFailed` when missed.

        ``target_at_least`` / ``target_at_most`` with ``source``: the paper's or course's target, shown met or
        missed in the report, never asserted. ``needs``: a :data:`course_utils.hardware.FEATURES` name; where
        this machine lacks it the bound is shown but not asserted, with the reason. ``premise``: ``(held, why
        not)`` measured in the same run (e.g. :attr:`course_utils.cores.ThreadScaling.idle`: the second core was
        free); where it did not hold, the bound is shown but not asserted, with that reason. ``catches``: the plausible
        mistake, in a learner's words, that the bound catches (shown beside it; a bound that is None in one mode,
        e.g. ``at_least=0.3 if QUICK else None``, makes the claim a figure there, and its ``catches`` is not shown).
        """
        if not name or not isinstance(name, str):
            raise ValueError(f"claim name must be a non-empty string, got {name!r}")
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"claim {name!r} needs a single number, got a tensor of shape {tuple(value.shape)}")
            value = value.item()
        if not isinstance(value, (int, float, bool)) or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"claim {name!r} needs a number or bool, got {value!r}")
        if not (unit == "bool" and at_least is True and at_most is None):  # require()'s bound
            _check_bounds(name, at_least, at_most, "bound")
        _check_bounds(name, target_at_least, target_at_most, "target")
        if not isinstance(catches, str) or "|" in catches or "\n" in catches:
            raise ValueError(f"claim {name!r}: catches must be one line of text without '|', got {catches!r}")
        has_target = target_at_least is not None or target_at_most is not None
        if has_target and not source:
            raise ValueError(f"claim {name!r}: a target needs its source (a paper's table, the course goal)")
        if premise is not None and not (isinstance(premise, tuple) and len(premise) == 2 and isinstance(premise[0], bool)):
            raise TypeError(f"claim {name!r}: premise must be (held: bool, reason: str), got {premise!r}")
        has_hardware = needs is None or hardware.has(needs)
        asserted = has_hardware and (premise is None or premise[0])
        entry: dict[str, Any] = {"name": name, "value": value, "unit": unit, "at_least": at_least, "at_most": at_most,
                                 "passed": _within(value, at_least, at_most) or not asserted, "asserted": asserted,
                                 "note": note, "catches": catches}  # fmt: skip
        if needs is not None:
            entry["needs"] = needs
            if not has_hardware:
                entry["not_asserted_because"] = f"this machine lacks {hardware.describe(needs)}"
        if has_hardware and not asserted:
            entry["not_asserted_because"] = premise[1] or "its measured premise did not hold"
        if has_target:
            entry["target"] = {"at_least": target_at_least, "at_most": target_at_most, "source": source,
                               "met": _within(value, target_at_least, target_at_most)}  # fmt: skip
        self._store(entry)
        if not entry["passed"]:
            bound = " and ".join(f"{op} {v}" for op, v in (("≥", at_least), ("≤", at_most)) if v is not None)
            raise ClaimFailed(f"claim {name!r} failed in {self.mode} mode: measured {value} {unit}, expected {bound}. {note}"
                              + (f" This bound catches: {catches}." if catches else ""))

    def require(self, name: str, condition: bool, note: str = "", *, catches: str = "") -> None:
        """A yes/no claim (e.g. 'own implementation equals the library'); raises when False. ``catches`` as in record."""
        if isinstance(condition, (int, float, str)) and not isinstance(condition, bool):
            raise TypeError(f"claim {name!r}: require() takes a computed bool, got {condition!r}; use record() for numbers")
        self.record(name, bool(condition), "bool", at_least=True, note=note, catches=catches)

    def figure(self, fig: Any, name: str) -> Path:
        """Save a matplotlib figure as ``<notebook>.<name>.png`` beside the claims, for the report."""
        if not name or not all(c.isalnum() or c in "_-" for c in name):
            raise ValueError(f"figure name must be letters, digits, '_' or '-', got {name!r}")
        path = self.path.with_name(f"{self.doc['notebook']}.{name}.png")
        fig.savefig(path, dpi=90, bbox_inches="tight")
        if path.name not in self.doc["figures"]:
            self.doc["figures"].append(path.name)
        self._write()
        return path

    def value(self, name: str) -> float | int | bool:
        """A figure recorded earlier in this run."""
        return self._entry(name)["value"]

    def table(self, names: list[str] | None = None) -> str:
        """This run's figures (or those in ``names``) as a Markdown table: value, bound, target and source.

        Show it with ``IPython.display.Markdown(claims.table())`` in a Results or Summary cell.
        """
        entries = self.doc["claims"] if names is None else [self._entry(n) for n in names]
        return "\n".join(claims_table(entries))

    def _entry(self, name: str) -> dict[str, Any]:
        for claim in self.doc["claims"]:
            if claim["name"] == name:
                return claim
        raise KeyError(f"no claim {name!r} recorded yet; recorded: {[c['name'] for c in self.doc['claims']]}")

    def _store(self, entry: dict[str, Any]) -> None:
        for i, old in enumerate(self.doc["claims"]):
            if old["name"] == entry["name"]:
                print(f"claim {entry['name']!r} recorded again: {old['value']!r} → {entry['value']!r} (re-run cell)")
                self.doc["claims"][i] = entry
                break
        else:
            self.doc["claims"].append(entry)
        self._write()

    def _write(self) -> None:
        write_bytes_atomic(self.path, json.dumps(self.doc, indent=1).encode())

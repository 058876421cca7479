"""Record every figure a notebook teaches, and assert the claims it makes about them.

    claims = cu.claims.Claims("01_pruning", quick=QUICK, seed=SEED, device=device)
    claims.record("sparse_file_ratio", ratio, "x", at_least=5.0)   # raises ClaimFailed if ratio < 5
    claims.record("train_seconds", seconds, "s")                   # a figure, no threshold
    claims.require("own_mask_equals_library", torch.equal(a, b))   # a yes/no claim

Each call rewrites ``<output dir>/<notebook>.claims.json`` atomically; the report and the notebook
tests read these files. A failed claim is written (``passed: false``) before it raises, so the
report shows what broke.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import torch

from . import config, measure
from .atomic import write_bytes_atomic


class ClaimFailed(AssertionError):
    """A measured figure missed the threshold its notebook claims."""


def claims_path(notebook: str, folder: Path | None = None) -> Path:
    """Where the claims of ``notebook`` are written."""
    return (folder or config.output_dir()) / f"{notebook}.claims.json"


def load_claims(path: Path | str) -> dict[str, Any]:
    """Read a claims file written by :class:`Claims`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no claims file at {path}; was the notebook executed?")
    return json.loads(path.read_text())


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
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "claims": [],
            "figures": [],
        }
        self._write()

    @property
    def mode(self) -> str:
        return self.doc["mode"]

    def record(
        self,
        name: str,
        value: float | int | bool,
        unit: str = "",
        *,
        at_least: float | None = None,
        at_most: float | None = None,
        note: str = "",
    ) -> float | int | bool:
        """Record a figure; with a threshold it is a claim that raises :class:`ClaimFailed` when missed."""
        if not name or not isinstance(name, str):
            raise ValueError(f"claim name must be a non-empty string, got {name!r}")
        if any(c["name"] == name for c in self.doc["claims"]):
            raise ValueError(f"claim {name!r} was already recorded in this run")
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(f"claim {name!r} needs a single number, got a tensor of shape {tuple(value.shape)}")
            value = value.item()
        if not isinstance(value, (int, float, bool)) or (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"claim {name!r} needs a number or bool, got {value!r}")
        passed = (at_least is None or value >= at_least) and (at_most is None or value <= at_most)
        entry = {"name": name, "value": value, "unit": unit, "at_least": at_least, "at_most": at_most,
                 "passed": passed, "note": note}  # fmt: skip
        if name.endswith(("_ms", "_speedup")) or unit in {"ms", "x"}:
            entry["allocator_stabilised"] = measure.allocator_stabilised()
        self.doc["claims"].append(entry)
        self._write()
        if not passed:
            bound = " and ".join(f"{op} {v}" for op, v in (("≥", at_least), ("≤", at_most)) if v is not None)
            raise ClaimFailed(f"claim {name!r} failed in {self.mode} mode: measured {value} {unit}, expected {bound}. {note}")
        return value

    def require(self, name: str, condition: bool, note: str = "") -> bool:
        """A yes/no claim (e.g. 'own implementation equals the library'); raises when False."""
        return bool(self.record(name, bool(condition), "bool", at_least=True, note=note))

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
        for claim in self.doc["claims"]:
            if claim["name"] == name:
                return claim["value"]
        raise KeyError(f"no claim {name!r} recorded yet")

    def _write(self) -> None:
        write_bytes_atomic(self.path, json.dumps(self.doc, indent=1).encode())

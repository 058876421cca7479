"""Train once, then load: checkpoints keyed by a hash of their config, written atomically.

A checkpoint is a dict ``{"state_dict", "config", "meta"}`` saved with ``torch.save`` to a temporary
file and renamed into place, so a crash mid-write never leaves a half-written file under the real
name. Loading uses ``torch.load(..., weights_only=True)``: a checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import config
from .atomic import write_bytes_atomic


def config_hash(cfg: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable config (key order does not matter)."""
    try:
        text = json.dumps(cfg, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"config must be JSON-serialisable (numbers, strings, lists, dicts): {error}") from error
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def checkpoint_path(name: str, cfg: dict[str, Any], folder: Path | None = None) -> Path:
    """``<data dir>/checkpoints/<name>-<hash>.pt``."""
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"checkpoint name must be letters, digits, '_' or '-', got {name!r}")
    folder = folder or config.data_dir() / "checkpoints"
    return folder / f"{name}-{config_hash(cfg)}.pt"


def save_atomic(obj: Any, path: Path | str) -> Path:
    """``torch.save`` to a temp file in the same folder, then rename over ``path``."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(path, buffer.getvalue())
    return Path(path)


def load_checkpoint(path: Path | str) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only=True``); clear errors for missing/corrupt files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise RuntimeError(f"checkpoint {path} is corrupt or not a weights-only file ({error}); delete it to retrain") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise RuntimeError(f"checkpoint {path} has no 'state_dict' entry; delete it to retrain")
    return checkpoint


def cached_model(
    name: str,
    cfg: dict[str, Any],
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], dict[str, Any]],
    *,
    folder: Path | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Return ``(model, meta)``: loaded from the checkpoint of ``(name, cfg)``, or built, trained and saved.

    ``train(model)`` trains in place and returns JSON-like metadata (accuracy, history, seconds).
    """
    path = checkpoint_path(name, cfg, folder)
    model = build()
    if path.exists():
        checkpoint = load_checkpoint(path)
        model.load_state_dict(checkpoint["state_dict"])
        return model.eval(), {**checkpoint.get("meta", {}), "loaded_from": str(path)}
    meta = train(model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    save_atomic({"state_dict": state, "config": cfg, "meta": meta}, path)
    return model.eval(), {**meta, "trained_now": True, "saved_to": str(path)}

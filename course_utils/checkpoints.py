"""Train once, then load: checkpoints keyed by what produced their weights, written atomically, never overwritten.

The key of a checkpoint (:func:`cache_key`) is its training config *plus* the code and torch version that
train it: a change to ``course_utils/models.py``, ``training.py``, ``data.py`` or ``baselines.py`` (their code, not their
comments, docstrings or formatting; see :func:`code_version`) or a different ``torch.__version__`` gives a
new file name, so a baseline trained by other code is never silently reused. The old file stays on disk.
The device a model was trained on is recorded in its metadata, not keyed: a baseline is the same
experiment wherever it ran, and keying it would retrain on the CPU what a GPU already trained.

A checkpoint is a dict ``{"state_dict", "config", "key", "meta"}`` saved with ``torch.save`` to a temporary
file and renamed into place, so a crash mid-write never leaves a half-written file under the real name.
Loading uses ``torch.load(..., weights_only=True)``: a checkpoint cannot run code.

Nothing trained is lost to an overwrite: :func:`cached_model` never replaces an existing file. A file
under the key's name that cannot be loaded is left untouched and reported (move or delete it to
retrain); one that appears while training (a parallel run) is kept, and the new weights are saved next
to it under a timestamped name, with a warning.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import config
from .atomic import write_bytes_atomic

PACKAGE_DIR = Path(__file__).resolve().parent
TRAINING_CODE = ("models.py", "training.py", "data.py", "baselines.py")
"""The modules whose code decides a baseline's weights (architectures, training loop, data and batches, and the
baselines' own configs, splits and seeding)."""


def config_hash(cfg: dict[str, Any]) -> str:
    """A short stable hash of a JSON-serialisable config (key order does not matter)."""
    try:
        text = json.dumps(cfg, sort_keys=True)
    except TypeError as error:
        raise TypeError(f"config must be JSON-serialisable (numbers, strings, lists, dicts): {error}") from error
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _code_text(path: Path) -> str:
    """The source of ``path`` without docstrings, comments or formatting (``ast.unparse`` of its tree)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def code_version(files: Iterable[Path | str] = TRAINING_CODE) -> str:
    """A short hash of the code in ``files`` (names relative to ``course_utils/``, or paths).

    Comments, docstrings and formatting do not count; any change to the code itself does.
    """
    digest = hashlib.sha256()
    for file in files:
        path = PACKAGE_DIR / file
        digest.update(f"{path.name}\0{_code_text(path)}\0".encode())
    return digest.hexdigest()[:12]


def cache_key(cfg: dict[str, Any], *, code: Iterable[Path | str] = TRAINING_CODE) -> dict[str, Any]:
    """What a checkpoint is keyed by: ``{"config": cfg, "code_version": ..., "torch": torch.__version__}``.

    ``cfg`` should name everything else that changes the weights: model, data set and subset, mode
    (quick/full), seed and every training argument.
    """
    config_hash(cfg)  # fail early, with a clear message, on a config that is not JSON-serialisable
    return {"config": cfg, "code_version": code_version(code), "torch": str(torch.__version__)}


def checkpoint_path(name: str, cfg: dict[str, Any], folder: Path | None = None, *,
                    code: Iterable[Path | str] = TRAINING_CODE) -> Path:  # fmt: skip
    """``<data dir>/checkpoints/<name>-<hash of cache_key(cfg)>.pt``: where :func:`cached_model` keeps it."""
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"checkpoint name must be letters, digits, '_' or '-', got {name!r}")
    folder = folder or config.data_dir() / "checkpoints"
    return folder / f"{name}-{config_hash(cache_key(cfg, code=code))}.pt"


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
        raise RuntimeError(f"checkpoint {path} is corrupt or not a weights-only file ({error}); "
                           "it was left untouched: delete it to retrain") from error  # fmt: skip
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise RuntimeError(f"checkpoint {path} has no 'state_dict' entry; it was left untouched: delete it to retrain")
    return checkpoint


def _save_new(obj: Any, path: Path) -> Path:
    """Save atomically to ``path``, or next to it under a timestamped name if ``path`` exists (never overwrite)."""
    if path.exists():
        stamp = time.strftime("%Y%m%d-%H%M%S")
        kept, path = path, path.with_name(f"{path.stem}.{stamp}-{os.getpid()}{path.suffix}")
        warnings.warn(f"{kept} appeared while training (a parallel run?); it is kept, the new weights go to {path}",
                      stacklevel=3)  # fmt: skip
    return save_atomic(obj, path)


def cached_model(
    name: str,
    cfg: dict[str, Any],
    build: Callable[[], nn.Module],
    train: Callable[[nn.Module], dict[str, Any]],
    *,
    folder: Path | None = None,
    code: Iterable[Path | str] = TRAINING_CODE,
) -> tuple[nn.Module, dict[str, Any]]:
    """Return ``(model, meta)``: loaded from the checkpoint of ``cache_key(cfg)``, or built, trained and saved.

    ``train(model)`` trains in place and returns JSON-like metadata (accuracy, history, seconds).
    ``code`` lists the source files whose code decides the weights (see :func:`code_version`).
    The returned ``meta`` also holds ``key`` (config, code version, torch version) and either
    ``loaded_from`` or ``trained_now`` and ``saved_to``. A file that exists but cannot be loaded into
    ``build()``'s model raises ``RuntimeError`` and is left as it is.
    """
    key = cache_key(cfg, code=code)
    path = checkpoint_path(name, cfg, folder, code=code)
    model = build()
    if path.exists():
        checkpoint = load_checkpoint(path)
        try:
            model.load_state_dict(checkpoint["state_dict"])
        except (RuntimeError, KeyError, TypeError) as error:
            raise RuntimeError(f"checkpoint {path} does not fit the {type(model).__name__} built for {name!r} ({error}); "
                               "it was left untouched: move or delete it to retrain") from error  # fmt: skip
        return model.eval(), {**checkpoint.get("meta", {}), "key": checkpoint.get("key", key), "loaded_from": str(path)}
    meta = train(model)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    saved = _save_new({"state_dict": state, "config": cfg, "key": key, "meta": meta}, path)
    return model.eval(), {**meta, "key": key, "trained_now": True, "saved_to": str(saved)}

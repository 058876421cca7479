"""Where things live and how a notebook is run: paths, quick/full mode, device, seeds.

Environment variables (all optional):

- ``COURSE_DATASETS``: a read-only folder holding datasets in torchvision's layout
  (``MNIST/raw/*.gz``, ``cifar-10-batches-py/``), e.g. ``../shared/datasets``. Used before downloading.
- ``COURSE_DATA_DIR``: the writable cache for datasets and checkpoints (default: ``<repo>/data``).
- ``COURSE_OUTPUT_DIR``: where notebooks write claims and figures (default: ``<repo>/build/executed``).
- ``COURSE_QUICK``: ``1``/``0``; quick mode when a notebook's ``QUICK`` parameter is left at ``None``.
- ``COURSE_DEVICE``: force ``cpu``, ``cuda`` or ``mps``.
- ``COURSE_PAPER_SCALE``: ``1`` trains full-mode baselines with their paper's recipe (hours on a CPU; the cost is
  printed before training starts) instead of the course's shorter full-mode recipe.

A relative folder in the first three means the directory the command was started from (``make``, the runner,
the grader, pytest): :func:`anchor_relative_paths` makes it absolute there, once, so that kernels (which run in
``notebooks/``) and torchrun workers read the same folder the user typed.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from . import hardware

DATASETS_ENV = "COURSE_DATASETS"
DATA_DIR_ENV = "COURSE_DATA_DIR"
OUTPUT_DIR_ENV = "COURSE_OUTPUT_DIR"
QUICK_ENV = "COURSE_QUICK"
DEVICE_ENV = "COURSE_DEVICE"
PAPER_SCALE_ENV = "COURSE_PAPER_SCALE"

PATH_ENVS = (DATASETS_ENV, DATA_DIR_ENV, OUTPUT_DIR_ENV)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def repo_root() -> Path | None:
    """The course checkout this package lives in, or None when installed elsewhere (e.g. on Colab)."""
    candidate = Path(__file__).resolve().parent.parent
    return candidate if (candidate / "pyproject.toml").exists() and (candidate / "notebooks").is_dir() else None


def anchor_relative_paths(base: Path | str | None = None) -> dict[str, str]:
    """Make relative ``COURSE_DATASETS`` / ``COURSE_DATA_DIR`` / ``COURSE_OUTPUT_DIR`` absolute, against ``base``.

    ``base`` defaults to the current directory: call this first thing in a command (runner, grader, tests), before
    any kernel or worker starts in another folder. ``~`` is expanded; absolute values are left as they are.
    Returns the variables it changed, ``{name: new value}``.
    """
    base = Path(base) if base is not None else Path.cwd()
    changed = {}
    for name in PATH_ENVS:
        value = os.environ.get(name)
        if not value:
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            os.environ[name] = changed[name] = os.path.normpath(base.resolve() / path)
    return changed


def _default_base() -> Path:
    root = repo_root()
    return root if root is not None else Path.cwd()


def data_dir() -> Path:
    """Writable cache for datasets and checkpoints; created on first use."""
    path = Path(os.environ.get(DATA_DIR_ENV) or _default_base() / "data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_dir() -> Path:
    """Folder for claims JSON files and figures of executed notebooks; created on first use."""
    path = Path(os.environ.get(OUTPUT_DIR_ENV) or _default_base() / "build" / "executed")
    path.mkdir(parents=True, exist_ok=True)
    return path


def datasets_mirror() -> Path | None:
    """The read-only dataset folder named by ``COURSE_DATASETS``, or None when unset.

    It must hold at least one dataset (``MNIST/raw``, ``cifar-10-batches-py`` or ``fsdd``); a dataset it lacks
    is taken from the cache or downloaded.
    """
    value = os.environ.get(DATASETS_ENV)
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        relative = "" if Path(value).expanduser().is_absolute() else (
            f" A relative path is read from the current folder, {Path.cwd()}: the course's commands make it "
            f"absolute where they start, but a kernel started some other way runs in its notebook's folder, "
            f"so use an absolute path.")  # fmt: skip
        raise FileNotFoundError(
            f"{DATASETS_ENV}={value!r} does not name a folder (resolved to {path}). "
            f"Point it at a folder holding MNIST/raw and cifar-10-batches-py, or unset it to download.{relative}"
        )
    expected = ("MNIST/raw", "cifar-10-batches-py", "fsdd")
    if not any((path / name).is_dir() for name in expected):
        raise FileNotFoundError(
            f"{DATASETS_ENV}={value!r} (resolved to {path}) holds no dataset: it has none of the folders "
            f"{', '.join(f'{name}/' for name in expected)}. Expected torchvision's layout: MNIST/raw/ with the four MNIST "
            f".gz files, cifar-10-batches-py/ with the CIFAR-10 python batches, fsdd/recordings/ with the FSDD wav files. "
            f"Point it at such a folder (e.g. ../shared/datasets), or unset it to download into the cache."
        )
    return path


def resolve_quick(quick: bool | None) -> bool:
    """Quick mode: an explicit parameter wins, then ``COURSE_QUICK``, then full mode."""
    if quick is not None:
        if not isinstance(quick, bool):
            raise TypeError(f"QUICK must be True, False or None, got {quick!r}")
        return quick
    return _env_flag(QUICK_ENV)


def paper_scale() -> bool:
    """Whether ``COURSE_PAPER_SCALE`` asks for the papers' training recipes (never the default)."""
    return _env_flag(PAPER_SCALE_ENV)


def _env_flag(name: str) -> bool:
    """An on/off environment variable: 1/true/yes/on or 0/false/no/off; unset means off."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not understood; use 1 or 0")


def pick_device(preferred: str | None = None) -> torch.device:
    """CUDA if present, else Apple MPS, else CPU; ``preferred`` or ``COURSE_DEVICE`` overrides."""
    name = preferred or os.environ.get(DEVICE_ENV)
    if name:
        if name not in {"cpu", "cuda", "mps"}:
            raise ValueError(f"unknown device {name!r}; expected 'cpu', 'cuda' or 'mps'")
        if name == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' requested but torch.cuda.is_available() is False")
        if name == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError("device 'mps' requested but torch.backends.mps.is_available() is False")
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch.Generator seeded the same for data order."""
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def environment_summary(device: torch.device | None = None) -> dict[str, str | int]:
    """Versions, device and threads: what a reader needs to compare figures with ours."""
    import platform

    import torchvision

    device = device or pick_device()
    summary: dict[str, str | int] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "device": str(device),
        "cpu": hardware.cpu_summary()["cpu"],
        "cpu_count": os.cpu_count() or 0,
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        summary["gpu"] = torch.cuda.get_device_name(device)
    return summary

"""Shared fixtures: a temporary data cache and output folder per test, and the dataset mirror."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_utils import config

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tmp_course_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the data cache and the output folder at a fresh temporary folder."""
    monkeypatch.setenv(config.DATA_DIR_ENV, str(tmp_path / "data"))
    monkeypatch.setenv(config.OUTPUT_DIR_ENV, str(tmp_path / "out"))
    return tmp_path


@pytest.fixture(scope="session")
def datasets_mirror() -> Path:
    """The offline dataset folder; the tests that read real data need it (CI sets it)."""
    value = os.environ.get(config.DATASETS_ENV)
    if not value:
        pytest.fail(f"set {config.DATASETS_ENV} to the dataset mirror (e.g. ../shared/datasets) to run these tests")
    return Path(value)

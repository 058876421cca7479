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
    """The offline dataset folder named by COURSE_DATASETS (CI always sets it).

    Only the tests about reading from a mirror need it; on a machine without one they are skipped
    (everything else downloads the datasets as a student's machine would).
    """
    value = os.environ.get(config.DATASETS_ENV)
    if not value:
        pytest.skip(f"{config.DATASETS_ENV} is not set: no offline mirror to test (CI sets it)")
    return Path(value)

"""Shared fixtures: a temporary data cache and output folder per test, the dataset mirror, a crash mid-training."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from course_utils import config, training

REPO = Path(__file__).resolve().parent.parent


def pytest_configure() -> None:
    """A relative COURSE_DATASETS (the README's offline line) means the folder pytest was started from."""
    config.anchor_relative_paths()


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


class _Interrupted(KeyboardInterrupt):
    """Ctrl-C, a kernel restart or a crash part-way through an epoch (raised by ``crash_in_epoch``)."""


@pytest.fixture
def crash_in_epoch(monkeypatch: pytest.MonkeyPatch):
    """``crash_in_epoch(n)``: ``training.fit`` raises ``KeyboardInterrupt`` at the 2nd batch of its n-th epoch.

    It stands in for ``fit``'s progress bar, so nothing of ``fit`` itself is changed. The patch lasts until
    the crash (later calls train normally), so a test can crash a run and then resume it.
    """

    def arm(epoch: int) -> type[KeyboardInterrupt]:
        real_bar, bars = training.progress_bar, []

        def crashing_bar(batches, **kwargs):
            bars.append(1)
            bar = real_bar(batches, **kwargs)
            if len(bars) != epoch:
                return bar

            class Crashing:
                def __iter__(self):
                    for i, batch in enumerate(bar):
                        if i == 1:
                            monkeypatch.setattr(training, "progress_bar", real_bar)
                            raise _Interrupted
                        yield batch

                def set_postfix(self, **values):
                    bar.set_postfix(**values)

            return Crashing()

        monkeypatch.setattr(training, "progress_bar", crashing_bar)
        return _Interrupted

    return arm

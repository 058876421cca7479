import os
import stat

import pytest

from course_utils import atomic


def test_write_replaces_whole_file_with_ordinary_permissions(tmp_path):
    path = tmp_path / "sub" / "f.bin"
    assert atomic.write_bytes_atomic(path, b"first") == 5
    assert atomic.write_bytes_atomic(path, b"second!") == 7
    assert path.read_bytes() == b"second!"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["f.bin"]


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / "f.bin"
    atomic.write_bytes_atomic(path, b"old")

    def fail(*args, **kwargs):
        raise OSError("rename failed")

    monkeypatch.setattr(atomic.os, "replace", fail)
    with pytest.raises(OSError, match="rename failed"):
        atomic.write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_rejects_non_bytes(tmp_path):
    with pytest.raises(TypeError, match="str"):
        atomic.write_bytes_atomic(tmp_path / "f", "text")

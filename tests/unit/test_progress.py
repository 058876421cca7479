import sys

import torch
from torch import nn

from course_utils import data, progress, training


def toy(n=64):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 8, 8), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, 10, (n,), generator=g)
    return data.ImageData("toy", images, labels, tuple(map(str, range(10))), (0.5,), (0.3,))


def tiny_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def test_a_log_file_gets_one_line_per_epoch(capsys, monkeypatch):
    """Output that is not a terminal (make course > log, CI): no bar redraws, one summary line per epoch."""
    monkeypatch.setattr(progress, "interactive", lambda: False)
    training.fit(tiny_model(), toy(), epochs=3, lr=1e-2, batch_size=8, val=toy(16))
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
    assert all("validation accuracy" in line for line in lines)
    assert "\r" not in captured.err and "it/s" not in captured.err, "no progress bar in a log"


def test_a_terminal_or_notebook_gets_the_bar_and_no_lines(capsys, monkeypatch):
    monkeypatch.setattr(progress, "interactive", lambda: True)
    training.fit(tiny_model(), toy(), epochs=2, lr=1e-2, batch_size=8)
    captured = capsys.readouterr()
    assert "epoch 1/2" not in captured.out, "the bar shows the progress; no extra lines"
    assert "epoch 1/2" in captured.err, "the bar is drawn"


def test_progress_off_prints_nothing(capsys, monkeypatch):
    monkeypatch.setattr(progress, "interactive", lambda: False)
    training.fit(tiny_model(), toy(), epochs=2, lr=1e-2, batch_size=8, progress=False)
    assert capsys.readouterr().out == ""


def test_interactive_follows_stderr(monkeypatch):
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress.interactive() is False

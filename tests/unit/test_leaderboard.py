"""The leaderboard: held-out images apart from the public test split, and a submission scored from its file alone."""

import json

import torch
from torch import nn

from course_utils import leaderboard


def test_held_out_images_are_never_in_the_public_split():
    held = set(leaderboard.held_out_indices().tolist())
    assert len(held) == leaderboard.HELD_OUT_PER_CLASS * 10
    public_full, public_quick = leaderboard.public_test(False), leaderboard.public_test(True)
    assert len(public_full) == 10_000 - len(held) and len(public_quick) == 2_000
    held_images = leaderboard.held_out().images.flatten(1)
    public_rows = {row.numpy().tobytes() for row in public_full.images.flatten(1)}
    shared = sum(row.numpy().tobytes() in public_rows for row in held_images)
    assert shared <= 5, f"{shared} held-out images also in the public split (MNIST has a few exact duplicates)"


class _Mean(nn.Module):
    """Predicts from the mean pixel only: far below the bar."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(1, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(1, 2, 3)).unsqueeze(1))


def test_submit_scores_the_file_in_another_process(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_OUTPUT_DIR", str(tmp_path))
    record = leaderboard.submit(_Mean(), torch.zeros(1, 1, 28, 28), quick=True)
    assert (tmp_path / "leaderboard" / "13_capstone.onnx").is_file()
    assert record["bytes"] == (tmp_path / "leaderboard" / "13_capstone.onnx").stat().st_size
    assert record["held_out_images"] == 1000 and not record["qualifies"] and record["accuracy"] < 0.5
    assert record["latency_b1_ms"] > 0 and record["min_accuracy"] == leaderboard.min_accuracy(True)
    assert json.loads((tmp_path / "leaderboard" / "13_capstone.leaderboard.json").read_text()) == record

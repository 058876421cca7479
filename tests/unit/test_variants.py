"""Measuring variants in one run: accuracy, agreement, bytes and interleaved latency ratios."""

import torch

from course_utils import variants
from course_utils.data import ImageData


def test_measure_gives_ratios_against_the_first_variant():
    torch.manual_seed(0)
    images = torch.randint(0, 256, (100, 1, 4, 4), dtype=torch.uint8)
    labels = torch.arange(100) % 2
    data = ImageData("toy", images, labels, ("a", "b"), (0.5,), (0.25,))
    right = lambda x: torch.nn.functional.one_hot(labels[: len(x)], 2).float()  # noqa: E731
    wrong = lambda x: 1 - right(x)  # noqa: E731
    rows = variants.measure({"start": variants.Variant(right, 400), "half": variants.Variant(wrong, 100)}, data,
                            repeats=3, warmup=1)  # fmt: skip
    assert [r["name"] for r in rows] == ["start", "half"]
    assert rows[0]["accuracy"] == 1.0 and rows[1]["accuracy"] == 0.0 and rows[1]["agreement"] == 0.0
    assert rows[1]["bytes_ratio"] == 4.0 and rows[0]["speedup_b1"] == 1.0
    assert rows[1]["accuracy_se"] == 0.0 and rows[1]["latency_b1_ms"] > 0
    assert "| half |" in variants.markdown_table(rows)

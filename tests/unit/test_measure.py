import sys
import time

import pytest
import torch

from course_utils import measure, models


def test_serialized_bytes_tracks_parameters():
    model = models.build_model("simple_cnn")
    size = measure.serialized_bytes(model)
    assert 4 * 21_840 < size < 1.2 * 4 * 21_840
    assert measure.serialized_bytes(model.state_dict()) == size
    with pytest.raises(TypeError, match="list"):
        measure.serialized_bytes([1, 2])


def test_file_bytes(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 123)
    assert measure.file_bytes(path) == 123
    with pytest.raises(FileNotFoundError, match="nope"):
        measure.file_bytes(tmp_path / "nope")


def test_compare_latency_ratio_sees_a_real_difference():
    comparison = measure.compare_latency(
        {"slow": lambda: time.sleep(0.004), "fast": lambda: time.sleep(0.001)}, warmup=1, repeats=9)
    assert len(comparison.stats["slow"].times_ms) == 9
    assert 2.0 < comparison.speedup("slow", "fast") < 6.0
    rows = comparison.table("slow")
    assert rows[0]["variant"] == "fast" and rows[1]["speedup"] == pytest.approx(1.0)
    with pytest.raises(KeyError, match="medium"):
        comparison.speedup("slow", "medium")


def test_compare_latency_bad_input():
    with pytest.raises(ValueError, match="repeats"):
        measure.compare_latency({"a": lambda: None}, repeats=0)
    with pytest.raises(ValueError, match="empty"):
        measure.compare_latency({})
    with pytest.raises(TypeError, match="'a'"):
        measure.compare_latency({"a": 3})


def test_model_latency_and_compare_models():
    model = models.build_model("simple_cnn").eval()
    x = models.example_input("simple_cnn", 4)
    stats = measure.model_latency(model, x, warmup=1, repeats=5)
    assert len(stats.times_ms) == 5 and stats.median_ms > 0
    assert stats.quantile_ms(0.0) <= stats.median_ms <= stats.quantile_ms(1.0)
    both = measure.compare_models({"a": model, "b": model}, x, warmup=1, repeats=5)
    assert set(both.stats) == {"a", "b"}


def test_stabilise_allocator():
    applied = measure.stabilise_allocator()
    assert applied == sys.platform.startswith("linux")
    assert measure.allocator_stabilised() == applied
    with pytest.raises(ValueError, match="threshold"):
        measure.stabilise_allocator(0)


def test_inference_mode_is_used():
    seen = []

    class Probe(torch.nn.Module):
        def forward(self, x):
            seen.append(torch.is_inference_mode_enabled())
            return x

    measure.model_latency(Probe(), torch.zeros(1), warmup=0, repeats=2)
    assert seen == [True, True]


def test_timing_threads_falls_back_to_one_under_load(monkeypatch):
    monkeypatch.setattr(measure.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    assert measure.timing_threads() == torch.get_num_threads()
    monkeypatch.setattr(measure.os, "getloadavg", lambda: (50.0, 50.0, 50.0))
    assert measure.timing_threads() == 1


def test_with_threads_sets_the_thread_count_before_each_call():
    import torch

    from course_utils import measure

    before = torch.get_num_threads()
    seen = []
    try:
        measure.with_threads(1, lambda: seen.append(torch.get_num_threads()))()
        assert seen == [1]
    finally:
        torch.set_num_threads(before)
    with pytest.raises(ValueError, match="positive int"):
        measure.with_threads(0, lambda: None)
    with pytest.raises(TypeError, match="callable"):
        measure.with_threads(1, 3)

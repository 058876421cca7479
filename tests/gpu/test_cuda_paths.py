"""The CUDA paths, run on a machine with a GPU: ``pytest tests/gpu`` (not part of ``make test``, which CI runs on CPU).

Each test fails, rather than skips, where no GPU is present: running this file is the claim that one is.
"""

import pytest
import torch

from course_utils import benchmark, data, models, training


@pytest.fixture(autouse=True)
def cuda():
    assert torch.cuda.is_available(), "tests/gpu needs a CUDA GPU: torch.cuda.is_available() is False"


def _toy(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randint(0, 40, (n, 1, 28, 28), dtype=torch.uint8, generator=g)
    return data.ImageData("toy", images, labels, tuple(map(str, range(10))), (0.1,), (0.3,))


def test_gpu_timings_include_the_kernels():
    x = torch.randn(4096, 4096, device="cuda")
    result = benchmark.compare_phased({"mm": lambda: x @ x}, phases=1, warmup=2, repeats=3, device="cuda")
    assert result.stats["mm"].times_ms and min(result.stats["mm"].times_ms) > 0.05  # ≥ 137 GFLOP: not just a launch
    assert benchmark.copy_bandwidth_gbs(1 << 24, repeats=3, device="cuda") > 50


def test_predict_on_gpu_moves_back_and_stays_trainable():
    toy = _toy()
    model = models.build_model("simple_cnn")
    on_cpu = training.predict(model, toy)
    on_gpu = training.predict(model, toy, device="cuda")
    assert training.model_device(model).type == "cpu" and torch.allclose(on_cpu, on_gpu, atol=1e-4)
    model.cuda()
    assert training.evaluate(model, toy) == training.evaluate(model, toy, device="cuda")
    training.predict(model, toy, device="cpu")
    assert training.model_device(model).type == "cuda" and not any(p.is_inference() for p in model.parameters())
    training.fit(model, toy, epochs=1, lr=1e-3, batch_size=16, device="cuda", progress=False)

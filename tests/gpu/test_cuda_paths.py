"""The CUDA paths, run on a machine with a GPU: ``pytest tests/gpu`` (not part of ``make test``, which CI runs on CPU).

Each test fails, rather than skips, where no GPU is present: running this file is the claim that one is.
"""

import ast
import types
from pathlib import Path

import nbformat
import pytest
import torch

import course_utils as cu
from course_utils import benchmark, data, measure, models, sparse, training
from course_utils.claims import Claims

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


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


def test_a_timer_told_no_device_still_waits_for_cuda():
    x = torch.randn(4096, 4096, device="cuda")
    told = measure.time_fn(lambda: x @ x, warmup=2, repeats=5, device="cuda").median_ms
    untold = measure.time_fn(lambda: x @ x, warmup=2, repeats=5).median_ms  # CUDA is in use: synchronised anyway
    assert told > 0.05 and untold > 0.5 * told, (told, untold)


def test_numpy_of_a_cuda_tensor_needs_cpu_and_cpu_keeps_the_requires_grad_error():
    """09 cell 6 shows the snippet's RuntimeError on a .cpu() copy: on CUDA, .numpy() first raises TypeError."""
    t = torch.ones(3, device="cuda", requires_grad=True) * 2
    with pytest.raises(TypeError, match="cuda"):
        t.numpy()
    with pytest.raises(RuntimeError, match="requires grad"):
        t.cpu().numpy()
    assert t.detach().cpu().numpy().tolist() == [2.0] * 3


def _cell(notebook: str, cell_id: str) -> str:
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    return next(c.source for c in nb.cells if c.get("id") == cell_id)


class RecordedClaims:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def require(self, name, condition, note="", **kwargs) -> None:
        self.values[name] = condition


def test_09_snippet_cell_runs_on_cuda():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = torch.rand(64, 1, 28, 28)
    split = types.SimpleNamespace(tensors=lambda device: (images.to(device), torch.zeros(64, dtype=torch.long, device=device)))
    fake_cu = types.SimpleNamespace(models=cu.models, baselines=types.SimpleNamespace(test_split=lambda *a: split))
    names = {"cu": fake_cu, "torch": torch, "nn": torch.nn, "plt": plt, "QUICK": True, "SEED": 0,
             "device": torch.device("cuda"), "claims": RecordedClaims()}  # fmt: skip
    exec(compile(_cell("09_attention_analysis.ipynb", "7e5b5a06"), "09 cell 6", "exec"), names)
    assert names["claims"].values == {"snippet_numpy_raises": True, "snippet_weights_are_all_one": True}


def test_01_latency_cell_on_cuda_records_gpu_figures(tmp_path, monkeypatch):
    """01 cells 37-38 on CUDA with three identical ResNet-20s: the structured ratios are figures, and zeros in
    dense kernels give no speed-up on a GPU either (its bound is asserted)."""
    setup = ast.parse(_cell("01_pruning.ipynb", "26b0d44c"))
    kept = [n for n in setup.body if isinstance(n, ast.FunctionDef) or
            (isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "FORWARDS_PER_SAMPLE" for t in n.targets))]
    names: dict[str, object] = {"nn": torch.nn, "torch": torch, "cu": cu}
    exec(compile(ast.Module(body=kept, type_ignores=[]), "01 cell 37", "exec"), names)
    monkeypatch.setenv("COURSE_OUTPUT_DIR", str(tmp_path))
    device = torch.device("cuda")
    model = models.build_model("resnet20").to(device).eval()
    names.update(variants={"dense": model, "unstructured": model, "structured": model}, REPEATS=10, sparse=sparse,
                 unstructured=model, device=device,
                 claims=Claims("01_pruning", quick=True, seed=0, device=device, folder=tmp_path))  # fmt: skip
    exec(compile(_cell("01_pruning.ipynb", "4cbc2de9"), "01 cell 38", "exec"), names)
    entries = {e["name"]: e for e in names["claims"].doc["claims"]}
    assert entries["structured_b64_speedup"]["at_least"] is None and entries["unstructured_b64_speedup"]["passed"]

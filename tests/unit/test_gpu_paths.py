"""The GPU paths a CPU can check (issue 23; nothing here runs CUDA: ``tests/gpu`` does, on a machine with one).

A GPU runs kernels asynchronously: a timer that does not synchronise the device measures the launch, not the
work. Here ``torch.cuda.synchronize`` is replaced by a fake "GPU" that finishes its queued work (a sleep) only
when synchronised, so a timer that skips the synchronisation shows a time near zero, and one that does shows the
work. The notebook cells that issue 23 found broken on a GPU are executed the same way (01, 05), or on the CPU
with a check of what differs on a GPU (09).
"""

from __future__ import annotations

import ast
import statistics
import time
import types
from pathlib import Path

import nbformat
import pytest
import torch

import course_utils as cu
from course_utils import benchmark, measure, sparse
from course_utils.claims import ClaimFailed, Claims

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WORK_S = 0.02  # what one fake kernel launch leaves queued on the fake GPU


class FakeGPU:
    """``launch()`` queues work and returns at once; ``synchronize()`` waits for it, as CUDA does."""

    def __init__(self) -> None:
        self.queued = 0.0
        self.syncs: list[object] = []

    def launch(self) -> None:
        self.queued += WORK_S

    def synchronize(self, device: object = None) -> None:
        self.syncs.append(device)
        time.sleep(self.queued)
        self.queued = 0.0


@pytest.fixture
def gpu(monkeypatch) -> FakeGPU:
    fake = FakeGPU()
    monkeypatch.setattr(torch.cuda, "synchronize", fake.synchronize)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    return fake


def _cell(notebook: str, cell_id: str) -> str:
    nb = nbformat.read(NOTEBOOKS / notebook, as_version=4)
    return next(c.source for c in nb.cells if c.get("id") == cell_id)


@pytest.mark.parametrize("device", [torch.device("cuda"), "cuda", "cuda:0"], ids=["torch.device", "str", "index"])
def test_measure_timers_count_the_work_queued_on_the_device_they_are_given(gpu, device):
    comparison = measure.compare_latency({"a": gpu.launch, "b": gpu.launch}, warmup=1, repeats=3, device=device)
    assert min(min(s.times_ms) for s in comparison.stats.values()) >= WORK_S * 1e3 * 0.9
    assert len(gpu.syncs) == 1 + 2 * 6 and all(torch.device(d).type == "cuda" for d in gpu.syncs)
    assert measure.time_fn(gpu.launch, warmup=0, repeats=2, device=device).median_ms >= WORK_S * 1e3 * 0.9


def test_a_timer_told_no_device_still_waits_for_cuda_once_the_process_used_it(gpu, monkeypatch):
    assert measure.time_fn(gpu.launch, warmup=0, repeats=2).median_ms >= WORK_S * 1e3 * 0.9
    before = len(gpu.syncs)
    benchmark.synchronize(None)
    assert len(gpu.syncs) == before + 1
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)  # CUDA present but never used: nothing to wait for
    measure.time_fn(lambda: None, warmup=0, repeats=2)
    benchmark.synchronize(None)
    assert len(gpu.syncs) == before + 1


def test_a_cpu_timing_never_synchronises_cuda(gpu):
    measure.compare_latency({"a": lambda: None}, warmup=1, repeats=2, device="cpu")
    benchmark.compare_phased({"a": lambda: None}, phases=1, warmup=0, repeats=2, device=torch.device("cpu"))
    assert gpu.syncs == []


def test_benchmark_timers_count_the_work_queued_on_the_device(gpu):
    after = benchmark.time_after({"x": (None, gpu.launch)}, warmup=1, repeats=3, device="cuda")
    phased = benchmark.compare_phased({"x": gpu.launch}, phases=2, warmup=1, repeats=2, device=torch.device("cuda"))
    assert min(after.stats["x"].times_ms) >= WORK_S * 1e3 * 0.9 and min(phased.stats["x"].times_ms) >= WORK_S * 1e3 * 0.9


class RecordedClaims:
    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def record(self, name, value, unit="", **kwargs) -> None:
        self.values[name] = value

    def require(self, name, condition, note="", **kwargs) -> None:
        self.values[name] = condition


class FakeSession:
    def get_inputs(self):
        return [types.SimpleNamespace(name="input")]

    def run(self, outputs, feed):
        return [feed["input"]]


def test_05_timing_trap_and_phased_ort_cells_synchronise_the_gpu(gpu, monkeypatch):
    """05 cells 33 and 35 pass ``device=``: eager's queued kernels are inside its times (they were not)."""
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: False)  # only the device the cells name may count here
    names = {
        "ort_session": lambda path, spinning=True: FakeSession(), "onnx_paths": {"resnet20": "resnet20.onnx"},
        "inputs": {("resnet20", 64): torch.zeros(2, 3), ("resnet20", 1): torch.zeros(1, 3)},
        "eager_call": lambda model, x: gpu.launch, "resnet": None, "x64": None, "nets": {"resnet20": None},
        "ort_call": lambda name, bs: lambda: None, "export_plan": ["resnet20"], "BATCHES": [1],
        "benchmark": benchmark, "statistics": statistics, "REPEATS": 6, "WARMUP": 1, "speedups": {}, "threads": 1,
        "device": torch.device("cuda"), "claims": RecordedClaims(),
    }
    exec(compile(_cell("05_profile_compile_export.ipynb", "107d9224"), "05 cell 33", "exec"), names)
    assert min(names["trap_ms"].values()) >= WORK_S * 1e3 * 0.9  # every arm times eager's work, not its launch
    exec(compile(_cell("05_profile_compile_export.ipynb", "abcd7638"), "05 cell 35", "exec"), names)
    assert names["claims"].values["resnet20_b1_onnxruntime_speedup"] > 10  # 20 ms of eager work vs an instant ORT


def _run_01_latency_cell(tmp_path, monkeypatch, device: torch.device) -> Claims:
    """01 cell 38 with every variant equally fast (as ResNet-20's launch-bound kernels are on a GPU)."""
    setup = ast.parse(_cell("01_pruning.ipynb", "26b0d44c"))  # cell 37: FORWARDS_PER_SAMPLE, forwards, speedup
    kept = [n for n in setup.body if isinstance(n, ast.FunctionDef) or
            (isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "FORWARDS_PER_SAMPLE" for t in n.targets))]
    names: dict[str, object] = {"nn": torch.nn, "torch": torch, "cu": cu}
    exec(compile(ast.Module(body=kept, type_ignores=[]), "01 cell 37", "exec"), names)

    def same_speed(variants, **kwargs):
        return measure.LatencyComparison({name: measure.LatencyStats([1.0, 1.1]) for name in variants})

    monkeypatch.setattr(measure, "compare_latency", same_speed)
    monkeypatch.setenv("COURSE_OUTPUT_DIR", str(tmp_path))
    model = cu.models.build_model("simple_cnn")
    names.update(variants={"dense": model, "unstructured": model, "structured": model}, REPEATS=2, sparse=sparse,
                 unstructured=model, device=device,
                 claims=Claims("01_pruning", quick=True, seed=0, device=device, folder=tmp_path))  # fmt: skip
    exec(compile(_cell("01_pruning.ipynb", "4cbc2de9"), "01 cell 38", "exec"), names)
    return names["claims"]


def test_01_asserts_cpu_kernel_speedups_only_on_a_cpu(tmp_path, monkeypatch):
    with pytest.raises(ClaimFailed, match="structured_b1_speedup"):  # on a CPU no gain is a failure ...
        _run_01_latency_cell(tmp_path, monkeypatch, torch.device("cpu"))
    claims = _run_01_latency_cell(tmp_path, monkeypatch, torch.device("meta"))  # ... on a GPU (any non-CPU) a figure
    entries = {e["name"]: e for e in claims.doc["claims"]}
    for name in ("structured_b1_speedup", "structured_b64_speedup"):
        assert entries[name]["value"] == 1.0 and entries[name]["at_least"] is None, entries[name]
    assert entries["unstructured_b64_speedup"]["at_most"] == 1.5  # zeros in dense kernels: robust on any device


def test_numpy_refuses_a_device_before_it_looks_at_requires_grad():
    """Why 09's snippet raises TypeError on a GPU (the ``meta`` device stands in for CUDA) and what ``.cpu()`` keeps."""
    on_device = torch.ones(3, device="meta", requires_grad=True) * 2
    with pytest.raises(TypeError, match="meta"):
        on_device.numpy()
    copied = (torch.ones(3, requires_grad=True) * 2).cpu()  # .cpu() of a CUDA tensor is differentiable, as here
    assert copied.requires_grad
    with pytest.raises(RuntimeError, match="requires grad"):
        copied.numpy()


def test_09_snippet_cell_converts_on_the_cpu_and_still_shows_the_requires_grad_error(monkeypatch):
    source = _cell("09_attention_analysis.ipynb", "7e5b5a06")
    calls = [n.func for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "numpy"]
    assert calls, "the cell no longer calls .numpy(): update this test"
    on_cpu = [isinstance(c.value, ast.Call) and getattr(c.value.func, "attr", "") == "cpu" for c in calls]
    assert all(on_cpu), f"a .numpy() on a tensor that may live on a GPU (line {calls[on_cpu.index(False)].lineno})"
    images = torch.rand(64, 1, 28, 28)
    split = types.SimpleNamespace(tensors=lambda device: (images.to(device), torch.zeros(64, dtype=torch.long)))
    fake_cu = types.SimpleNamespace(models=cu.models, baselines=types.SimpleNamespace(test_split=lambda *a: split))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {"cu": fake_cu, "torch": torch, "nn": torch.nn, "plt": plt, "QUICK": True, "SEED": 0,
             "device": torch.device("cpu"), "claims": RecordedClaims()}  # fmt: skip
    exec(compile(source, "09 cell 6", "exec"), names)
    assert names["claims"].values == {"snippet_numpy_raises": True, "snippet_weights_are_all_one": True}

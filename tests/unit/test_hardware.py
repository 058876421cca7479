import pytest
import torch

from course_utils import hardware


def test_summary_names_cpu_capability_and_features():
    summary = hardware.cpu_summary()
    assert summary["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert set(summary["features"]) <= set(hardware.FEATURES)
    assert summary["cpu_count"] >= 1


def test_unknown_feature_is_refused():
    with pytest.raises(ValueError, match="unknown hardware feature 'sse9'"):
        hardware.has("sse9")
    with pytest.raises(ValueError, match="expected one of"):
        hardware.describe("sse9")


def test_onednn_cap_removes_vnni_amx_and_avx512(monkeypatch):
    monkeypatch.setattr(hardware, "_cpu_flags", lambda: frozenset({"avx2", "avx512f", "avx512_vnni", "amx_tile", "avx512_bf16"}))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX512")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)  # the caps a machine may run the tests under
    full = hardware.cpu_features()
    assert full["avx512"] and full["vnni"] and full["amx"] and full["bf16"]
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    capped = hardware.cpu_features()
    assert capped["avx2"] and not (capped["avx512"] or capped["vnni"] or capped["amx"] or capped["bf16"])
    assert hardware.cpu_summary()["isa_caps"] == {"ONEDNN_MAX_CPU_ISA": "AVX2"}


def test_amd_avx2_only_cpu_has_no_int8_dot_product(monkeypatch):
    monkeypatch.setattr(hardware, "_cpu_flags", lambda: frozenset({"avx", "avx2", "fma"}))
    monkeypatch.setattr(torch.backends.cpu, "get_cpu_capability", lambda: "AVX2")
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    features = hardware.cpu_features()
    assert features["avx2"] and not any(features[f] for f in ("avx512", "vnni", "amx", "bf16"))

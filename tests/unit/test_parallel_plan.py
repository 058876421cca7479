"""The memory/communication arithmetic reproduces the ZeRO paper's and Megatron's published figures."""

import pytest

from course_utils import parallel_plan as pp

GPT = pp.TransformerShape(params=7.5e9, layers=32, hidden=4096, heads=32, seq_len=2048, micro_batch=1)


def test_zero_figure_1_memory_per_device():
    # ZeRO (Rajbhandari et al. 2020), Figure 1: Ψ = 7.5 B, K = 12, N_d = 64: 120 GB baseline, 1.9 GB with P_os+g+p
    assert sum(pp.state_bytes(7.5e9, "ddp", 64)) == pytest.approx(120e9)
    assert sum(pp.state_bytes(7.5e9, "fsdp", 64)) == pytest.approx(1.875e9)


def test_fsdp_sends_one_and_a_half_times_ddp():
    ddp, fsdp = pp.plan(GPT, "ddp", 8), pp.plan(GPT, "fsdp", 8)
    assert fsdp.communication / ddp.communication == pytest.approx(1.5)
    assert ddp.communication == pytest.approx(2 * 7 / 8 * 7.5e9 * 2)


def test_activations_follow_korthikanti():
    s, b, h, a = 2048, 1, 4096, 32
    assert GPT.activation_bytes() == pytest.approx(32 * s * b * h * (34 + 5 * a * s / h))
    assert GPT.activation_bytes(tensor_degree=8) < GPT.activation_bytes() / 4


def test_pipeline_and_tensor_split_the_states():
    for strategy in ("pipeline", "tensor", "fsdp"):
        assert pp.plan(GPT, strategy, 4).parameters == pytest.approx(pp.plan(GPT, "ddp", 4).parameters / 4)
    one_f_one_b = pp.plan(GPT, "pipeline", 4, microbatches=8)
    assert one_f_one_b.activations == pytest.approx(GPT.activation_bytes())  # first stage: 4 in flight × L/4 layers
    assert pp.plan(GPT, "pipeline", 1).communication == 0
    assert [r.strategy for r in pp.compare(GPT, 2)] == list(pp.STRATEGIES)
    assert pp.plan(GPT, "ddp", 2).as_row()["total"] > 0


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        pp.plan(GPT, "zero", 2)
    with pytest.raises(ValueError, match="world_size"):
        pp.state_bytes(10, "ddp", 0)
    with pytest.raises(ValueError, match="microbatches"):
        pp.plan(GPT, "pipeline", 2, microbatches=0)
    with pytest.raises(ValueError, match="layers"):
        pp.TransformerShape(params=1e6, layers=0, hidden=8, heads=1, seq_len=4, micro_batch=1)


def test_markdown_table_has_one_row_per_plan_with_its_figures():
    table = pp.markdown_table(pp.compare(GPT, 8, microbatches=8)).splitlines()
    assert table[0].startswith("| strategy (8 ranks) |") and len(table) == 2 + len(pp.STRATEGIES)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table[2:]}
    assert list(rows) == list(pp.STRATEGIES)
    ddp = pp.plan(GPT, "ddp", 8, microbatches=8)
    assert f"**{ddp.total / 1e9:.1f} GB**" in rows["ddp"] and f"{ddp.communication / 1e9:.2f} GB |" in rows["ddp"]
    assert "| 15.0 GB | 15.0 GB | 90.0 GB |" in rows["ddp"]  # 2 + 2 + 12 bytes per parameter, replicated
    assert pp.markdown_table([pp.plan(GPT, "fsdp", 2)], unit=2**30, unit_name="GiB").count("GiB") == 6


def test_markdown_table_refuses_mixed_world_sizes_and_no_plans():
    with pytest.raises(ValueError, match="different world sizes"):
        pp.markdown_table([pp.plan(GPT, "ddp", 2), pp.plan(GPT, "ddp", 4)])
    with pytest.raises(ValueError, match="at least one"):
        pp.markdown_table([])

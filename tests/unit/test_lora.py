"""LoRA for Linear layers: a fresh adapter changes nothing, only the adapters train, merging keeps the function."""

import pytest
import torch
from torch import nn

from course_utils import lora


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))


def test_fresh_adapters_leave_the_outputs_and_freeze_the_rest():
    net, x = _net(), torch.randn(4, 6)
    adapted = lora.add_lora(net, ["0", "2"], rank=2, alpha=4.0)
    assert torch.equal(adapted(x), net(x))  # B starts at zero
    trainable = {n for n, p in adapted.named_parameters() if p.requires_grad}
    assert trainable == {"0.A", "0.B", "2.A", "2.B"}
    assert set(lora.adapter_state(adapted)) == trainable
    assert all(p.requires_grad for p in net.parameters()), "the original model is not touched"


def test_merge_folds_the_scaled_update_into_one_linear():
    adapted = lora.add_lora(_net(), ["0"], rank=2, alpha=4.0)
    with torch.no_grad():
        adapted[0].B.normal_()
    x = torch.randn(8, 6)
    merged = lora.merge_lora(adapted)
    assert isinstance(merged[0], nn.Linear)
    assert (merged(x) - adapted(x)).abs().max() < 1e-5
    base = adapted[0].base
    expected = base.weight + 2.0 * adapted[0].B @ adapted[0].A  # alpha / rank = 2
    assert torch.allclose(merged[0].weight, expected)


def test_bad_names_and_ranks_are_refused():
    with pytest.raises(ValueError, match="not an nn.Linear"):
        lora.add_lora(_net(), ["1"], rank=2, alpha=1.0)
    with pytest.raises(ValueError, match="rank"):
        lora.LoRALinear(nn.Linear(2, 2), 0, 1.0)

"""What differs between the torch releases the course was run on (2.9.1 and 2.14.1; README, "Versions run").

These tests pass on both; ``make test`` runs them on the torch of ``.venv``, the torch 2.9.1 run on its own venv.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils import quantization

MINOR = ".".join(torch.__version__.split(".")[:2])


def test_export_for_pt2e_gives_the_quantizer_a_graph_it_can_annotate():
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq  # a base dependency

    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2)).eval()
    graph = quantization.export_for_pt2e(model, (torch.randn(2, 3, 8, 8),))
    xiq.X86InductorQuantizer().set_global(xiq.get_default_x86_inductor_quantization_config()).annotate(graph)
    annotated = [str(n.target) for n in graph.graph.nodes if "quantization_annotation" in n.meta]
    assert any("conv2d" in t for t in annotated) and any("linear" in t for t in annotated), annotated


def test_strict_export_is_chosen_exactly_where_the_default_gives_the_quantizer_nothing():
    assert quantization._quantizer_annotates(strict=True)  # strict export records source_fn_stack everywhere
    assert quantization.pt2e_needs_strict_export() is (not quantization._quantizer_annotates(strict=False))
    measured = {"2.9": True, "2.14": False}  # torchao 0.15.0 on 2.9.1, torchao 0.18.0 on 2.14.1
    if MINOR in measured:
        assert quantization.pt2e_needs_strict_export() is measured[MINOR]

"""course_utils.graphs: a degree-preserving random graph for notebook 11's ablation."""

import pytest
import torch

from course_utils import graphs


def ring_with_chords(n=20):
    a = torch.zeros(n, n)
    for i in range(n):
        a[i, (i + 1) % n] = a[i, (i + 2) % n] = 1
    return ((a + a.T) > 0).float()


def test_rewiring_keeps_every_degree_and_moves_the_edges():
    a = ring_with_chords()
    b = graphs.degree_preserving_rewire(a, generator=torch.Generator().manual_seed(0))
    assert torch.equal(graphs.degrees(b), graphs.degrees(a))
    assert torch.equal(b, b.T) and not b.diagonal().any() and set(b.unique().tolist()) <= {0.0, 1.0}
    assert (a * b).sum() < 0.5 * a.sum(), "most edges moved"


def test_rewiring_is_seeded():
    a = ring_with_chords()
    first, again, other = (graphs.degree_preserving_rewire(a, generator=torch.Generator().manual_seed(s))
                           for s in (0, 0, 1))  # fmt: skip
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_a_complete_graph_has_nowhere_to_go_and_bad_graphs_are_refused():
    complete = 1 - torch.eye(6)
    assert torch.equal(graphs.degree_preserving_rewire(complete), complete)
    with pytest.raises(ValueError, match="symmetric"):
        graphs.degrees(torch.triu(complete))
    with pytest.raises(ValueError, match="self loops"):
        graphs.degrees(complete + torch.eye(6))
    with pytest.raises(ValueError, match="at least 2 edges"):
        graphs.degree_preserving_rewire(torch.zeros(4, 4))

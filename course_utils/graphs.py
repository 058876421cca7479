"""Control graphs for a graph ablation: the same degrees, edges placed at random (Maslov & Sneppen 2002).

Use it to ask whether a graph model gains from *where* its edges are or only from how many each node has: train
the same model on :func:`degree_preserving_rewire` of its graph and compare. Every node keeps its degree, so a
GCN's normalisation and a node's share of messages stay as they were; only who talks to whom changes.

    control = graphs.degree_preserving_rewire(adjacency, generator=torch.Generator().manual_seed(0))
    assert torch.equal(graphs.degrees(control), graphs.degrees(adjacency))
"""

from __future__ import annotations

import torch


def _check_simple(adjacency: torch.Tensor) -> None:
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"adjacency must be a square matrix, got shape {tuple(adjacency.shape)}")
    if not torch.equal(adjacency, adjacency.T):
        raise ValueError("adjacency must be symmetric (undirected edges, both directions stored)")
    if not ((adjacency == 0) | (adjacency == 1)).all():
        raise ValueError("adjacency must hold 0s and 1s")
    if adjacency.diagonal().any():
        raise ValueError("adjacency must have no self loops (the layers add them)")


def degrees(adjacency: torch.Tensor) -> torch.Tensor:
    """Each node's number of neighbours (an int64 vector)."""
    _check_simple(adjacency)
    return adjacency.sum(1).long()


def degree_preserving_rewire(adjacency: torch.Tensor, *, swaps_per_edge: int = 10,
                             generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """A random simple graph with every node's degree unchanged: repeated double edge swaps.

    Each attempt picks two edges a–b and c–d and rewires them to a–d and c–b (or a–c and b–d); an attempt that
    would make a self loop or a second edge between two nodes is skipped. ``swaps_per_edge`` attempts per edge
    mix the graph well (the count usually recommended is about 10). Returns a new symmetric 0/1 matrix.
    """
    _check_simple(adjacency)
    if not isinstance(swaps_per_edge, int) or swaps_per_edge < 1:
        raise ValueError(f"swaps_per_edge must be a positive int, got {swaps_per_edge!r}")
    generator = generator or torch.Generator().manual_seed(0)
    upper = torch.nonzero(torch.triu(adjacency, 1)).tolist()
    if len(upper) < 2:
        raise ValueError(f"a double edge swap needs at least 2 edges, the graph has {len(upper)}")
    edges = [tuple(e) for e in upper]
    present = set(edges) | {(b, a) for a, b in edges}
    attempts = swaps_per_edge * len(edges)
    picks = torch.randint(len(edges), (attempts, 2), generator=generator).tolist()
    crosswise = (torch.rand(attempts, generator=generator) < 0.5).tolist()
    for (i, j), cross in zip(picks, crosswise, strict=True):
        if i == j:
            continue
        (a, b), (c, d) = edges[i], edges[j]
        new_1, new_2 = ((a, d), (c, b)) if cross else ((a, c), (b, d))
        if new_1[0] == new_1[1] or new_2[0] == new_2[1] or new_1 in present or new_2 in present or {*new_1} == {*new_2}:
            continue
        for old in ((a, b), (c, d)):
            present -= {old, old[::-1]}
        present |= {new_1, new_1[::-1], new_2, new_2[::-1]}
        edges[i], edges[j] = new_1, new_2
    rewired = torch.zeros_like(adjacency)
    index = torch.tensor(edges)
    rewired[index[:, 0], index[:, 1]] = 1
    rewired[index[:, 1], index[:, 0]] = 1
    return rewired

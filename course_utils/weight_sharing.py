"""k-means weight sharing (Deep Compression): the 1-D Lloyd's algorithm that notebook 02 teaches, for notebook 04.

Notebook 02 writes k-means in front of the reader and checks it against this function; notebook 04's pipeline
calls it. Linear initialisation between the smallest and largest value, as Han et al. (2016) recommend.
"""

from __future__ import annotations

import torch


def kmeans_1d(values: torch.Tensor, k: int, *, max_iterations: int = 1000,
              drop_empty: bool = True) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Lloyd's k-means of a tensor's values: ``(sorted centroids, index of each value's centroid)``.

    Stops when no value changes cluster. ``drop_empty`` removes clusters no value chose (and renumbers).
    """
    if not isinstance(k, int) or k <= 0:
        raise ValueError(f"k must be a positive int, got {k!r}")
    values = values.detach().flatten()
    if values.numel() == 0:
        raise ValueError("values is empty: nothing to cluster")
    centroids = torch.linspace(values.min().item(), values.max().item(), min(k, values.numel()), dtype=values.dtype)
    assignment = torch.bucketize(values, (centroids[1:] + centroids[:-1]) / 2)  # nearest centroid in 1-D
    for _ in range(max_iterations):
        counts = torch.bincount(assignment, minlength=len(centroids))
        sums = torch.zeros_like(centroids).index_add_(0, assignment, values)
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)  # an empty cluster stays put
        new_assignment = torch.bucketize(values, (centroids[1:] + centroids[:-1]) / 2)
        if torch.equal(new_assignment, assignment):
            break
        assignment = new_assignment
    if not drop_empty:
        return centroids, assignment
    used = torch.bincount(assignment, minlength=len(centroids)) > 0
    return centroids[used], torch.cumsum(used, 0)[assignment] - 1

import pytest
import torch

from course_utils.weight_sharing import kmeans_1d


def test_kmeans_is_a_lloyd_fixed_point():
    values = torch.randn(2000, generator=torch.Generator().manual_seed(0))
    centroids, assignment = kmeans_1d(values, 8)
    assert torch.equal(centroids, centroids.sort().values)
    nearest = (values[:, None] - centroids[None]).abs().argmin(1)
    assert torch.equal(nearest, assignment)  # every value sits in its nearest cluster
    means = torch.stack([values[assignment == i].mean() for i in range(len(centroids))])
    assert torch.allclose(means, centroids, atol=1e-6)  # every centroid is its cluster's mean


def test_empty_clusters_dropped_or_kept():
    values = torch.tensor([0.0, 0.0, 10.0, 10.0])
    centroids, assignment = kmeans_1d(values, 5)
    assert centroids.tolist() == [0.0, 10.0] and assignment.tolist() == [0, 0, 1, 1]
    kept, _ = kmeans_1d(values, 5, drop_empty=False)
    assert len(kept) == 4  # min(k, number of values) centroids; the empty ones stay in place
    with pytest.raises(ValueError, match="positive int"):
        kmeans_1d(values, 0)
    with pytest.raises(ValueError, match="empty"):
        kmeans_1d(torch.tensor([]), 2)

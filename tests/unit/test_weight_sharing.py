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


def test_empty_clusters_between_used_ones_keep_the_centroids_sorted():
    values = torch.tensor([0.0, 0.1, 0.2, 9.8, 9.9, 10.0])  # linear init 0, 2.5, 5, 7.5, 10: three stay empty
    kept, kept_assignment = kmeans_1d(values, 5, drop_empty=False)
    assert torch.equal(kept, kept.sort().values)  # bucketize needs sorted centroids; empty ones never overtake
    assert kept_assignment.tolist() == [0, 0, 0, 4, 4, 4]
    centroids, assignment = kmeans_1d(values, 5)
    assert torch.allclose(centroids, torch.tensor([0.1, 9.9])) and assignment.tolist() == [0, 0, 0, 1, 1, 1]

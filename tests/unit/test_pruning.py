import pytest
import torch

from course_utils import models, pruning


def test_apply_masks_copies_or_works_in_place():
    model = models.build_model("simple_cnn")
    assert pruning.prunable_layers(model) == ["conv1", "conv2", "fc1", "fc2"]
    mask = torch.zeros_like(model.fc2.weight)
    masked = pruning.apply_masks(model, {"fc2": mask})
    assert bool((masked.fc2.weight == 0).all()) and bool((model.fc2.weight != 0).any())
    same = pruning.apply_masks(model, {"fc2": mask}, inplace=True)
    assert same is model and bool((model.fc2.weight == 0).all())


def test_apply_masks_rejects_bad_masks():
    model = models.build_model("simple_cnn")
    with pytest.raises(ValueError, match="shape"):
        pruning.apply_masks(model, {"fc2": torch.ones(3)})
    with pytest.raises(KeyError, match="'nope'"):
        pruning.apply_masks(model, {"nope": torch.ones(3)})

"""course_utils.fusion: tokenisers, modality dropout, the paired training loop, clustered standard errors."""

import math

import pytest
import torch

from course_utils import fusion
from course_utils.avmnist import AVSplit


def toy_split(n=200, seed=0, recordings=None):
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.randn(n, 1, 28, 28, generator=g) * 0.5
    audio = torch.randn(n, 1, 32, 63, generator=g) * 0.5
    images[torch.arange(n), 0, 2 * labels] += 2.0  # the digit lights up one row of each modality
    audio[torch.arange(n), 0, 2 * labels] += 2.0
    names = recordings or tuple(f"{int(y)}_theo_{i}.wav" for i, y in enumerate(labels))
    return AVSplit(images, audio, labels, torch.arange(n), names, "toy")


def test_image_patches_are_row_major_tiles():
    images = torch.arange(28 * 28.0).view(1, 1, 28, 28)
    patches = fusion.image_patches(images, 7)
    assert patches.shape == (1, 16, 49)
    assert torch.equal(patches[0, 1], images[0, 0, :7, 7:14].flatten())
    assert torch.equal(patches[0, 4], images[0, 0, 7:14, :7].flatten())
    with pytest.raises(ValueError):
        fusion.image_patches(images, 5)


def test_audio_segments_group_consecutive_frames():
    audio = torch.arange(32 * 63.0).view(1, 1, 32, 63)
    segments = fusion.audio_segments(audio, 4)
    assert segments.shape == (1, 16, 128)
    assert torch.equal(segments[0, 1].view(32, 4), audio[0, 0, :, 4:8])
    assert torch.equal(segments[0, 15].view(32, 4)[:, 3], torch.zeros(32))  # the padded 64th frame


def test_drop_modality_and_dropout_batch():
    x, a = torch.ones(1000, 1, 2, 2), torch.ones(1000, 1, 2, 2)
    xi, ai = fusion.drop_modality(x, a, "image")
    assert xi.abs().sum() == 0 and torch.equal(ai, a)
    with pytest.raises(ValueError):
        fusion.drop_modality(x, a, "text")
    xd, ad = fusion._dropout_batch(x, a, 0.5, torch.Generator().manual_seed(0))
    kept_image, kept_audio = xd.flatten(1)[:, 0], ad.flatten(1)[:, 0]
    assert ((kept_image + kept_audio) >= 1).all(), "never both modalities dropped"
    assert abs(float((kept_image == 0).float().mean()) - 0.25) < 0.05


def test_fit_paired_learns_and_is_deterministic():
    train, test = toy_split(240, 0), toy_split(100, 1)
    outputs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = fusion.ConcatFusion()
        history = fusion.fit_paired(model, train, epochs=3, lr=3e-3, batch_size=32, seed=0, val=test, modality_dropout=0.3)
        outputs.append(fusion.predict_paired(model, test))
    assert torch.equal(outputs[0], outputs[1])
    assert history.val_accuracy[-1] > 0.5
    with pytest.raises(ValueError, match="modality_dropout"):
        fusion.fit_paired(model, train, epochs=1, lr=1e-3, modality_dropout=1.5)


def test_unimodal_ignores_the_other_input():
    split = toy_split(20)
    torch.manual_seed(0)
    model = fusion.Unimodal("image").eval()
    assert torch.equal(model(split.images, split.audio), model(split.images, torch.zeros_like(split.audio)))
    with pytest.raises(ValueError):
        fusion.Unimodal("text")


def test_clustered_se_equals_the_plain_se_without_repeats_and_grows_with_them():
    values = (torch.arange(100) % 3 == 0).double()
    distinct = toy_split(100)
    plain = math.sqrt(values.var(unbiased=True).item() / 100)
    assert abs(fusion.clustered_se(values, distinct) - plain) < 1e-9
    shared = toy_split(100, recordings=tuple(f"r{i % 3}" for i in range(100)))  # 3 recordings, values follow them
    assert fusion.clustered_se(values, shared) > plain
    means, names = fusion.per_recording_mean(values, shared)
    assert names == ["r0", "r1", "r2"] and means.tolist() == [1.0, 0.0, 0.0]


def test_fit_paired_is_the_course_training_loop():
    """One loop for every notebook: fit_paired keeps training.fit's guards (a one-cycle schedule of one step
    would train at learning rate 0) and its per-epoch log lines."""
    train = toy_split(20, 0)
    with pytest.raises(ValueError, match="cannot schedule"):
        fusion.fit_paired(fusion.Unimodal("image"), train, epochs=1, lr=1e-3, batch_size=32)
    history = fusion.fit_paired(fusion.Unimodal("audio"), train, epochs=2, lr=1e-3, batch_size=8)
    assert len(history.train_loss) == 2 and history.val_accuracy == []


def test_fit_paired_refuses_a_one_cycle_schedule_of_four_steps():
    """training.fit's other guard: four steps give OneCycleLR a one-step warm-up that divides by zero."""
    with pytest.raises(ValueError, match="cannot schedule 1 epoch"):
        fusion.fit_paired(fusion.Unimodal("image"), toy_split(20, 0), epochs=1, lr=1e-3, batch_size=5)


def test_late_fusion_averages_log_probabilities_and_learns_only_when_asked():
    split = toy_split(30)
    torch.manual_seed(0)
    image_model, audio_model = fusion.Unimodal("image"), fusion.Unimodal("audio")
    average = fusion.LateFusion(image_model, audio_model, learn=False)
    expected = 0.5 * (torch.log_softmax(image_model(split.images, split.audio), 1)
                      + torch.log_softmax(audio_model(split.images, split.audio), 1))  # fmt: skip
    assert torch.allclose(average(split.images, split.audio), expected, atol=1e-6)
    assert not any(p.requires_grad for p in average.parameters())
    learned = fusion.LateFusion(image_model, audio_model, learn=True)
    assert {n for n, p in learned.named_parameters() if p.requires_grad} == {"weights", "bias"}


def test_part_tokens_embed_each_patch_and_segment_with_its_position():
    split = toy_split(4)
    torch.manual_seed(0)
    tokens = fusion.PartTokens(8)
    image_tokens, audio_tokens = tokens(split.images, split.audio)
    assert image_tokens.shape == (4, 16, 8) and audio_tokens.shape == (4, 16, 8)
    patch_5 = split.images[2, 0, 7:14, 7:14].flatten()
    assert torch.allclose(image_tokens[2, 5], torch.relu(tokens.image_in(patch_5)) + tokens.image_pos[5], atol=1e-6)
    segment_3 = split.audio[1, 0, :, 12:16].flatten()
    assert torch.allclose(audio_tokens[1, 3], torch.relu(tokens.audio_in(segment_3)) + tokens.audio_pos[3], atol=1e-6)


def test_mean_over_pairs_averages_what_the_model_kept_over_every_pair():
    split = toy_split(50)

    class Keeper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(()))
            self.kept = None

        def forward(self, images, audio):
            self.kept = images.flatten(1)[:, :3] * self.scale
            return self.kept

    model = Keeper().train()
    means = fusion.mean_over_pairs(model, split, lambda m: {"kept": m.kept}, batch_size=16)  # 16 does not divide 50
    assert torch.allclose(means["kept"], split.images.flatten(1)[:, :3].mean(0), atol=1e-6)
    assert model.training, "the model's mode is restored"
    with pytest.raises(ValueError, match="one row per pair"):
        fusion.mean_over_pairs(model, split, lambda m: {"kept": m.kept.mean(0)})

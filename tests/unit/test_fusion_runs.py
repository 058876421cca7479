"""course_utils.fusion_runs: notebook 11 loads what notebook 10 trained, and nothing else."""

import pytest
import torch
from test_fusion import toy_split

from course_utils import fusion, fusion_runs
from course_utils.avmnist import AVMnist


def toy_av(key=None):
    return AVMnist(toy_split(60, 0), toy_split(20, 1), toy_split(20, 2), pca=None,
                   key={"seed": 0, "quick": True, "pca_components": 8, "snr_db": 0.0} if key is None else key)  # fmt: skip


def test_a_model_trains_once_then_loads_with_the_same_weights(tmp_course_dirs):
    av = toy_av()
    first, run = fusion_runs.trained("image only", lambda: fusion.Unimodal("image"), av, epochs=2, lr=3e-3, seed=0)
    again, run_again = fusion_runs.trained("image only", lambda: fusion.Unimodal("image"), av, epochs=2, lr=3e-3, seed=0)
    assert run["trained_now"] and not run_again["trained_now"]
    assert run_again["history"] == run["history"] and run_again["seconds"] == run["seconds"]
    for (name, a), b in zip(first.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("change", ["epochs", "seed", "split", "architecture"])
def test_anything_that_decides_the_weights_trains_anew(tmp_course_dirs, change):
    base = {"epochs": 2, "lr": 3e-3, "seed": 0}
    fusion_runs.trained("image only", lambda: fusion.Unimodal("image"), toy_av(), **base)
    av, build, args = toy_av(), (lambda: fusion.Unimodal("image")), dict(base)
    if change == "epochs":
        args["epochs"] = 3
    elif change == "seed":
        args["seed"] = 1
    elif change == "split":
        av = toy_av({"seed": 1, "quick": True, "pca_components": 8, "snr_db": 0.0})
    else:
        build = lambda: fusion.Unimodal("image", dim=32)  # noqa: E731 - same name, another shape
    _, run = fusion_runs.trained("image only", build, av, **args)
    assert run["trained_now"], f"a changed {change} must not load the old weights"


def test_a_split_without_its_key_is_refused(tmp_course_dirs):
    with pytest.raises(ValueError, match="course_av_mnist"):
        fusion_runs.trained("x", lambda: fusion.Unimodal("image"),
                            AVMnist(toy_split(20), toy_split(20), toy_split(20), pca=None), epochs=2, lr=1e-3, seed=0)


def test_scores_and_figure():
    av = toy_av()
    torch.manual_seed(0)
    models = {"image only": fusion.Unimodal("image"), "both": fusion.ConcatFusion()}
    val_accuracy, test_correct = fusion_runs.scores(models, av)
    assert set(val_accuracy) == set(test_correct) == set(models)
    assert test_correct["both"].dtype == torch.float64 and test_correct["both"].shape == (len(av.test),)
    fig = fusion_runs.accuracy_figure(test_correct, {"image only": "tab:gray"}, title="t")
    assert len(fig.axes[0].patches) == 2


def test_the_shared_models_follow_the_course_recipe_of_the_splits_mode(tmp_course_dirs):
    av = AVMnist(toy_split(200, 0), toy_split(20, 1), toy_split(20, 2), pca=None,  # 2 batches: 8 one-cycle steps
                 key={"seed": 0, "quick": True, "pca_components": 8, "snr_db": 0.0})  # fmt: skip
    model, run = fusion_runs.shared_model("audio only", av, seed=0)
    assert run["trained_now"] and len(run["history"]["train_loss"]) == fusion_runs.EPOCHS[True]
    again, direct = fusion_runs.trained("audio only", fusion_runs.SHARED_MODELS["audio only"], av,
                                        epochs=fusion_runs.EPOCHS[True], lr=fusion_runs.LR, seed=0)  # fmt: skip
    assert not direct["trained_now"], "the same recipe by hand loads what shared_model trained"
    with pytest.raises(ValueError, match="unknown shared model"):
        fusion_runs.shared_model("early", av, seed=0)


def test_best_on_validation_and_paired_gain():
    assert fusion_runs.best_on_validation({"a": 0.5, "b": 0.7, "c": 0.9}, ["a", "b"]) == "b"
    with pytest.raises(KeyError):
        fusion_runs.best_on_validation({"a": 0.5}, ["a", "z"])
    split = toy_split(100, recordings=tuple(f"r{i % 10}" for i in range(100)))
    reference = (torch.arange(100) % 2 == 0).double()
    better = torch.ones(100, dtype=torch.float64)
    gain = fusion_runs.paired_gain(better, reference, split)
    assert gain.pp == pytest.approx(50.0) and gain.pairs == 100 and gain.recordings == 10
    assert gain.se_pp == pytest.approx(100 * fusion.clustered_se(better - reference, split))
    assert gain.low95_pp == pytest.approx(gain.pp - 1.96 * gain.se_pp)
    with pytest.raises(ValueError, match="same pairs"):
        fusion_runs.paired_gain(better[:50], reference, split)


def test_over_seeds_makes_each_seeds_models_on_that_seeds_split(monkeypatch):
    built = []

    def fake_split(seed, quick, **kwargs):
        built.append(seed)
        return toy_av({"seed": seed, "quick": quick, "pca_components": 8, "snr_db": 0.0}), None

    monkeypatch.setattr(fusion_runs, "course_av_mnist", fake_split)
    seen = []

    def make(av, seed):
        seen.append((av.key["seed"], seed))
        return {"m": fusion.Unimodal("image")}

    this_run = toy_av()
    made = fusion_runs.over_seeds(make, [0, 1, 2], True, reuse={0: (this_run, {"m": "already made"})})
    assert built == [1, 2] and seen == [(1, 1), (2, 2)], "seed 0 was reused, 1 and 2 made on their own splits"
    assert made[0] == (this_run.test, {"m": "already made"}) and set(made) == {0, 1, 2}
    with pytest.raises(ValueError, match="differ"):
        fusion_runs.over_seeds(make, [1, 1], True)

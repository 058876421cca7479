import json

import pytest
import torch

from course_utils import claims


def _claims(tmp_path, quick=True):
    return claims.Claims("99_test", quick=quick, seed=0, device="cpu", folder=tmp_path)


def test_record_writes_json_with_context(tmp_path):
    c = _claims(tmp_path)
    c.record("accuracy", 0.98, "fraction", at_least=0.97)
    c.record("seconds", 3.2, "s")
    doc = json.loads((tmp_path / "99_test.claims.json").read_text())
    assert doc["mode"] == "quick" and doc["torch"] == torch.__version__ and doc["seed"] == 0
    assert [e["name"] for e in doc["claims"]] == ["accuracy", "seconds"]
    assert all(e["passed"] for e in doc["claims"])
    assert c.value("accuracy") == 0.98


def test_failed_claim_raises_and_is_recorded(tmp_path):
    c = _claims(tmp_path, quick=False)
    with pytest.raises(claims.ClaimFailed, match=r"'ratio' failed in full mode: measured 2.0 x, expected ≥ 4"):
        c.record("ratio", 2.0, "x", at_least=4)
    with pytest.raises(claims.ClaimFailed, match="≤ 0.3"):
        c.record("drop", 0.5, "pp", at_most=0.3)
    doc = claims.load_claims(c.path)
    assert [e["passed"] for e in doc["claims"]] == [False, False]


def test_require(tmp_path):
    c = _claims(tmp_path)
    assert c.require("same", True)
    with pytest.raises(claims.ClaimFailed, match="different"):
        c.require("different", False)


def test_bad_input(tmp_path):
    c = _claims(tmp_path)
    with pytest.raises(ValueError, match="single number"):
        c.record("t", torch.ones(3))
    assert c.record("scalar", torch.tensor(2.5)) == 2.5
    with pytest.raises(ValueError, match="number or bool"):
        c.record("s", "high")
    with pytest.raises(ValueError, match="number or bool"):
        c.record("nan", float("nan"))
    with pytest.raises(ValueError, match="already recorded"):
        c.record("scalar", 1.0)
    with pytest.raises(ValueError, match="bare name"):
        claims.Claims("a/b", quick=True, seed=0, device="cpu", folder=tmp_path)
    with pytest.raises(FileNotFoundError, match="executed"):
        claims.load_claims(tmp_path / "missing.json")


def test_figure_saved_and_listed(tmp_path):
    import matplotlib.pyplot as plt

    c = _claims(tmp_path)
    fig, ax = plt.subplots()
    ax.plot([1, 2])
    path = c.figure(fig, "curve")
    assert path.exists() and path.name == "99_test.curve.png"
    assert claims.load_claims(c.path)["figures"] == ["99_test.curve.png"]
    with pytest.raises(ValueError, match="figure name"):
        c.figure(fig, "a b")

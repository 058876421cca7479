import json

import pytest
import torch

from course_utils import claims, hardware


def _claims(tmp_path, quick=True):
    return claims.Claims("99_test", quick=quick, seed=0, device="cpu", folder=tmp_path)


def test_record_writes_json_with_context_and_hardware(tmp_path):
    c = _claims(tmp_path)
    assert c.record("accuracy", 0.98, "fraction", at_least=0.97) is None  # nothing echoed at the end of a cell
    c.record("seconds", 3.2, "s")
    c.context(allocator_stabilised=True)
    doc = json.loads((tmp_path / "99_test.claims.json").read_text())
    assert doc["mode"] == "quick" and doc["torch"] == torch.__version__ and doc["seed"] == 0
    assert doc["hardware"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert doc["context"] == {"allocator_stabilised": True}
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


def test_target_is_kept_beside_the_bound_and_never_asserted(tmp_path):
    c = _claims(tmp_path)
    c.record("drop_pp", 0.2, "pp", at_most=0.5, target_at_most=0.06, source="Deep Compression, Table 1")
    c.record("ratio", 45.0, "x", at_least=30, target_at_least=39, source="Deep Compression, Table 1")
    entries = {e["name"]: e for e in claims.load_claims(c.path)["claims"]}
    assert entries["drop_pp"]["passed"] and entries["drop_pp"]["target"]["met"] is False
    assert entries["ratio"]["target"] == {"at_least": 39, "at_most": None, "source": "Deep Compression, Table 1", "met": True}
    with pytest.raises(ValueError, match="source"):
        c.record("no_source", 1.0, at_least=0.5, target_at_least=2.0)
    with pytest.raises(ValueError, match="above at_most"):
        c.record("inverted", 1.0, at_least=2.0, at_most=1.0)


def test_hardware_dependent_claim_is_asserted_only_where_the_feature_exists(tmp_path, monkeypatch):
    c = _claims(tmp_path)
    monkeypatch.setattr(hardware, "has", lambda feature: False)
    monkeypatch.setattr(hardware, "describe", lambda feature: "VNNI int8 dot-product instructions")
    c.record("int8_speedup", 0.9, "x", at_least=1.5, needs="vnni")  # would fail, but is not asserted here
    entry = claims.load_claims(c.path)["claims"][0]
    assert entry["passed"] and not entry["asserted"] and "VNNI" in entry["not_asserted_because"]
    assert "not asserted" in claims.bound_text(entry) and claims.status_mark(entry) == "➖"
    monkeypatch.setattr(hardware, "has", lambda feature: True)
    with pytest.raises(claims.ClaimFailed):
        c.record("int8_speedup", 0.9, "x", at_least=1.5, needs="vnni")


def test_rerecording_replaces_and_says_so(tmp_path, capsys):
    c = _claims(tmp_path)
    c.record("accuracy", 0.5, "fraction")
    c.record("accuracy", 0.6, "fraction")
    assert "recorded again: 0.5 → 0.6" in capsys.readouterr().out
    assert [e["value"] for e in claims.load_claims(c.path)["claims"]] == [0.6]


def test_require(tmp_path):
    c = _claims(tmp_path)
    assert c.require("same", True) is None
    with pytest.raises(claims.ClaimFailed, match="different"):
        c.require("different", False)
    with pytest.raises(TypeError, match="computed bool"):
        c.require("number", 0.3)


def test_bad_input(tmp_path):
    c = _claims(tmp_path)
    with pytest.raises(ValueError, match="single number"):
        c.record("t", torch.ones(3))
    c.record("scalar", torch.tensor(2.5))
    assert c.value("scalar") == 2.5
    with pytest.raises(ValueError, match="number or bool"):
        c.record("s", "high")
    with pytest.raises(ValueError, match="number or bool"):
        c.record("nan", float("nan"))
    with pytest.raises(ValueError, match="bound must be a number"):
        c.record("b", 1.0, at_least="2")
    with pytest.raises(ValueError, match="unknown hardware feature"):
        c.record("h", 1.0, at_least=0.5, needs="warp-drive")
    with pytest.raises(KeyError, match="scalar"):
        c.value("missing")
    with pytest.raises(ValueError, match="bare name"):
        claims.Claims("a/b", quick=True, seed=0, device="cpu", folder=tmp_path)
    with pytest.raises(FileNotFoundError, match="executed"):
        claims.load_claims(tmp_path / "missing.json")


def test_margin_and_table(tmp_path):
    c = _claims(tmp_path)
    c.record("low", 0.8, "fraction", at_least=0.5)
    c.record("band", 1.05, "x", at_least=1.0, at_most=1.3)
    c.record("plain", 3.0, "s")
    entries = {e["name"]: e for e in c.doc["claims"]}
    assert claims.margin(entries["low"]) == pytest.approx(0.3)
    assert claims.margin(entries["band"]) == pytest.approx(0.05)
    assert claims.margin(entries["plain"]) is None
    table = c.table(["low", "plain"])
    assert "| low | 0.8 | fraction | ≥ 0.5 | ✅ |  |  |" in table and "| plain | 3 | s | (figure) |" in table
    assert "band" not in table


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


def test_catches_is_recorded_shown_beside_the_bound_and_named_when_the_claim_fails(tmp_path):
    c = _claims(tmp_path)
    c.record("drop_pp", 0.2, "pp", at_most=0.5, catches="masks not applied during fine-tuning")
    c.require("same", True, catches="the mask keeps the largest weights")
    c.record("seconds", 3.0, "s")
    c.record("acc", 0.5, at_least=None, catches="shown only where there is a bound")
    entries = {e["name"]: e for e in claims.load_claims(c.path)["claims"]}
    assert entries["drop_pp"]["catches"] == "masks not applied during fine-tuning"
    table = c.table()
    assert "| catches |" in table.splitlines()[0]
    assert "| drop_pp | 0.2 | pp | ≤ 0.5 | ✅ | masks not applied during fine-tuning |" in table
    assert "| same | yes | bool | must hold | ✅ | the mask keeps the largest weights |" in table
    assert "| acc | 0.5 |  | (figure) |  |  |" in table
    with pytest.raises(claims.ClaimFailed, match="This bound catches: gradients summed, not averaged"):
        c.record("ratio", 2.0, "x", at_most=1.5, catches="gradients summed, not averaged")
    with pytest.raises(ValueError, match="one line of text"):
        c.record("bad", 1.0, at_least=0.5, catches="a | b")

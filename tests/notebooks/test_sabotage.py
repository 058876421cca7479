"""The sabotage probes themselves, without a kernel: they find the claim calls, and a probe fails only as it should."""

from __future__ import annotations

import nbformat
import pytest
import sabotage
from notebook_runs import REPO

from course_utils import claims as claims_module

NOTEBOOK = nbformat.v4.new_notebook(cells=[
    nbformat.v4.new_code_cell("%matplotlib inline\nratio = dense / small\n"
                              'claims.record("ratio", ratio, "x", at_least=5.0, catches="zeros saved densely")\n'
                              'claims.record("seconds", 3.0, "s")'),
    nbformat.v4.new_code_cell('for name in ("a", "b"):\n'
                              '    claims.require(f"{name}_same", same[name], catches="the mask inverted")\n'
                              'claims.record("speedup", s, "x", at_least=1.5 if QUICK else None, needs="vnni",\n'
                              '              catches="int8 eager")'),
])  # fmt: skip


def test_claim_calls_are_the_asserted_ones_as_written():
    calls = sabotage.claim_calls(NOTEBOOK)
    assert sorted(calls) == ['"ratio"', '"speedup"', 'f"{name}_same"']  # the figure "seconds" is not a claim
    assert calls['"ratio"'] == 'claims.record("ratio", ratio, "x", at_least=5.0, catches="zeros saved densely")'


def _run(code: str, namespace: dict) -> None:
    exec(compile(code, "<probe>", "exec"), namespace)  # noqa: S102 - the probe cell, as the kernel runs it


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    monkeypatch.setitem(sabotage.SABOTAGE, "99_demo", {
        '"ratio"': "small = dense\nratio = dense / small",  # the zeros saved densely: ratio 1
        'f"{name}_same"': "same = {**same, name: False}",
        '"speedup"': "s = 1.0",
    })  # fmt: skip
    recorder = claims_module.Claims("99_demo", quick=True, seed=0, device="cpu", folder=tmp_path)
    return {"claims": recorder, "dense": 800.0, "small": 100.0, "ratio": 8.0, "name": "b", "same": {"a": True, "b": True},
            "s": 2.0, "QUICK": True}  # fmt: skip


def test_the_original_holds_and_the_mistake_fails_the_claim(kernel):
    for _, original, sabotaged in sabotage.probes(NOTEBOOK, "99_demo")[:2]:
        _run(original[0], kernel)
        with pytest.raises(claims_module.ClaimFailed):
            _run(sabotaged[0], kernel)
    assert kernel["small"] == 100.0 and kernel["same"]["b"], "a mistake must not leak into the kernel's names"
    assert "record" not in vars(kernel["claims"]), "the spy on claims.record is removed after each probe"


def test_a_mistake_the_bound_does_not_catch_is_reported(kernel, monkeypatch):
    monkeypatch.setitem(sabotage.SABOTAGE, "99_demo", {'"ratio"': "ratio = dense / (1.2 * small)"})  # still ≥ 5×
    (_, _, sabotaged), = sabotage.probes(NOTEBOOK, "99_demo")
    with pytest.raises(AssertionError, match="catches nothing"):
        _run(sabotaged[0], kernel)


def test_a_claim_not_asserted_on_this_machine_says_so(kernel, monkeypatch):
    monkeypatch.setattr(claims_module.hardware, "has", lambda feature: False)
    _, _, sabotaged = sabotage.probes(NOTEBOOK, "99_demo")[2]
    with pytest.raises(Exception, match="lacks") as error:
        _run(sabotaged[0], kernel)
    assert type(error.value).__name__ == "NotAssertedHere"


@pytest.mark.parametrize("table", ["SABOTAGE", "DRAFTS"])
def test_every_listed_mistake_names_an_asserted_claim_and_compiles(table):
    entries = getattr(sabotage, table)
    assert entries or table == "DRAFTS", "no notebook's claims are sabotaged"
    for name in entries:
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        assert not sabotage.missing(nb, name, entries), f"{name}: asserted claims without a mistake to inject"
        for claim, original, sabotaged in sabotage.sources(nb, name, entries):
            compile(original, f"{name} {claim}", "exec")
            compile(sabotaged, f"{name} {claim}", "exec")

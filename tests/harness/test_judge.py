"""The judge's own rules, on a made-up milestone: how values become states and records."""

from __future__ import annotations

import pytest

from milestones import judge, readiness, records, registry, status
from milestones.registry import Criterion, Milestone, Part

GATE = Criterion("causal", "later tokens never move earlier logits", "is", True)
MEASURE = Criterion("loss", "validation loss", "<=", 1.0, requires=("causal",))
STONE = Milestone("zz", "zz", "Made up", 2000, "milestones/zz.md", "A milestone for the judge's tests.",
                  parts=(Part(1, "Only part", (1,), (GATE, MEASURE)),))


@pytest.fixture
def judged(tmp_path, monkeypatch):
    """The judge, in a fresh run, grading STONE into tmp_path, every module written."""
    monkeypatch.setenv("TINYTORCH_RESULTS_DIR", str(tmp_path))
    monkeypatch.setenv("STRICT", "0")
    monkeypatch.setattr(registry, "milestone", lambda ident: STONE)
    monkeypatch.setattr(readiness, "states", lambda numbers: {
        n: readiness.ModuleState(n, status.WRITTEN) for n in numbers})
    monkeypatch.setattr(judge, "_run", judge._Run())
    judge.begin("zz", part=1)
    return lambda: records.load(STONE)


def test_a_met_gate_lets_the_measurement_be_graded(judged):
    judge.check("causal", True)
    judge.check("loss", 0.5)
    found = judged()
    assert found["causal"].status is status.MET and found["loss"].status is status.MET
    assert found["loss"].value == 0.5


def test_a_missed_gate_makes_the_measurement_not_run_with_the_reason(judged, capsys):
    judge.check("causal", False)
    judge.check("loss", 0.001)  # a great loss from a model that peeks: not a result
    found = judged()
    assert found["causal"].status is status.MISSED
    assert found["loss"].status is status.NOT_RUN and found["loss"].value is None
    assert found["loss"].detail == "not measured: causal is missed"
    assert "[NOT RUN]" in capsys.readouterr().out


def test_checking_a_measurement_before_its_gate_is_a_chapter_bug(judged):
    with pytest.raises(RuntimeError, match="checks 'loss' before 'causal'"):
        judge.check("loss", 0.5)


def test_under_strict_a_missed_gate_stops_the_chapter(judged, monkeypatch):
    monkeypatch.setenv("STRICT", "1")
    with pytest.raises(judge.CriterionMissed):
        judge.check("causal", False)
    judge.on_exception(judge.CriterionMissed("", STONE, "causal"))
    assert judged()["loss"].detail == "chapter stopped at causal"


def test_a_not_run_counted_with_its_gate_does_not_fail_strict_twice():
    from milestones import scoreboard

    rows = [scoreboard.Row("zz", "Made up", 2000, 1, key, "", "", "-", state, "milestones/zz.md", detail)
            for key, state, detail in (("causal", status.MISSED, ""),
                                       ("loss", status.NOT_RUN, "not measured: causal is missed"))]
    assert [row.criterion for row in scoreboard.failures(rows)] == ["causal"]


def test_every_required_criterion_is_an_earlier_one_of_the_same_part():
    for stone in registry.ALL_MILESTONES:
        for part in stone.parts:
            keys = [c.key for c in part.criteria]
            for index, criterion in enumerate(part.criteria):
                assert set(criterion.requires) <= set(keys[:index]), (stone.id, criterion.key)

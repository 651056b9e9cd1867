"""Roster assignment, branch by branch: who takes a stage, who covers, and when no one can."""

from __future__ import annotations

from typing import Any

import pytest

from referral_orchestrator.engine.roster import Assignment, NoSubstitute, Roster
from referral_orchestrator.errors import ReferralError
from referral_orchestrator.launch.content import AgentSpec


def agent(name: str, caps: tuple[str, ...] = (), fallbacks: tuple[str, ...] = (), *,
          available: bool = True, escalates_to: str | None = None,
          kind: str = "agent") -> AgentSpec:
    return AgentSpec(name=name, description="", model="inherit", kind=kind, role=name,
                     capabilities=caps, skills=(), fallbacks=fallbacks,
                     escalates_to=escalates_to, available=available, persona="")


def roster(*, unavailable: dict[str, str] | None = None,
           fallbacks: dict[str, tuple[str, ...]] | None = None,
           off_duty: tuple[str, ...] = ()) -> Roster:
    """ops owns the stage; covered by pm, then po (through pm's own fallbacks)."""
    agents = {
        "ops": agent("ops", ("stage",), ("pm",), available="ops" not in off_duty,
                     escalates_to="arch"),
        "pm": agent("pm", ("kit",), ("po",), available="pm" not in off_duty),
        "po": agent("po", ("flows",), ("ops",), available="po" not in off_duty),
        "arch": agent("arch", ("remediation",), escalates_to="sponsor"),
        "sponsor": agent("sponsor", ("decision",), kind="person"),
    }
    return Roster(agents=agents, unavailable=unavailable or {}, fallbacks=fallbacks or {},
                  people={"ops": "Dana"})


@pytest.mark.parametrize(("case", "kwargs", "exclude", "expected"), [
    ("owner available", {}, set(), ("ops", None)),
    ("owner unavailable in the roster", {"unavailable": {"ops": "on leave"}}, set(),
     ("pm", "ops unavailable (on leave); pm covers")),
    ("owner off duty in its file", {"off_duty": ("ops",)}, set(),
     ("pm", "ops unavailable (marked unavailable in agents/ops.md); pm covers")),
    ("owner failed this stage", {}, {"ops"},
     ("pm", "ops unavailable (failed this stage); pm covers")),
    ("first substitute unavailable too: the chain goes on",
     {"unavailable": {"ops": "out", "pm": "out"}}, set(),
     ("po", "ops unavailable (out); po covers")),
    ("substitute excluded: the chain goes on", {"unavailable": {"ops": "out"}}, {"pm"},
     ("po", "ops unavailable (out); po covers")),
    ("roster fallbacks replace the file's", {"unavailable": {"ops": "out"},
                                             "fallbacks": {"ops": ("po",)}}, set(),
     ("po", "ops unavailable (out); po covers")),
])
def test_assign_picks_the_owner_or_the_first_available_substitute(
    case: str, kwargs: dict[str, Any], exclude: set[str], expected: tuple[str, str | None]
) -> None:
    got = roster(**kwargs).assign("stage", exclude=frozenset(exclude))
    assert (got.agent, got.reason) == expected, case
    assert got.primary == "ops" and got.stage == "stage"
    assert got.substituted == (got.agent != "ops")


@pytest.mark.parametrize(("case", "kwargs", "exclude"), [
    ("every agent of the chain unavailable", {"unavailable": {"ops": "x", "pm": "x",
                                                              "po": "x"}}, set()),
    ("the chain loops back without an available agent",
     {"unavailable": {"ops": "x", "pm": "x"}}, {"po"}),
    ("no fallbacks at all", {"unavailable": {"ops": "x"}, "fallbacks": {"ops": ()}}, set()),
])
def test_assign_raises_no_substitute_when_the_chain_runs_out(
    case: str, kwargs: dict[str, Any], exclude: set[str]
) -> None:
    with pytest.raises(NoSubstitute) as err:
        roster(**kwargs).assign("stage", exclude=frozenset(exclude))
    assert err.value.code == "no_substitute", case


def test_a_stage_no_agent_can_do_is_an_error() -> None:
    with pytest.raises(ReferralError):
        roster().assign("juggling")


def test_owner_of_names_the_agent_with_the_capability() -> None:
    assert [roster().owner_of(c) for c in ("stage", "kit", "flows")] == ["ops", "pm", "po"]


def test_assignment_is_substituted_only_when_someone_else_works() -> None:
    assert not Assignment("stage", "ops", "ops").substituted
    assert Assignment("stage", "pm", "ops", "why").substituted


@pytest.mark.parametrize(("kwargs", "name", "available"), [
    ({}, "ops", True),
    ({"unavailable": {"ops": "x"}}, "ops", False),
    ({"off_duty": ("pm",)}, "pm", False),
])
def test_availability_comes_from_the_roster_and_the_agent_file(
    kwargs: dict[str, Any], name: str, available: bool
) -> None:
    assert roster(**kwargs).is_available(name) is available


def test_the_fallback_map_lists_agents_not_people_with_roster_overrides() -> None:
    assert roster(fallbacks={"pm": ("ops",)}).fallback_map() == {
        "ops": ["pm"], "pm": ["ops"], "po": ["ops"], "arch": []}


def test_the_ladder_follows_escalates_to_from_the_first_rung() -> None:
    r = roster()
    r.agents["lifecycle-ops"] = r.agents["ops"]  # the ladder starts at lifecycle-ops
    assert r.ladder() == ["lifecycle-ops", "arch", "sponsor"]


def test_a_looping_ladder_is_an_error() -> None:
    r = roster()
    r.agents["lifecycle-ops"] = agent("lifecycle-ops", escalates_to="arch")
    r.agents["arch"] = agent("arch", escalates_to="lifecycle-ops")
    with pytest.raises(ReferralError):
        r.ladder()


def test_people_are_named_per_agent_or_role() -> None:
    assert (roster().person_for("ops"), roster().person_for("legal")) == ("Dana", None)

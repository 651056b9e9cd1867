"""The plan's validators agree: the fast path never lets through what jsonschema refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.launch.content import fast_validator, validator
from support import SEED_REQUEST, local_zone

BREAKS = {
    "missing status": lambda p: p.pop("status"),
    "unknown status": lambda p: p.update(status="done-ish"),
    "bad plan id": lambda p: p.update(plan_id="plan-x"),
    "retries not two": lambda p: p["error_handling"].update(max_retries=3),
    "bad task function": lambda p: p["tasks"][0].update(function="vibes"),
    "bad due date": lambda p: p["tasks"][0].update(due="2026-13-45"),
    "bad hash": lambda p: p["transitions"][0].update(hash="xyz"),
    "extra transition field": lambda p: p["transitions"][0].update(note="edited"),
    "readiness over 100": lambda p: p["success_metrics"].update(launch_readiness_pct=120),
    "empty channels": lambda p: p["request"]["normalized"].update(channels=[]),
}


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("plan")
    return Orchestrator(root / "plans").launch(**SEED_REQUEST, approvers="legal").plan


def test_both_validators_accept_a_real_plan(plan: dict[str, Any]) -> None:
    assert not list(validator("plan").iter_errors(plan))
    fast = fast_validator("plan")
    assert fast is None or fast.is_valid(plan)


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_fast_validator_never_accepts_what_jsonschema_rejects(
    name: str, plan: dict[str, Any]
) -> None:
    broken = copy.deepcopy(plan)
    BREAKS[name](broken)
    assert list(validator("plan").iter_errors(broken)), f"jsonschema accepted: {name}"
    fast = fast_validator("plan")
    if fast is not None:
        assert not fast.is_valid(broken), f"jsonschema-rs accepted: {name}"


def _instants(value: Any, where: str = "plan") -> list[tuple[str, str]]:
    """Every timestamp in a plan: (where, text) for each ``at`` / ``*_at`` string."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str) and (key == "at" or key.endswith("_at")) and (
                    item[:4].isdigit()):  # not ``state.resume_at`` (a node)
                found.append((f"{where}.{key}", item))
            else:
                found += _instants(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found += _instants(item, f"{where}[{i}]")
    return found


def test_a_naive_clock_still_writes_every_timestamp_with_its_offset(tmp_path: Any) -> None:
    """A host passing ``clock=datetime.now`` (local time, no zone) gets plans whose times
    are instants (RFC 3339 needs the offset), not wall-clock readings nobody can place."""
    import datetime as dt

    with local_zone("America/New_York"):
        local = dt.datetime(2026, 11, 25, 9, 0)  # 09:00 in New York is 14:00 UTC
        orch = Orchestrator(tmp_path / "plans", clock=lambda: local)
        plan = orch.launch(**SEED_REQUEST, approvers="legal").plan
        plan = orch.approve(plan["plan_id"], "legal", by="dana").plan
    stamps = _instants(plan)
    assert len(stamps) > 10
    assert all(dt.datetime.fromisoformat(text).utcoffset() is not None
               for _, text in stamps), [s for s in stamps if "+" not in s[1]][:3]
    assert plan["created_at"] == "2026-11-25T14:00:00+00:00"

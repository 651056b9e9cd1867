"""The side-by-side benchmark's core: three designs, one launch, the same work (no timings)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load() -> ModuleType:
    pytest.importorskip("langgraph_supervisor")  # the bench extra
    if not (BENCH / "bench_peer.py").is_file():
        pytest.skip("bench/ is not shipped in the sdist")
    sys.path.insert(0, str(BENCH))  # the script imports its sibling _harness
    try:
        spec = importlib.util.spec_from_file_location("bench_peer", BENCH / "bench_peer.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_peer"] = module
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(BENCH))
    return module


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    result: dict[str, Any] = _load().measure(latency=0.001, runs=1, warmup=False)
    return result["designs"]


def test_every_design_completes_the_same_work_items_with_the_same_outputs(
        report: dict[str, Any]) -> None:
    items = report["project"]["work_items"]
    assert len(items) == 16  # checklist, tooling, 9 drafts, landing page, kit, enablement, ...
    for row in report.values():
        assert row["work_items"] == items
        assert row["same_outputs"] is True


def test_the_supervisor_team_makes_more_model_calls_than_the_project(
        report: dict[str, Any]) -> None:
    project, default, tuned = (report[d]["calls"] for d in
                               ("project", "supervisor (defaults)", "supervisor (tuned)"))
    assert project == 16  # one call per work item, no routing calls
    assert default > tuned >= project
    assert report["supervisor (defaults)"]["calls_by_role"]["supervisor"] > 1


def test_the_dependent_chain_is_the_plans_supersteps_and_the_supervisors_lineage(
        report: dict[str, Any]) -> None:
    assert report["project"]["chain"] == 5  # checklist, tooling, drafts, partner ops, go-live
    default = report["supervisor (defaults)"]
    assert default["chain"] == default["calls"]  # one agent at a time: every call waits
    tuned = report["supervisor (tuned)"]
    assert report["project"]["chain"] < tuned["chain"] < tuned["calls"]  # parallel hand-off ran


def test_the_project_plan_records_the_input_tokens_its_model_was_sent(
        report: dict[str, Any]) -> None:
    row = report["project"]
    assert row["plan_input_tokens"] == row["input_tokens"]
    for design in report.values():
        assert 0 < design["cached_tokens"] < design["input_tokens"]

"""``status PLAN`` names the model each agent ran on, with its calls, tokens and cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.runners.base import Usage
from referral_orchestrator.surfaces.cli import main
from referral_orchestrator.testing import ScriptedRunner, reply
from support import AS_OF, SEED_REQUEST


def _billed(model: str, cost: float) -> Usage:
    return Usage(model=model, calls=1, input_tokens=1200, output_tokens=300, cost_usd=cost)


@pytest.fixture
def plan(workdir: Path, clock) -> str:  # type: ignore[no-untyped-def]
    # per-agent tiers, as the Claude runner picks them: one agent on haiku, one on sonnet
    runner = ScriptedRunner({
        ("lifecycle-ops", "checklist"): [reply(_billed("claude-sonnet-5-5", 0.0081))],
        ("lifecycle-ops", "tooling-qa"): [reply(_billed("claude-sonnet-5-5", 0.0081))],
        ("partner-ops", "partner-workflows"): [reply(_billed("claude-haiku-5-5", 0.0027))],
    })
    result = Orchestrator(workdir / "plans", model=runner, clock=clock).launch(**SEED_REQUEST)
    runner.assert_all_used()
    return result.plan_id


def test_status_json_has_each_agents_model_calls_tokens_and_cost(
    workdir: Path, plan: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["status", plan, "--plans-dir", str(workdir / "plans"), "--format", "json",
                 "--quiet"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["model"] == "scripted"
    assert doc["usage"]["calls"] == 3 and doc["usage"]["cost_usd"] == pytest.approx(0.0189)
    ops, partner = doc["usage_by_agent"]["lifecycle-ops"], doc["usage_by_agent"]["partner-ops"]
    assert ops == {"models": ["claude-sonnet-5-5"], "calls": 2, "input_tokens": 2400,
                   "output_tokens": 600, "cache_read_tokens": 0, "cache_write_tokens": 0,
                   "cost_usd": pytest.approx(0.0162)}
    assert partner["models"] == ["claude-haiku-5-5"] and partner["calls"] == 1


def test_status_text_names_the_model_and_cost_of_each_agent(
    workdir: Path, plan: str, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["status", plan, "--plans-dir", str(workdir / "plans"), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "model:   scripted: 3 calls, 3,600 in / 900 out tokens, $0.0189" in out
    assert "  lifecycle-ops on claude-sonnet-5-5: 2 calls, 2,400 in / 600 out tokens, " \
           "$0.0162" in out
    assert "  partner-ops on claude-haiku-5-5: 1 call, 1,200 in / 300 out tokens, $0.0027" in out


def test_an_offline_run_says_it_made_no_billed_calls(
    workdir: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["launch-program", "--program", "Customer Advocates", "--launch-date",
                 "2026-12-10", "--channels", "email", "--as-of", AS_OF, "--quiet"]) == 0
    assert "model:   offline (no billed model calls, $0)" in capsys.readouterr().out


def test_the_models_doc_shows_this_status_output(
    workdir: Path, plan: str, capsys: pytest.CaptureFixture[str],
) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    shown = doc.split("tests/test_status_usage.py", 1)[1].split("```text\n", 1)[1]
    shown = shown.split("```", 1)[0]
    assert main(["status", plan, "--plans-dir", str(workdir / "plans"), "--quiet"]) == 0
    assert shown in capsys.readouterr().out

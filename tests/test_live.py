"""Opt-in calls to the real Anthropic API: ``REFERRAL_LIVE=1 ANTHROPIC_API_KEY=... pytest -m live``.

Never run in CI. The network guard in conftest only allows loopback, so these tests lift it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.runners.anthropic import AnthropicRunner
from support import AS_OF

LIVE = bool(os.environ.get("REFERRAL_LIVE") and os.environ.get("ANTHROPIC_API_KEY"))
pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not LIVE, reason="live test: set REFERRAL_LIVE=1 and ANTHROPIC_API_KEY"),
]


@pytest.fixture(autouse=True)
def _network_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from support import REAL_CONNECT

    monkeypatch.setattr(socket.socket, "connect", REAL_CONNECT)


def test_the_key_and_model_ids_pass_preflight_against_the_real_api() -> None:
    AnthropicRunner(os.environ.get("REFERRAL_LIVE_MODEL", "claude-haiku-5-5")).preflight()


def test_a_small_launch_completes_on_claude_within_a_budget(tmp_path: Path) -> None:
    model = os.environ.get("REFERRAL_LIVE_MODEL", "claude-haiku-5-5")
    runner = AnthropicRunner(model, pin=True, max_cost_usd=2.0)
    result = Orchestrator(tmp_path / "plans", model=runner).launch(
        "Customer Advocates", "2026-12-10", "email", as_of=AS_OF, out_dir=tmp_path / "out")
    assert result.status in ("completed", "awaiting_decision")
    assert result.plan["usage"]["total"]["calls"] > 0
    assert result.plan["usage"]["total"]["cost_usd"] <= 2.0

"""Shared fixtures: no network beyond loopback, a deterministic clock, a temp workspace, the
seed request and a run stuck at the exec sponsor. Constants and classes tests import live in
``support.py``; nothing imports this module.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator import orchestrator as _orchestrator
from referral_orchestrator.runners.base import AgentRunner
from referral_orchestrator.testing import stuck_at_sponsor_runner
from support import REAL_CONNECT, SEED_REQUEST, FakeClock, Stuck, UseRunner


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"network is off in tests: refused connection to {host}")
    return REAL_CONNECT(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _network_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    if not os.environ.get("REFERRAL_LIVE"):
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty folder, as a newcomer would."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def orch(workdir: Path, clock: FakeClock) -> Iterator[Orchestrator]:
    yield Orchestrator(workdir / "plans", clock=clock)


@pytest.fixture
def seed() -> dict[str, Any]:
    """The seed request as ``Orchestrator.launch`` keyword arguments (a fresh copy)."""
    return dict(SEED_REQUEST)


@pytest.fixture
def stuck_at_sponsor(workdir: Path, clock: FakeClock, seed: dict[str, Any]) -> Stuck:
    """The seed launch with tooling QA failing until the exec sponsor is asked."""
    runner = stuck_at_sponsor_runner()
    orch = Orchestrator(workdir / "plans", model=runner, clock=clock)
    waiting = orch.launch(**seed)
    assert waiting.status == "awaiting_decision" and waiting.pending is not None
    assert waiting.pending["type"] == "escalation"
    return Stuck(orch, waiting, runner)


@pytest.fixture
def cli_runner(monkeypatch: pytest.MonkeyPatch) -> UseRunner:
    """``cli_runner(runner)``: every CLI command in this test runs its agents on ``runner``."""

    def use(runner: AgentRunner) -> AgentRunner:
        monkeypatch.setattr(_orchestrator, "resolve_runner", lambda *a, **k: runner)
        return runner

    return use

"""Shared fixtures: no network beyond loopback, a deterministic clock, a temp workspace."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_orchestrator import Orchestrator

AS_OF = "2026-11-25"
SEED = ["launch-program", "--program", "Customer Advocates", "--launch-date", "2026-12-10",
        "--channels", "email,in-app", "--as-of", AS_OF]

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address: object) -> object:
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"network is off in tests: refused connection to {host}")
    return _real_connect(self, address)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _network_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)
    if not os.environ.get("REFERRAL_LIVE"):
        monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)


class FakeClock:
    """A clock that ticks one second per reading (thread-safe), starting at 09:00 on AS_OF."""

    def __init__(self, start: str = f"{AS_OF}T09:00:00+00:00") -> None:
        self.now = dt.datetime.fromisoformat(start)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            self.now += dt.timedelta(seconds=1)
            return self.now


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

"""What the tests share besides fixtures: the seed request, a deterministic clock, the real
``socket.connect``. Import it as ``from support import ...`` (``tests/`` is on pytest's
``pythonpath``); the fixtures built on it live in ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from referral_orchestrator import LaunchResult, Orchestrator
from referral_orchestrator.runners.base import AgentRunner
from referral_orchestrator.testing import ScriptedRunner

AS_OF = "2026-11-25"


@contextlib.contextmanager
def local_zone(name: str) -> Iterator[None]:
    """The process's local time zone (``TZ``) set to ``name`` for the block, then put back."""
    import time

    before = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()

#: The seed request every end-to-end test starts from, as ``Orchestrator.launch`` /
#: ``launch_input`` keyword arguments (read-only: copy it to vary a field).
SEED_REQUEST: MappingProxyType[str, Any] = MappingProxyType({
    "program": "Customer Advocates", "launch_date": "2026-12-10", "channels": "email,in-app",
    "as_of": AS_OF,
})

#: The same request as a ``referral-orchestrator`` command line.
SEED = ["launch-program", "--program", SEED_REQUEST["program"],
        "--launch-date", SEED_REQUEST["launch_date"], "--channels", SEED_REQUEST["channels"],
        "--as-of", AS_OF]

#: The type of the ``cli_runner`` fixture: ``cli_runner(runner)`` makes the CLI use ``runner``.
UseRunner = Callable[[AgentRunner], AgentRunner]

#: ``socket.socket.connect`` before the tests' network guard replaces it.
REAL_CONNECT = socket.socket.connect


class FakeClock:
    """A clock that ticks one second per reading (thread-safe), starting at 09:00 on AS_OF."""

    def __init__(self, start: str = f"{AS_OF}T09:00:00+00:00") -> None:
        self.now = dt.datetime.fromisoformat(start)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            self.now += dt.timedelta(seconds=1)
            return self.now


@dataclass
class Stuck:
    """What the ``stuck_at_sponsor`` fixture gives: the seed launch waiting for the exec
    sponsor (answer it with ``orch.escalation(waiting.plan_id, ...)``) and its runner."""

    orch: Orchestrator
    waiting: LaunchResult
    runner: ScriptedRunner


PG_SERVER = os.environ.get("REFERRAL_ORCHESTRATOR_TEST_PG", "postgresql://root@127.0.0.1:5432")


@contextlib.contextmanager
def fresh_database(*, migrate: bool = True) -> Iterator[str]:
    """A new database on the machine's PostgreSQL (``store migrate``d), dropped afterwards.

    Skips without a reachable server on a laptop; fails under ``CI=true``.
    """
    import psycopg
    import pytest

    admin = f"{PG_SERVER}/postgres"
    name = f"ro_test_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"CREATE DATABASE {name}")
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {admin} ({exc}): .ci/run starts it")
        pytest.skip(f"PostgreSQL is not reachable at {admin}: start it to run this test")
    url = f"{PG_SERVER}/{name}"
    try:
        if migrate:
            from referral_orchestrator.plan.pgstore import PgStore

            with PgStore(url) as store:
                store.migrate()
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")

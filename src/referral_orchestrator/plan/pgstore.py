"""The PostgreSQL store: plans, locks, checkpoints and artifacts of a team in one database.

:class:`PgStore` implements :class:`~referral_orchestrator.plan.base.Store` on the tables
of :mod:`.pgschema` (``store migrate`` creates them) and LangGraph's ``PostgresSaver`` on
the database's ``psycopg_pool`` connection pool (:mod:`.pgconn`). Selected with
``--store postgresql://...`` or ``REFERRAL_ORCHESTRATOR_STORE``; see ``docs/postgres.md``.

- **Same contract as a file.** A plan is stored as the exact bytes the file store writes
  (``plans.document``) and its transitions as append-only rows (``transitions``). A load
  takes the transitions from the rows, so a row edited or deleted with SQL is refused (exit
  3, naming the record), and verifies the chain, the digest and the signature as
  ``FileStore.load`` does.
- **One writer per plan, on any host.** :meth:`PgStore.lock` holds a session advisory
  lock on the plan id for the whole command (a killed process's session ends and the lock
  with it); waiting is bounded by ``lock_timeout`` and then ``PlanBusy`` (exit 2). Every
  write is one transaction that also row-locks the plan and checks that the stored chain is
  a prefix of the new one, so a transition is never half written or written twice.
- **Identities.** A decision is recorded as made by ``session_user``, the role the
  database authenticated (not self-asserted).
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import hashlib
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referral_orchestrator.errors import (
    PlanBusy,
    PlanInvalid,
    PlanNotFound,
    PlanTampered,
    StorageError,
)

from .base import PlanRef, Store
from .chain import GENESIS
from .pgconn import PgDatabase, first_line, missing_extra
from .pgschema import (
    TABLES_QUERY,
    VERSION,
    VERSION_QUERY,
    append_rows,
    apply_migrations,
    assemble,
    index_columns,
    refuse_version,
    where_clause,
)
from .signing import SignedSerializer, signing_key
from .store import ARTIFACTS_DIR, LOCK_TIMEOUT, FileStore

if TYPE_CHECKING:
    from langgraph.checkpoint.postgres import PostgresSaver
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from psycopg import Connection

_INSERT_PLAN = ("INSERT INTO plans (plan_id, document, status, program, launch_date, channels, "
                "readiness, created_at, updated_at, chain_head, transitions) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 0)")
LOCK_SPACE = 0x5246_4C4B  # "RFLK": the advisory-lock namespace of plan locks
_LOCK_POLL = 0.05


class PgStore(PgDatabase):
    """Plans, locks, checkpoints and artifacts in one PostgreSQL database."""

    def __init__(self, url: str, *, lock_timeout: float = LOCK_TIMEOUT,
                 max_connections: int = 8) -> None:
        super().__init__(url, max_connections=max_connections)
        self.lock_timeout = lock_timeout

    @contextlib.asynccontextmanager
    async def async_checkpointer(self) -> AsyncIterator[AsyncPostgresSaver]:
        """LangGraph's ``AsyncPostgresSaver`` on this database, for a LangGraph server.

        The schema is checked first (an un-migrated database names ``store migrate``); the
        saver never creates tables. Checkpoints are signed as the CLI's are.
        """
        try:
            import psycopg
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
            from psycopg.rows import dict_row
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise missing_extra(exc) from None
        options: dict[str, Any] = {"autocommit": True, "prepare_threshold": 0,
                                   "row_factory": dict_row}
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.url, connect_timeout=10, autocommit=True, row_factory=dict_row)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {self.location}: "
                               f"{first_line(exc)}") from None
        async with conn:
            row = await (await conn.execute(TABLES_QUERY)).fetchone()
            have = 0
            if row is not None and row["ours"] is not None:
                got = await (await conn.execute(VERSION_QUERY)).fetchone()
                have = (got or {}).get("v") or 0
        refuse_version(self.location, row, have)
        key = signing_key()
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            self.url, min_size=1, max_size=self.max_connections, kwargs=options, open=False)
        async with pool:
            yield AsyncPostgresSaver(pool, serde=None if key is None else SignedSerializer(key))

    def migrate(self) -> dict[str, Any]:
        """Apply the migrations this database has not had; set up the checkpoint tables."""
        with self._connect() as conn:
            before = apply_migrations(conn, self.location)
        return {"store": self.location, "from_version": before, "version": VERSION}

    # -- the Store protocol ------------------------------------------------------------

    @property
    def checkpoint_location(self) -> str:
        """The database (LangGraph's checkpoint tables), without a password."""
        return self.location

    @property
    def command_options(self) -> builtins.list[str]:
        """``--store URL`` (without the password)."""
        return ["--store", self.location]

    def home_of(self, path: Path) -> PgStore:
        """Every plan of the database lives here."""
        return self

    def artifacts_folder(self, plan_id: str) -> Path:
        """``launches/<plan-id>`` under the working directory (the database keeps a copy)."""
        return Path(ARTIFACTS_DIR) / plan_id

    def where(self, path: Path) -> str:
        """The database and the plan id (``export`` writes the plan as a file)."""
        return f"{self.location} {path.stem} (export it as a file with 'export {path.stem}')"

    def path_of(self, plan_id: str) -> Path:
        """The stable name of a plan in this database (no file is there)."""
        parts = urllib.parse.urlsplit(self.location)
        where = (parts.hostname or "localhost") + (f":{parts.port}" if parts.port else "")
        return Path("/postgresql") / where / (parts.path.strip("/") or "postgres") / (
            f"{plan_id}.json")

    @staticmethod
    def id_of(ref: PlanRef) -> str:
        """A plan id from a reference (an id, or a name ending in ``<id>.json``)."""
        text = str(ref)
        return Path(text).stem if text.endswith(".json") else text

    def resolve(self, ref: PlanRef) -> Path:
        """A plan reference -> its name, or ``PlanNotFound``."""
        plan_id = self.id_of(ref)
        with self._db() as conn:
            row = conn.execute("SELECT 1 FROM plans WHERE plan_id = %s", (plan_id,)).fetchone()
        if row is None:
            raise PlanNotFound(
                f"no plan {plan_id!r} in {self.location}: run 'referral-orchestrator status "
                f"--store {self.location}' to list plans")
        return self.path_of(plan_id)

    def create(self, make: Callable[[str], dict[str, Any]],
               stamp: dt.datetime) -> tuple[str, Path]:
        """Insert ``make(plan_id)`` under the first free id for ``stamp``; returns (id, path)."""
        base = f"plan-{stamp:%Y%m%d-%H%M%S}"
        with self._db() as conn:
            for n in range(1, 10_000):
                plan_id = base if n == 1 else f"{base}-{n}"
                taken = conn.execute("SELECT 1 FROM plans WHERE plan_id = %s",
                                     (plan_id,)).fetchone()
                if taken is not None:
                    continue
                plan = make(plan_id)
                text = FileStore._encode(plan).decode("utf-8")
                if plan["transitions"]:
                    raise PlanInvalid(f"a new plan {plan_id} has transitions already")
                cur = conn.execute(_INSERT_PLAN + " ON CONFLICT (plan_id) DO NOTHING",
                                   (plan_id, text, *index_columns(plan)))
                if cur.rowcount == 1:  # a racing host may have taken the id meanwhile
                    return plan_id, self.path_of(plan_id)
        raise PlanInvalid(f"too many plans created at {base}")  # pragma: no cover

    def discard(self, path: Path) -> None:
        """Delete a plan nobody knows yet (no transitions): a launch that failed to start."""
        with self._db() as conn:
            conn.execute("DELETE FROM plans WHERE plan_id = %s AND transitions = 0",
                         (self.id_of(path),))

    def load(self, ref: PlanRef, *, identity: bool = True) -> tuple[Path, dict[str, Any]]:
        """Read a plan, its transitions from their rows, and verify it like a file."""
        plan_id = self.id_of(ref)
        with self._db() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            row = conn.execute("SELECT document, transitions FROM plans WHERE plan_id = %s",
                               (plan_id,)).fetchone()
            rows = conn.execute("SELECT seq, record, hash FROM transitions WHERE plan_id = %s "
                                "ORDER BY seq", (plan_id,)).fetchall()
        if row is None:
            self.resolve(plan_id)  # raises PlanNotFound with the way on
        assert row is not None
        return self.path_of(plan_id), assemble(plan_id, row["document"], rows,
                                                f"{self.location} plan {plan_id}")

    def write(self, path: Path, plan: dict[str, Any]) -> None:
        """Validate, then in one transaction append the new transitions and replace the plan."""
        text = FileStore._encode(plan).decode("utf-8")
        plan_id = plan["plan_id"]
        if self.id_of(path) != plan_id:
            raise PlanInvalid(f"{path} cannot hold plan {plan_id}")
        records = plan["transitions"]
        with self._db() as conn, conn.transaction():
            row = conn.execute("SELECT chain_head, transitions FROM plans WHERE plan_id = %s "
                               "FOR UPDATE", (plan_id,)).fetchone()
            if row is None:
                raise PlanNotFound(f"no plan {plan_id!r} in {self.location}")
            stored = row["transitions"]
            head = records[stored - 1]["hash"] if 0 < stored <= len(records) else GENESIS
            if stored > len(records) or head != row["chain_head"]:
                raise PlanTampered(
                    f"{self.location} plan {plan_id}: the stored chain ({stored} transitions, "
                    f"head {row['chain_head'][:12]}) is not a prefix of the one being written: "
                    "another writer moved it on; run the command again")
            append_rows(conn, plan, text, stored)
            self._keep_artifacts(conn, plan)

    def _keep_artifacts(self, conn: Connection[Any], plan: dict[str, Any]) -> None:
        """Store the bytes of the artifacts the plan records (those not stored yet)."""
        digests: dict[str, str] = plan.get("artifact_digests", {})
        rows = conn.execute("SELECT path, sha256 FROM artifacts WHERE plan_id = %s",
                            (plan["plan_id"],)).fetchall()
        have = {r["path"]: r["sha256"] for r in rows}
        gone = [p for p in have if p not in digests]
        if gone:
            conn.execute("DELETE FROM artifacts WHERE plan_id = %s AND path = ANY(%s)",
                         (plan["plan_id"], gone))
        folder = Path(plan["context_passing"]["artifacts_location"])
        for rel, want in sorted(digests.items()):
            if have.get(rel) == want:
                continue
            try:
                data = (folder / rel).read_bytes()
            except OSError:
                continue  # written on another host: that host's write stored it
            if hashlib.sha256(data).hexdigest() != want:
                continue
            conn.execute(
                "INSERT INTO artifacts (plan_id, path, sha256, content) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (plan_id, path) DO UPDATE SET sha256 = EXCLUDED.sha256, "
                "content = EXCLUDED.content", (plan["plan_id"], rel, want, data))

    @contextlib.contextmanager
    def lock(self, plan_id: str) -> Iterator[None]:
        """A session advisory lock on the plan id, held for the whole command.

        Waits at most ``lock_timeout`` seconds, then raises ``PlanBusy``. The lock lives as
        long as the session: a killed holder's lock is released by the server.
        """
        with self._db() as conn:
            deadline = time.monotonic() + self.lock_timeout
            while True:
                got = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s)) AS ok",
                                   (LOCK_SPACE, plan_id)).fetchone()
                if got is not None and got["ok"]:
                    break
                if time.monotonic() >= deadline:
                    raise PlanBusy(
                        f"another command holds plan {plan_id} in {self.location} (waited "
                        f"{self.lock_timeout:g} s): plan is busy; try again when it finishes")
                time.sleep(_LOCK_POLL)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))",
                             (LOCK_SPACE, plan_id))

    def sweep(self, plan_id: str) -> None:
        """Nothing to clear: a killed writer's transaction was rolled back by the server."""

    def list_plans(self) -> builtins.list[dict[str, Any]]:
        """One summary row per plan, oldest first, from the index columns."""
        return self.find_plans()

    def find_plans(self, *, status: str | None = None, program: str | None = None,
                   since: dt.date | None = None, limit: int | None = None,
                   offset: int = 0) -> builtins.list[dict[str, Any]]:
        """Summary rows from the ``plans`` index, filtered and paginated (oldest first)."""
        where, args = where_clause(status, program, since)
        sql = ("SELECT plan_id, status, program, launch_date, channels, readiness, "
               "updated_at FROM plans" + where + " ORDER BY created_at, plan_id")
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit)
        if offset:
            sql += " OFFSET %s"
            args.append(offset)
        with self._db() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [{"plan_id": r["plan_id"], "status": r["status"], "program": r["program"],
                 "launch_date": r["launch_date"].isoformat(), "channels": r["channels"],
                 "readiness": _number(r["readiness"]),
                 "updated_at": r["updated_at"].isoformat()} for r in rows]

    @contextlib.contextmanager
    def checkpointer(self, plan_id: str) -> Iterator[PostgresSaver]:
        """LangGraph's ``PostgresSaver`` on the pool (thread id = plan id)."""
        try:
            from langgraph.checkpoint.postgres import PostgresSaver
        except ImportError as exc:
            raise missing_extra(exc) from None
        key = signing_key()
        yield PostgresSaver(self.pool, serde=None if key is None else SignedSerializer(key))

    def identity(self, by: str | None) -> dict[str, Any]:
        """The role the database authenticated: ``session_user`` (not self-asserted)."""
        with self._db() as conn:
            row = conn.execute("SELECT session_user AS who").fetchone()
        assert row is not None
        return {"name": str(row["who"]), "source": "postgresql session_user",
                "self_asserted": False}

    def export(self, ref: PlanRef) -> tuple[bytes, dict[str, bytes]]:
        """The plan JSON bytes (as a file store writes them) and the stored artifacts."""
        _path, plan = self.load(ref)
        with self._db() as conn:
            row = conn.execute("SELECT document FROM plans WHERE plan_id = %s",
                               (plan["plan_id"],)).fetchone()
            rows = conn.execute("SELECT path, sha256, content FROM artifacts WHERE plan_id = %s "
                                "ORDER BY path", (plan["plan_id"],)).fetchall()
        assert row is not None
        files = {r["path"]: bytes(r["content"]) for r in rows
                 if hashlib.sha256(bytes(r["content"])).hexdigest() == r["sha256"]
                 and plan.get("artifact_digests", {}).get(r["path"]) == r["sha256"]}
        return row["document"].encode("utf-8"), files

    # -- operations of the store command -----------------------------------------------

    def import_plan(self, plan: dict[str, Any], text: bytes,
                    artifacts: dict[str, bytes]) -> str:
        """Insert one verified plan with its transitions and artifacts; idempotent.

        Returns ``imported``, ``present`` (the same plan is there already) or
        ``updated`` (the stored one was an earlier state of the same chain).
        """
        plan_id = plan["plan_id"]
        records = plan["transitions"]
        with self._db() as conn, conn.transaction():
            row = conn.execute("SELECT chain_head, transitions, document FROM plans "
                               "WHERE plan_id = %s FOR UPDATE", (plan_id,)).fetchone()
            if row is None:
                conn.execute(_INSERT_PLAN, (plan_id, text.decode("utf-8"), *index_columns(plan)))
                outcome, stored = "imported", 0
            elif row["document"].encode("utf-8") == text:
                outcome, stored = "present", row["transitions"]
            else:
                stored = row["transitions"]
                if stored > len(records) or (stored and records[stored - 1]["hash"]
                                             != row["chain_head"]):
                    raise PlanInvalid(
                        f"{plan_id} is in {self.location} already with another history: "
                        "not imported (export it and compare)")
                outcome = "updated"
            append_rows(conn, plan, text.decode("utf-8"), stored)
            for rel, data in sorted(artifacts.items()):
                conn.execute(
                    "INSERT INTO artifacts (plan_id, path, sha256, content) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (plan_id, path) DO UPDATE SET "
                    "sha256 = EXCLUDED.sha256, content = EXCLUDED.content",
                    (plan_id, rel, hashlib.sha256(data).hexdigest(), data))
        return outcome

    def finished_before(self, day: dt.date) -> builtins.list[str]:
        """Plans completed or halted before ``day`` (their checkpoints may go)."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT plan_id FROM plans WHERE status IN ('completed', 'halted') "
                "AND updated_at < %s ORDER BY plan_id", (day,)).fetchall()
        return [r["plan_id"] for r in rows]


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


if TYPE_CHECKING:  # PgStore is a Store (mypy checks the assignment)
    _check: Store = PgStore("postgresql://")

"""The PostgreSQL store's tables, as ordered, versioned migrations, and a plan <-> its rows.

``referral-orchestrator store migrate`` applies the migrations a database has not had yet
(``ro_migrations`` records each version) and sets up LangGraph's own checkpoint tables
(``PostgresSaver.setup``). Nothing else creates or alters a table: a command that finds
the database at an older version stops with a one-line message naming ``store migrate``.

Tables:

- ``plans``: one row per plan. ``document`` is the plan JSON exactly as the file store
  writes it (so ``export`` is byte-identical); ``status``, ``program``, ``launch_date``,
  ``channels``, ``readiness``, ``updated_at``, ``chain_head`` and ``transitions`` are its
  index columns (``status`` lists plans from them without reading a document).
- ``transitions``: append-only, one row per hash-chained record (``record`` is the
  record's canonical JSON, ``hash`` its SHA-256). A plan is loaded from its document with
  the transitions taken from these rows, so a row edited or deleted with SQL breaks the
  chain and every command refuses the plan. The application role needs INSERT and SELECT
  here, never UPDATE or DELETE (docs/postgres.md, "Grants").
- ``artifacts``: the bytes of each plan's rendered artifacts (runbook, comms kit, ...),
  keyed by their path in the artifact folder, with their SHA-256.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from referral_orchestrator.errors import PlanInvalid, PlanTampered, StorageError, StoreNotMigrated

from .chain import canonical, verify
from .store import FileStore

if TYPE_CHECKING:
    from psycopg import Connection

MIGRATIONS: tuple[str, ...] = (
    # 1: plans, transitions, artifacts
    """
    CREATE TABLE plans (
        plan_id      text PRIMARY KEY,
        document     text NOT NULL,
        status       text NOT NULL,
        program      text NOT NULL,
        launch_date  date NOT NULL,
        channels     text NOT NULL,
        readiness    double precision NOT NULL,
        created_at   timestamptz NOT NULL,
        updated_at   timestamptz NOT NULL,
        chain_head   char(64) NOT NULL,
        transitions  integer NOT NULL
    );
    CREATE INDEX plans_status_updated ON plans (status, updated_at);
    CREATE INDEX plans_program_updated ON plans (program, updated_at);
    CREATE INDEX plans_updated ON plans (updated_at);
    CREATE TABLE transitions (
        plan_id     text NOT NULL REFERENCES plans (plan_id),
        seq         integer NOT NULL CHECK (seq >= 1),
        record      text NOT NULL,
        hash        char(64) NOT NULL,
        recorded_by text NOT NULL DEFAULT session_user,
        recorded_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (plan_id, seq)
    );
    CREATE TABLE artifacts (
        plan_id  text NOT NULL REFERENCES plans (plan_id),
        path     text NOT NULL,
        sha256   char(64) NOT NULL,
        content  bytea NOT NULL,
        PRIMARY KEY (plan_id, path)
    );
    """,
    # 2: `status --program` matches the name in any case, from an index
    """
    DROP INDEX plans_program_updated;
    CREATE INDEX plans_program_ci_updated ON plans (lower(program), updated_at);
    """,
)
VERSION = len(MIGRATIONS)

BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS ro_migrations (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
# one migrate at a time per database (two hosts upgrading at once wait for each other)
MIGRATE_LOCK = 0x5246_4D47  # "RFMG"
TABLES_QUERY = ("SELECT to_regclass('ro_migrations') AS ours, "
                "to_regclass('checkpoint_migrations') AS theirs")
VERSION_QUERY = "SELECT max(version) AS v FROM ro_migrations"


def refuse_version(location: str, row: dict[str, Any] | None, have: int) -> None:
    """``StoreNotMigrated`` / ``StorageError`` unless the schema is this version's.

    ``row`` is :data:`TABLES_QUERY`'s answer, ``have`` the version ``ro_migrations`` records.
    """
    if have > VERSION:
        raise StorageError(
            f"the database at {location} is at schema version {have}, newer than "
            f"this referral-orchestrator ({VERSION}): upgrade referral-orchestrator")
    if have < VERSION or row is None or row["theirs"] is None:
        raise StoreNotMigrated(
            f"the database at {location} has no referral-orchestrator tables "
            f"(schema version {have}, need {VERSION}): run 'referral-orchestrator store "
            f"migrate --store {location}' first")


def check_schema(conn: Connection[Any], location: str) -> None:
    """Refuse a database whose schema is not this version's (:func:`refuse_version`)."""
    row = conn.execute(TABLES_QUERY).fetchone()
    have = 0
    if row is not None and row["ours"] is not None:
        got = conn.execute(VERSION_QUERY).fetchone()
        have = (got or {}).get("v") or 0
    refuse_version(location, row, have)


def apply_migrations(conn: Connection[Any], location: str) -> int:
    """Apply the migrations the database has not had, then LangGraph's; returns the
    version it was at. One migrate at a time per database (an advisory lock)."""
    from langgraph.checkpoint.postgres import PostgresSaver

    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
    try:
        conn.execute(BOOKKEEPING)
        got = conn.execute(VERSION_QUERY).fetchone()
        before: int = (got or {}).get("v") or 0
        if before > VERSION:
            check_schema(conn, location)
        for version in range(before + 1, VERSION + 1):
            with conn.transaction():
                conn.execute(MIGRATIONS[version - 1])
                conn.execute("INSERT INTO ro_migrations (version) VALUES (%s)", (version,))
        PostgresSaver(conn).setup()  # LangGraph's own versioned migrations
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
    return before


def index_columns(plan: dict[str, Any]) -> tuple[Any, ...]:
    """The index columns of a plan: status .. updated_at, then its chain head."""
    req = plan["request"]["normalized"]
    return (plan["status"], req["program"], req["launch_date"], ",".join(req["channels"]),
            plan["success_metrics"]["launch_readiness_pct"], plan["created_at"],
            plan["updated_at"], plan["integrity"]["chain_head"])


def where_clause(status: str | None, program: str | None,
                 since: dt.date | None) -> tuple[str, list[Any]]:
    """The ``WHERE`` of a ``status`` listing, answered from the index columns."""
    clauses: list[str] = []
    args: list[Any] = []
    if status is not None:
        clauses.append("status = %s")
        args.append(status)
    if program is not None:
        clauses.append("lower(program) = lower(%s)")
        args.append(program)
    if since is not None:
        clauses.append("updated_at >= %s")
        args.append(since)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), args


def assemble(plan_id: str, document: str, rows: list[dict[str, Any]],
             source: str) -> dict[str, Any]:
    """The plan with its transitions taken from their rows, verified; tampering named."""
    try:
        plan = json.loads(document)
    except ValueError as exc:
        raise PlanInvalid(f"{source} is not valid JSON ({exc})") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("transitions"), list):
        raise PlanInvalid(f"{source} is not a plan document")
    by_seq = {r["seq"]: r for r in rows}
    recorded: list[dict[str, Any]] = []
    for i, rec in enumerate(plan["transitions"], start=1):
        node = rec.get("node") if isinstance(rec, dict) else None
        row = by_seq.pop(i, None)
        if row is None:
            raise PlanTampered(
                f"{source}: transition #{i} ({node}) is missing from the transitions table "
                "(deleted with SQL): restore it from a backup or an export")
        try:
            stored = json.loads(row["record"])
        except ValueError:
            stored = None
        if stored != rec or row["hash"] != rec.get("hash"):
            raise PlanTampered(
                f"{source}: transition #{i} ({node}) in the transitions table differs from "
                "the chained record (edited with SQL): restore it from a backup or an export")
        recorded.append(rec)  # equal to the row; the document keeps its key order
    if by_seq:
        extra = min(by_seq)
        raise PlanTampered(f"{source}: transition #{extra} in the transitions table is not "
                           "in the plan (inserted with SQL): remove it or restore a backup")
    plan["transitions"] = recorded
    verified = verify(plan, source)
    if FileStore._encode(verified).decode("utf-8") != document:
        raise PlanTampered(f"{source}: the stored document is not in the form this store "
                           "writes (edited with SQL): restore it from a backup or an export")
    return verified


def append_rows(conn: Connection[Any], plan: dict[str, Any], text: str, stored: int) -> None:
    """Insert the transitions after the ``stored`` ones and replace the plan's row with
    ``text`` and its index columns (inside the caller's transaction, the row locked)."""
    records = plan["transitions"]
    if records[stored:]:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO transitions (plan_id, seq, record, hash) VALUES (%s, %s, %s, %s)",
                [(plan["plan_id"], r["seq"], canonical(r).decode("utf-8"), r["hash"])
                 for r in records[stored:]])
    conn.execute(
        "UPDATE plans SET document = %s, status = %s, program = %s, launch_date = %s, "
        "channels = %s, readiness = %s, created_at = %s, updated_at = %s, "
        "chain_head = %s, transitions = %s WHERE plan_id = %s",
        (text, *index_columns(plan), len(records), plan["plan_id"]))

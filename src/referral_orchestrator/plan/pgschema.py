"""The PostgreSQL store's tables, as ordered, versioned migrations.

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

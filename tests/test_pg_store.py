"""The PostgreSQL store against the machine's real server (never a mock).

A fresh database with a random name is created for this module and dropped at its end.
Hosts are stood in for by real processes in separate working directories sharing the
database. Without a reachable server the tests skip on a laptop and fail under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator.plan.chain import verify
from referral_orchestrator.plan.store import FileStore
from support import SEED

psycopg = pytest.importorskip("psycopg") if not os.environ.get("CI") else __import__("psycopg")

from referral_orchestrator.plan.pgstore import PgStore  # noqa: E402

SERVER = os.environ.get("REFERRAL_ORCHESTRATOR_TEST_PG", "postgresql://root@127.0.0.1:5432")
ADMIN = f"{SERVER}/postgres"


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def pg_server() -> str:
    try:
        _admin("SELECT 1")
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {ADMIN} ({exc}): .ci/run starts it")
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN}: start it to run these tests")
    return SERVER


@pytest.fixture(scope="module")
def db(pg_server: str) -> Iterator[str]:
    """A fresh, migrated database for this test run (dropped afterwards)."""
    name = f"ro_test_{secrets.token_hex(6)}"
    _admin(f"CREATE DATABASE {name}")
    url = f"{pg_server}/{name}"
    try:
        assert _cli("store", "migrate", "--store", url, cwd=Path.cwd()).returncode == 0
        yield url
    finally:
        _admin(f"DROP DATABASE {name} WITH (FORCE)")


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "referral_orchestrator", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=240,
                          env={**os.environ, **(env or {})})


def _host(tmp_path: Path, name: str) -> Path:
    home = tmp_path / name
    home.mkdir()
    return home


def _launch(url: str, cwd: Path, *extra: str) -> dict[str, Any]:
    done = _cli(*SEED, *extra, "--store", url, "--format", "json", "-q", cwd=cwd)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def _sql(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


def test_a_database_without_tables_is_refused_and_left_alone(pg_server: str,
                                                            tmp_path: Path) -> None:
    name = f"ro_test_{secrets.token_hex(6)}"
    _admin(f"CREATE DATABASE {name}")
    try:
        url = f"{pg_server}/{name}"
        for args in (["status"], ["status", "plan-20261125-090000"], ["validate", "plan-x"],
                     [*SEED]):
            done = _cli(*args, "--store", url, cwd=tmp_path)
            assert done.returncode == 2, done.stderr
            assert "store migrate" in done.stderr and len(done.stderr.splitlines()) == 1
        assert _sql(url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]
    finally:
        _admin(f"DROP DATABASE {name} WITH (FORCE)")


def test_launch_approve_and_export_match_the_file_store_contract(db: str,
                                                                 tmp_path: Path) -> None:
    a, b = _host(tmp_path, "host-a"), _host(tmp_path, "host-b")
    first = _launch(db, a, "--approvers", "legal,finance")
    plan_id = first["plan_id"]
    assert first["status"] == "awaiting_approval"
    assert any("--store " + db in n for n in first["next_actions"])
    # the summary says where the plan is: the database and its id, never a made-up file
    assert first["artifacts"]["plan"].startswith(f"{db} {plan_id} ")
    for who, host in (("legal", a), ("finance", b)):  # decided from two machines
        done = _cli("approve", plan_id, "--approver", who, "-q", cwd=host,
                    env={"REFERRAL_ORCHESTRATOR_STORE": db})
        assert done.returncode == 0, done.stderr
    valid = _cli("validate", plan_id, "--store", db, "--format", "json", cwd=b)
    assert valid.returncode == 0, valid.stderr
    assert json.loads(valid.stdout)["status"] == "completed"
    out = _cli("export", plan_id, "--store", db, "--out", "plan.json", "--artifacts", "kit",
               cwd=b)
    assert out.returncode == 0, out.stderr
    raw = (b / "plan.json").read_bytes()
    plan = verify(json.loads(raw))  # schema, chain, digest: as a file is verified
    assert raw == FileStore._encode(plan)  # the bytes the file store writes for it
    folder = Path(plan["context_passing"]["artifacts_location"])
    for rel in plan["artifact_digests"]:
        assert (b / "kit" / rel).read_bytes() == (folder / rel).read_bytes(), rel
    assert plan["artifact_digests"]
    # identities: the authenticated database role, not self-asserted
    assert {a["identity"]["name"] for a in plan["approvals"]} == {"root"}
    assert all(a["identity"]["self_asserted"] is False for a in plan["approvals"])
    # the index answers status without the documents
    rows = json.loads(_cli("status", "--store", db, "--status", "completed", "--format",
                           "json", cwd=a).stdout)
    assert plan_id in [r["plan_id"] for r in rows]


def test_file_plans_import_idempotently_and_resume_in_the_database(db: str,
                                                                   tmp_path: Path) -> None:
    host = _host(tmp_path, "laptop")
    done = _cli(*SEED, "--approvers", "legal", "--format", "json", "-q", cwd=host)
    assert done.returncode == 0, done.stderr
    plan_id = json.loads(done.stdout)["plan_id"]
    plans = host / ".claude" / "plans"
    original = (plans / f"{plan_id}.json").read_bytes()
    first = _cli("store", "import", str(plans), "--store", db, cwd=host)
    assert first.returncode == 0, first.stderr
    assert f"{plan_id}: imported" in first.stdout
    again = _cli("store", "import", str(plans), "--store", db, cwd=host)
    assert f"{plan_id}: present" in again.stdout
    exported = _cli("export", plan_id, "--store", db, cwd=host)
    assert exported.stdout.encode() == original
    # its checkpoints came along: the approval resumes the run from the database
    done = _cli("approve", plan_id, "--approver", "legal", "--store", db, "--format", "json",
                "-q", cwd=_host(tmp_path, "office"))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "completed"


def test_an_edited_or_deleted_transition_row_is_refused_by_every_command(
        db: str, tmp_path: Path) -> None:
    host = _host(tmp_path, "h")
    plan_id = _launch(db, host, "--approvers", "legal")["plan_id"]
    original = _sql(db, "SELECT record FROM transitions WHERE plan_id = %s AND seq = 2",
                    plan_id)[0][0]
    _sql(db, "UPDATE transitions SET record = (record::jsonb || '{\"agent\": \"mallory\"}')"
             "::text WHERE plan_id = %s AND seq = 2", plan_id)
    for args in (["validate", plan_id], ["status", plan_id], ["resume", plan_id],
                 ["approve", plan_id, "--approver", "legal"], ["export", plan_id]):
        done = _cli(*args, "--store", db, cwd=host)
        assert done.returncode == 3, (args, done.stderr)
        assert "transition #2" in done.stderr and "edited" in done.stderr
    _sql(db, "UPDATE transitions SET record = %s WHERE plan_id = %s AND seq = 2", original,
         plan_id)
    assert _cli("validate", plan_id, "--store", db, cwd=host).returncode == 0
    _sql(db, "DELETE FROM transitions WHERE plan_id = %s AND seq = 3", plan_id)
    done = _cli("validate", plan_id, "--store", db, cwd=host)
    assert done.returncode == 3 and "transition #3" in done.stderr, done.stderr
    assert "missing" in done.stderr


def test_a_second_command_waits_then_says_the_plan_is_busy(db: str, tmp_path: Path) -> None:
    host = _host(tmp_path, "h")
    plan_id = _launch(db, host, "--approvers", "legal")["plan_id"]
    with PgStore(db) as store, store.lock(plan_id):
        done = _cli("resume", plan_id, "--store", db, cwd=_host(tmp_path, "other"),
                    env={"REFERRAL_ORCHESTRATOR_LOCK_TIMEOUT": "1"})
    assert done.returncode == 2
    assert "plan is busy" in done.stderr and "waited 1 s" in done.stderr
    assert _cli("resume", plan_id, "--store", db, cwd=host).returncode == 0


def test_two_hosts_approving_in_the_same_second_both_land(db: str, tmp_path: Path) -> None:
    approvers = ["legal", "finance", "brand", "privacy"]
    plan_id = _launch(db, _host(tmp_path, "h"), "--approvers", ",".join(approvers))["plan_id"]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "referral_orchestrator", "approve", plan_id, "--approver", who,
         "--store", db, "-q"], cwd=_host(tmp_path, f"host-{who}"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for who in approvers]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    with PgStore(db) as store:
        plan = store.load(plan_id)[1]
    assert plan["status"] == "completed"
    assert sorted(a["approver"] for a in plan["approvals"] if a["status"] == "approved") == (
        sorted(approvers))
    keys = [t["key"] for t in plan["transitions"]]
    assert len(keys) == len(set(keys))


KILLER = textwrap.dedent("""
    import os, signal, sys
    from referral_orchestrator.plan import pgstore
    n = int(sys.argv[1])
    seen = {"i": 0}
    real = pgstore.PgStore._keep_artifacts

    def dying(self, conn, plan):  # inside the write transaction, after the new rows
        seen["i"] += 1
        if seen["i"] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(self, conn, plan)

    pgstore.PgStore._keep_artifacts = dying
    from referral_orchestrator.surfaces.cli import main
    sys.exit(main(sys.argv[2:]))
""")


@pytest.mark.parametrize("n", [2, 5])
def test_sigkill_mid_write_then_resume_on_another_host_finishes_once(
        db: str, tmp_path: Path, n: int) -> None:
    baseline = _launch(db, _host(tmp_path, "baseline"))
    with PgStore(db) as store:
        want = Counter(t["node"] for t in store.load(baseline["plan_id"])[1]["transitions"])
    a = _host(tmp_path, "dies")
    before = {r[0] for r in _sql(db, "SELECT plan_id FROM plans")}
    proc = subprocess.run([sys.executable, "-c", KILLER, str(n), *SEED, "--store", db, "-q"],
                          cwd=a, capture_output=True, text=True, timeout=240)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    (plan_id,) = {r[0] for r in _sql(db, "SELECT plan_id FROM plans")} - before
    # the killed transaction left nothing half written: the stored plan verifies
    assert _cli("validate", plan_id, "--store", db, cwd=a).returncode == 0
    done = _cli("resume", plan_id, "--store", db, "--format", "json", "-q",
                cwd=_host(tmp_path, "finishes"))
    assert done.returncode == 0, done.stderr
    with PgStore(db) as store:
        plan = store.load(plan_id)[1]
    assert plan["status"] == "completed"
    assert Counter(t["node"] for t in plan["transitions"]) == want
    rows = _sql(db, "SELECT seq FROM transitions WHERE plan_id = %s ORDER BY seq", plan_id)
    assert [r[0] for r in rows] == list(range(1, len(plan["transitions"]) + 1))
    # the same artifacts as the uninterrupted run, each stored with the digest the plan seals
    with PgStore(db) as store:
        _, files = store.export(plan_id)
        _, want_files = store.export(baseline["plan_id"])
    assert sorted(files) == sorted(want_files) == sorted(plan["artifact_digests"])


def test_the_application_role_needs_no_update_or_delete_on_transitions(
        db: str, tmp_path: Path) -> None:
    role = f"ro_app_{secrets.token_hex(4)}"
    grants = Path(__file__).parent.parent / "docs" / "postgres-grants.sql"
    sql = grants.read_text().replace("referral_app", role)
    _sql(db, f"CREATE ROLE {role} LOGIN")
    try:
        with psycopg.connect(db, autocommit=True) as conn:
            conn.execute(sql)
        app = db.replace("//root@", f"//{role}@")
        host = _host(tmp_path, "app")
        plan_id = _launch(app, host, "--approvers", "legal")["plan_id"]
        done = _cli("approve", plan_id, "--approver", "legal", "--store", app, "--format",
                    "json", "-q", cwd=host)
        assert done.returncode == 0, done.stderr
        with PgStore(app) as store:
            plan = store.load(plan_id)[1]
        assert plan["approvals"][0]["identity"] == {
            "name": role, "source": "postgresql session_user", "self_asserted": False}
        with psycopg.connect(app, autocommit=True) as conn:
            for statement in ("UPDATE transitions SET hash = hash",
                              "DELETE FROM transitions"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(statement)
    finally:
        _sql(db, f"DROP OWNED BY {role}")
        _sql(db, f"DROP ROLE {role}")


def test_the_roster_allow_list_checks_the_database_role(db: str, tmp_path: Path) -> None:
    host = _host(tmp_path, "h")
    (host / "roster.yaml").write_text(
        "approvers:\n  legal: [root]\n  finance: [someone-else]\n")
    plan_id = _launch(db, host, "--approvers", "legal,finance,brand", "--roster",
                      "roster.yaml")["plan_id"]
    refused = _cli("approve", plan_id, "--approver", "finance", "--by", "someone-else",
                   "--store", db, cwd=host)
    assert refused.returncode == 2  # --by cannot claim another identity in the database
    assert "root (postgresql session_user) may not decide for finance" in refused.stderr
    unlisted = _cli("approve", plan_id, "--approver", "brand", "--store", db, cwd=host)
    assert unlisted.returncode == 2 and "list nobody for brand" in unlisted.stderr
    with PgStore(db) as store:
        plan = store.load(plan_id)[1]
    assert all(a["status"] == "pending" for a in plan["approvals"])  # nothing recorded
    allowed = _cli("approve", plan_id, "--approver", "legal", "--store", db, cwd=host)
    assert allowed.returncode == 0, allowed.stderr


def test_prune_drops_checkpoints_of_finished_plans_and_keeps_plans(db: str,
                                                                   tmp_path: Path) -> None:
    host = _host(tmp_path, "h")
    plan_id = _launch(db, host)["plan_id"]
    assert _sql(db, "SELECT count(*) FROM checkpoints WHERE thread_id = %s", plan_id)[0][0]
    done = _cli("store", "prune", "--finished-before", "2100-01-01", "--store", db, "--format",
                "json", cwd=host)
    assert done.returncode == 0, done.stderr
    assert plan_id in json.loads(done.stdout)["pruned"]
    assert _sql(db, "SELECT count(*) FROM checkpoints WHERE thread_id = %s", plan_id) == [(0,)]
    assert _cli("validate", plan_id, "--store", db, cwd=host).returncode == 0


def test_mcp_over_the_database_records_the_database_role(db: str, tmp_path: Path) -> None:
    from test_pg_identities import _mcp

    host = _host(tmp_path, "h")
    (host / "roster.yaml").write_text("approvers:\n  legal: [root]\n  finance: [sam]\n")
    plan_id = _launch(db, host, "--approvers", "legal,finance", "--roster",
                      "roster.yaml")["plan_id"]
    refused, allowed, listed = _mcp(host / "plans", [
        ("approve", {"plan": plan_id, "approver": "finance", "by": "sam"}),
        ("approve", {"plan": plan_id, "approver": "legal"}),
        ("list_plans", {"status": "awaiting_approval"}),
    ], store=db)
    assert refused.is_error and "root (postgresql session_user)" in refused.content[0].text
    assert not allowed.is_error, allowed.content
    assert plan_id in [r["plan_id"] for r in listed.structured_content["plans"]]
    with PgStore(db) as store:
        approvals = {a["approver"]: a for a in store.load(plan_id)[1]["approvals"]}
    assert approvals["legal"]["identity"]["name"] == "root"
    assert approvals["finance"]["status"] == "pending"


def test_an_older_schema_is_refused_until_store_migrate_upgrades_it(
        pg_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from referral_orchestrator.errors import StoreNotMigrated
    from referral_orchestrator.plan import pgschema, pgstore

    name = f"ro_test_{secrets.token_hex(6)}"
    _admin(f"CREATE DATABASE {name}")
    url = f"{pg_server}/{name}"
    try:
        with monkeypatch.context() as m:  # a database migrated by the previous release
            m.setattr(pgschema, "MIGRATIONS", pgschema.MIGRATIONS[:1])
            m.setattr(pgschema, "VERSION", 1)
            m.setattr(pgstore, "VERSION", 1)
            with PgStore(url) as store:
                assert store.migrate()["version"] == 1
        with PgStore(url) as store, pytest.raises(StoreNotMigrated, match="need 2"):
            store.list_plans()
        done = _cli("store", "migrate", "--store", url, cwd=Path.cwd())
        assert done.returncode == 0 and "(was 1)" in done.stdout, done.stderr
        rows = _sql(url, "SELECT indexname FROM pg_indexes WHERE tablename = 'plans'")
        assert "plans_program_ci_updated" in {r[0] for r in rows}
        _launch(url, tmp_path)
        found = _cli("status", "--store", url, "--program", "CUSTOMER ADVOCATES", "--format",
                     "json", cwd=tmp_path)
        assert len(json.loads(found.stdout)) == 1, found.stderr
    finally:
        _admin(f"DROP DATABASE {name} WITH (FORCE)")

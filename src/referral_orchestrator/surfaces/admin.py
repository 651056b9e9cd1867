"""``store migrate | import DIR | prune`` and ``export PLAN``: running a store.

- ``store migrate`` creates or upgrades a PostgreSQL store's tables (versioned, see
  ``plan/pgschema.py``); no other command creates a table.
- ``store import DIR`` copies the verified plans of a plans folder, their transitions,
  artifacts and LangGraph checkpoints into the database; a plan already there unchanged is
  skipped, so running it again is harmless.
- ``store prune --finished-before DATE`` deletes the checkpoints of plans that completed
  or were halted before DATE, in either store; plans and their transitions stay.
- ``export PLAN`` writes the plan JSON as the file store writes it, and with
  ``--artifacts DIR`` its artifacts, from whichever store holds it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from referral_orchestrator.errors import PlanError, UsageError
from referral_orchestrator.launch.checks import parse_date
from referral_orchestrator.plan.base import Store, artifact_files
from referral_orchestrator.plan.pgstore import PgStore
from referral_orchestrator.plan.store import FileStore
from referral_orchestrator.plan.stores import close_store

FINISHED = ("completed", "halted")


def _pg(store: Store, action: str) -> PgStore:
    if not isinstance(store, PgStore):
        raise UsageError(f"store {action} needs a database: pass --store postgresql://user@host/db "
                         "or set REFERRAL_ORCHESTRATOR_STORE")
    return store


def store_command(args: argparse.Namespace, store: Store,
                  dump: Callable[[Any], str]) -> int:
    """Run ``store migrate | import | prune``; prints a report, returns the exit code."""
    try:
        if args.action == "migrate":
            report: dict[str, Any] = _pg(store, "migrate").migrate()
            text = (f"{report['store']}: schema version {report['version']}"
                    + (" (already current)" if report["from_version"] == report["version"]
                       else f" (was {report['from_version']})"))
        elif args.action == "import":
            if not args.dir:
                raise UsageError("store import needs DIR: the plans folder to copy in")
            report = import_folder(Path(args.dir), _pg(store, "import"))
            text = "\n".join(f"{pid}: {outcome}" for pid, outcome in report["plans"].items())
            text += (f"\n{report['imported']} imported, {report['present']} already there, "
                     f"{report['updated']} updated, {report['refused']} refused")
        else:
            if not args.finished_before:
                raise UsageError("store prune needs --finished-before YYYY-MM-DD")
            day = parse_date(args.finished_before, "--finished-before")
            pruned = prune(store, day)
            report = {"finished_before": day.isoformat(), "pruned": pruned}
            text = (f"checkpoints of {len(pruned)} plan(s) finished before {day} deleted; "
                    "their plans and transitions are kept")
    finally:
        close_store(store)
    print(dump(report) if args.format == "json" else text)
    return 3 if report.get("refused") else 0


def import_folder(folder: Path, target: PgStore) -> dict[str, Any]:
    """Copy every verified plan of ``folder`` (with checkpoints, artifacts) into ``target``."""
    if not folder.is_dir():
        raise UsageError(f"store import {folder}: not a folder of plans")
    source = FileStore(folder)
    plans: dict[str, str] = {}
    for path in source.list():
        try:
            _, plan = source.load(path)
            files = artifact_files(plan)
        except PlanError as exc:
            plans[path.stem] = f"refused ({exc.code}): {exc.message}"
            continue
        text = path.read_bytes()
        outcome = target.import_plan(plan, text, files)
        _copy_thread(source, target, plan["plan_id"], replace=outcome != "present")
        plans[plan["plan_id"]] = outcome
    counts = {k: sum(1 for v in plans.values() if v.startswith(k))
              for k in ("imported", "present", "updated", "refused")}
    return {"from": str(folder), "to": target.location, **counts, "plans": plans}


def _copy_thread(source: Store, target: Store, plan_id: str, *, replace: bool) -> None:
    """Copy a plan's checkpoint thread, oldest first (skipped when the target has one)."""
    config: Any = {"configurable": {"thread_id": plan_id}}
    with source.checkpointer(plan_id) as src, target.checkpointer(plan_id) as dst:
        if dst.get_tuple(config) is not None:
            if not replace:
                return
            dst.delete_thread(plan_id)
        for tup in reversed(list(src.list(config))):
            conf = tup.config["configurable"]
            parent: Any = tup.parent_config or {"configurable": {
                "thread_id": plan_id, "checkpoint_ns": conf.get("checkpoint_ns", "")}}
            saved = dst.put(parent, tup.checkpoint, tup.metadata,
                            dict(tup.checkpoint["channel_versions"]))
            by_task: dict[str, list[tuple[str, Any]]] = {}
            for task_id, channel, value in tup.pending_writes or []:
                by_task.setdefault(task_id, []).append((channel, value))
            for task_id, writes in by_task.items():
                dst.put_writes(saved, writes, task_id)


def prune(store: Store, day: Any) -> list[str]:
    """Delete the checkpoints of plans finished before ``day``; returns their ids."""
    if isinstance(store, PgStore):
        ids = store.finished_before(day)
        if ids:
            with store.checkpointer(ids[0]) as saver:
                saver.prune(ids, strategy="delete")
        return ids
    ids = [r["plan_id"] for r in store.list_plans() if r["status"] in FINISHED
           and r["updated_at"][:10] < day.isoformat()]
    for plan_id in ids:
        with store.checkpointer(plan_id) as saver:
            saver.delete_thread(plan_id)
    return ids


def export_command(args: argparse.Namespace, store: Store) -> int:
    """Write the plan JSON (to --out or stdout) and with --artifacts its artifacts."""
    try:
        data, files = store.export(args.plan)
    finally:
        close_store(store)
    if args.artifacts:
        root = Path(args.artifacts)
        for rel, content in files.items():
            target = root / rel
            if not target.resolve().is_relative_to(root.resolve()):
                raise UsageError(f"artifact {rel!r} would leave {root}: not written")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    if args.out:
        Path(args.out).write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    if args.artifacts or args.out:
        print(f"{args.plan}: plan {'-> ' + args.out if args.out else 'printed'}"
              + (f", {len(files)} artifact(s) -> {args.artifacts}" if args.artifacts else ""),
              file=sys.stderr)
    return 0

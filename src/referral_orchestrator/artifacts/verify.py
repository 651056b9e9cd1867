"""``validate``: a plan's record (schema, chain, digest, signature) and the files it sealed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from referral_orchestrator.errors import ArtifactsTampered
from referral_orchestrator.plan.base import Store
from referral_orchestrator.plan.signing import signing_key
from referral_orchestrator.plan.store import DEFAULT_PLANS_DIR, FileStore

from .manifest import changed


def validate_plan(file: str | Path, store: Store | None = None, *,
                  plans_dir: str | Path = DEFAULT_PLANS_DIR) -> dict[str, Any]:
    """Check a plan file (schema, chain, digest, signature) and the artifacts it recorded.

    Raises ``PlanError`` (exit 3); an artifact whose bytes differ from the SHA-256 in the
    plan is ``ArtifactsTampered``, naming the file. Artifacts that are not on disk (the plan
    was copied elsewhere) are counted as missing, not refused. While a run is in progress
    the files may be newer than the plan, so they are not compared. With a ``store``
    (a database), ``file`` is a plan id there, checked with its transitions' rows; without
    one, a plan id (no such file) is looked up in ``plans_dir``.
    """
    if store is None and not str(file).endswith(".json") and not Path(file).is_file():
        store = FileStore(plans_dir)
    path, plan = (FileStore(Path(file).parent).load(file, identity=False) if store is None
                  else store.load(file))
    folder = Path(plan["context_passing"]["artifacts_location"])
    digests = plan.get("artifact_digests", {})
    edited: list[str] = []
    missing: list[str] = []
    if plan["status"] != "running":
        edited, missing = changed(folder, digests)
    if edited:
        more = f" (and {len(edited) - 1} more)" if len(edited) > 1 else ""
        raise ArtifactsTampered(
            f"{folder / edited[0]}{more} differs from the SHA-256 that {plan['plan_id']} "
            "recorded: restore it, or write the plan's version again with "
            f"'referral-orchestrator resume {plan['plan_id']}'")
    integrity = plan["integrity"]
    signature = ("verified" if "signature" in integrity and signing_key() is not None
                 else "not checked (no signing key set)" if "signature" in integrity
                 else "none")
    return {"file": str(path), "valid": True, "plan_id": plan["plan_id"],
            "status": plan["status"], "transitions": len(plan["transitions"]),
            "chain_head": integrity["chain_head"], "signature": signature,
            "artifacts": {"location": str(folder), "checked": len(digests) - len(missing)
                          if plan["status"] != "running" else 0, "missing": len(missing)}}

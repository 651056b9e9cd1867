"""The plan JSON: built from graph state, hash-chained, validated against its schema.

``transitions`` is one record per node execution, each carrying ``prev_hash`` and
``hash`` (SHA-256 over the canonical record), and ``integrity.body_sha256`` covers
everything else, so an edit anywhere in the file is detected on load.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from . import _qa as qa
from ._content import fast_validator, validator
from ._errors import PlanInvalid, PlanTampered
from ._roster import roster_from_overrides
from ._state import MAX_RETRIES

SCHEMA_VERSION = "1.0"
GENESIS = "0" * 64
STAGE_ORDER = [
    ("checklist", "Checklist", "checklist", "sequential"),
    ("tooling-qa", "Tooling & QA", "tooling_qa", "sequential"),
    ("communications", "Communications", "communications", "parallel"),
    ("enablement", "Training & enablement", "enablement", "parallel"),
    ("partner-workflows", "Partner workflows", "partner_ops", "sequential"),
    ("approval", "Approval gate", "approval_gate", "sequential"),
    ("go-live", "Go-live & monitoring", "go_live", "sequential"),
]
RESPONSE_SLAS = {"incident_acknowledge": "15 minutes", "support_first_response": "4 business hours",
                 "partner_question": "1 business day", "approval_turnaround": "2 business days"}


def canonical(data: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces) used for every hash."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256(data: Any) -> str:
    """SHA-256 hex of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical(data)).hexdigest()


def chain(records: list[dict[str, Any]], prior: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append ``records`` to the already-chained ``prior``, skipping keys already present."""
    out = list(prior)
    seen = {r["key"] for r in prior}
    for rec in records:
        if rec["key"] in seen:
            continue
        seen.add(rec["key"])
        body = {k: v for k, v in rec.items() if k not in ("seq", "prev_hash", "hash")}
        body["seq"] = len(out) + 1
        body["prev_hash"] = out[-1]["hash"] if out else GENESIS
        body["hash"] = sha256(body)
        out.append(body)
    return out


def seal(plan: dict[str, Any]) -> dict[str, Any]:
    """Set ``integrity`` (chain head + body digest) on a plan; returns the plan."""
    plan.pop("integrity", None)
    head = plan["transitions"][-1]["hash"] if plan["transitions"] else GENESIS
    plan["integrity"] = {"algorithm": "sha256", "chain_head": head, "body_sha256": sha256(plan)}
    return plan


def verify(plan: Any, source: str = "plan") -> dict[str, Any]:
    """Schema-validate a plan and check its chain and digest; raise PlanInvalid/PlanTampered."""
    fast = fast_validator("plan")  # ~50x faster; a plan it rejects goes to jsonschema
    errors = [] if fast is not None and fast.is_valid(plan) else sorted(
        validator("plan").iter_errors(plan), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise PlanInvalid(f"{source} fails plan.schema.json at {where}: {errors[0].message}")
    prev = GENESIS
    for i, rec in enumerate(plan["transitions"], start=1):
        body = {k: v for k, v in rec.items() if k != "hash"}
        if rec["seq"] != i or rec["prev_hash"] != prev or sha256(body) != rec["hash"]:
            raise PlanTampered(
                f"{source}: transition #{i} ({rec.get('node')}) breaks the hash chain: "
                "the plan was edited; restore it from version control or start a new launch"
            )
        prev = rec["hash"]
    body = {k: v for k, v in plan.items() if k != "integrity"}
    integrity = plan["integrity"]
    if integrity["chain_head"] != prev or sha256(body) != integrity["body_sha256"]:
        raise PlanTampered(
            f"{source}: body digest does not match (a field outside the transitions was edited): "
            "restore the plan from version control or start a new launch"
        )
    return dict(plan)


def _stages(values: dict[str, Any], roster: Any) -> list[dict[str, Any]]:
    outcomes = values.get("outcome", {})
    tasks = values.get("tasks", [])
    result = []
    for stage_id, name, node, execution in STAGE_ORDER:
        if stage_id == "approval" and not values["request"]["approvers"]:
            continue
        done = {"communications": "comms", "enablement": "enablement",
                "partner-workflows": "partner_workflows", "go-live": "golive",
                "checklist": "tasks", "tooling-qa": "tooling"}.get(stage_id)
        status = {"ok": "done", "waived": "waived", "retry": "retrying",
                  "escalate": "escalated", "pending": "waiting", "rework": "rework"}.get(
            outcomes.get(stage_id, ""), "pending")
        if status == "pending" and done and values.get(done) and stage_id != "communications":
            status = "done"
        owner = roster.owner_of(stage_id if stage_id != "approval" else "partner-workflows")
        result.append({
            "stage_id": stage_id, "name": name, "node": node, "execution": execution,
            "owner": owner, "status": status,
            "attempts": values.get("attempts", {}).get(stage_id, 0),
            "tasks": [t["id"] for t in tasks if t["stage"] == stage_id
                      or (stage_id == "communications" and t["stage"] == "partner-kit")],
        })
    return result


def _unique_substitutions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per (stage, covered, substitute): the first time it happened."""
    seen: dict[tuple[str, str, str], dict[str, Any]] = {}
    for rec in records:
        seen.setdefault((rec["stage"], rec["covered"], rec["substitute"]), rec)
    return list(seen.values())


def _owner_changes(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every substitution is an owner change in the change log."""
    return [{"what": f"owner of {r['stage']}", "before": r["covered"], "after": r["substitute"],
             "by": "roster", "reason": r["reason"], "at": r["at"]}
            for r in _unique_substitutions(records)]


def readiness(values: dict[str, Any]) -> float:
    """Launch readiness %: share of launch gates that are ready.

    Gates: a dated task list whose lead times fit before launch, tooling QA, comms QA,
    enablement, partner workflows, the go-live plan, and each approval.
    """
    outcomes = values.get("outcome", {})
    tasks = values.get("tasks")
    gates = [bool(tasks), bool(tasks) and not values.get("compressed_tasks"),
             outcomes.get("tooling-qa") in ("ok", "waived"),
             outcomes.get("communications") in ("ok", "waived"), bool(values.get("enablement")),
             bool(values.get("partner_workflows")), bool(values.get("golive"))]
    gates += [a["status"] == "approved" for a in values.get("approvals", {}).values()]
    return round(100 * sum(gates) / len(gates), 1)


def on_schedule(values: dict[str, Any]) -> float:
    """Share of tasks that get their full lead time (not compressed)."""
    tasks = values.get("tasks") or []
    if not tasks:
        return 0.0
    squeezed = set(values.get("compressed_tasks", []))
    return round(100 * sum(t["id"] not in squeezed for t in tasks) / len(tasks), 1)


def usage_summary(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """Model calls, tokens and cost per agent and in total."""
    fields = ("calls", "input_tokens", "output_tokens", "cache_read_tokens",
              "cache_write_tokens", "cost_usd")
    by_agent: dict[str, dict[str, float]] = {}
    total = dict.fromkeys(fields, 0.0)
    for call in calls:
        agent = by_agent.setdefault(call["agent"], dict.fromkeys(fields, 0.0))
        for f in fields:
            agent[f] += call.get(f, 0)
            total[f] += call.get(f, 0)
    def _clean(d: dict[str, float]) -> dict[str, Any]:
        return {k: (round(v, 6) if k == "cost_usd" else int(v)) for k, v in d.items()}
    return {"total": _clean(total), "by_agent": {a: _clean(d) for a, d in sorted(by_agent.items())},
            "records": calls}


def build(meta: dict[str, Any], values: dict[str, Any],
          transitions: list[dict[str, Any]]) -> dict[str, Any]:
    """Assemble the plan document from run metadata, graph state and chained transitions."""
    req = values["request"]
    roster = roster_from_overrides(values.get("roster"))
    checks = [c for v in values.get("qa", {}).values() for c in v.get("checks", [])]
    work = [f"{c}:{s}" for c in req["channels"] for s in req["audience"]] + [
        "partner-kit", "landing-page"]
    plan: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "plan_id": meta["plan_id"],
        "objective": (f"Launch the {req['program']} referral program on {req['launch_date']} "
                      f"via {', '.join(req['channels'])}"),
        "complexity": "complex" if len(values.get("tasks", [])) < 10 else "very-complex",
        "strategy": {
            "pattern": req["pattern"],
            "stages": [s[0] for s in STAGE_ORDER],
            "diamond": {"parallel": ["communications", "enablement"], "merge_gate": "merge_gate"}
            if req["pattern"] == "diamond" else None,
        },
        "status": meta["status"],
        "request": {"given": meta["given"], "normalized": req, "roster": values.get("roster", {}),
                    "landing_url": values.get("landing_url", "")},
        "model": meta["model"],
        "created_at": meta["created_at"],
        "updated_at": meta["updated_at"],
        "charter": values.get("charter"),
        "stages": _stages(values, roster),
        "tasks": values.get("tasks", []),
        "compressed_tasks": values.get("compressed_tasks", []),
        "full_lead_launch": values.get("full_lead_launch"),
        "parallelization": {
            "max_concurrent": meta.get("max_concurrency", 8),
            "parallel_groups": [{"group_id": "drafts", "tasks": work + (
                ["enablement"] if req["pattern"] == "diamond" else []),
                "wait_for": ["tooling_qa"]}],
        },
        "context_passing": {"method": "langgraph-state", "artifacts_location": meta["out_dir"],
                            "checkpoint": meta["checkpoint"]},
        "error_handling": {
            "retry_strategy": "with-modification", "max_retries": MAX_RETRIES,
            "attempts": values.get("attempts", {}), "extra_budget": values.get("budget", {}),
            "fallback_plan": roster.fallback_map(),
            "unavailable": roster.overrides()["unavailable"],
            "escalation": {"ladder": roster.ladder(),
                           "triggers": ["retries_exhausted", "no_substitute", "approval_slipped",
                                        "rejections_exhausted"]},
            "failures": {k: v for k, v in values.get("failures", {}).items() if v},
        },
        "substitutions": _unique_substitutions(values.get("substitutions", [])),
        "success_metrics": {
            "launch_readiness_pct": readiness(values),
            "on_schedule_pct": on_schedule(values),
            "tracking_accuracy": qa.accuracy(checks),
            "response_slas": RESPONSE_SLAS,
        },
        "qa": values.get("qa", {}),
        "approvals": [{**a, "review": [meta.get("deliverables", {})[k] for k in (
            "comms_kit", "runbook_md") if k in meta.get("deliverables", {})]}
            for a in values.get("approvals", {}).values()],
        "pending": meta.get("pending"),
        "deliverables": meta.get("deliverables", {}),
        "transitions": transitions,
        "change_log": _owner_changes(values.get("substitutions", [])) + values.get("changes", []),
        "escalation_log": values.get("escalations", []),
        "remediation_log": values.get("remediations", []),
        "usage": usage_summary(values.get("usage", [])),
    }
    return seal(plan)

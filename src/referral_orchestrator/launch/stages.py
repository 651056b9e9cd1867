"""The launch's stages and the shared rules every layer reads: retry limit, SLAs, readiness."""

from __future__ import annotations

from typing import Any

MAX_RETRIES = 2
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

"""The plan JSON: built from graph state, hash-chained, validated against its schema.

``transitions`` is one record per node execution, each carrying ``prev_hash`` and
``hash`` (SHA-256 over the canonical record), and ``integrity.body_sha256`` covers
everything else, so an edit anywhere in the file is detected on load.

The plan holds the whole graph state - most of it in the sections people read (tasks, QA,
approvals, logs), the rest (stage outputs, guardrail bookkeeping) under ``state`` - so
:func:`values_from_plan` can rebuild the run when its checkpoints are lost. ``state`` also
says which checkpointed transitions the state reflects (``settled``, with their digest),
which is how a checkpoint thread is matched to its plan.

The projection is pure: :func:`build` turns run metadata, graph state and chained
transitions into the plan, and :func:`project` adds the status a stopped thread is in
(waiting on a person, done, halted, or cut short). :func:`export_plan` applies it to the
state of any LangGraph thread - a ``StateSnapshot`` from ``graph.get_state(config)`` or
the JSON a LangGraph server returns for ``threads.get_state`` - so a run driven by a
server gets the plan the CLI would have written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from referral_orchestrator.engine.roster import roster_from_overrides
from referral_orchestrator.errors import UsageError
from referral_orchestrator.launch import qa
from referral_orchestrator.launch.stages import (
    MAX_RETRIES,
    PLAN_STAGES,
    RESPONSE_SLAS,
    on_schedule,
    readiness,
    stages_at,
)

from .chain import CHAIN_FIELDS, chain, seal

SCHEMA_VERSION = "1.0"
# Graph state the plan's readable sections hold verbatim (values_from_plan reads it there)
VERBATIM_KEYS = ("run_id", "request", "roster", "landing_url", "charter", "tasks",
                 "compressed_tasks", "full_lead_launch", "qa", "attempts", "budget",
                 "escalations", "remediations", "usage", "transitions")
# Graph state that no other plan section holds verbatim; ``state`` keeps it for a rebuild.
OUTPUT_KEYS = ("tooling", "comms", "enablement", "partner_workflows", "golive")
CONTROL_DEFAULTS: dict[str, Any] = {
    "status": "running", "probe_landing": False, "outcome": {}, "failures": {},
    "excluded": {}, "assigned": {}, "reassignment": None, "waivers": [], "escalation": None,
    "decision": None, "approvals": {}, "substitutions": [], "changes": [],
}


def _state(values: dict[str, Any], transitions: list[dict[str, Any]]) -> dict[str, Any]:
    """The rest of the graph state, and which checkpointed transitions it reflects.

    ``settled`` lists the ``seq`` of every transition in the state, in the order the
    checkpoint holds them (parallel drafts finish in one order and are applied in another).
    """
    seq_of = {t["key"]: t["seq"] for t in transitions}
    settled = values.get("transitions", [])
    return {
        "run_id": values.get("run_id", ""),
        "settled": [seq_of[r["key"]] for r in settled if r["key"] in seq_of],
        "resume_at": settled[-1]["node"] if settled else None,
        "outputs": {k: values.get(k) for k in OUTPUT_KEYS},
        "control": {k: values.get(k, default) for k, default in CONTROL_DEFAULTS.items()},
    }


def raw_record(record: dict[str, Any]) -> dict[str, Any]:
    """A plan transition as the graph wrote it (without its chain fields)."""
    return {k: v for k, v in record.items() if k not in CHAIN_FIELDS}


def values_from_plan(plan: dict[str, Any]) -> dict[str, Any]:
    """The graph state a plan was built from (the inverse of :func:`build`).

    Every transition of the plan comes back, including any recorded after the state was
    last settled: the audit trail in the checkpoint then matches the plan's chain.
    """
    req, state, handling = plan["request"], plan["state"], plan["error_handling"]
    values: dict[str, Any] = {
        "run_id": state["run_id"], "request": req["normalized"], "roster": req["roster"],
        "landing_url": req["landing_url"], "tasks": plan["tasks"],
        "compressed_tasks": plan.get("compressed_tasks", []), "qa": plan.get("qa", {}),
        "attempts": handling["attempts"], "budget": handling.get("extra_budget", {}),
        "escalations": plan["escalation_log"], "remediations": plan["remediation_log"],
        "usage": plan["usage"].get("records", []),
        **{k: v for k, v in state["outputs"].items() if v is not None},
        **state["control"],
        "transitions": [raw_record(t) for t in _checkpoint_order(plan)],
    }
    for key in ("charter", "full_lead_launch"):
        if plan.get(key) is not None:
            values[key] = plan[key]
    return values


def _checkpoint_order(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan's transitions, settled ones first in the order the checkpoint held them."""
    by_seq = {t["seq"]: t for t in plan["transitions"]}
    settled = [n for n in plan["state"]["settled"] if n in by_seq]
    done = set(settled)
    return [by_seq[n] for n in settled] + [t for t in plan["transitions"]
                                           if t["seq"] not in done]


def _stages(values: dict[str, Any], roster: Any) -> list[dict[str, Any]]:
    outcomes = values.get("outcome", {})
    tasks = values.get("tasks", [])
    result = []
    for stage in PLAN_STAGES:
        if stage.needs_approvers and not values["request"]["approvers"]:
            continue
        status = {"ok": "done", "waived": "waived", "retry": "retrying",
                  "escalate": "escalated", "pending": "waiting", "rework": "rework"}.get(
            outcomes.get(stage.id, ""), "pending")
        # drafts land one by one: only the merge gate's outcome says communications is done
        if (status == "pending" and stage.state_key and values.get(stage.state_key)
                and stage.id != "communications"):
            status = "done"
        parts = {s.id for s in stages_at(stage.node)}  # the partner kit is communications'
        result.append({
            "stage_id": stage.id, "name": stage.label, "node": stage.node,
            "execution": stage.execution, "owner": roster.owner_of(stage.owner),
            "status": status, "attempts": values.get("attempts", {}).get(stage.id, 0),
            "tasks": [t["id"] for t in tasks if t["stage"] in parts],
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
            "stages": [s.id for s in PLAN_STAGES],
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
        "artifact_digests": meta.get("artifact_digests", {}),
        "transitions": transitions,
        "change_log": _owner_changes(values.get("substitutions", [])) + values.get("changes", []),
        "escalation_log": values.get("escalations", []),
        "remediation_log": values.get("remediations", []),
        "usage": usage_summary(values.get("usage", [])),
        "state": _state(values, transitions),
    }
    return seal(plan)


def run_status(values: dict[str, Any], interrupts: Sequence[dict[str, Any]], *,
               finished: bool) -> str:
    """The plan status of a thread that stopped: waiting on a person, halted, done or not.

    ``interrupts`` are the values of the thread's open interrupts (in task order);
    ``finished`` says no task is left to run.
    """
    if interrupts:
        return "awaiting_approval" if interrupts[0].get("type") == "approval" else (
            "awaiting_decision")
    if values.get("status") == "halted":
        return "halted"
    return "completed" if finished else "running"


def project(meta: dict[str, Any], values: dict[str, Any], transitions: list[dict[str, Any]],
            *, interrupts: Sequence[dict[str, Any]] = (), finished: bool) -> dict[str, Any]:
    """The plan of a stopped thread: :func:`build` with its status and open question."""
    return build({**meta, "status": run_status(values, interrupts, finished=finished),
                  "pending": interrupts[0] if interrupts else None}, values, transitions)


def _thread_view(state: Any) -> tuple[dict[str, Any], list[dict[str, Any]], bool, str, str]:
    """(values, open interrupts, finished, thread id, created_at) of a snapshot or its JSON."""
    if isinstance(state, Mapping):  # a LangGraph server's ThreadState
        tasks = state.get("tasks") or []
        values = state.get("values") or {}
        interrupts = [i["value"] for t in tasks for i in t.get("interrupts") or []]
        thread = str((state.get("checkpoint") or {}).get("thread_id") or "")
        created = str(state.get("created_at") or "")
    else:  # langgraph.types.StateSnapshot
        tasks = list(state.tasks)
        values = dict(state.values)
        interrupts = [i.value for t in tasks for i in t.interrupts]
        thread = str(((state.config or {}).get("configurable") or {}).get("thread_id") or "")
        created = str(state.created_at or "")
    values = {k: v for k, v in values.items() if not k.startswith("__")}
    return values, interrupts, not tasks, thread, created


def _given(request: dict[str, Any], landing_url: str) -> dict[str, Any]:
    """What a launch form would have held for this request (the thread keeps no form)."""
    keys = ("program", "launch_date", "channels", "segments", "approvers", "as_of", "pattern",
            "country", "subdivision", "timezone", "currency")
    given = {k: request[k] for k in keys if request.get(k) not in (None, [], "")}
    return {**given, "landing_url": landing_url} if landing_url else given


def export_plan(thread_state: Any, *, plan_id: str | None = None, model: str | None = None,
                out_dir: str = "", max_concurrency: int = 8) -> dict[str, Any]:
    """The plan JSON of a LangGraph thread, as the CLI writes it (schema-valid, chained).

    ``thread_state`` is ``graph.get_state(config)`` of :func:`~referral_orchestrator.
    engine.graph.build_graph`'s graph, or the ``threads.get_state(thread_id)`` JSON of a
    LangGraph server serving ``langgraph.json``. Defaults for what the thread does not
    hold: ``plan_id`` from the first transition's time (``plan-YYYYMMDD-HHMMSS``),
    ``model`` from the billed usage records (``offline`` when none), ``out_dir`` empty
    (the server path renders no artifacts). Raises ``UsageError`` for a thread whose
    launch has not started.
    """
    values, interrupts, finished, thread, created = _thread_view(thread_state)
    if not values.get("request"):
        raise UsageError("the thread holds no launch yet: export its plan after the first "
                         "node (checklist) has run")
    transitions = chain(list(values.get("transitions", [])), [])
    stamps = [t["at"] for t in transitions] or [created or values["request"]["as_of"]]
    first = dt.datetime.fromisoformat(stamps[0]).astimezone(dt.UTC)
    billed = sorted({r["model"] for r in values.get("usage", []) if r.get("model")})
    meta = {"plan_id": plan_id or f"plan-{first:%Y%m%d-%H%M%S}",
            "model": model or ", ".join(billed) or "offline",
            "given": _given(values["request"], values.get("landing_url", "")
                            if values.get("probe_landing") else ""),
            "created_at": stamps[0], "updated_at": stamps[-1], "out_dir": out_dir,
            "checkpoint": f"langgraph thread {thread}" if thread else "langgraph thread",
            "max_concurrency": max_concurrency}
    return project(meta, values, transitions, interrupts=interrupts, finished=finished)

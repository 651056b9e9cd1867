"""A plan's checkpoints checked against its record, and rebuilt from it when lost.

A progressed plan whose checkpoints are missing, older than the plan or another run's is
refused (exit 3) with the command that recovers it; ``resume --from-plan`` seeds a fresh
thread from the plan's own record at the node its state ends at, so no finished stage runs
again and no decision is forgotten.
"""

from __future__ import annotations

import shlex
from typing import Any

from referral_orchestrator.errors import CheckpointMismatch

from .base import Store
from .chain import checkpoint_mismatch


def check_thread(home: Store, doc: dict[str, Any], values: dict[str, Any]) -> None:
    """Refuse to go on from checkpoints that are missing or not this plan's run."""
    recover = shlex.join(["referral-orchestrator", "resume", doc["plan_id"], "--from-plan",
                          *home.command_options])
    if not values.get("run_id"):  # no thread, or only its unapplied input
        if doc["transitions"]:
            raise CheckpointMismatch(
                f"{doc['plan_id']} has progressed but its checkpoints are missing from "
                f"{home.checkpoint_location}: rebuild them from the plan with '{recover}'")
        return
    reason = checkpoint_mismatch(doc, values)
    if reason is not None:
        raise CheckpointMismatch(
            f"the checkpoints of {doc['plan_id']} in {home.checkpoint_location} are not its "
            f"run ({reason}): rebuild them from the plan with '{recover}'")


def rebuild(graph: Any, doc: dict[str, Any]) -> None:
    """Seed a fresh checkpoint thread of ``graph`` from the plan, at the node its state
    ends at (unless the thread is intact: then nothing changes)."""
    from langgraph.graph import START

    from .record import values_from_plan

    config = {"configurable": {"thread_id": doc["plan_id"]}}
    try:
        snap = graph.get_state(config)
    except CheckpointMismatch:  # unsigned, edited, or signed with another key
        snap = None
    if (snap is not None and snap.values.get("run_id")
            and checkpoint_mismatch(doc, snap.values) is None):
        return  # the checkpoints are intact: a plain resume
    graph.checkpointer.delete_thread(doc["plan_id"])
    # as if the node the plan's state ends at had just written it: the graph's own
    # routing then picks the next node (the approval gate, the sponsor, go-live...)
    graph.update_state(config, values_from_plan(doc),
                       as_node=doc["state"]["resume_at"] or START)

"""``referral-orchestrator mcp``: the launch tools and the plans over MCP (stdio).

Tools: ``launch_program``, ``approve``, ``escalation_decision``, ``status``,
``list_plans``; each returns the ``--format json`` document (structured content) and a
bad input comes back as a tool error naming the fix. Every plan in the plans folder is a
resource, ``plan://<plan-id>`` (the plan JSON, the audit trail). Transitions are sent as
progress notifications while a run moves. Needs the ``mcp`` extra (mcp 2.x).

Claude Desktop / Claude Code configuration is in ``docs/surfaces.md``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Resource

from referral_orchestrator import __version__
from referral_orchestrator.errors import ReferralError
from referral_orchestrator.orchestrator import LaunchResult, Orchestrator
from referral_orchestrator.plan.store import DEFAULT_PLANS_DIR

from .hosts import stream
from .progress import Progress

PLAN_URI = "plan://{plan_id}"
_PLAN_ID = re.compile(r"^plan-\d{8}-\d{6}(-\d+)?$")
INSTRUCTIONS = (
    "Runs referral program launches. Call launch_program with the program, launch date "
    "and channels; a result with status awaiting_approval waits for each approver "
    "(call approve), awaiting_decision waits for the exec sponsor (escalation_decision, "
    "only on a person's instruction). next_actions says what a person must do next. "
    "Plans are resources at plan://<plan-id>."
)


class LaunchServer(MCPServer[Any]):
    """An MCP server whose resource list is the plans folder, read afresh on every call."""

    def __init__(self, orchestrator: Orchestrator) -> None:
        super().__init__(name="referral-orchestrator", version=__version__,
                         instructions=INSTRUCTIONS)
        self.orchestrator = orchestrator

    async def list_resources(self) -> list[Resource]:
        """Static resources plus one ``plan://`` resource per plan file."""
        listed = await super().list_resources()
        for row in self.orchestrator.list_plans():
            desc = (f"{row.get('program')} - launch {row.get('launch_date')} via "
                    f"{row.get('channels')} - {row['status']}" if "program" in row
                    else f"invalid plan ({row.get('error')})")
            listed.append(Resource(uri=f"plan://{row['plan_id']}", name=row["plan_id"],
                                   title=f"Launch plan {row['plan_id']}", description=desc,
                                   mime_type="application/json"))
        return listed


def build_server(plans_dir: str | Path = DEFAULT_PLANS_DIR, *, model: Any = "offline",
                 clock: Callable[[], dt.datetime] | None = None) -> LaunchServer:
    """The MCP server for one plans folder (run it with ``.run("stdio")``)."""
    orch = Orchestrator(plans_dir, model=model, clock=clock)
    server = LaunchServer(orch)

    async def run(ctx: Context, method: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        transitions = stream(orch, method, *args, **kwargs)
        try:
            async for rec in transitions:
                await ctx.report_progress(len(transitions.records),
                                          message=Progress.describe(rec))
        except ReferralError as exc:
            raise ToolError(f"error ({exc.code}): {exc.message}") from exc
        except Exception as exc:  # one line for the model, as the CLI prints it
            raise ToolError(f"internal error: {type(exc).__name__}: {exc}") from exc
        result: LaunchResult | None = transitions.result
        assert result is not None
        await ctx.notify_resources_changed()
        return result.to_dict()

    @server.tool(title="Launch a referral program")
    async def launch_program(program: str, launch_date: str, channels: str,
                             ctx: Context, segments: str | None = None,
                             approvers: str | None = None, as_of: str | None = None,
                             pattern: Literal["diamond", "pipeline"] = "diamond",
                             country: str | None = None, subdivision: str | None = None,
                             timezone: str | None = None, currency: str | None = None,
                             ) -> dict[str, Any]:
        """Plan and run a referral program launch: checklist, tooling & QA, comms kit,
        enablement, approvals and go-live, with an audit-ready plan JSON.

        channels, segments and approvers are comma lists (e.g. "email,in-app",
        "legal,finance"); dates are YYYY-MM-DD. country (ISO 3166-1 alpha-2, default US)
        and subdivision pick the holiday calendar, timezone (IANA) the wall clock of
        sessions and go-live, currency (ISO 4217, default: the country's) the rewards.
        Returns the plan id, status, artifact paths and next_actions. Status
        awaiting_approval means each approver must decide.
        """
        return await run(ctx, "launch", program, launch_date, channels, segments=segments,
                         approvers=approvers, as_of=as_of, pattern=pattern, country=country,
                         subdivision=subdivision, timezone=timezone, currency=currency)

    @server.tool(title="Record an approval decision")
    async def approve(plan: str, approver: str, ctx: Context, reject: bool = False,
                      note: str | None = None, by: str | None = None) -> dict[str, Any]:
        """Record one approver's decision on a plan awaiting approval and resume the run.

        reject=true sends the package back for rework with note as the feedback.
        """
        return await run(ctx, "approve", plan, approver, reject=reject, note=note, by=by)

    @server.tool(title="Exec sponsor's escalation decision")
    async def escalation_decision(plan: str,
                                  decision: Literal["proceed", "descope", "postpone", "halt"],
                                  ctx: Context, channel: str | None = None,
                                  launch_date: str | None = None, note: str | None = None,
                                  by: str | None = None) -> dict[str, Any]:
        """The exec sponsor's decision on a plan awaiting a decision (top of the ladder).

        descope needs channel; postpone needs launch_date; halt stops the launch for good.
        Only call this on a person's explicit instruction.
        """
        return await run(ctx, "escalation", plan, decision, channel=channel,
                         launch_date=launch_date, note=note, by=by)

    @server.tool(title="Launch status")
    async def status(plan: str, ctx: Context, as_of: str | None = None) -> dict[str, Any]:
        """One plan's status, artifacts and next actions; evaluates approval deadlines
        (as_of YYYY-MM-DD, default today), which may escalate a slipped approval.

        model and usage_by_agent say which model each agent ran on and what it cost;
        pending is the open question (action_requests / review_configs) if any."""
        return await run(ctx, "status", plan, today=as_of)

    @server.tool(title="List launch plans")
    async def list_plans() -> dict[str, Any]:
        """Every plan in the plans folder: id, status, program, launch date, readiness."""
        return {"plans": orch.list_plans()}

    @server.resource(PLAN_URI, name="plan", title="Launch plan JSON",
                     mime_type="application/json")
    def plan_resource(plan_id: str) -> str:
        """The plan JSON: header, tasks, approvals, deliverables and hash-chained transitions."""
        if not _PLAN_ID.match(plan_id):
            raise ValueError(f"not a plan id: {plan_id!r} (expected plan-YYYYMMDD-HHMMSS)")
        _, doc = orch.store.load(plan_id)
        return json.dumps(doc, indent=2, ensure_ascii=False)

    return server


def serve(plans_dir: str | Path = DEFAULT_PLANS_DIR, *, model: Any = "offline") -> None:
    """Serve over stdio until the client closes the connection."""
    build_server(plans_dir, model=model).run("stdio")

"""``referral-orchestrator mcp``: the launch tools and the plans over MCP (stdio).

Tools, rendered from the table of operations (:mod:`.operations`): ``launch_program``,
``approve``, ``escalation_decision``, ``status``, ``list_plans``; each returns the
``--format json`` document (structured content) and a bad input comes back as a tool error
naming the fix. Every plan in the plans folder is a resource, ``plan://<plan-id>`` (the
plan JSON, the audit trail). Transitions are sent as progress notifications while a run
moves. Needs the ``mcp`` extra (mcp 2.x).

Claude Desktop / Claude Code configuration is in ``docs/surfaces.md``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Resource
from pydantic import Field

from referral_orchestrator import __version__
from referral_orchestrator.errors import ReferralError
from referral_orchestrator.orchestrator import LaunchResult, Orchestrator
from referral_orchestrator.plan.base import Store
from referral_orchestrator.plan.store import DEFAULT_PLANS_DIR

from .hosts import Method, stream
from .operations import MCP, Operation, arguments_model, exposed
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
                 clock: Callable[[], dt.datetime] | None = None,
                 store: Store | str | None = None) -> LaunchServer:
    """The MCP server for one store (run it with ``.run("stdio")``).

    ``store``: a ``Store`` or a ``postgresql://`` URL (default:
    ``REFERRAL_ORCHESTRATOR_STORE``, else the plans folder ``plans_dir``).
    """
    orch = Orchestrator(plans_dir, model=model, clock=clock, store=store)
    server = LaunchServer(orch)

    async def run(ctx: Context, method: Method, kwargs: dict[str, Any]) -> dict[str, Any]:
        transitions = stream(orch, method, **kwargs)
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

    for op in exposed(MCP):
        server.add_tool(_tool(op, orch, run), name=op.mcp, title=op.title,
                        description=op.doc())

    @server.resource(PLAN_URI, name="plan", title="Launch plan JSON",
                     mime_type="application/json")
    def plan_resource(plan_id: str) -> str:
        """The plan JSON: header, tasks, approvals, deliverables and hash-chained transitions."""
        if not _PLAN_ID.match(plan_id):
            raise ValueError(f"not a plan id: {plan_id!r} (expected plan-YYYYMMDD-HHMMSS)")
        _, doc = orch.store.load(plan_id)
        return json.dumps(doc, indent=2, ensure_ascii=False)

    return server


def _tool(op: Operation, orch: Orchestrator,
          run: Callable[[Context, Method, dict[str, Any]], Awaitable[dict[str, Any]]],
          ) -> Callable[..., Awaitable[dict[str, Any]]]:
    """The MCP tool function of one operation; its signature is the table's arguments.

    The MCP SDK reads a tool's input schema from its signature, so the function gets one
    built from :func:`~.operations.arguments_model` (field types, defaults, descriptions).
    """
    model = arguments_model(op, MCP)

    async def tool(ctx: Context, **kwargs: Any) -> dict[str, Any]:
        if op.name == "list_plans":
            return {"plans": orch.list_plans(**op.call_kwargs(kwargs))}
        method: Method = op.method  # type: ignore[assignment]  # the table's streamed methods
        return await run(ctx, method, op.call_kwargs(kwargs))

    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=Context)]
    for name, field in model.model_fields.items():
        params.append(inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[field.annotation, Field(description=field.description)],
            default=inspect.Parameter.empty if field.is_required() else field.default))
    tool.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        params, return_annotation=dict[str, Any])
    tool.__name__ = op.mcp or op.name
    tool.__doc__ = op.doc()
    return tool


def serve(plans_dir: str | Path = DEFAULT_PLANS_DIR, *, model: Any = "offline",
          store: str | None = None) -> None:
    """Serve over stdio until the client closes the connection."""
    server = build_server(plans_dir, model=model, store=store)
    try:
        server.run("stdio")
    finally:
        close = getattr(server.orchestrator.store, "close", None)
        if callable(close):
            close()

"""`referral-orchestrator mcp`, driven by the official MCP client over stdio."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

mcp = pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402

from support import SEED_REQUEST  # noqa: E402


@asynccontextmanager
async def session(plans: Path) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "referral_orchestrator", "mcp", "--plans-dir", str(plans)],
        cwd=str(plans.parent), env=dict(os.environ))  # the same interpreter and path as here
    with (plans.parent / "server.log").open("w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write), \
                ClientSession(read, write) as client:
            await client.initialize()
            yield client


def structured(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    data = result.structured_content
    if data is None:  # older servers send JSON text only
        data = json.loads(result.content[0].text)
    return dict(data)


def test_server_lists_the_five_tools_with_input_schemas(tmp_path: Path) -> None:
    async def go() -> list[Any]:
        async with session(tmp_path / "plans") as client:
            return list((await client.list_tools()).tools)

    tools = anyio.run(go)
    assert {t.name for t in tools} == {"launch_program", "approve", "escalation_decision",
                                       "status", "list_plans"}
    launch = next(t for t in tools if t.name == "launch_program")
    assert set(launch.input_schema["required"]) == {"program", "launch_date", "channels"}
    assert {"country", "subdivision", "timezone", "currency"} <= set(
        launch.input_schema["properties"])
    decision = next(t for t in tools if t.name == "escalation_decision")
    assert decision.input_schema["properties"]["decision"]["enum"] == [
        "proceed", "descope", "postpone", "halt"]


def test_launch_waits_for_approval_then_approvals_complete_it_and_plans_are_resources(
    tmp_path: Path,
) -> None:
    plans = tmp_path / "plans"

    async def go() -> dict[str, Any]:
        progress: list[str] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append(message or "")

        async with session(plans) as client:
            first = structured(await client.call_tool(
                "launch_program", {**SEED_REQUEST, "approvers": "legal,finance"},
                progress_callback=on_progress))
            plan_id = first["plan_id"]
            listed = [r for r in (await client.list_resources()).resources]
            read = await client.read_resource(f"plan://{plan_id}")
            legal = structured(await client.call_tool(
                "approve", {"plan": plan_id, "approver": "legal", "note": "terms ok"}))
            finance = structured(await client.call_tool(
                "approve", {"plan": plan_id, "approver": "finance"}))
            status = structured(await client.call_tool("status", {"plan": plan_id}))
            rows = structured(await client.call_tool("list_plans", {}))
            return {"first": first, "listed": listed, "read": read, "legal": legal,
                    "finance": finance, "status": status, "rows": rows,
                    "progress": progress}

    out = anyio.run(go)
    first = out["first"]
    assert first["status"] == "awaiting_approval"
    assert [p["approver"] for p in first["pending"]["pending"]] == ["legal", "finance"]
    assert any("approve" in a for a in first["next_actions"])
    assert any(m.startswith("checklist") for m in out["progress"])
    assert [str(r.uri) for r in out["listed"]] == [f"plan://{first['plan_id']}"]
    assert out["listed"][0].mime_type == "application/json"
    plan = json.loads(out["read"].contents[0].text)
    assert plan["plan_id"] == first["plan_id"] and plan["status"] == "awaiting_approval"
    assert out["legal"]["status"] == "awaiting_approval"
    assert [p["approver"] for p in out["legal"]["pending"]["pending"]] == ["finance"]
    assert out["finance"]["status"] == "completed"
    assert out["status"]["status"] == "completed"
    assert out["status"]["model"] == "offline" and out["status"]["usage_by_agent"] == {}
    assert [a["args"]["approver"] for a in first["pending"]["action_requests"]] == [
        "legal", "finance"]
    assert [r["status"] for r in out["rows"]["plans"]] == ["completed"]
    on_disk = json.loads((plans / f"{first['plan_id']}.json").read_text())
    decided = {a["approver"]: a["status"] for a in on_disk["approvals"]}
    assert decided == {"legal": "approved", "finance": "approved"}


def test_bad_input_is_a_tool_error_naming_the_fix_and_writes_nothing(tmp_path: Path) -> None:
    plans = tmp_path / "plans"

    async def go() -> tuple[Any, Any]:
        async with session(plans) as client:
            bad = await client.call_tool("launch_program", {**SEED_REQUEST, "channels": "fax"})
            wrong = await client.call_tool("approve", {"plan": "plan-20261125-000000",
                                                       "approver": "legal"})
            return bad, wrong

    bad, wrong = anyio.run(go)
    assert bad.is_error and "error (unknown_channel)" in bad.content[0].text
    assert wrong.is_error and "error (plan_not_found)" in wrong.content[0].text
    assert not list(plans.glob("plan-*.json"))

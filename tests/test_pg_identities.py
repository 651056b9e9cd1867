"""Who decided: allowed, refused and unlisted identities through the CLI and MCP.

The file store records ``--by`` or the OS user as self-asserted; the PostgreSQL store the
authenticated role. The roster's ``approvers`` allow-list applies to both: a decision by
anyone not listed for its role is refused with exit 2 (a tool error over MCP) and nothing
is recorded.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from referral_orchestrator.surfaces.cli import main
from support import SEED

pytest.importorskip("mcp")
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROSTER = "approvers:\n  legal: [dana]\n  finance: [sam, {me}]\n  exec-sponsor: [ceo]\n"


def _launch(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    (tmp_path / "roster.yaml").write_text(ROSTER.format(me=getpass.getuser()))
    assert main([*SEED, "--approvers", "legal,finance,brand", "--roster",
                 str(tmp_path / "roster.yaml"), "--plans-dir", str(tmp_path / "plans"),
                 "--format", "json", "-q", *extra]) == 0
    plan_id: str = json.loads(capsys.readouterr().out)["plan_id"]
    return plan_id


def _plan(tmp_path: Path, plan_id: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "plans" / f"{plan_id}.json").read_text())
    return data


def test_cli_file_store_allowed_refused_and_unlisted(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    plan_id = _launch(tmp_path, capsys)
    before = (tmp_path / "plans" / f"{plan_id}.json").read_bytes()
    common = ["--plans-dir", str(tmp_path / "plans"), "-q"]
    assert main(["approve", plan_id, "--approver", "legal", "--by", "mallory", *common]) == 2
    assert "mallory (self-asserted) may not decide for legal" in capsys.readouterr().err
    assert main(["approve", plan_id, "--approver", "brand", "--by", "dana", *common]) == 2
    assert "list nobody for brand" in capsys.readouterr().err
    assert (tmp_path / "plans" / f"{plan_id}.json").read_bytes() == before  # nothing recorded
    assert main(["approve", plan_id, "--approver", "legal", "--by", "Dana", *common]) == 0
    assert main(["approve", plan_id, "--approver", "finance", *common]) == 0  # the OS user
    capsys.readouterr()
    approvals = {a["approver"]: a for a in _plan(tmp_path, plan_id)["approvals"]}
    assert approvals["legal"]["identity"] == {"name": "Dana", "source": "--by",
                                              "self_asserted": True}
    assert approvals["finance"]["identity"] == {"name": getpass.getuser(),
                                                "source": "os user", "self_asserted": True}
    assert approvals["brand"]["status"] == "pending"


def test_without_an_allow_list_anyone_decides_and_is_recorded(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SEED, "--approvers", "legal", "--plans-dir", str(tmp_path / "plans"),
                 "--format", "json", "-q"]) == 0
    plan_id = json.loads(capsys.readouterr().out)["plan_id"]
    plan = _plan(tmp_path, plan_id)
    assert "approvers" not in plan["request"]["roster"]  # old plans' roster shape is kept
    assert main(["approve", plan_id, "--approver", "legal", "--by", "anyone",
                 "--plans-dir", str(tmp_path / "plans"), "-q"]) == 0
    assert _plan(tmp_path, plan_id)["approvals"][0]["identity"]["name"] == "anyone"


def _mcp(plans: Path, calls: list[tuple[str, dict[str, Any]]],
         env: dict[str, str] | None = None, store: str | None = None) -> list[Any]:
    args = ["-m", "referral_orchestrator", "mcp", "--plans-dir", str(plans)]
    if store:
        args += ["--store", store]
    params = StdioServerParameters(command=sys.executable, args=args, cwd=str(plans.parent),
                                   env={**os.environ, **(env or {})})

    async def go() -> list[Any]:
        with (plans.parent / "server.log").open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), \
                    ClientSession(read, write) as client:
                await client.initialize()
                return [await client.call_tool(name, arguments) for name, arguments in calls]

    return anyio.run(go)


def test_mcp_file_store_allowed_refused_and_unlisted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan_id = _launch(tmp_path, capsys)
    refused, unlisted, allowed = _mcp(tmp_path / "plans", [
        ("approve", {"plan": plan_id, "approver": "legal", "by": "mallory"}),
        ("approve", {"plan": plan_id, "approver": "brand", "by": "dana"}),
        ("approve", {"plan": plan_id, "approver": "legal", "by": "dana"}),
    ])
    assert refused.is_error and "mallory (self-asserted) may not decide for legal" in (
        refused.content[0].text)
    assert unlisted.is_error and "list nobody for brand" in unlisted.content[0].text
    assert not allowed.is_error, allowed.content
    approvals = {a["approver"]: a for a in _plan(tmp_path, plan_id)["approvals"]}
    assert approvals["legal"]["identity"]["name"] == "dana"
    assert approvals["brand"]["status"] == "pending"

"""`langgraph dev` serves the launch graph from langgraph.json; the official SDK drives it.

The server (langgraph-cli, in-memory runtime) runs on a free loopback port with no browser
and no reload; the run pauses at the approval gate's interrupt and each approver's
decision resumes it with ``Command(resume=...)``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Only look for the server packages: importing the in-memory runtime creates
# .langgraph_api/ in the current folder.
if importlib.util.find_spec("langgraph_runtime_inmem") is None:
    pytest.skip("needs langgraph-cli[inmem] (pip install 'referral-orchestrator[server]')",
                allow_module_level=True)
httpx = pytest.importorskip("httpx")
from langgraph_sdk import get_client  # noqa: E402
from langgraph_sdk.schema import Command  # noqa: E402

from referral_orchestrator import Orchestrator, export_plan  # noqa: E402
from referral_orchestrator.plan.chain import verify  # noqa: E402
from support import fresh_database  # noqa: E402
from test_hitl import FORM, doc_json  # noqa: E402  (the launch form a Studio user fills in)

ROOT = Path(__file__).resolve().parents[1]
GRAPH = "referral_launch"
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serving(work: Path, config: str, **env_extra: str) -> Iterator[str]:
    """``langgraph dev`` on a free loopback port with the repo's ``config``, run from ``work``."""
    cli = Path(sys.executable).parent / "langgraph"
    if not cli.exists():
        pytest.skip("langgraph-cli is not installed (pip install 'referral-orchestrator[server]')")
    # The server keeps .langgraph_api/ beside its config: run the repo's config from a copy.
    (work / "langgraph.json").write_text((ROOT / config).read_text())
    port = free_port()
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false",
           "LANGCHAIN_TRACING_V2": "false", **env_extra}
    env.pop("LANGSMITH_API_KEY", None)
    log = (work / "server.log").open("w")
    proc = subprocess.Popen(
        [str(cli), "dev", "--host", "127.0.0.1", "--port", str(port), "--no-browser",
         "--no-reload", "--config", str(work / "langgraph.json")],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # bounded start-up polling
            if proc.poll() is not None:
                pytest.fail(f"langgraph dev exited:\n{(work / 'server.log').read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not start in {START_TIMEOUT_S}s")
            time.sleep(0.2)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with serving(tmp_path_factory.mktemp("langgraph-dev"), "langgraph.json") as url:
        yield url


def interrupts(chunks: list[Any]) -> list[dict[str, Any]]:
    return [i["value"] for c in chunks if c.event == "updates"
            for i in (c.data or {}).get("__interrupt__", [])]


def errors(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c.data for c in chunks if c.event == "error"]




async def with_client(url: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    client = get_client(url=url)
    try:
        return await work(client)
    finally:
        await client.http.client.aclose()  # no unclosed sockets left for the GC to warn about


async def _drive(client: Any) -> dict[str, Any]:
    (assistant,) = await client.assistants.search(graph_id=GRAPH)
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = [c async for c in client.runs.stream(
        tid, assistant["assistant_id"], input=FORM, stream_mode="updates",
        context={"model": "offline", "max_concurrency": 4})]
    paused = await client.threads.get_state(tid)
    decisions = []
    for approver in ("legal", "finance"):
        value = {"type": "approval", "approver": approver, "decision": "approve",
                 "note": f"{approver} ok", "by": f"{approver} lead"}
        decisions.append([c async for c in client.runs.stream(
            tid, GRAPH, command=Command(resume=value), stream_mode="updates")])
    final = await client.threads.get_state(tid)
    return {"first": first, "paused": paused, "decisions": decisions, "final": final}


@pytest.mark.slow
def test_langgraph_dev_pauses_at_the_approval_interrupt_and_resumes_to_go_live(
    server: str,
) -> None:
    out = asyncio.run(with_client(server, _drive))
    (asked,) = interrupts(out["first"])
    assert asked["type"] == "approval"
    assert [p["approver"] for p in asked["pending"]] == ["legal", "finance"]
    assert out["paused"]["next"] == ["approval_gate"]

    (still,) = interrupts(out["decisions"][0])
    assert [p["approver"] for p in still["pending"]] == ["finance"]
    assert interrupts(out["decisions"][1]) == []

    final = out["final"]
    assert final["next"] == []
    values = final["values"]
    assert {a["approver"]: a["status"] for a in values["approvals"].values()} == {
        "legal": "approved", "finance": "approved"}
    assert values["approvals"]["legal"]["by"] == "legal lead"
    nodes = [t["node"] for t in values["transitions"]]
    assert nodes[0] == "checklist" and nodes[-1] == "go_live"
    gate = [(t["event"], t["agent"]) for t in values["transitions"]
            if t["node"] == "approval_gate"]
    assert ("approved", "legal") in gate and ("approved", "finance") in gate
    json.dumps(values)  # the state is plain JSON end to end


@pytest.mark.slow
def test_a_server_thread_exports_the_plan_the_cli_writes_for_the_same_form(
    server: str, tmp_path: Path,
) -> None:
    out = asyncio.run(with_client(server, _drive))
    paused = export_plan(out["paused"])
    assert verify(json.loads(json.dumps(paused))) == paused  # schema, chain, digest
    cli = Orchestrator(tmp_path / "plans").launch(**FORM, out_dir=tmp_path / "out").plan
    same = ("objective", "status", "pending", "stages", "tasks", "error_handling",
            "success_metrics", "qa", "usage")
    assert {k: paused[k] for k in same} == {k: cli[k] for k in same}
    assert paused["context_passing"]["checkpoint"] == (
        f"langgraph thread {out['paused']['checkpoint']['thread_id']}")

    final = export_plan(out["final"])
    verify(final)
    assert (final["status"], final["pending"]) == ("completed", None)
    assert {a["approver"]: (a["status"], a["by"]) for a in final["approvals"]} == {
        "legal": ("approved", "legal lead"), "finance": ("approved", "finance lead")}
    assert final["transitions"][-1]["node"] == "go_live"
    assert final["state"]["run_id"] == paused["state"]["run_id"]


async def _review_card(client: Any) -> dict[str, Any]:
    """Answer the approval the way a LangChain review card does: one decision per action
    request, from the interrupt's own ``action_requests`` and ``review_configs``."""
    thread = await client.threads.create()
    tid = thread["thread_id"]
    first = [c async for c in client.runs.stream(tid, GRAPH, input=FORM,
                                                  stream_mode="updates")]
    (asked,) = interrupts(first)
    pending = (await client.threads.get(tid))["interrupts"]
    decisions: list[dict[str, Any]] = []
    for action, config in zip(asked["action_requests"], asked["review_configs"], strict=True):
        assert config["action_name"] == action["name"]
        if action["args"]["approver"] == "legal":
            decisions.append({"type": "approve"})
        else:
            decisions.append({"type": "reject", "message": "name the reward in the subject"})
    rework = [c async for c in client.runs.stream(
        tid, GRAPH, command=Command(resume={"decisions": decisions}), stream_mode="updates")]
    (again,) = interrupts(rework)
    done = [c async for c in client.runs.stream(
        tid, GRAPH, command=Command(resume={"decisions": [{"type": "approve"}]}),
        stream_mode="updates")]
    final = await client.threads.get_state(tid)
    return {"asked": asked, "pending": pending, "again": again, "done": done, "final": final}


@pytest.mark.slow
def test_a_review_card_answers_the_hitl_request_through_the_sdk(server: str) -> None:
    out = asyncio.run(with_client(server, _review_card))
    asked = out["asked"]
    assert asked == doc_json("approval-request")  # what docs/surfaces.md shows
    assert [a["args"]["approver"] for a in asked["action_requests"]] == ["legal", "finance"]
    assert all(c["allowed_decisions"] == ["approve", "reject"] for c in asked["review_configs"])
    # the thread lists the open interrupt with the schema its answer must follow
    (listed,) = next(iter(out["pending"].values()))
    assert listed["value"] == asked and "decisions" in json.dumps(listed["response_schema"])
    # finance sent it back: reworked, then only finance is asked again
    assert [a["args"]["approver"] for a in out["again"]["action_requests"]] == ["finance"]
    assert errors(out["done"]) == [] and interrupts(out["done"]) == []
    values = out["final"]["values"]
    finance = values["approvals"]["finance"]
    assert finance["status"] == "approved"
    assert finance["history"][0] == {**finance["history"][0], "decision": "reject",
                                     "note": "name the reward in the subject"}
    assert values["transitions"][-1]["node"] == "go_live"


async def _malformed_then_valid(client: Any) -> dict[str, Any]:
    thread = await client.threads.create()
    tid = thread["thread_id"]
    [c async for c in client.runs.stream(tid, GRAPH, input=FORM, stream_mode="updates")]
    bad = [c async for c in client.runs.stream(
        tid, GRAPH, command=Command(resume={"decision": "approve"}), stream_mode="updates")]
    between = await client.threads.get_state(tid)
    good = [c async for c in client.runs.stream(
        tid, GRAPH, command=Command(resume={"decisions": [{"type": "approve"}] * 2}),
        stream_mode="updates")]
    final = await client.threads.get_state(tid)
    return {"bad": bad, "between": between, "good": good, "final": final}


@pytest.mark.slow
def test_a_malformed_resume_value_is_refused_and_the_thread_stays_answerable(
    server: str,
) -> None:
    out = asyncio.run(with_client(server, _malformed_then_valid))
    (error,) = errors(out["bad"])
    assert error["error"] == "ValidationError" and "invalid_resume" in error["message"]
    assert out["between"]["next"] == ["approval_gate"]
    assert errors(out["good"]) == []
    assert out["final"]["next"] == []
    assert out["final"]["values"]["transitions"][-1]["node"] == "go_live"


@pytest.mark.slow
def test_studio_and_sdk_clients_get_the_launch_form_and_context_schemas(server: str) -> None:
    async def schemas(client: Any) -> Any:
        (assistant,) = await client.assistants.search(graph_id=GRAPH)
        return await client.assistants.get_schemas(assistant["assistant_id"])

    got = asyncio.run(with_client(server, schemas))
    form = got["input_schema"]
    assert {"program", "launch_date", "channels"} <= set(form["properties"])
    assert set(form["required"]) == {"program", "launch_date", "channels"}
    assert {"request", "approvals", "transitions"} <= set(got["output_schema"]["properties"])
    assert set(got["context_schema"]["properties"]) == {"model", "max_concurrency"}


@pytest.mark.slow
def test_a_bad_launch_form_fails_the_run_with_the_clis_error(server: str) -> None:
    async def bad(client: Any) -> list[Any]:
        thread = await client.threads.create()
        return [c async for c in client.runs.stream(
            thread["thread_id"], GRAPH, input={**FORM, "channels": ["fax"]},
            stream_mode="updates")]

    (error,) = errors(asyncio.run(with_client(server, bad)))
    assert error["error"] == "InvalidRequest"


@pytest.mark.slow
def test_the_postgres_config_keeps_server_threads_in_the_team_database(
    tmp_path: Path,
) -> None:
    """``langgraph.postgres.json``: the server's checkpoints land in the store's database."""
    psycopg = pytest.importorskip("psycopg")
    with fresh_database(migrate=True) as url:
        with serving(tmp_path, "langgraph.postgres.json",
                     REFERRAL_ORCHESTRATOR_STORE=url) as server:
            out = asyncio.run(with_client(server, _drive))
        assert out["final"]["next"] == []
        assert out["final"]["values"]["transitions"][-1]["node"] == "go_live"
        with psycopg.connect(url) as conn:
            threads = {r[0] for r in conn.execute("SELECT DISTINCT thread_id FROM checkpoints")}
            ours = conn.execute("SELECT count(*) FROM checkpoints WHERE thread_id = %s",
                                (out["final"]["checkpoint"]["thread_id"],)).fetchone()
        assert out["final"]["checkpoint"]["thread_id"] in threads
        assert ours is not None and ours[0] > 5


def test_the_postgres_config_names_the_missing_setting(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from referral_orchestrator.errors import UsageError
    from referral_orchestrator.surfaces.hosts import server_checkpointer

    monkeypatch.delenv("REFERRAL_ORCHESTRATOR_STORE", raising=False)

    async def enter() -> None:
        async with server_checkpointer():
            pass

    with pytest.raises(UsageError, match="REFERRAL_ORCHESTRATOR_STORE=postgresql://"):
        asyncio.run(enter())

"""The main job end to end: the seed command, its plan JSON and its artifacts."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from referral_orchestrator import Orchestrator, build_graph
from referral_orchestrator.artifacts.manifest import MANIFEST
from referral_orchestrator.plan.chain import verify
from referral_orchestrator.surfaces.cli import main
from support import SEED, SEED_REQUEST


def _plan(workdir: Path) -> dict:
    (path,) = (workdir / ".claude" / "plans").glob("plan-*.json")
    return json.loads(path.read_text())


def test_seed_command_completes_and_names_plan_artifacts_and_next_steps(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(SEED) == 0
    out = capsys.readouterr().out
    plan = _plan(workdir)
    assert plan["status"] == "completed"
    assert plan["plan_id"] in out and "status: completed" in out
    for name, path in plan["deliverables"].items():
        assert Path(path).is_file(), path
        if name in ("plan", "runbook_md", "runbook_csv", "runbook_ics", "comms_kit",
                    "monitoring_plan"):
            assert path in out
    assert "next:" in out
    verify(plan)


def test_seed_arguments_work_as_one_slash_command_string(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ('--program "Customer Advocates" --launch-date 2026-12-10 --channels "email,in-app" '
            "--as-of 2026-11-25 --format json")
    assert main(["launch-program", args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["program"] == "Customer Advocates"
    assert data["channels"] == ["email", "in-app"]


def test_json_output_is_one_stable_document(workdir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SEED, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"plan_id", "status", "plan_path", "artifacts", "next_actions", "pending",
            "launch_readiness_pct", "tracking_accuracy"} <= set(data)


def test_markdown_output_has_the_artifact_table(workdir: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SEED, "--format", "md"]) == 0
    assert "| artifact | path |" in capsys.readouterr().out


def test_plan_transitions_are_exactly_the_graph_updates_in_stream_order(
    orch: Orchestrator,
) -> None:
    seen: list[str] = []
    orch.on_transition = lambda rec: seen.append(rec["node"])
    result = orch.launch("Customer Advocates", "2026-12-10", "email,in-app,push",
                         segments="power users,new customers", as_of="2026-11-25")
    nodes = [t["node"] for t in result.plan["transitions"]]
    assert nodes == seen
    # the same run, driven directly through LangGraph, streams the same node updates
    graph = build_graph()
    values = {k: result.plan["request"][k] for k in ("roster", "landing_url")}
    values["request"] = result.plan["request"]["normalized"]
    streamed = [node for chunk in graph.stream(values, stream_mode="updates") for node in chunk]
    assert sorted(streamed) == sorted(nodes)
    assert streamed[0] == nodes[0] == "checklist" and streamed[-1] == nodes[-1] == "go_live"
    assert nodes.count("communications") == 3 * 2 + 2  # plus partner kit and landing page


def test_same_inputs_give_byte_identical_artifacts_but_their_own_calendar_uids(
    workdir: Path,
) -> None:
    outs = []
    for run in ("a", "b"):
        assert main([*SEED, "--segments", "power users", "--out", run]) == 0
        outs.append({p.relative_to(workdir / run): p.read_bytes()  # the manifest names the plan
                     for p in sorted((workdir / run).rglob("*"))
                     if p.is_file() and p.name != MANIFEST})
    assert len(outs[0]) >= 6
    ics = Path("runbook.ics")
    assert {k: v for k, v in outs[0].items() if k != ics} == {
        k: v for k, v in outs[1].items() if k != ics}
    # two plans of one program share a calendar without overwriting each other's events
    uids = [set(re.findall(rb"UID:(\S+)", out[ics])) for out in outs]
    assert uids[0] and not uids[0] & uids[1]
    assert re.sub(rb"UID:\S+", b"", outs[0][ics]) == re.sub(rb"UID:\S+", b"", outs[1][ics])


def test_pipeline_pattern_runs_enablement_after_communications(orch: Orchestrator) -> None:
    result = orch.launch("Customer Advocates", "2026-12-10", "email", as_of="2026-11-25",
                         pattern="pipeline")
    nodes = [t["node"] for t in result.plan["transitions"]]
    assert nodes.index("enablement") > max(i for i, n in enumerate(nodes)
                                           if n == "communications")
    assert result.plan["strategy"]["pattern"] == "pipeline"
    assert result.plan["strategy"]["diamond"] is None


def test_diamond_pattern_is_recorded_with_its_merge_gate(orch: Orchestrator) -> None:
    plan = orch.launch("Customer Advocates", "2026-12-10", "email",
                       as_of="2026-11-25").plan
    assert plan["strategy"]["diamond"] == {"parallel": ["communications", "enablement"],
                                           "merge_gate": "merge_gate"}


def test_edited_plan_is_refused_by_validate_with_exit_3(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(SEED) == 0
    (path,) = (workdir / ".claude" / "plans").glob("plan-*.json")
    assert main(["validate", str(path)]) == 0
    plan = json.loads(path.read_text())
    plan["transitions"][2]["agent"] = "someone-else"
    path.write_text(json.dumps(plan))
    capsys.readouterr()
    assert main(["validate", str(path)]) == 3
    assert "transition #3" in capsys.readouterr().err


def test_edit_outside_the_chain_is_detected_too(workdir: Path) -> None:
    assert main(SEED) == 0
    (path,) = (workdir / ".claude" / "plans").glob("plan-*.json")
    plan = json.loads(path.read_text())
    plan["tasks"][0]["owner"] = "nobody"
    path.write_text(json.dumps(plan))
    assert main(["validate", str(path)]) == 3
    assert main(["status", str(path)]) == 3


def test_schema_invalid_plan_is_refused(workdir: Path) -> None:
    bad = workdir / "plan-20260101-000000.json"
    bad.write_text(json.dumps({"plan_id": "nope"}))
    assert main(["validate", str(bad)]) == 3
    bad.write_text("{torn")
    assert main(["validate", str(bad)]) == 3


def test_status_lists_every_plan_as_a_table(workdir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(SEED) == 0
    assert main(SEED) == 0
    capsys.readouterr()
    assert main(["status"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:2] == ["plan_id", "status"]
    assert len(lines) == 3
    ids = [line.split()[0] for line in lines[1:]]
    assert len(set(ids)) == 2


def test_graph_command_prints_the_mermaid_in_docs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph"]) == 0
    printed = capsys.readouterr().out.strip()
    doc = (Path(__file__).parents[1] / "docs" / "graph.md").read_text()
    assert printed in doc, "docs/graph.md is stale: run python scripts/update_docs.py"


def test_two_launches_in_the_same_second_get_distinct_plan_ids(workdir: Path) -> None:
    import datetime as dt

    frozen = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    orch = Orchestrator(workdir / "plans", clock=lambda: frozen)
    first = orch.launch("Customer Advocates", "2026-12-10", "email", as_of="2026-11-25")
    second = orch.launch("Customer Advocates", "2026-12-10", "email", as_of="2026-11-25")
    assert (first.plan_id, second.plan_id) == ("plan-20261125-090000", "plan-20261125-090000-2")


def test_unexpected_failure_is_one_line_and_exit_1(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from referral_orchestrator import orchestrator as _orchestrator

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(_orchestrator, "resolve_runner", boom)
    assert main(SEED) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "internal error" in err[0]


def test_suggested_full_lead_launch_date_really_removes_the_compression(
    orch: Orchestrator,
) -> None:
    tight = orch.launch(**SEED_REQUEST)
    assert tight.plan["compressed_tasks"]
    suggested = tight.plan["full_lead_launch"]
    assert suggested > "2026-12-10"
    assert any(suggested in a for a in tight.next_actions)
    roomy = orch.launch("Customer Advocates", suggested, "email,in-app", as_of="2026-11-25")
    assert roomy.plan["compressed_tasks"] == []
    assert roomy.plan["full_lead_launch"] == suggested

"""Crash safety: SIGKILL at many points leaves a valid plan; resume finishes it exactly once.

Each case forks a child that launches the seed program and kills itself with SIGKILL at
one point: before or after the n-th agent call, the n-th plan rename, or the n-th
checkpoint write. The parent then checks the plan on disk, resumes it, and compares the
result with an uninterrupted run: same transitions (no duplicates, none missing), a valid
hash chain, the same artifacts byte for byte, and attempt counters that did not reset.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.artifacts.manifest import MANIFEST
from referral_orchestrator.plan.chain import verify
from referral_orchestrator.plan.store import PlanStore
from referral_orchestrator.surfaces.cli import main
from support import SEED_REQUEST

CASES = (
    [("agent", n) for n in range(1, 9)]
    + [("replace-before", n) for n in (1, 3, 5, 7, 8)]
    + [("replace-after", n) for n in (2, 4, 6, 8)]
    + [("checkpoint", n) for n in (1, 2, 4, 6, 8)]
)


def _child(kind: str, n: int, plans: str, out: str,
           roster: str | None = None, waits: bool = False) -> None:  # in the forked process
    import time

    from langgraph.checkpoint.sqlite import SqliteSaver

    from referral_orchestrator.artifacts import ahead as _ahead
    from referral_orchestrator.plan import store as _store
    from referral_orchestrator.runners.offline import OfflineDrafter

    count = {"i": 0}

    def tick() -> None:
        count["i"] += 1
        if count["i"] == n:
            os.kill(os.getpid(), signal.SIGKILL)

    class Dying(OfflineDrafter):
        # waits: a model that takes its time, so files are composed ahead while it does
        answers_at_once = not waits

        def run(self, call):  # type: ignore[no-untyped-def]
            if kind == "agent":
                tick()
            if waits:
                time.sleep(0.05)
            return super().run(call)

    real_fill = _ahead.fill_temps

    def fill_temps(files):  # type: ignore[no-untyped-def]
        filled = real_fill(files)
        if kind == "ahead":  # a section composed ahead sits under temp names in out/
            tick()
        return filled

    _ahead.fill_temps = fill_temps  # type: ignore[attr-defined]

    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if kind == "replace-before" and str(dst).endswith(".json"):
            tick()
        real_replace(src, dst)
        if kind == "replace-after" and str(dst).endswith(".json"):
            tick()

    _store.os.replace = replace  # type: ignore[attr-defined]
    real_put = SqliteSaver.put

    def put(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        result = real_put(self, *args, **kwargs)
        if kind == "checkpoint":
            tick()
        return result

    SqliteSaver.put = put  # type: ignore[method-assign]
    Orchestrator(plans, model=Dying()).launch(**SEED_REQUEST, out_dir=out, roster=roster)
    os._exit(0)  # reached only when n is past the end of the run


def _artifacts(folder: Path) -> dict[str, bytes]:
    # calendar UIDs carry a digest of the plan id, and the manifest names the plan that owns
    # the folder: neither is the baseline's plan
    return {str(p.relative_to(folder)): re.sub(rb"UID:[^\r]*(?:\r\n [^\r]*)*", b"UID:",
                                               p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def _killed_then_resumed(kind: str, n: int, plans: Path, out: Path,
                         roster: str | None = None, waits: bool = False) -> dict[str, Any]:
    """Run :func:`_child` until it dies at ``kind`` ``n``, resume the plan; the plan after."""
    proc = multiprocessing.get_context("fork").Process(
        target=_child, args=(kind, n, str(plans), str(out), roster, waits))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL, f"child did not die at {kind} {n}"
    (path,) = PlanStore(plans).list()
    assert main(["resume", str(path), "--plans-dir", str(plans)]) == 0
    plan: dict[str, Any] = json.loads(path.read_text())
    verify(plan)
    return plan


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("baseline")
    result = Orchestrator(root / "plans").launch(**SEED_REQUEST, out_dir=root / "out")
    return {"nodes": Counter(t["node"] for t in result.plan["transitions"]),
            "artifacts": _artifacts(root / "out"), "attempts": result.plan[
                "error_handling"]["attempts"]}


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "n"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_sigkill_then_resume_matches_an_uninterrupted_run(
    kind: str, n: int, tmp_path: Path, baseline: dict[str, Any]
) -> None:
    plans, out = tmp_path / "plans", tmp_path / "out"
    proc = multiprocessing.get_context("fork").Process(
        target=_child, args=(kind, n, str(plans), str(out)))
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL, f"child did not die at {kind} {n}"
    store = PlanStore(plans)
    (path,) = store.list()  # the plan is created (os.link) before the graph starts
    _, before = store.load(path)  # a torn or invalid file would raise here
    # a kill can land mid-write in the main thread while an agent works in another: a temp
    # file may be left, never a torn plan; resume sweeps it under the plan's lock
    assert main(["resume", str(path), "--plans-dir", str(plans)]) == 0
    assert not list(plans.glob(".*.tmp"))
    plan = json.loads(path.read_text())
    verify(plan)
    assert plan["status"] == "completed"
    keys = [t["key"] for t in plan["transitions"]]
    assert len(keys) == len(set(keys)), "duplicated transitions"
    assert Counter(t["node"] for t in plan["transitions"]) == baseline["nodes"]
    assert plan["transitions"][: len(before["transitions"])] == before["transitions"]
    assert plan["error_handling"]["attempts"] == baseline["attempts"]
    assert _artifacts(out) == baseline["artifacts"]


AHEAD_CASES = [("ahead", 1), ("ahead", 2), ("agent", 7), ("agent", 8), ("replace-after", 7)]


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "n"), AHEAD_CASES, ids=[f"{k}-{n}" for k, n in AHEAD_CASES])
def test_sigkill_while_files_are_composed_ahead_then_resume_matches_an_uninterrupted_run(
    kind: str, n: int, tmp_path: Path, baseline: dict[str, Any]
) -> None:
    """A model that waits lets the comms kit and runbook be composed ahead under temp names
    in the artifact folder: a kill then leaves no stray file once the run is resumed."""
    out = tmp_path / "out"
    plan = _killed_then_resumed(kind, n, tmp_path / "plans", out, waits=True)
    assert plan["status"] == "completed"
    assert Counter(t["node"] for t in plan["transitions"]) == baseline["nodes"]
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    assert _artifacts(out) == baseline["artifacts"]


ROSTER_CASES = [("checkpoint", n) for n in (1, 2, 3, 5)] + [("agent", 1), ("agent", 2)]


@pytest.fixture(scope="module")
def covered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The seed launch with lifecycle-ops on leave: every handover a transition."""
    root = tmp_path_factory.mktemp("covered")
    roster = root / "roster.yaml"
    roster.write_text("unavailable:\n  lifecycle-ops: on leave\n")
    result = Orchestrator(root / "plans").launch(**SEED_REQUEST, out_dir=root / "out",
                                                 roster=roster)
    return {"roster": str(roster), "transitions": [
        (t["node"], t["event"], t["agent"], t["stage"]) for t in result.plan["transitions"]]}


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "n"), ROSTER_CASES, ids=[f"{k}-{n}" for k, n in ROSTER_CASES])
def test_sigkill_around_a_reassignment_then_resume_records_each_handover_once(
    kind: str, n: int, tmp_path: Path, covered: dict[str, Any]
) -> None:
    plan = _killed_then_resumed(kind, n, tmp_path / "plans", tmp_path / "out",
                                covered["roster"])
    got = [(t["node"], t["event"], t["agent"], t["stage"]) for t in plan["transitions"]]
    # the fan-out's order is free; everything else, handovers included, happens once in order
    assert Counter(got) == Counter(covered["transitions"])
    assert [g for g in got if g[0] != "communications"] == [
        c for c in covered["transitions"] if c[0] != "communications"]


def test_resume_of_a_finished_plan_changes_nothing(orch: Orchestrator) -> None:
    done = orch.launch(**SEED_REQUEST)
    again = orch.resume(done.plan_id)
    assert again.status == "completed"
    assert again.plan["transitions"] == done.plan["transitions"]


def test_kill_keeps_the_retry_budget_spent(tmp_path: Path) -> None:
    """A crash after two failed QA attempts does not grant a fresh budget on resume."""
    from referral_orchestrator.testing import failing_qa

    plans = tmp_path / "plans"

    def child() -> None:
        runner = failing_qa(2)
        real = runner.run

        def run(call):  # type: ignore[no-untyped-def]
            if call.stage == "tooling-qa" and call.attempt == 3:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(call)

        runner.run = run  # type: ignore[method-assign]
        Orchestrator(plans, model=runner).launch(**SEED_REQUEST)

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    (path,) = PlanStore(plans).list()
    failing = failing_qa(1)
    result = Orchestrator(plans, model=failing).resume(path.stem)
    attempts = [t["attempt"] for t in result.plan["transitions"] if t["node"] == "tooling_qa"]
    assert attempts[:3] == [1, 2, 3]
    assert result.plan["escalation_log"][0]["trigger"] == "retries_exhausted"

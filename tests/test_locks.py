"""Plan locks: portable (no fcntl needed), keyed by plan id, and a busy plan is a clear error.

The concurrency cases are the ones a marketing team produces on a Monday morning: eight
approvers clicking at once, four people resuming the same run, twenty launches in a second.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from filelock import FileLock

from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import PlanBusy, UsageError
from referral_orchestrator.plan.chain import verify
from referral_orchestrator.surfaces.cli import main
from support import SEED, SEED_REQUEST

APPROVERS = ["legal", "finance", "brand", "privacy", "security", "sales", "support", "cfo"]


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "referral_orchestrator", *args],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _launch(workdir: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert main([*SEED, *extra, "--format", "json", "-q"]) == 0
    data: dict = json.loads(capsys.readouterr().out)
    return data


def test_the_package_imports_and_launches_where_fcntl_does_not_exist(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['fcntl'] = None\n"
            "from referral_orchestrator.surfaces.cli import main\n"
            f"sys.exit(main({[*SEED, '-q', '--approvers', 'legal']!r}))\n")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    (plan,) = (tmp_path / ".claude" / "plans").glob("plan-*.json")
    approve = ("import sys; sys.modules['fcntl'] = None\n"
               "from referral_orchestrator.surfaces.cli import main\n"
               f"sys.exit(main(['approve', {plan.stem!r}, '--approver', 'legal', '-q']))\n")
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", approve], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(plan.read_text())["status"] == "completed"


def test_a_command_on_a_busy_plan_gives_up_after_the_timeout_with_plan_busy(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _launch(workdir, capsys, "--approvers", "legal")
    plans = workdir / ".claude" / "plans"
    before = Path(data["plan_path"]).read_bytes()
    with FileLock(str(plans / f".{data['plan_id']}.lock")):
        with pytest.raises(PlanBusy) as caught:
            Orchestrator(plans, lock_timeout=0).approve(data["plan_id"], "legal")
        assert caught.value.code == "plan_busy"
        assert isinstance(caught.value, UsageError)
        monkeypatch.setenv("REFERRAL_ORCHESTRATOR_LOCK_TIMEOUT", "0.2")
        assert main(["approve", data["plan_id"], "--approver", "legal"]) == 2
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
    assert Path(data["plan_path"]).read_bytes() == before


def test_a_lock_timeout_that_is_not_a_number_is_bad_input(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRAL_ORCHESTRATOR_LOCK_TIMEOUT", "soon")
    assert main([*SEED, "-q"]) == 2
    assert not (workdir / ".claude").exists()


def test_a_plan_is_locked_by_its_id_in_its_own_folder(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(workdir, capsys, "--approvers", "legal")
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    plans = workdir / ".claude" / "plans"
    with FileLock(str(plans / f".{data['plan_id']}.lock")), pytest.raises(PlanBusy):
        Orchestrator("other-plans", lock_timeout=0).approve(workdir / data["plan_path"], "legal")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.slow
def test_eight_approvers_at_once_all_land(workdir: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    data = _launch(workdir, capsys, "--approvers", ",".join(APPROVERS))
    procs = [_cli("approve", data["plan_id"], "--approver", who, "-q", cwd=workdir)
             for who in APPROVERS]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(APPROVERS), results
    plan = verify(json.loads(Path(data["plan_path"]).read_text()))
    assert plan["status"] == "completed"
    assert {a["approver"]: a["status"] for a in plan["approvals"]} == dict.fromkeys(
        APPROVERS, "approved")
    assert [t["node"] for t in plan["transitions"]].count("approval_gate") == len(APPROVERS)


def _launch_and_die_at_agent_call(n: int, plans: str) -> None:  # runs in a forked child
    from referral_orchestrator.runners.offline import OfflineDrafter

    calls = {"n": 0}

    class Dying(OfflineDrafter):
        def run(self, call):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().run(call)

    Orchestrator(plans, model=Dying()).launch(**SEED_REQUEST)


@pytest.mark.slow
def test_four_resumes_at_once_finish_a_stopped_run_exactly_once(workdir: Path) -> None:
    plans = workdir / ".claude" / "plans"
    child = multiprocessing.get_context("fork").Process(
        target=_launch_and_die_at_agent_call, args=(4, str(plans)))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    (path,) = plans.glob("plan-*.json")
    procs = [_cli("resume", path.stem, "-q", cwd=workdir) for _ in range(4)]
    results = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, results
    plan = verify(json.loads(path.read_text()))
    assert plan["status"] == "completed"
    keys = [t["key"] for t in plan["transitions"]]
    assert len(keys) == len(set(keys))
    nodes = Counter(t["node"] for t in plan["transitions"])
    assert (nodes["checklist"], nodes["merge_gate"], nodes["go_live"]) == (1, 1, 1)


@pytest.mark.slow
def test_twenty_launches_in_one_second_make_twenty_plans(workdir: Path) -> None:
    procs = [_cli(*SEED, "-q", "--out", f"out-{i}", cwd=workdir) for i in range(20)]
    results = [p.communicate(timeout=280) for p in procs]
    assert [p.returncode for p in procs] == [0] * 20, results
    plans = sorted((workdir / ".claude" / "plans").glob("plan-*.json"))
    assert len(plans) == 20
    for path in plans:
        plan = verify(json.loads(path.read_text()))
        assert plan["plan_id"] == path.stem and plan["status"] == "completed"

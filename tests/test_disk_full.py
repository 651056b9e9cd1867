"""A full disk anywhere in a run is one line and exit 1; the plan stays valid and resumes.

Each case runs the CLI in a subprocess whose writes fail with ENOSPC at one point: the
n-th file write (plan create, plan updates, artifacts, the manifest), the n-th checkpoint
save, a plan write while parallel drafts are still running (the case that used to
print a LangGraph traceback), or the n-th write once files are being composed ahead beside
a model that waits. Then space comes back: ``validate`` passes and ``resume``
finishes the launch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r'''
import errno, os, sqlite3, sys, threading
kind, n = sys.argv[1], int(sys.argv[2])
count = {"i": 0}
lock = threading.Lock()
failed, drafting, shut = threading.Event(), threading.Event(), threading.Event()
composing = threading.Event()  # a section is being written ahead, under temp names

# Widen a real race: a draft that finishes as the stream is closed runs its done-callback
# after the worker pool has begun to shut down (it used to print a LangGraph traceback).
import concurrent.futures
from langgraph.pregel import _runner
real_shutdown = concurrent.futures.ThreadPoolExecutor.shutdown
def shutdown(self, wait=True, *, cancel_futures=False):
    with self._shutdown_lock:
        self._shutdown = True
    shut.set()
    real_shutdown(self, wait=wait, cancel_futures=cancel_futures)
concurrent.futures.ThreadPoolExecutor.shutdown = shutdown
real_commit = _runner.PregelRunner.commit
def commit(self, task, exception):
    if kind == "drafts" and failed.is_set():
        shut.wait(10)
    return real_commit(self, task, exception)
_runner.PregelRunner.commit = commit

def due(sticky=False):
    with lock:
        count["i"] += 1
        return count["i"] >= n if sticky else count["i"] == n

real_write = os.write
def write(fd, data):
    # a full disk stays full: the n-th write fails and every later one (also a write
    # done ahead, in a worker, that the run would otherwise redo once space is back)
    if ((kind == "file" and due(sticky=True))
            or (kind == "drafts" and drafting.is_set() and not failed.is_set())
            or (kind == "ahead" and composing.is_set() and due(sticky=True))):
        failed.set()
        raise OSError(errno.ENOSPC, "No space left on device")
    return real_write(fd, data)
os.write = write

from langgraph.checkpoint.sqlite import SqliteSaver
real_put = SqliteSaver.put
def put(self, *args, **kwargs):
    if kind == "checkpoint" and due():
        raise sqlite3.OperationalError("database or disk is full")
    return real_put(self, *args, **kwargs)
SqliteSaver.put = put
# A background checkpoint write still in flight when the failure reaches the main thread
# (it used to run on a connection the main thread had already closed: SIGSEGV).
import time
real_put_writes = SqliteSaver.put_writes
def put_writes(self, *args, **kwargs):
    if failed.is_set():
        time.sleep(0.3)
    return real_put_writes(self, *args, **kwargs)
SqliteSaver.put_writes = put_writes

from referral_orchestrator import orchestrator
from referral_orchestrator.orchestrator import turn
from referral_orchestrator.testing import ScriptedRunner

order = {"n": 0}

# "ahead": a model that takes its time, so the comms kit and runbook are composed and
# written ahead while it does; the disk fills up at the n-th write from then on
from referral_orchestrator.artifacts import ahead
real_fill = ahead.fill_temps
def fill_temps(files):
    composing.set()
    return real_fill(files)
ahead.fill_temps = fill_temps

class Runner(ScriptedRunner):
    def run(self, call):
        if kind == "ahead":
            import time
            time.sleep(0.05)
        if kind == "drafts" and call.stage in ("communications", "partner-kit", "enablement"):
            with lock:
                order["n"] += 1
                nth = order["n"]
            drafting.set()
            if nth == 2:  # a long fan-out: the plan is written as its drafts come in
                import time
                time.sleep(turn.STEP_WRITE_INTERVAL + 0.2)
            elif nth > 2:  # the other drafts are still running when that write fails
                failed.wait(30)
        return super().run(call)

orchestrator.resolve_runner = lambda *a, **k: Runner(answers_at_once=kind != "ahead")
from referral_orchestrator.surfaces.cli import main
sys.exit(main(sys.argv[3:]))
'''
LAUNCH = ["launch-program", "--program", "Customer Advocates", "--launch-date", "2026-12-10",
          "--channels", "email,in-app,sms", "--segments", "power users,new customers",
          "--as-of", "2026-11-25", "--out", "out", "-q"]
CASES = ([("file", n) for n in (1, 2, 4, 7, 12, 16, 22)] + [("checkpoint", n) for n in (1, 3, 6)]
         + [("drafts", 0)] * 3 + [("ahead", n) for n in (1, 3, 9)])


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "referral_orchestrator", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "n"), CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_a_full_disk_is_one_line_and_exit_1_and_resume_finishes_once_space_is_back(
    kind: str, n: int, tmp_path: Path
) -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT, kind, str(n), *LAUNCH], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    plans = sorted((tmp_path / ".claude" / "plans").glob("plan-*.json"))
    if not plans:  # the plan or its artifact folder could not be created: nothing started
        assert kind == "file" and n <= 2
        return
    (plan,) = plans
    assert _cli("validate", str(plan), cwd=tmp_path).returncode == 0
    resumed = _cli("resume", plan.stem, "-q", "--format", "json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["status"] == "completed"
    assert _cli("validate", str(plan), cwd=tmp_path).returncode == 0
    assert not [p for p in tmp_path.rglob("*.tmp")]

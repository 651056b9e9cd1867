"""File store vs PostgreSQL store, side by side in one run.

    python bench/bench_store.py [--server postgresql://root@127.0.0.1:5432] [--sizes 100,1000,10000]

Needs a reachable PostgreSQL server; a fresh database with a random name is created and
dropped. Reports, for each store (medians):

1. one offline launch (in process), and one approve of a waiting plan;
2. ``status`` (the list of plans) at 100 / 1,000 / 10,000 plans - the first full listing
   (the file store's status index missing: every plan verified, the index written), the
   full listing again (the index current), and one filtered page (``--status completed
   --limit 50``). Plans are made by copying a real completed plan under new ids (re-sealed:
   each is a valid plan);
3. 8 approvers deciding on one plan at the same moment (8 CLI processes): wall time until
   all 8 decisions are recorded;
4. launches per minute with 1, 2 and 4 processes against one database (and one plans
   folder), each model call sleeping ``--latency`` seconds (a simulated model).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from referral_orchestrator import Orchestrator
from referral_orchestrator.plan import listing
from referral_orchestrator.plan.chain import canonical, seal
from referral_orchestrator.plan.pgstore import PgStore
from referral_orchestrator.plan.store import FileStore
from referral_orchestrator.runners.offline import OfflineDrafter

SEED = dict(program="Customer Advocates", launch_date="2026-12-10", channels="email,in-app",
            as_of="2026-11-25")
APPROVERS = ["legal", "finance", "brand", "privacy", "security", "sales", "support", "cfo"]


def _median(fn: Any, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class SlowDrafter(OfflineDrafter):
    """The offline drafter behind a simulated model latency."""

    latency = 0.2

    def run(self, call: Any) -> Any:
        time.sleep(self.latency)
        return super().run(call)


def _store(kind: str, root: Path, url: str) -> Any:
    return FileStore(root / "plans") if kind == "file" else PgStore(url)


def one_launch_and_approve(kind: str, root: Path, url: str, runs: int) -> dict[str, float]:
    store = _store(kind, root, url)
    orch = Orchestrator(store=store)
    n = {"i": 0}

    def launch(approvers: str | None = None) -> Any:
        n["i"] += 1
        return orch.launch(**SEED, approvers=approvers,
                           out_dir=root / f"out-{kind}-{n['i']}")

    launch_s = _median(launch, runs)
    waiting = [launch("legal").plan_id for _ in range(runs)]
    it = iter(waiting)
    approve_s = _median(lambda: orch.approve(next(it), "legal"), runs)
    getattr(store, "close", lambda: None)()
    return {"launch_s": launch_s, "approve_s": approve_s}


def fill(kind: str, root: Path, url: str, template: dict[str, Any], have: int,
         total: int) -> None:
    """Copy ``template`` under new ids: generated plans ``have`` .. ``total``."""
    store = _store(kind, root, url)
    rows = []
    for i in range(have, total):
        plan = copy.deepcopy(template)
        plan["plan_id"] = f"plan-20200101-000000-{i + 2}"
        plan["status"] = "completed" if i % 2 else "awaiting_approval"
        seal(plan)
        if kind == "file":
            store.ensure()
            store.path_of(plan["plan_id"]).write_bytes(FileStore._encode(plan))
        else:
            rows.append(plan)
    if rows:
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cur:
            with cur.copy("COPY plans (plan_id, document, status, program, launch_date, "
                          "channels, readiness, created_at, updated_at, chain_head, "
                          "transitions) FROM STDIN") as cp:
                for plan in rows:
                    req = plan["request"]["normalized"]
                    cp.write_row((plan["plan_id"], FileStore._encode(plan).decode(),
                                  plan["status"], req["program"], req["launch_date"],
                                  ",".join(req["channels"]),
                                  plan["success_metrics"]["launch_readiness_pct"],
                                  plan["created_at"], plan["updated_at"],
                                  plan["integrity"]["chain_head"], len(plan["transitions"])))
            with cur.copy("COPY transitions (plan_id, seq, record, hash) FROM STDIN") as cp:
                for plan in rows:
                    for t in plan["transitions"]:
                        cp.write_row((plan["plan_id"], t["seq"], canonical(t).decode(),
                                      t["hash"]))
    getattr(store, "close", lambda: None)()


def status_at(kind: str, root: Path, url: str, runs: int) -> dict[str, float]:
    """``status`` listings: the first one (for the file store: its status index missing,
    so every plan is verified and the index written), then with the index current."""
    store = _store(kind, root, url)
    orch = Orchestrator(store=store)
    index = root / "plans" / listing.INDEX_NAME
    if kind == "file":  # a real folder's plans are older than this; fresh copies are not
        time.sleep(listing.SETTLED_NS / 1e9)

    def first() -> None:
        with contextlib.suppress(FileNotFoundError):
            index.unlink()
        orch.list_plans()

    out = {"first_s": _median(first, runs), "all_s": _median(orch.list_plans, runs),
           "page_s": _median(lambda: orch.list_plans(status="completed", limit=50), runs)}
    getattr(store, "close", lambda: None)()
    return out


def concurrent_approvers(kind: str, root: Path, url: str) -> float:
    store = _store(kind, root, url)
    orch = Orchestrator(store=store)
    plan_id = orch.launch(**SEED, approvers=",".join(APPROVERS),
                          out_dir=root / f"out-{kind}-eight").plan_id
    getattr(store, "close", lambda: None)()
    where = ["--store", url] if kind == "pg" else ["--plans-dir", str(root / "plans")]
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "referral_orchestrator", "approve",
                               plan_id, "--approver", who, *where, "-q"], cwd=root,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for who in APPROVERS]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            sys.exit(f"approve failed: {err.decode()[-500:]}")
    return time.perf_counter() - start


def _worker(kind: str, root: str, url: str, latency: float, seconds: float,
            out: Any) -> None:
    SlowDrafter.latency = latency
    store = _store(kind, Path(root), url)
    orch = Orchestrator(store=store, model=SlowDrafter())
    done = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        orch.launch(**SEED, out_dir=Path(root) / f"w-{os.getpid()}-{done}")
        done += 1
    getattr(store, "close", lambda: None)()
    out.put(done)


def launches_per_minute(kind: str, root: Path, url: str, procs: int, latency: float,
                        seconds: float) -> float:
    queue: Any = multiprocessing.get_context("spawn").Queue()
    ctx = multiprocessing.get_context("spawn")
    workers = [ctx.Process(target=_worker, args=(kind, str(root), url, latency, seconds,
                                                 queue)) for _ in range(procs)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    total = sum(queue.get() for _ in workers)
    for w in workers:
        w.join()
    return total * 60 / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default="postgresql://root@127.0.0.1:5432")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    import psycopg

    name = f"ro_bench_{secrets.token_hex(4)}"
    with psycopg.connect(f"{args.server}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = f"{args.server}/{name}"
    report: dict[str, Any] = {"file": {}, "pg": {}}
    try:
        PgStore(url).migrate()
        with tempfile.TemporaryDirectory() as tmp:
            os.chdir(tmp)
            for kind in ("file", "pg"):
                root = Path(tmp) / kind
                root.mkdir()
                r = report[kind]
                r.update(one_launch_and_approve(kind, root, url, args.runs))
                r["eight_approvers_s"] = concurrent_approvers(kind, root, url)
                source = _store(kind, root, url)
                template = json.loads(FileStore._encode(source.load(
                    source.list_plans()[0]["plan_id"])[1]))
                getattr(source, "close", lambda: None)()
                have = 0
                for size in (int(s) for s in args.sizes.split(",")):
                    fill(kind, root, url, template, have, size)
                    have = size
                    r[f"status_{size}"] = status_at(kind, root, url,
                                                    args.runs if size < 10_000 else 1)
                for procs in (1, 2, 4):
                    (root / f"lpm{procs}").mkdir()
                    r[f"launches_per_min_{procs}p"] = launches_per_minute(
                        kind, root / f"lpm{procs}", url, procs, args.latency, args.seconds)
            os.chdir("/")
    finally:
        with psycopg.connect(f"{args.server}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'measure':<44} {'file store':>12} {'postgres':>12}")
    keys = list(report["file"])
    for key in keys:
        f, p = report["file"][key], report["pg"][key]
        if isinstance(f, dict):
            for sub in f:
                print(f"{key + ' ' + sub:<44} {f[sub]:>12.3f} {p[sub]:>12.3f}")
        else:
            print(f"{key:<44} {f:>12.3f} {p:>12.3f}")


if __name__ == "__main__":
    main()

"""In-process launch overhead and plan-persistence scaling, as ratios measured in one run.

    python bench/bench_graph.py [--runs 15] [--write-runs 30] [--json] [--profile]

1. ``Orchestrator(tmp).launch(...)`` (offline seed request, fresh folder every run) against
   a bare LangGraph ``StateGraph`` with as many no-op nodes as the launch records
   transitions, compiled and invoked once per round - plain, and with a ``SqliteSaver``
   checkpointer (the launch checkpoints too). Reports the overhead ratio.
2. Plan persistence per transition - ``_plan.build`` + ``PlanStore.write`` (schema
   validation, hash chain check, atomic temp-file/fsync/rename) - for plans of 10, 100 and
   1,000 tasks, sizes interleaved round by round. Reports the per-write cost, the per-task
   cost and the growth exponent between sizes (1.0 = linear).

``--profile`` adds a cProfile of one in-process launch (top functions by cumulative time).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import json
import math
import operator
import os
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, TypedDict

from _harness import HEADER, Pair, alternate, clock
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph import END, START, StateGraph

from referral_orchestrator import Orchestrator
from referral_orchestrator.engine.graph import build_graph
from referral_orchestrator.plan.record import build
from referral_orchestrator.plan.store import PlanStore

REQUEST: dict[str, Any] = {"program": "Customer Advocates", "launch_date": "2026-12-10",
                           "channels": "email,in-app", "as_of": "2026-11-25"}
SIZES = (10, 100, 1000)


class _Bare(TypedDict):
    steps: Annotated[list[str], operator.add]


def _noop(name: str) -> Any:
    def node(state: _Bare) -> dict[str, list[str]]:
        return {"steps": [name]}
    return node


def bare_graph(nodes: int, checkpointer: Any = None) -> Any:
    """A chain of ``nodes`` no-op nodes, each appending its name to a list channel."""
    g = StateGraph(_Bare)
    names = [f"n{i}" for i in range(nodes)]
    for name in names:
        g.add_node(name, _noop(name))
    for a, b in zip([START, *names], [*names, END], strict=True):
        g.add_edge(a, b)
    return g.compile(checkpointer=checkpointer)


class _Fresh:
    """A new temporary folder per call, removed afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(dir=self.root))
        return self.path

    def __exit__(self, *_: object) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def launch_once(root: Path) -> int:
    """One offline launch in a fresh folder; returns the number of transitions."""
    with _Fresh(root) as folder:
        result = Orchestrator(folder / "plans").launch(**REQUEST, out_dir=folder / "out")
        assert result.status == "completed", result.status
        return len(result.plan["transitions"])


def bare_once(nodes: int, root: Path, *, checkpoint: bool) -> None:
    """Compile and run the bare chain once (with a fresh SQLite checkpointer if asked)."""
    if not checkpoint:
        out = bare_graph(nodes).invoke({"steps": []})
        assert len(out["steps"]) == nodes
        return
    with _Fresh(root) as folder:
        conn = sqlite3.connect(folder / "checkpoints.sqlite", check_same_thread=False)
        try:
            graph = bare_graph(nodes, SqliteSaver(conn))
            out = graph.invoke({"steps": []}, {"configurable": {"thread_id": "bench"}})
            assert len(out["steps"]) == nodes
        finally:
            conn.close()


# -- plan persistence ---------------------------------------------------------------------

def final_state(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one launch; return its final graph state and its plan document."""
    plans = root / "seed-plans"
    result = Orchestrator(plans).launch(**REQUEST, out_dir=root / "seed-out")
    conn = sqlite3.connect(plans / "checkpoints.sqlite", check_same_thread=False)
    try:
        snap = build_graph(SqliteSaver(conn)).get_state(
            {"configurable": {"thread_id": result.plan_id}})
    finally:
        conn.close()
    values = {k: v for k, v in dict(snap.values).items() if not k.startswith("__")}
    return values, result.plan


def scaled(values: dict[str, Any], tasks: int) -> dict[str, Any]:
    """The state with its task list cloned (ids and dependencies renamed) up to ``tasks``."""
    base = values["tasks"]
    out = []
    for i in range(tasks):
        copy, task = divmod(i, len(base))
        t = dict(base[task])
        if copy:
            t["id"] = f"{t['id']}-{copy}"
            t["depends_on"] = [f"{d}-{copy}" for d in t["depends_on"]]
        out.append(t)
    return {**values, "tasks": out}


def plan_meta(plan: dict[str, Any]) -> dict[str, Any]:
    """The run metadata ``_plan.build`` takes, recovered from a plan document."""
    return {"plan_id": plan["plan_id"], "given": plan["request"]["given"],
            "model": plan["model"], "created_at": plan["created_at"],
            "updated_at": plan["updated_at"], "status": plan["status"],
            "out_dir": plan["context_passing"]["artifacts_location"],
            "checkpoint": plan["context_passing"].get("checkpoint", ""),
            "max_concurrency": plan["parallelization"]["max_concurrent"],
            "deliverables": plan["deliverables"], "pending": plan.get("pending")}


def persistence(root: Path, rounds: int) -> list[dict[str, Any]]:
    """Per-write cost of build + validate + atomic write at each size, interleaved."""
    values, plan = final_state(root)
    meta, transitions = plan_meta(plan), plan["transitions"]
    store = PlanStore(root / "persist")
    store.ensure()
    cases = {n: (scaled(values, n), store.path_of(f"plan-20261125-0900{i:02d}"))
             for i, n in enumerate(SIZES)}
    for vals, path in cases.values():  # warm up, and prove the plan is valid at each size
        store.write(path, build({**meta, "plan_id": path.stem}, vals, transitions))
    times: dict[int, dict[str, list[float]]] = {
        n: {"build": [], "write": [], "bytes": []} for n in SIZES}
    for r in range(rounds):
        order = SIZES if r % 2 == 0 else tuple(reversed(SIZES))
        for n in order:
            vals, path = cases[n]
            m = {**meta, "plan_id": path.stem}
            start = time.perf_counter()
            doc = build(m, vals, transitions)
            built = time.perf_counter()
            store.write(path, doc)
            done = time.perf_counter()
            times[n]["build"].append(built - start)
            times[n]["write"].append(done - built)
    rows = []
    for n in SIZES:
        b = statistics.median(times[n]["build"])
        w = statistics.median(times[n]["write"])
        rows.append({"tasks": n, "bytes": cases[n][1].stat().st_size, "build_s": b,
                     "validate_and_write_s": w, "per_write_s": b + w,
                     "per_task_us": (b + w) / n * 1e6})
    for prev, row in itertools.pairwise(rows):
        row["growth_exponent"] = (math.log(row["per_write_s"] / prev["per_write_s"])
                                  / math.log(row["tasks"] / prev["tasks"]))
    return rows


def write_parts(root: Path, tasks: int, rounds: int) -> dict[str, float]:
    """Median split of one write at ``tasks`` tasks: verify, encode, fsync'd file write."""
    from referral_orchestrator.plan.chain import encode_plan, verify

    values, plan = final_state(root / "parts")
    doc = build(plan_meta(plan), scaled(values, tasks), plan["transitions"])
    store = PlanStore(root / "parts" / "p")
    store.ensure()
    path = store.path_of(doc["plan_id"])
    parts: dict[str, list[float]] = {"verify": [], "encode_plan": [], "full_write": []}
    for _ in range(rounds):
        parts["verify"].append(clock(lambda: verify(doc)))
        parts["encode_plan"].append(clock(lambda: encode_plan(doc)))
        parts["full_write"].append(clock(lambda: store.write(path, doc)))
    return {k: statistics.median(v) for k, v in parts.items()}


def profile_launch(root: Path, top: int = 25) -> str:
    """cProfile of one in-process launch, top functions by cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    launch_once(root)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="launch rounds (default 15)")
    ap.add_argument("--write-runs", type=int, default=30,
                    help="persistence rounds per size (default 30)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of tables")
    ap.add_argument("--profile", action="store_true", help="cProfile one launch")
    args = ap.parse_args(argv)
    os.environ.pop("ANTHROPIC_API_KEY", None)

    with tempfile.TemporaryDirectory(prefix="bench-graph-") as tmp:
        root = Path(tmp)
        nodes = launch_once(root)  # also warms imports, content caches and compiled schemas
        bare_once(nodes, root, checkpoint=True)
        launch = ("Orchestrator.launch", lambda: launch_once(root))
        pairs: list[Pair] = [
            alternate(f"launch vs bare graph ({nodes} nodes)",
                      ("bare StateGraph", lambda: bare_once(nodes, root, checkpoint=False)),
                      launch, args.runs),
            alternate(f"launch vs bare + SqliteSaver ({nodes})",
                      ("bare StateGraph + SqliteSaver",
                       lambda: bare_once(nodes, root, checkpoint=True)),
                      launch, args.runs),
        ]
        rows = persistence(root, args.write_runs)
        parts = write_parts(root, 1000, max(5, args.write_runs // 3))
        profile = profile_launch(root) if args.profile else None

    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(),
                          "transitions": nodes, "pairs": [p.to_dict() for p in pairs],
                          "persistence": rows, "write_parts_1000_tasks_s": parts}, indent=2))
        return 0
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; {nodes} transitions per "
          f"launch; {args.runs} launch rounds, {args.write_runs} write rounds per size")
    print(HEADER)
    for pair in pairs:
        print(pair.row())
    per_transition = statistics.median(pairs[0].subject) / nodes
    print(f"launch wall time per transition: {per_transition * 1000:.1f} ms")
    print("\nplan persistence per transition (build + validate + atomic write), medians:")
    print(f"{'tasks':>6} {'plan KB':>8} {'build':>9} {'val+write':>10} {'per write':>10} "
          f"{'per task':>10} {'growth':>7}")
    for row in rows:
        growth = f"{row['growth_exponent']:.2f}" if "growth_exponent" in row else "-"
        print(f"{row['tasks']:>6} {row['bytes'] / 1024:8.1f} {row['build_s'] * 1000:7.2f}ms "
              f"{row['validate_and_write_s'] * 1000:8.2f}ms {row['per_write_s'] * 1000:8.2f}ms "
              f"{row['per_task_us']:8.1f}us {growth:>7}")
    ratio = rows[-1]["per_task_us"] / rows[0]["per_task_us"]
    print(f"per-task cost at {SIZES[-1]} vs {SIZES[0]} tasks: {ratio:.2f}x "
          f"({'no worse than linear' if ratio <= 1.0 else 'SUPERLINEAR'})")
    print("write at 1000 tasks, split: " + ", ".join(
        f"{k} {v * 1000:.2f}ms" for k, v in parts.items()))
    if profile:
        print("\n" + profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CLI start-up and end-to-end cost, as ratios against bare-interpreter baselines.

    python bench/bench_cli.py [--runs 15] [--json]

1. ``referral-orchestrator launch-program`` (offline seed command, fresh folder every run)
   against ``python -c "import langgraph.graph, langchain_core.messages, pydantic,
   jsonschema"`` - what any LangGraph program pays before doing work. Target <= 1.5x.
2. ``referral-orchestrator --help`` against ``python -c pass``. Target <= 3x.
3. ``python -X importtime -m referral_orchestrator --help``: heavy modules imported just
   to print help (must be none) and the biggest imports.
4. ``referral-orchestrator validate PLAN`` and ``status PLAN`` on the plan of a 7 channels x
   12 segments launch, each against a minimal script doing the same checks with json,
   hashlib and jsonschema-rs only (schema, hash chain, body digest; plus the artifact
   digests for validate, the file name for status). Target <= 2x. Their heavy imports
   (must be none: no LangGraph, langchain-core, pydantic, jsonschema, yaml, jinja2).

Both sides of each comparison alternate in one run; medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _harness import HEADER, Pair, alternate

PY = sys.executable
HEAVY = ("langgraph", "langchain_core", "pydantic", "jsonschema", "anthropic", "yaml",
         "jinja2", "tenacity", "sqlite3")
SEED = ["launch-program", "--program", "Customer Advocates", "--launch-date", "2026-12-10",
        "--channels", "email,in-app", "--as-of", "2026-11-25", "--model", "offline"]
IMPORTS = "import langgraph.graph, langchain_core.messages, pydantic, jsonschema"
LARGEST = ["--channels", "email,in-app,sms,push,social,landing-page,partner-portal",
           "--segments", ",".join(f"segment {i}" for i in range(1, 13))]
# The checks of `validate` / `status PLAN` with nothing but json, hashlib and jsonschema-rs.
MINIMAL = r'''
import hashlib, json, sys
from pathlib import Path
import jsonschema_rs
mode, file, schema = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
plan = json.loads(file.read_bytes().decode("utf-8"))
if not jsonschema_rs.validator_for(json.loads(schema.read_text()),
                                   validate_formats=True).is_valid(plan):
    sys.exit(3)
def sha(data):
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":"),
                                     ensure_ascii=False).encode()).hexdigest()
prev = "0" * 64
for i, rec in enumerate(plan["transitions"], start=1):
    if (rec["seq"] != i or rec["prev_hash"] != prev
            or sha({k: v for k, v in rec.items() if k != "hash"}) != rec["hash"]):
        sys.exit(3)
    prev = rec["hash"]
integrity = plan["integrity"]
if (integrity["chain_head"] != prev or sha({k: v for k, v in plan.items()
                                             if k != "integrity"}) != integrity["body_sha256"]):
    sys.exit(3)
if mode == "status":
    if plan["plan_id"] != file.stem:
        sys.exit(3)
    print(plan["plan_id"], plan["status"], plan["success_metrics"]["launch_readiness_pct"])
else:
    folder = Path(plan["context_passing"]["artifacts_location"])
    for rel, want in plan["artifact_digests"].items():
        if hashlib.sha256((folder / rel).read_bytes()).hexdigest() != want:
            sys.exit(3)
    print(file, "valid", len(plan["transitions"]))
'''


def _script() -> str:
    beside = Path(PY).parent / "referral-orchestrator"
    found = str(beside) if beside.exists() else shutil.which("referral-orchestrator")
    if found is None:
        sys.exit("referral-orchestrator is not installed in this environment: pip install -e .")
    return found


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("ANTHROPIC_API_KEY", None)  # offline means offline
    return env


def _run(cmd: list[str], cwd: str | None = None) -> None:
    done = subprocess.run(cmd, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")


def _launch_in_fresh_folder(script: str, root: Path) -> None:
    folder = tempfile.mkdtemp(dir=root)
    try:
        _run([script, *SEED], cwd=folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def largest_plan(script: str, root: Path) -> Path:
    """A 7 x 12 offline launch in ``root``; returns its plan file."""
    _run([script, *SEED[:5], *LARGEST, "--as-of", "2026-11-25", "--model", "offline",
          "--plans-dir", str(root / "plans"), "--out", str(root / "out"), "-q"], cwd=str(root))
    (plan,) = sorted((root / "plans").glob("plan-*.json"))
    return plan


def schema_file() -> Path:
    from referral_orchestrator.launch.content import content_root

    return content_root() / "schemas" / "plan.schema.json"


def import_report(cmd: list[str]) -> tuple[list[str], list[tuple[int, str]]]:
    """Heavy top-level packages imported by ``cmd``, and its ten biggest imports (us)."""
    done = subprocess.run([PY, "-X", "importtime", *cmd], env=_env(), capture_output=True,
                          text=True, check=True)
    heavy: set[str] = set()
    cumulative: list[tuple[int, str]] = []
    for line in done.stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) != 3 or not parts[1].strip().isdigit():
            continue  # not an importtime row, or its header
        raw = parts[2].removeprefix(" ")
        name = raw.strip()
        if name.split(".")[0] in HEAVY:
            heavy.add(name.split(".")[0])
        if raw == name:  # not indented: imported directly, not by another module
            cumulative.append((int(parts[1]), name))
    return sorted(heavy), sorted(cumulative, reverse=True)[:10]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="rounds for --help (default 15)")
    ap.add_argument("--launch-runs", type=int, default=9,
                    help="rounds for the end-to-end launch (default 9)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args(argv)
    script = _script()

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        root = Path(tmp)
        pairs: list[Pair] = [
            alternate("launch-program (offline) vs imports",
                      (f"python -c '{IMPORTS}'", lambda: _run([PY, "-c", IMPORTS])),
                      ("referral-orchestrator launch-program",
                       lambda: _launch_in_fresh_folder(script, root)),
                      args.launch_runs, target=1.5),
            alternate("--help vs python -c pass",
                      ("python -c pass", lambda: _run([PY, "-c", "pass"])),
                      ("referral-orchestrator --help", lambda: _run([script, "--help"])),
                      args.runs, target=3.0),
        ]
        plan = largest_plan(script, root)
        minimal = root / "minimal.py"
        minimal.write_text(MINIMAL)
        schema = str(schema_file())
        for mode in ("validate", "status"):
            cmd = [script, mode, str(plan)] + (
                ["--plans-dir", str(plan.parent)] if mode == "status" else [])
            pairs.append(alternate(
                f"{mode} PLAN (7x12) vs minimal script",
                (f"python minimal.py {mode}",
                 lambda m=mode: _run([PY, str(minimal), m, str(plan), schema])),
                (f"referral-orchestrator {mode} PLAN", lambda c=cmd: _run(c)),
                args.runs, target=2.0))
        read_heavy = {mode: import_report(["-m", "referral_orchestrator", mode, str(plan)])[0]
                      for mode in ("validate", "status")}
    heavy, biggest = import_report(["-m", "referral_orchestrator", "--help"])

    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(),
                          "pairs": [p.to_dict() for p in pairs],
                          "help_heavy_imports": heavy,
                          "read_heavy_imports": read_heavy,
                          "help_biggest_imports_us": biggest}, indent=2))
    else:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
              f"launch runs {args.launch_runs}, help runs {args.runs}")
        print(HEADER)
        for pair in pairs:
            print(pair.row())
        print(f"\n--help imports heavy modules: {', '.join(heavy) or 'none'}")
        for mode, found in read_heavy.items():
            print(f"{mode} PLAN imports heavy modules: {', '.join(found) or 'none'}")
        print("--help biggest imports (cumulative us):")
        for us, name in biggest:
            print(f"  {us:>8}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""CLI start-up and end-to-end cost, as ratios against bare-interpreter baselines.

    python bench/bench_cli.py [--runs 15] [--json]

1. ``referral-orchestrator launch-program`` (offline seed command, fresh folder every run)
   against ``python -c "import langgraph.graph, langchain_core.messages, pydantic,
   jsonschema"`` - what any LangGraph program pays before doing work. Target <= 1.5x.
2. ``referral-orchestrator --help`` against ``python -c pass``. Target <= 3x.
3. ``python -X importtime -m referral_orchestrator --help``: heavy modules imported just
   to print help (must be none) and the biggest imports.

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
    heavy, biggest = import_report(["-m", "referral_orchestrator", "--help"])

    if args.json:
        print(json.dumps({"python": sys.version.split()[0], "cpus": os.cpu_count(),
                          "pairs": [p.to_dict() for p in pairs],
                          "help_heavy_imports": heavy,
                          "help_biggest_imports_us": biggest}, indent=2))
    else:
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs; "
              f"launch runs {args.launch_runs}, help runs {args.runs}")
        print(HEADER)
        for pair in pairs:
            print(pair.row())
        print(f"\n--help imports heavy modules: {', '.join(heavy) or 'none'}")
        print("--help biggest imports (cumulative us):")
        for us, name in biggest:
            print(f"  {us:>8}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

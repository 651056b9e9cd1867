"""Regenerate examples/output/ from the seed invocation (a test keeps it current).

    python scripts/regen_examples.py

Runs the seed command offline:

    referral-orchestrator launch-program --program "Customer Advocates" \
        --launch-date 2026-12-10 --channels "email,in-app" --as-of 2026-11-25

and writes its artifacts (runbook, comms kit, monitoring plan) to examples/output/. The
plan JSON goes to a throwaway folder: it carries run timestamps and ids, the artifacts do
not, so they are byte-for-byte reproducible.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from pathlib import Path

from referral_orchestrator import Orchestrator

SEED = {"program": "Customer Advocates", "launch_date": "2026-12-10",
        "channels": "email,in-app", "as_of": "2026-11-25"}
README = """# Example output: the seed launch

What `referral-orchestrator` writes for the seed command, offline (no model, no key):

```
referral-orchestrator launch-program --program "Customer Advocates" \\
    --launch-date 2026-12-10 --channels "email,in-app" --as-of 2026-11-25
```

- [runbook.md](runbook.md), [runbook.csv](runbook.csv), [runbook.ics](runbook.ics) - the dated
  task list for people, trackers and calendars
- [comms-kit/index.md](comms-kit/index.md) - every asset, per channel and segment, with the
  landing page, partner kit, support scripts, FAQ and tracking links
- [monitoring-plan.md](monitoring-plan.md) - dashboards, thresholds, on-call, incident
  response, rollback

`docs/artifacts.md` explains each file and the QA check ids. Regenerate with
`python scripts/regen_examples.py`; `tests/test_examples_output.py` fails when these files
are stale.
"""
OUTPUT = Path(__file__).resolve().parents[1] / "examples" / "output"


def generate(dest: Path) -> list[Path]:
    """Run the seed launch with artifacts in ``dest`` (emptied first); return the files."""
    if dest.exists():
        shutil.rmtree(dest)
    fixed = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    with tempfile.TemporaryDirectory() as plans:
        result = Orchestrator(plans, clock=lambda: fixed).launch(**SEED, out_dir=dest)
    if result.status != "completed":
        raise SystemExit(f"seed launch did not complete: {result.status}")
    (dest / "README.md").write_text(README, encoding="utf-8")
    # byte-exact files (CRLF in CSV and iCalendar): never let git rewrite line endings
    (dest / ".gitattributes").write_text("* -text\n", encoding="utf-8")
    return sorted(p for p in dest.rglob("*") if p.is_file())


def main() -> None:
    files = generate(OUTPUT)
    for path in files:
        print(path.relative_to(OUTPUT.parent.parent))
    print(f"wrote {len(files)} files to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()

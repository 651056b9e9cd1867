"""Regenerate examples/output/ from the seed invocation (a test keeps it current).

    python scripts/regen_examples.py

Runs the seed command offline:

    referral-orchestrator launch-program --program "Customer Advocates" \
        --launch-date 2026-12-10 --channels "email,in-app" --as-of 2026-11-25

and writes its artifacts (runbook, comms kit, monitoring plan) to examples/output/. The
plan JSON goes to a throwaway folder: it carries run timestamps and ids, the artifacts do
not, so they are byte-for-byte reproducible.

It also screenshots the landing page at 375 and 1280 px (``landing-page-*.png``) with
headless Chromium (scripts/landing_screenshots.py). Pixels depend on the machine's fonts,
so the test compares every file but those; without Chromium the old screenshots are kept.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType

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
- [landing-page-375.png](landing-page-375.png), [landing-page-1280.png](landing-page-1280.png) -
  the landing page in headless Chromium at phone and desktop widths, opened from a friend's
  link (`?ref=ADA-7Q2K`, so the referral code is filled in)

`docs/artifacts.md` explains each file and the QA check ids. Regenerate with
`python scripts/regen_examples.py`; `tests/test_examples_output.py` fails when these files
are stale.
"""
OUTPUT = Path(__file__).resolve().parents[1] / "examples" / "output"
SCREENSHOT_QUERY = "?ref=ADA-7Q2K"


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


def _screenshots() -> ModuleType:
    path = Path(__file__).with_name("landing_screenshots.py")
    spec = importlib.util.spec_from_file_location("landing_screenshots", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def screenshot(dest: Path, kept: dict[str, bytes]) -> None:
    """Screenshot the seed's landing page into ``dest``, or put the ``kept`` ones back."""
    shots = _screenshots()
    if why := shots.chromium_missing():
        for name, data in kept.items():
            (dest / name).write_bytes(data)
        print(f"screenshots not refreshed ({why}); kept {len(kept)}", file=sys.stderr)
        return
    shots.capture(dest / "comms-kit" / "landing-page.html", dest, query=SCREENSHOT_QUERY)


def main() -> None:
    kept = {p.name: p.read_bytes() for p in OUTPUT.glob("*.png")}
    files = generate(OUTPUT)
    screenshot(OUTPUT, kept)
    files = sorted(p for p in OUTPUT.rglob("*") if p.is_file())
    for path in files:
        print(path.relative_to(OUTPUT.parent.parent))
    print(f"wrote {len(files)} files to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()

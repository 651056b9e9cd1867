"""Regenerate the checked-in example output (a test keeps it current).

    python scripts/regen_examples.py

Runs two launches offline and writes their artifacts (runbook, comms kit, monitoring plan):

- examples/output/ - the seed command:

    referral-orchestrator launch-program --program "Customer Advocates" \\
        --launch-date 2026-12-10 --channels "email,in-app" --as-of 2026-11-25

- examples/output-ja/ - a Japanese program (examples/launch_in_japan.py, without its
  legal sign-off): Japan's holidays, Asia/Tokyo, yen, names in Japanese.

The plan JSON goes to a throwaway folder: it carries run timestamps and ids, the artifacts do
not (calendar UIDs hold only a digest of the plan id, fixed here by the fixed clock), so
they are byte-for-byte reproducible.

It also screenshots the seed's landing page at 375 and 1280 px (``landing-page-*.png``)
with headless Chromium (scripts/landing_screenshots.py). Pixels depend on the machine's
fonts, so the test compares every file but those; without Chromium the old screenshots
are kept.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

from referral_orchestrator import Orchestrator
from referral_orchestrator.artifacts.manifest import MANIFEST

ROOT = Path(__file__).resolve().parents[1]
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

`docs/artifacts.md` explains each file and the QA check ids. A launch outside the US, with
names in Japanese, is in [../output-ja/](../output-ja/README.md). Regenerate with
`python scripts/regen_examples.py`; `tests/test_examples_output.py` fails when these files
are stale.
"""
README_JA = """# Example output: a Japanese launch

What `referral-orchestrator` writes, offline, for a Japanese program with Japanese segments
(the request of [`examples/launch_in_japan.py`](../launch_in_japan.py), without its legal
sign-off):

```
referral-orchestrator launch-program --program "お友達紹介プログラム" \\
    --segments "ロイヤル顧客,新規会員" --channels "email,sms,landing-page" \\
    --launch-date 2027-05-10 --as-of 2027-04-12 --country JP
```

- Business days are Japan's: no due date in Golden Week (2027-04-29, 2027-05-03 to 05-05);
  [runbook.md](runbook.md) names the calendar.
- Japan has one time zone, so `--country JP` puts the enablement sessions at 11:00 JST and
  the go-live day at 09:00-17:00 JST ([runbook.ics](runbook.ics) holds them in UTC).
- Rewards are in yen, as English copy writes them in Japan: ¥3,000.
- Each segment has its own transliterated slug (`roiyarugu-ke`, `xin-gui-hui-yuan`), so its
  own files, tracking link and short link ([comms-kit/index.md](comms-kit/index.md)).
- The program name is outside GSM-7, so the SMS goes without it and stays one GSM-7
  message; [the SMS file](comms-kit/sms-roiyarugu-ke.md) states its encoding and parts.
"""
OUTPUT = ROOT / "examples" / "output"
SCREENSHOT_QUERY = "?ref=ADA-7Q2K"


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def examples() -> dict[str, tuple[dict[str, Any], str]]:
    """Output folder name (under examples/) -> (launch request, README)."""
    japan: dict[str, Any] = _load(ROOT / "examples" / "launch_in_japan.py",
                                  "launch_in_japan").JAPAN
    return {"output": (SEED, README), "output-ja": (japan, README_JA)}


def generate(dest: Path, name: str = "output") -> list[Path]:
    """Run one example launch with artifacts in ``dest`` (emptied first); return the files."""
    request, readme = examples()[name]
    if dest.exists():
        shutil.rmtree(dest)
    fixed = dt.datetime.fromisoformat(request["as_of"]).replace(hour=9, tzinfo=dt.UTC)
    with tempfile.TemporaryDirectory() as plans:
        result = Orchestrator(plans, clock=lambda: fixed).launch(**request, out_dir=dest)
    if result.status != "completed":
        raise SystemExit(f"example launch {name} did not complete: {result.status}")
    (dest / MANIFEST).unlink()  # names a throwaway plan; the examples are the artifacts alone
    (dest / "README.md").write_text(readme, encoding="utf-8")
    # byte-exact files (CRLF in CSV and iCalendar): never let git rewrite line endings
    (dest / ".gitattributes").write_text("* -text\n", encoding="utf-8")
    return sorted(p for p in dest.rglob("*") if p.is_file())


def screenshot(dest: Path, kept: dict[str, bytes]) -> None:
    """Screenshot the seed's landing page into ``dest``, or put the ``kept`` ones back."""
    shots = _load(Path(__file__).with_name("landing_screenshots.py"), "landing_screenshots")
    if why := shots.chromium_missing():
        for name, data in kept.items():
            (dest / name).write_bytes(data)
        print(f"screenshots not refreshed ({why}); kept {len(kept)}", file=sys.stderr)
        return
    shots.capture(dest / "comms-kit" / "landing-page.html", dest, query=SCREENSHOT_QUERY)


def main() -> None:
    kept = {p.name: p.read_bytes() for p in OUTPUT.glob("*.png")}
    for name in examples():
        out = ROOT / "examples" / name
        generate(out, name)
        if out == OUTPUT:
            screenshot(OUTPUT, kept)
        files = sorted(p for p in out.rglob("*") if p.is_file())
        for path in files:
            print(path.relative_to(ROOT))
        print(f"wrote {len(files)} files to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()

"""examples/output/ (the seed) and examples/output-ja/ are what the launches write today."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "examples" / "output"
OUTPUT_JA = ROOT / "examples" / "output-ja"


def _regen() -> ModuleType:
    spec = importlib.util.spec_from_file_location("regen_examples",
                                                  ROOT / "scripts" / "regen_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tree(root: Path, screenshots: bool = True) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and (screenshots or p.suffix != ".png")}


@pytest.mark.parametrize("name", ["output", "output-ja"])
def test_checked_in_example_output_matches_a_fresh_run(tmp_path: Path, name: str) -> None:
    _regen().generate(tmp_path / name, name)
    # screenshots are pixels of the local fonts: present (below), not compared byte for byte
    fresh = _tree(tmp_path / name)
    checked_in = _tree(ROOT / "examples" / name, screenshots=False)
    stale = sorted(set(fresh) ^ set(checked_in)) + sorted(
        n for n in set(fresh) & set(checked_in) if fresh[n] != checked_in[n])
    assert not stale, f"examples/{name} is stale ({stale}): run python scripts/regen_examples.py"


def test_example_output_holds_the_runbook_comms_kit_and_monitoring_plan() -> None:
    names = set(_tree(OUTPUT))
    assert {"README.md", "runbook.md", "runbook.csv", "runbook.ics", "monitoring-plan.md",
            "comms-kit/index.md", "comms-kit/landing-page.html", "comms-kit/partner-kit.md",
            "comms-kit/email-all-customers.md", "comms-kit/in-app-all-customers.md",
            "comms-kit/support-scripts.md", "comms-kit/faq.md",
            "comms-kit/tracking-links.csv", "landing-page-375.png",
            "landing-page-1280.png"} <= names
    for width in (375, 1280):
        png = (OUTPUT / f"landing-page-{width}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        assert int.from_bytes(png[16:20], "big") == width  # IHDR width: one CSS px per pixel
    assert not any("plan-2" in text.decode()
                   for text in _tree(OUTPUT, screenshots=False).values())


def test_the_japanese_example_keeps_japans_calendar_clock_currency_and_segments() -> None:
    files = _tree(OUTPUT_JA)
    runbook = files["runbook.md"].decode()
    assert "Japan (JP)" in runbook and "Asia/Tokyo" in runbook and "11:00 JST" in runbook
    golden_week = ("2027-04-29", "2027-05-03", "2027-05-04", "2027-05-05")
    assert not any(f",{day}," in files["runbook.csv"].decode() for day in golden_week)
    kit = "".join(v.decode() for k, v in files.items() if k.startswith("comms-kit/"))
    assert "¥3,000" in kit and "$" not in kit
    for slug in ("roiyarugu-ke", "xin-gui-hui-yuan"):
        assert {f"comms-kit/email-{slug}.md", f"comms-kit/sms-{slug}.md"} <= set(files)
    assert "Encoding: GSM-7, 1 part" in files["comms-kit/sms-roiyarugu-ke.md"].decode()
    assert not any("plan-2" in text.decode() for text in files.values())

"""examples/output/ is what the seed command writes today, byte for byte."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "examples" / "output"


def _generate(dest: Path) -> list[Path]:
    spec = importlib.util.spec_from_file_location("regen_examples",
                                                  ROOT / "scripts" / "regen_examples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    files: list[Path] = module.generate(dest)
    return files


def _tree(root: Path, screenshots: bool = True) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file() and (screenshots or p.suffix != ".png")}


def test_checked_in_example_output_matches_a_fresh_seed_run(tmp_path: Path) -> None:
    _generate(tmp_path / "output")
    # screenshots are pixels of the local fonts: present (below), not compared byte for byte
    fresh, checked_in = _tree(tmp_path / "output"), _tree(OUTPUT, screenshots=False)
    stale = sorted(set(fresh) ^ set(checked_in)) + sorted(
        name for name in set(fresh) & set(checked_in) if fresh[name] != checked_in[name])
    assert not stale, f"examples/output is stale ({stale}): run python scripts/regen_examples.py"


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

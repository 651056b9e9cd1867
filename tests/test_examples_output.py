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


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_checked_in_example_output_matches_a_fresh_seed_run(tmp_path: Path) -> None:
    _generate(tmp_path / "output")
    fresh, checked_in = _tree(tmp_path / "output"), _tree(OUTPUT)
    stale = sorted(set(fresh) ^ set(checked_in)) + sorted(
        name for name in set(fresh) & set(checked_in) if fresh[name] != checked_in[name])
    assert not stale, f"examples/output is stale ({stale}): run python scripts/regen_examples.py"


def test_example_output_holds_the_runbook_comms_kit_and_monitoring_plan() -> None:
    names = set(_tree(OUTPUT))
    assert {"README.md", "runbook.md", "runbook.csv", "runbook.ics", "monitoring-plan.md",
            "comms-kit/index.md", "comms-kit/landing-page.html", "comms-kit/partner-kit.md",
            "comms-kit/email-all-customers.md", "comms-kit/in-app-all-customers.md",
            "comms-kit/support-scripts.md", "comms-kit/faq.md",
            "comms-kit/tracking-links.csv"} <= names
    assert not any("plan-2" in text.decode() for text in _tree(OUTPUT).values())

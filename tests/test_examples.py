"""Examples are tests: every examples/*.py runs, every notebook executes with nbclient."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from referral_orchestrator.artifacts.report import result_html

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))


def test_there_are_script_and_notebook_examples() -> None:
    assert SCRIPTS and NOTEBOOKS


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_example_script_runs_from_an_empty_folder(script: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(notebook: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.slow
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes_top_to_bottom_with_rich_results(notebook: Path,
                                                           tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(notebook, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    rich = [o for o in outputs if o.output_type in ("execute_result", "display_data")]
    assert any("text/markdown" in o.data and "completed" in o.data["text/markdown"]
               for o in rich)  # the final LaunchResult renders as Markdown
    # the state machine is drawn locally as SVG (no mermaid.js, so it survives offline export)
    assert any("image/svg+xml" in o.data and "checklist" in o.data["image/svg+xml"]
               for o in rich)
    assert list(tmp_path.glob(".claude/plans/plan-*.json"))


def test_result_html_escapes_user_text_and_lists_what_to_do_next() -> None:
    page = result_html({
        "program": "<script>alert(1)</script>", "plan_id": "plan-20261125-090000",
        "status": "awaiting_approval", "launch_date": "2026-12-10", "channels": ["email"],
        "pattern": "diamond", "launch_readiness_pct": 62.5, "tasks": 20, "transitions": 8,
        "artifacts": {"runbook_md": "launches/x/runbook.md"},
        "next_actions": ["legal decides by 2026-12-03"],
        "pending": {"pending": [{"approver": "legal", "deadline": "2026-12-03"}]},
    })
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "launches/x/runbook.md" in page and "legal decides by 2026-12-03" in page
    assert "Waiting for" in page

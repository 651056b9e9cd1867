"""Content files saved on Windows (CRLF line ends, a UTF-8 byte-order mark) still load."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_orchestrator.engine import roster
from referral_orchestrator.launch import content, money, pages
from referral_orchestrator.runners import copywriting, prompting
from referral_orchestrator.surfaces.cli import main
from support import SEED

CACHED = (content.load_schema, content.validator, content.fast_validator, content.load_agents,
          content.load_skills, content.load_prompt, copywriting.skill_data, money._amounts,
          pages.template_env, roster._roster_for, prompting.agent_prefix, prompting._tools_json)


def _clear() -> None:
    for fn in CACHED:
        fn.cache_clear()


@pytest.fixture
def windows_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of agents/, skills/, prompts/ and schemas/ as a Windows checkout may hold them."""
    root = tmp_path / "content"
    source = content.content_root()
    for folder in ("agents", "skills", "prompts", "schemas"):
        shutil.copytree(source / folder, root / folder)
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8").replace("\n", "\r\n")
            path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    monkeypatch.setattr(content, "content_root", lambda: root)
    _clear()
    yield root
    _clear()


def test_front_matter_with_crlf_and_a_bom_splits() -> None:
    text = "\ufeff---\r\nname: lifecycle-ops\r\nmodel: inherit\r\n---\r\n\r\nBody line\r\n"
    meta, body = content.split_front_matter(text, "agents/lifecycle-ops.md")
    assert meta == {"name": "lifecycle-ops", "model": "inherit"}
    assert body == "Body line\n"
    assert content.load_yaml("\ufeffa: 1\r\nb: [x, y]\r\n") == {"a": 1, "b": ["x", "y"]}


def test_agents_skills_prompts_and_schemas_saved_on_windows_load(
    windows_content: Path,
) -> None:
    assert (windows_content / "agents" / "lifecycle-ops.md").read_bytes().startswith(
        b"\xef\xbb\xbf---\r\n")
    assert set(content.load_agents()) >= {"lifecycle-ops", "partner-manager"}
    assert "launch-comms" in content.load_skills()
    assert "\r" not in content.load_prompt("checklist")
    assert content.load_schema("plan")["$id"]


def test_a_launch_runs_on_content_saved_on_windows(windows_content: Path, workdir: Path) -> None:
    assert main([*SEED, "--channels", "email,sms", "--format", "json", "-q"]) == 0
    (path,) = (workdir / ".claude" / "plans").glob("plan-*.json")
    plan = json.loads(path.read_text())
    assert plan["status"] == "completed"
    for name in ("runbook_md", "monitoring_plan", "landing_page", "partner_kit"):
        text = Path(plan["deliverables"][name]).read_bytes()
        assert not text.startswith(b"\xef\xbb\xbf") and b"\r" not in text, name

"""Live CLI progress: rich on a terminal, plain lines otherwise, nothing with --quiet."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from referral_orchestrator.surfaces.cli import main
from referral_orchestrator.surfaces.progress import Progress, pick_mode, progress_for
from support import SEED

RECORD = {"node": "tooling_qa", "event": "qa_failed", "agent": "lifecycle-ops", "attempt": 2,
          "reason": "tracking link lacks utm_source"}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Ticks:
    """A monotonic clock that advances half a second per reading."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 0.5
        return self.now


def test_mode_is_rich_on_a_terminal_plain_on_a_pipe_and_quiet_when_asked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REFERRAL_ORCHESTRATOR_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert pick_mode(Tty()) == "rich"
    assert pick_mode(io.StringIO()) == "plain"
    assert pick_mode(Tty(), quiet=True) == "quiet"
    monkeypatch.setenv("TERM", "dumb")
    assert pick_mode(Tty()) == "plain"


def test_plain_line_names_stage_event_agent_attempt_reason_and_elapsed_time() -> None:
    out = io.StringIO()
    with progress_for(out, clock=Ticks()) as progress:
        progress(RECORD)
    (line,) = out.getvalue().splitlines()
    assert line.startswith("[   0.5s] tooling & QA")
    for part in ("qa_failed", "by lifecycle-ops", "(attempt 2)", "utm_source"):
        assert part in line


def test_rich_display_shows_each_stage_the_current_agent_and_elapsed_time() -> None:
    out = Tty()
    with Progress("rich", out, clock=Ticks()) as progress:
        progress({"node": "checklist", "event": "completed", "agent": "lifecycle-ops"})
        progress({**RECORD})
        progress({"node": "enablement", "event": "completed", "agent": "partner-manager"})
    screen = out.getvalue()
    for part in ("checklist", "tooling & QA", "enablement", "qa_failed",
                 "current:", "partner-manager"):
        assert part in screen, part
    assert re.search(r"enablement\s.*\s\d+\.\ds", screen)  # elapsed time per stage
    assert progress.current() == "partner-manager"


def test_quiet_progress_writes_nothing() -> None:
    out = Tty()
    with progress_for(out, quiet=True) as progress:
        progress(RECORD)
    assert out.getvalue() == ""


def test_cli_prints_plain_progress_on_stderr_and_keeps_stdout_for_the_summary(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SEED, "--format", "json"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)  # stdout is one JSON document
    lines = captured.err.splitlines()
    assert len(lines) == data["transitions"]
    assert "checklist" in lines[0] and "go-live" in lines[-1]


def test_cli_quiet_prints_only_the_summary(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SEED, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "status: completed" in captured.out


def test_cli_on_a_terminal_draws_the_rich_table_before_the_summary(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REFERRAL_ORCHESTRATOR_PROGRESS", "rich")
    assert main(SEED) == 0
    captured = capsys.readouterr()
    assert "current:" in captured.err and "go-live & monitoring" in captured.err
    assert captured.out.startswith("Customer Advocates")


def test_json_document_fields_are_exactly_the_documented_ones(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = (Path(__file__).resolve().parents[1] / "docs" / "surfaces.md").read_text()
    section = docs.split("## The `--format json` document", 1)[1].split("\n## ", 1)[0]
    documented = re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.M)
    assert main([*SEED, "--format", "json", "--quiet"]) == 0
    assert list(json.loads(capsys.readouterr().out)) == documented

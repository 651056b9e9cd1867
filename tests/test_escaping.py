"""Text a person typed is data wherever it lands: CSV, Markdown, iCalendar and the terminal.

Through the CLI as a user would type the values, with ``hostile.scan`` reading every file
the launch wrote (the escapers themselves are tested in ``test_text.py``).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml

from hostile import scan, scan_markdown, scan_terminal
from referral_orchestrator import orchestrator as _orchestrator
from referral_orchestrator.surfaces.cli import main
from referral_orchestrator.testing import ScriptedRunner, reply_with
from support import SEED, UseRunner


def _files(data: dict) -> tuple[Path, Path]:
    out = Path(data["artifacts"]["runbook_md"]).parent
    return out, Path(data["plan_path"]).parent


def _launch(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert main([*SEED, *extra, "--format", "json", "-q"]) == 0
    return json.loads(capsys.readouterr().out)


def _cells(path: Path) -> list[str]:
    return [c for row in csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
            for c in row]


def test_no_csv_cell_from_any_source_runs_as_a_formula(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "roster.yaml").write_text(yaml.safe_dump({
        "people": {"Legal counsel": "=HYPERLINK(\"https://evil.example\",\"x\")",
                   "+1+1": "-2", "Lifecycle Ops lead": " @SUM(A1)"}}))
    data = _launch(capsys, "--segments", "@SUM(A1),-2", "--approvers", "+1+1,=2+2",
                   "--roster", "roster.yaml")
    out, _ = _files(data)
    for name in ("runbook.csv", "comms-kit/tracking-links.csv"):
        cells = _cells(out / name)
        assert not [c for c in cells if c.lstrip().startswith(("=", "+", "-", "@", "\t"))]
    runbook = _cells(out / "runbook.csv")
    assert "'+1+1" in runbook and "'=HYPERLINK(\"https://evil.example\",\"x\")" in runbook
    assert "'@SUM(A1)" in _cells(out / "comms-kit" / "tracking-links.csv")
    assert "2026-12-10" in runbook  # dates stay as they are


def test_markdown_files_carry_no_html_links_or_broken_tables_from_user_text(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "roster.yaml").write_text(yaml.safe_dump({
        "unavailable": {"partner-ops": "<script>alert(1)</script> [x](https://evil.example)"},
        "people": {"Legal counsel": "<img src=x onerror=alert(1)> | www.evil.com"}}))
    data = _launch(capsys, "--program", "Advocates <img src=x onerror=alert(1)> | ` @all",
                   "--segments", "[VIP](javascript:alert(1)),www.evil.com",
                   "--approvers", "legal <b>", "--roster", "roster.yaml",
                   "--channels", "email,partner-portal,landing-page")
    assert main(["approve", data["plan_id"], "--approver", "legal <b>", "--note",
                 "[click](https://evil.example) <https://evil.example> | a |\nb",
                 "--by", "<img src=x onerror=alert(1)>", "-q"]) == 0
    capsys.readouterr()
    out, plans = _files(data)
    assert scan(out, plans) == []
    runbook = (out / "runbook.md").read_text(encoding="utf-8")
    assert "[click](https" in runbook.replace("\\", "")  # the note is there, as text


def test_the_partner_kit_turns_nothing_a_user_typed_into_a_link(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(capsys, "--program", "Visit www.evil.com or boss@evil.com [x](javascript:x)",
                   "--channels", "email,partner-portal")
    kit = Path(data["artifacts"]["partner_kit"]).read_text(encoding="utf-8")
    assert scan_markdown(kit, "partner-kit.md") == []
    assert "www.example.com/refer" in kit  # the kit's own links are still there


def test_drafted_text_cannot_break_out_of_its_code_fence(
    workdir: Path, capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    def fence_break(output, call):  # type: ignore[no-untyped-def]
        data = output.model_dump()
        for asset in data.get("assets", []):
            asset["body"] += "\n```\n# FENCE BREAK <img src=x onerror=alert(1)>\n```"
        return type(output).model_validate(data)

    runner = ScriptedRunner({("lifecycle-ops", "communications"): [reply_with(fence_break)]})
    cli_runner(runner)
    data = _launch(capsys)
    out, _ = _files(data)
    assert scan(out) == []


@pytest.mark.parametrize(("flag", "value"), [
    ("--note", "ok \x1b[31mred"), ("--note", "nul\x00"), ("--note", "\u202eevil"),
    ("--note", "c1 \x9b31m"), ("--by", "Sam\u2066"), ("--by", "\x1b]8;;https://x\x1b\\Sam"),
])
def test_control_characters_in_a_decision_are_exit_2_and_change_nothing(
    flag: str, value: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(capsys, "--approvers", "legal")
    before = Path(data["plan_path"]).read_bytes()
    assert main(["approve", data["plan_id"], "--approver", "legal", flag, value]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and scan_terminal(err, "stderr") == []
    assert Path(data["plan_path"]).read_bytes() == before


def test_plans_written_before_these_checks_print_and_render_inert(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older plan may hold notes with escape sequences: status strips them."""
    hostile = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \u202e\x9b2J\x1b[2J"
    checked = _orchestrator.check_note
    monkeypatch.setattr(_orchestrator, "check_note", lambda value, *a, **k: value)
    monkeypatch.setenv("REFERRAL_ORCHESTRATOR_PROGRESS", "plain")
    data = _launch(capsys, "--approvers", "legal,finance")
    assert main(["approve", data["plan_id"], "--approver", "legal", "--reject", "--note",
                 hostile, "--by", hostile]) == 0
    printed = capsys.readouterr()
    monkeypatch.setattr(_orchestrator, "check_note", checked)
    plan = json.loads(Path(data["plan_path"]).read_text(encoding="utf-8"))
    assert any(h.get("note") == hostile for a in plan["approvals"] for h in a["history"])
    outputs = [printed.out, printed.err]
    for fmt in ("text", "md", "json"):
        assert main(["status", data["plan_id"], "--format", fmt]) == 0
        outputs.append(capsys.readouterr().out)
    assert main(["status"]) == 0
    outputs.append(capsys.readouterr().out)
    assert [f for i, o in enumerate(outputs) for f in scan_terminal(o, str(i))] == []
    out, _ = _files(data)
    assert scan(out) == []


def test_the_calendar_keeps_its_shape_with_separators_in_names(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import icalendar

    data = _launch(capsys, "--program", "Advocates; X-INJECT:1, and more",
                   "--approvers", "legal; counsel\r\nX-INJECT:2")
    ics = Path(data["artifacts"]["runbook_ics"]).read_bytes()
    assert scan(Path(data["artifacts"]["runbook_ics"]).parent) == []
    cal = icalendar.Calendar.from_ical(ics)
    summaries = [str(e["SUMMARY"]) for e in cal.walk("VEVENT")]
    assert "Due: Sign-off by legal; counsel X-INJECT:2 on the launch package" in summaries


def test_names_in_scripts_without_ascii_letters_keep_their_own_files_and_links(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(capsys, "--segments", "Клиенты,顧客,برنامج", "--approvers", "Юрист,法務")
    assert data["status"] == "awaiting_approval"
    out, _ = _files(data)
    emails = sorted(p.name for p in (out / "comms-kit").glob("email-*.md"))
    assert len(emails) == 3
    rows = list(csv.DictReader(io.StringIO(
        (out / "comms-kit" / "tracking-links.csv").read_text(encoding="utf-8"))))
    contents = {row["url"].split("utm_content=")[1].split("&")[0] for row in rows
                if row["channel"] == "email"}
    assert len(contents) == 3

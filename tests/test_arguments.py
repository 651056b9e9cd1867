"""Text inside an argument is data: quotes in a value never turn it into options.

Only one shape is re-split: the whole argument list after the command handed over as one
string (a slash command's ``$ARGUMENTS``), and never for ``approve`` or ``escalation``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from referral_orchestrator.surfaces.cli import main
from referral_orchestrator.testing import stuck_at_sponsor_runner
from support import SEED, UseRunner


def _launch(capsys: pytest.CaptureFixture[str], *extra: str) -> dict:
    assert main([*SEED, *extra, "--format", "json", "-q"]) == 0
    return json.loads(capsys.readouterr().out)


def _plan(data: dict) -> dict:
    return json.loads(Path(data["plan_path"]).read_text())


def test_quoted_options_inside_a_note_are_the_note_not_a_second_decision(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(capsys, "--approvers", "legal,finance")
    note = "'looks fine' --approver finance --reject"
    assert main(["approve", data["plan_id"], "--approver", "legal", "--note", note, "-q"]) == 0
    approvals = {a["approver"]: a for a in _plan(data)["approvals"]}
    assert (approvals["legal"]["status"], approvals["legal"]["note"]) == ("approved", note)
    assert approvals["finance"]["status"] == "pending"
    assert approvals["finance"]["history"] == []


@pytest.mark.parametrize("note", ['say "hi"', "it's 'fine'", "'", '"quoted note"'])
def test_a_note_that_starts_or_ends_with_a_quote_is_accepted_as_typed(
    note: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(capsys, "--approvers", "legal")
    assert main(["approve", data["plan_id"], "--approver", "legal", "--reject", "--note",
                 note, "-q"]) == 0
    (legal,) = _plan(data)["approvals"]
    assert legal["history"][-1] == {**legal["history"][-1], "decision": "reject", "note": note}


def test_options_quoted_inside_a_segment_name_never_change_the_channels(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a one-word program: re-splitting the whole command line would then parse cleanly
    code = main(["launch-program", "--program", "Advocates", "--launch-date", "2026-12-10",
                 "--channels", "email,in-app", "--as-of", "2026-11-25",
                 "--segments", "'VIP' --channels sms", "--format", "json", "-q"])
    out = capsys.readouterr().out
    if code == 2:  # refusing the value is fine; re-reading it as options is not
        assert not (workdir / ".claude").exists() and not (workdir / "launches").exists()
        return
    assert code == 0
    data = json.loads(out)
    assert data["channels"] == ["email", "in-app"]
    assert _plan(data)["request"]["normalized"]["segments"] == ["'VIP' --channels sms"]


def test_escalation_note_with_quoted_options_is_recorded_as_the_note(
    workdir: Path, capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    runner = stuck_at_sponsor_runner()
    cli_runner(runner)
    data = _launch(capsys)
    note = "\"wait\" --decision halt"
    assert main(["escalation", data["plan_id"], "--decision", "proceed", "--note", note,
                 "-q"]) == 0
    plan = _plan(data)
    assert plan["status"] == "completed"
    assert plan["remediation_log"][-1]["summary"] == note


def test_the_whole_argument_list_as_one_string_still_launches(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ('--program "Customer Advocates" --launch-date 2026-12-10 --channels "email,in-app"'
            " --as-of 2026-11-25 --format json -q")
    assert main(["launch-program", args]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["program"], data["channels"]) == ("Customer Advocates", ["email", "in-app"])


def test_one_string_beside_other_arguments_is_never_re_split(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["launch-program", "--program", "X --channels sms", "--launch-date",
                 "2026-12-10", "--channels", "email", "--as-of", "2026-11-25", "--format",
                 "json", "-q"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["program"], data["channels"]) == ("X --channels sms", ["email"])


@pytest.mark.parametrize("command", ["approve", "escalation"])
def test_approve_and_escalation_never_re_split_one_string(
    command: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(capsys, "--approvers", "legal")
    before = Path(data["plan_path"]).read_bytes()
    one = (f"{data['plan_id']} --approver legal --reject" if command == "approve"
           else f"{data['plan_id']} --decision halt")
    assert main([command, one]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert Path(data["plan_path"]).read_bytes() == before


def test_an_unbalanced_quote_in_the_one_string_form_is_one_line_and_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["launch-program", '--program "Customer Advocates --launch-date 2026-12-10'
                 " --channels email"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert list(workdir.iterdir()) == []

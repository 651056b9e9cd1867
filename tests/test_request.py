"""Request validation: every bad input is one line, exit 2, and nothing written."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from referral_orchestrator import InvalidRequest, parse_request
from referral_orchestrator.surfaces.cli import main
from support import SEED_REQUEST


def test_seed_request_normalizes_channels_and_keeps_order() -> None:
    req = parse_request(**{**SEED_REQUEST, "channels": "Email, in_app,SMS"})
    assert req.channels == ("email", "in-app", "sms")
    assert req.launch_date == dt.date(2026, 12, 10)
    assert req.audience == ("all customers",)


@pytest.mark.parametrize("alias", ["in_app", "inapp", "In-App", "in app"])
def test_in_app_aliases_are_forgiven(alias: str) -> None:
    assert parse_request(**{**SEED_REQUEST, "channels": alias}).channels == ("in-app",)


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("channels", "email,fax", "unknown_channel"),
        ("channels", "email,e-mail", "duplicate"),
        ("channels", " , ", "missing"),
        ("launch_date", "12/10/2026", "bad_date"),
        ("launch_date", "2026-11-20", "past_date"),
        ("launch_date", "2026-11-25", "past_date"),
        ("launch_date", "2031-01-01", "date_too_far"),
        ("program", "   ", "empty_name"),
        ("program", "x" * 81, "name_too_long"),
        ("program", "../../etc/passwd", "path_in_name"),
        ("program", "a/b", "path_in_name"),
        ("program", "---", "bad_name"),
        ("program", "bad\x00name", "bad_name"),
        ("segments", "power users,Power Users", "duplicate"),
        ("approvers", "legal,legal", "duplicate"),
        ("approvers", ",,,", "empty_list"),
        ("segments", "", "empty_list"),
        ("launch_date", "9999-12-31", "date_out_of_range"),
        ("as_of", "yesterday", "bad_date"),
        ("pattern", "star", "bad_pattern"),
    ],
)
def test_bad_input_is_refused_with_a_stable_code(field: str, value: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_request(**{**SEED_REQUEST, field: value})
    assert err.value.code == code


def test_unknown_channel_message_lists_the_catalog() -> None:
    with pytest.raises(InvalidRequest) as err:
        parse_request(**{**SEED_REQUEST, "channels": "fax"})
    assert "partner-portal" in err.value.message


@pytest.mark.parametrize(
    "argv",
    [
        ["launch-program", "--launch-date", "2026-12-10", "--channels", "email"],
        ["launch-program", "--program", "X", "--channels", "email"],
        ["launch-program", "--program", "X", "--launch-date", "2026-12-10"],
        ["launch-program", "--program", "X", "--launch-date", "soon", "--channels", "email"],
        ["launch-program", "--program", "X", "--launch-date", "2020-01-01", "--channels", "email"],
        ["launch-program", "--program", "X", "--launch-date", "2026-12-10", "--channels", "fax"],
        ["launch-program", "--program", "../x", "--launch-date", "2026-12-10",
         "--channels", "email"],
        ["launch-program", "--program", "X", "--launch-date", "2026-12-10", "--channels",
         "email", "--roster", "missing.yaml"],
        ["launch-program", "--program", "X", "--launch-date", "2026-12-10", "--channels",
         "email", "--model", "gpt-nothing"],
        ["launch-program", "--bogus"],
        ["approve", "plan-20260101-000000", "--approver", "legal"],
        ["escalation", "plan-x", "--decision", "maybe"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(
    argv: list[str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*argv, "--as-of", "2026-11-25"] if argv[0] == "launch-program" else argv)
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert list(workdir.iterdir()) == []

"""SMS length as carriers count it: GSM-7 septets (extension characters cost two) or UCS-2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from referral_orchestrator.launch import qa
from referral_orchestrator.launch.channels import GSM7_EXTENSION, sms_encoding
from referral_orchestrator.surfaces.cli import main

LINK = "https://www.example.com/r/abcdefg?ref=REFERRAL_CODE"


def _sms(body: str) -> dict:
    return {"kind": "sms", "channel": "sms", "segment": "all customers", "title": "SMS",
            "body": body, "short_url": LINK}


def _padded(head: str, length: int) -> str:
    tail = f" {LINK} Reply STOP to opt out."
    return head + "x" * (length - len(head) - len(tail)) + tail


def test_a_euro_reward_sms_of_160_characters_is_two_messages_and_fails_qa() -> None:
    body = _padded("Invite a friend, you both get 20 €. ", 160)
    assert len(body) == 160
    sms = sms_encoding(body)
    assert (sms.encoding, sms.units, sms.parts) == ("GSM-7", 161, 2)
    failed = {r["id"] for r in qa.failing(list(qa.asset_checks(_sms(body), "sms:x", None)))}
    assert failed == {"comms.length"}
    assert {r["id"] for r in qa.failing(list(qa.asset_checks(
        _sms(body[1:]), "sms:x", None)))} == set()


@pytest.mark.parametrize("char", sorted(GSM7_EXTENSION))
def test_every_gsm7_extension_character_costs_two_units(char: str) -> None:
    assert sms_encoding("a" * 10 + char).units == 12
    assert sms_encoding("a" * 10 + char).encoding == "GSM-7"


def test_gsm7_messages_split_into_parts_of_153() -> None:
    assert [sms_encoding("a" * n).parts for n in (160, 161, 306, 307)] == [1, 2, 2, 3]
    # an escaped character is never split across two parts
    assert sms_encoding("a" * 152 + "€" + "a" * 10).parts == 2
    assert sms_encoding("a" * 152 + "€" * 80).parts == 3


def test_cyrillic_sms_is_ucs2_with_70_units_and_67_per_part() -> None:
    text = "Приглашайте друзей"
    assert sms_encoding(text).encoding == "UCS-2"
    assert [sms_encoding("ж" * n).parts for n in (70, 71, 134, 135)] == [1, 2, 2, 3]
    assert sms_encoding("ж" * 70).single == 70 and sms_encoding("ж" * 71).per_part == 67
    assert sms_encoding("ok 🎉").units == 5  # an emoji is a surrogate pair
    assert qa.limits("sms", text)["body"] == 70
    body = "Пригласите друга: " + LINK + " Reply STOP to opt out."
    (length,) = [r for r in qa.asset_checks(_sms(body), "sms:x", None)
                 if r["id"] == "comms.length"]
    assert not length["passed"] and "UCS-2" in length["detail"]


def _kit_sms(workdir: Path, *args: str) -> tuple[dict, str]:
    assert main(["launch-program", "--channels", "sms", "--launch-date", "2026-12-10",
                 "--as-of", "2026-11-25", "--out", "out", "-q", *args]) == 0
    (path,) = (workdir / ".claude" / "plans").glob("plan-*.json")
    plan = json.loads(path.read_text())
    return plan, (workdir / "out" / "comms-kit" / "sms-all-customers.md").read_text()


def _body(md: str) -> str:
    return md.split("```text\n")[1].split("\n```")[0]


def test_the_comms_kit_states_each_sms_encoding_and_parts(workdir: Path) -> None:
    plan, md = _kit_sms(workdir, "--program", "Customer Advocates", "--country", "DE")
    body = _body(md)
    sms = sms_encoding(body)
    assert "€" in body and sms.units == len(body) + body.count("€") <= 160
    assert f"- Encoding: GSM-7, 1 part ({sms.units}/160 units)" in md
    assert f"body {sms.units}/160" in md
    assert not [t for t in plan["transitions"] if t["event"] == "qa_failed"]


def test_a_program_named_in_cyrillic_still_gets_a_one_message_sms(workdir: Path) -> None:
    plan, md = _kit_sms(workdir, "--program", "Программа друзей", "--country", "RU")
    body = _body(md)
    assert sms_encoding(body).parts == 1 and "Reply STOP" in body
    assert not body.startswith((" ", ":"))  # the name is left out, not mangled
    assert "- Encoding:" in md
    assert plan["status"] == "completed"
    assert not [t for t in plan["transitions"] if t["event"] == "qa_failed"]


def test_a_currency_symbol_outside_gsm7_is_written_as_its_code_in_sms(workdir: Path) -> None:
    _, md = _kit_sms(workdir, "--program", "Customer Advocates", "--country", "IN")
    body = _body(md)
    assert "INR 1,500" in body and "₹" not in body
    assert "GSM-7, 1 part" in md

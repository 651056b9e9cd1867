"""Rewards in the launch's currency, written the way the country writes money."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from referral_orchestrator import parse_request
from referral_orchestrator.launch.money import Money
from referral_orchestrator.surfaces.cli import main

NBSP = "\u00a0"


@pytest.mark.parametrize(
    ("currency", "country", "amount", "text"),
    [("USD", "US", 20, "$20"), ("GBP", "GB", 20, "£20"), ("EUR", "DE", 20, f"20{NBSP}€"),
     ("EUR", "IE", 20, "€20"), ("JPY", "JP", 3000, "¥3,000"), ("USD", "US", "12.5", "$12.50"),
     ("CHF", "CH", 20, f"CHF{NBSP}20"), ("PLN", "US", 80, f"PLN{NBSP}80")],
)
def test_money_is_written_the_way_the_country_writes_it(
    currency: str, country: str, amount: int | str, text: str,
) -> None:
    assert Money(currency, country).format(amount) == text


@pytest.mark.parametrize(("country", "currency"),
                         [("US", "USD"), ("GB", "GBP"), ("DE", "EUR"), ("JP", "JPY"),
                          ("CH", "CHF"), ("IN", "INR")])
def test_the_currency_defaults_from_the_country(country: str, currency: str) -> None:
    req = parse_request(program="P", launch_date="2026-12-10", channels="email",
                        as_of="2026-11-25", country=country)
    assert req.currency == currency


def _launch(workdir: Path, *args: str) -> dict:
    assert main(["launch-program", "--program", "Customer Advocates", "--channels",
                 "email,in-app,push", "--launch-date", "2026-12-10", "--as-of", "2026-11-25",
                 "--out", "out", "-q", *args]) == 0
    (path,) = (workdir / ".claude" / "plans").glob("plan-*.json")
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("args", "reward"),
    [(["--country", "DE"], f"20{NBSP}€"), (["--country", "JP"], "¥3,000"),
     (["--country", "GB"], "£20"), (["--country", "GB", "--currency", "eur"], "€20")],
)
def test_reward_copy_uses_the_launchs_currency(workdir: Path, args: list[str],
                                              reward: str) -> None:
    plan = _launch(workdir, *args)
    assert plan["charter"]["referrer_reward"] == reward
    kit = "".join(p.read_text() for p in (workdir / "out" / "comms-kit").glob("*.md"))
    kit += (workdir / "out" / "comms-kit" / "landing-page.html").read_text()
    assert reward in kit and "$" not in kit
    assert reward in (workdir / "out" / "runbook.md").read_text()
    if "--currency" in args:
        assert plan["request"]["normalized"]["currency"] == "EUR"

"""Launch a Japanese referral program: Japan's holidays, Tokyo time, yen, names in Japanese.

Run from any folder: plans go to ./.claude/plans, artifacts to ./launches/<plan-id>/. The
same launch without the legal sign-off is checked in under examples/output-ja/
(``python scripts/regen_examples.py``).

- ``country="JP"``: due dates and the approval deadline skip Golden Week (Showa Day
  2027-04-29, then 2027-05-03 to 05-05), and the runbook names the calendar;
- the time zone follows from the country (Japan has one, Asia/Tokyo): sessions at 11:00 JST;
- the currency too: rewards of ¥3,000, no decimals;
- program and segment names in Japanese get readable ASCII slugs, one per segment, so every
  segment has its own files, tracking link and short link.
"""

from __future__ import annotations

from typing import Any

from referral_orchestrator import Orchestrator

JAPAN: dict[str, Any] = {
    "program": "お友達紹介プログラム",  # friend referral program
    "launch_date": "2027-05-10",
    "channels": "email,sms,landing-page",
    "segments": "ロイヤル顧客,新規会員",  # loyal customers, new members
    "as_of": "2027-04-12",
    "country": "JP",
}


def main() -> None:
    """Launch, sign off as legal, and show what the Japanese settings changed."""
    orch = Orchestrator(".claude/plans")
    result = orch.launch(**JAPAN, approvers="法務")  # legal
    print(result.plan_id, result.status)  # awaiting_approval
    (approval,) = result.plan["approvals"]
    print("legal sign-off due", approval["deadline"], "(Golden Week skipped)")
    result = orch.approve(result.plan_id, "法務", note="確認しました")
    assert result.status == "completed", result.status
    req = result.plan["request"]["normalized"]
    print("calendar", req["country"], "time zone", req["timezone"], "currency", req["currency"])
    print("reward", result.plan["charter"]["referrer_reward"])
    print("segment slugs", req["slugs"]["segments"])
    print("runbook:", result.artifacts["runbook_md"])


if __name__ == "__main__":
    main()

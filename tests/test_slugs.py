"""Names in any script get readable, unique, stable slugs - end to end through the CLI."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from referral_orchestrator.launch.channels import slugify, unique_slugs
from referral_orchestrator.surfaces.cli import main

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
NAMES = ["Клиенты", "Постоянные клиенты", "顧客紹介", "العملاء الأوفياء", "Café Crème",
         "🎁🎉", "ⴰⵣⵓⵍ"]


@pytest.mark.parametrize(
    ("name", "slug"),
    [("Программа друзей", "programma-druzei"), ("Клиенты", "klienty"),
     ("顧客紹介", "gu-ke-shao-jie"), ("Café Crème", "cafe-creme"),
     ("Customer Advocates", "customer-advocates"), ("Großkunden", "grosskunden")],
)
def test_names_in_any_script_transliterate_to_readable_slugs(name: str, slug: str) -> None:
    assert slugify(name) == slug


def test_every_name_gets_a_distinct_ascii_slug_even_with_nothing_to_transliterate() -> None:
    slugs = [slugify(n) for n in NAMES]
    assert all(SLUG.match(s) for s in slugs), slugs
    assert len(set(slugs)) == len(slugs)
    assert slugify("🎁🎉").startswith("id-") and slugify("🎁🎉") != slugify("🎉🎁")
    assert slugify("x" * 200) == "x" * 60


def test_colliding_names_get_a_stable_digest_suffix_and_others_keep_their_slug() -> None:
    slugs = unique_slugs(["Café", "Cafe", "VIP!", "vip?", "power users"])
    assert slugs["power users"] == "power-users"
    assert len(set(slugs.values())) == 5
    assert slugs["Café"].startswith("cafe-") and slugs["vip?"].startswith("vip-")
    assert unique_slugs(["Cafe", "Café"]) == {"Cafe": slugs["Cafe"], "Café": slugs["Café"]}


def _launch(workdir: Path, program: str, out: str) -> dict:
    plans = workdir / ".claude" / "plans"
    before = set(plans.glob("plan-*.json"))
    code = main(["launch-program", "--program", program, "--segments", ",".join(NAMES),
                 "--channels", "email,sms,social,landing-page", "--approvers", "Юрист,法務",
                 "--launch-date", "2026-12-10", "--as-of", "2026-11-25", "--out", out, "-q"])
    assert code == 0
    (new,) = set(plans.glob("plan-*.json")) - before
    return json.loads(new.read_text())


def test_a_launch_with_segments_in_many_scripts_keeps_every_segment_apart(
    workdir: Path,
) -> None:
    plan = _launch(workdir, "Программа друзей", "out")
    assert main(["approve", plan["plan_id"], "--approver", "Юрист", "-q"]) == 0
    assert main(["approve", plan["plan_id"], "--approver", "法務", "-q"]) == 0
    plan = json.loads(Path(plan["deliverables"]["plan"]).read_text())
    assert plan["status"] == "completed"
    assert not plan["escalation_log"]
    assert not [t for t in plan["transitions"] if t["event"] in ("qa_failed", "escalated")]
    ids = [t["id"] for t in plan["tasks"]]
    assert len(ids) == len(set(ids))
    slugs = plan["request"]["normalized"]["slugs"]
    assert slugs["program"] == "programma-druzei"
    assert len(set(slugs["segments"].values())) == len(NAMES)
    kit = workdir / "out" / "comms-kit"
    for name in NAMES:
        slug = slugs["segments"][name]
        assert any(i.endswith("-" + slug) for i in ids)
        for channel in ("email", "sms", "social"):
            assert (kit / f"{channel}-{slug}.md").is_file()
        assert (kit / f"landing-page-{slug}.html").is_file()
    with (kit / "tracking-links.csv").open(newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["segment"] in NAMES]
    assert len(rows) == 4 * len(NAMES)
    assert len({r["url"] for r in rows}) == len({r["short_url"] for r in rows}) == len(rows)
    contents = {parse_qs(urlsplit(r["url"]).query)["utm_content"][0] for r in rows}
    assert contents == set(slugs["segments"].values())
    assert {f"signoff-{s}" for s in slugs["approvers"].values()} <= set(ids)


def test_programs_in_the_same_script_get_different_utm_campaigns(workdir: Path) -> None:
    campaigns = set()
    for i, program in enumerate(["Программа друзей", "Клиенты", "顧客紹介"]):
        plan = _launch(workdir, program, f"out{i}")
        with (workdir / f"out{i}" / "comms-kit" / "tracking-links.csv").open(
                newline="", encoding="utf-8") as fh:
            found = {parse_qs(urlsplit(r["url"]).query)["utm_campaign"][0]
                     for r in csv.DictReader(fh)}
        assert found == {plan["request"]["normalized"]["slugs"]["program"]}
        campaigns |= found
    assert campaigns == {"programma-druzei", "klienty", "gu-ke-shao-jie"}

"""Every hostile entry through every text field: refused at input, or inert wherever it lands.

A field either refuses an entry (exit 2, one line on stderr, nothing written) or the launch
completes and ``hostile.scan`` finds no active content in any file written (CSV cells,
Markdown, HTML, iCalendar, plan JSON) nor in what ``status`` and the progress lines print.

The default run covers the corpus with a few launches that put many entries in at once,
and checks the refusals one by one (they cost nothing); the full cross-product of fields
and entries, one launch each, is marked ``slow``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from hostile import CORPUS, FIELDS, long_entry, scan, scan_markdown, scan_terminal, unsafe
from referral_orchestrator import orchestrator as _orchestrator
from referral_orchestrator.launch.channels import slugify
from referral_orchestrator.surfaces.cli import main
from referral_orchestrator.testing import stuck_at_sponsor_runner

BASE = ["launch-program", "--launch-date", "2026-12-10", "--as-of", "2026-11-25",
        "--channels", "email,sms,partner-portal,landing-page"]
CONTROL = [k for k, v in CORPUS.items() if unsafe(v.replace("\t", " ").replace("\r", " ")
                                                  .replace("\n", " "))]
NAME_FIELDS = ("program", "segment", "approver")


def _name_ok(value: str) -> bool:
    """Names refuse path characters (SPEC: a program name must not escape the plans folder)."""
    return "/" not in value and "\\" not in value and any(c.isalnum() for c in value)


@dataclass
class Scenario:
    """One launch driven through the CLI, with hostile text in any of its fields."""

    program: str = "Customer Advocates"
    segments: list[str] = field(default_factory=list)
    approvers: list[str] = field(default_factory=lambda: ["legal"])
    people: list[str] = field(default_factory=list)
    reason: str | None = None
    notes: list[tuple[str | None, str | None]] = field(default_factory=list)
    escalation: tuple[str | None, str | None] | None = None


@dataclass
class Outcome:
    refused: str | None = None  # the step that refused, if one did
    findings: list[str] = field(default_factory=list)
    printed: list[str] = field(default_factory=list)


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str], out: Outcome) -> int:
    code = main(argv)
    printed = capsys.readouterr()
    out.printed += [printed.out, printed.err]
    if code == 2:
        assert len(printed.err.strip().splitlines()) == 1, printed.err
    return code


def run(s: Scenario, workdir: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> Outcome:
    out = Outcome()
    monkeypatch.setenv("REFERRAL_ORCHESTRATOR_PROGRESS", "plain")
    argv = [*BASE, "--program", s.program, "--format", "json"]
    if s.segments:
        argv += ["--segments", ",".join(s.segments)]
    if s.approvers:
        argv += ["--approvers", ",".join(s.approvers)]
    if s.people or s.reason is not None:
        roles = ["Legal counsel", "lifecycle-ops", "Lifecycle Ops lead", "Marketing analyst",
                 "Support lead", "Partner Manager", "Risk analyst", "QA lead"]
        roles += s.approvers
        roster: dict = {"people": {role: s.people[i % len(s.people)]
                                   for i, role in enumerate(roles)} if s.people else {}}
        if s.reason is not None:
            roster["unavailable"] = {"partner-ops": s.reason}
        (workdir / "roster.yaml").write_text(yaml.safe_dump(roster, allow_unicode=True),
                                             encoding="utf-8")
        argv += ["--roster", "roster.yaml"]
    if s.escalation is not None:
        runner = stuck_at_sponsor_runner()
        monkeypatch.setattr(_orchestrator, "resolve_runner", lambda *a, **k: runner)
    code = _cli(argv, capsys, out)
    if code == 2:
        assert not (workdir / ".claude").exists() and not (workdir / "launches").exists()
        out.refused = "launch-program"
        return out
    assert code == 0, out.printed
    data = json.loads(out.printed[-2])
    plan_path = Path(data["plan_path"])
    steps: list[list[str]] = []
    if s.escalation is not None:
        assert data["status"] == "awaiting_decision"
        note, by = s.escalation
        steps.append(["escalation", data["plan_id"], "--decision", "proceed",
                      *(["--note", note] if note is not None else []),
                      *(["--by", by] if by is not None else [])])
    for i, approver in enumerate(s.approvers):
        note, by = s.notes[i] if i < len(s.notes) else (None, None)
        steps.append(["approve", data["plan_id"], "--approver", approver,
                      *(["--note", note] if note is not None else []),
                      *(["--by", by] if by is not None else [])])
    for step in steps:
        before = plan_path.read_bytes()
        code = _cli(step, capsys, out)
        if code == 2:
            assert plan_path.read_bytes() == before
            out.refused = step[0]
            return out
        assert code == 0, out.printed
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    assert plan["status"] == "completed"
    for argv in (["status", data["plan_id"]], ["status", data["plan_id"], "--format", "json"],
                 ["status"], ["status", data["plan_id"], "--format", "md"]):
        assert _cli(argv, capsys, out) == 0
    out.findings += scan_markdown(out.printed[-2], "status --format md")
    out.findings += scan(workdir / ".claude", Path(data["artifacts"]["runbook_md"]).parent)
    for i, text in enumerate(out.printed):
        out.findings += scan_terminal(text, f"printed #{i}")
    return out


def _one_field(name: str, value: str) -> Scenario:
    if name == "program":
        return Scenario(program=value)
    if name == "segment":
        return Scenario(segments=[value])
    if name == "approver":
        return Scenario(approvers=[value])
    if name == "roster-person":
        return Scenario(people=[value])
    if name == "roster-reason":
        return Scenario(reason=value)
    if name == "approval-note":
        return Scenario(notes=[(value, None)])
    if name == "approval-by":
        return Scenario(notes=[(None, value)])
    if name == "escalation-note":
        return Scenario(escalation=(value, None))
    return Scenario(escalation=(None, value))


def _unique(values: list[str], limit: int) -> Iterator[list[str]]:
    """Entries a comma list can hold: normalized, no duplicates, at most ``limit`` a batch."""
    seen: dict[str, str] = {}
    for v in values:
        for part in v.split(","):
            key = slugify(" ".join(part.split()))  # files and ids are named by the slug
            if part.strip() and key not in seen:
                seen[key] = part
    items = list(seen.values())
    for i in range(0, len(items), limit):
        yield items[i:i + limit]


ACCEPTED = [v for k, v in CORPUS.items() if k not in CONTROL]
NAMES = [v for v in ACCEPTED if _name_ok(v)]


@pytest.mark.parametrize("batch", list(_unique(NAMES, 12)), ids=lambda b: f"{len(b)} names")
def test_many_hostile_entries_at_once_are_inert_in_every_file_and_output(
    batch: list[str], workdir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    program = " ".join(v.replace(",", " ") for v in batch)[:80]
    notes = [(ACCEPTED[(i * 3) % len(ACCEPTED)], ACCEPTED[(i * 3 + 1) % len(ACCEPTED)][:80])
             for i in range(len(batch))]
    scenario = Scenario(program=program, segments=batch, approvers=batch[:4],
                        people=[v[:80] for v in ACCEPTED], reason=ACCEPTED[-1][:200],
                        notes=notes, escalation=(ACCEPTED[0], ACCEPTED[1][:80]))
    outcome = run(scenario, workdir, capsys, monkeypatch)
    assert outcome.refused is None, outcome.printed
    assert outcome.findings == []


def test_text_at_every_fields_cap_is_accepted_and_inert(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    at = {name: long_entry(name) for name in FIELDS}
    scenario = Scenario(program=at["program"], segments=[at["segment"]],
                        approvers=[at["approver"].replace("Ж", "Ю")],
                        people=[at["roster-person"]], reason=at["roster-reason"],
                        notes=[(at["approval-note"], at["approval-by"])],
                        escalation=(at["escalation-note"], at["escalation-by"]))
    outcome = run(scenario, workdir, capsys, monkeypatch)
    assert outcome.refused is None, outcome.printed
    assert outcome.findings == []


# -- refusals: one past a cap, or control characters, in any field ------------------------

_PREPARED: dict[str, Path] = {}  # plans waiting for an approval or the sponsor, built once


def _prepare(kind: str, tmp_path_factory: pytest.TempPathFactory,
             monkeypatch: pytest.MonkeyPatch) -> Path:
    if kind not in _PREPARED:
        folder = tmp_path_factory.mktemp(kind)
        with monkeypatch.context() as m:
            m.chdir(folder)
            if kind == "decision":
                runner = stuck_at_sponsor_runner()
                m.setattr(_orchestrator, "resolve_runner", lambda *a, **k: runner)
            assert main([*BASE, "--program", "Customer Advocates", "--approvers", "legal",
                         "-q"]) == 0
        _PREPARED[kind] = folder
    return _PREPARED[kind]


def assert_refused(name: str, value: str, workdir: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch,
                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """The field refuses ``value``: exit 2, one line on stderr, nothing written or changed."""
    if not name.startswith(("approval", "escalation")):
        outcome = run(_one_field(name, value), workdir, capsys, monkeypatch)
        assert outcome.refused == "launch-program"
        return
    source = _prepare("decision" if name.startswith("escalation") else "approval",
                      tmp_path_factory, monkeypatch)
    shutil.copytree(source, workdir, dirs_exist_ok=True)
    capsys.readouterr()
    (plan,) = (workdir / ".claude" / "plans").glob("plan-*.json")
    before = plan.read_bytes()
    flag = "--note" if name.endswith("note") else "--by"
    argv = (["approve", plan.stem, "--approver", "legal"] if name.startswith("approval")
            else ["escalation", plan.stem, "--decision", "proceed"])
    assert main([*argv, flag, value]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert plan.read_bytes() == before


@pytest.mark.parametrize("name", list(FIELDS))
def test_text_one_past_each_fields_cap_is_refused(
    name: str, workdir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    assert_refused(name, long_entry(name) + "Ж", workdir, capsys, monkeypatch,
                   tmp_path_factory)


@pytest.mark.parametrize("entry", CONTROL)
@pytest.mark.parametrize("name", list(FIELDS))
def test_control_characters_are_refused_in_every_field_and_nothing_is_written(
    name: str, entry: str, workdir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    assert_refused(name, CORPUS[entry], workdir, capsys, monkeypatch, tmp_path_factory)


# -- the full cross-product ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("entry", [k for k in CORPUS if k not in CONTROL])
@pytest.mark.parametrize("name", list(FIELDS))
def test_every_entry_in_every_field_is_refused_or_inert(
    name: str, entry: str, workdir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    value = CORPUS[entry]
    outcome = run(_one_field(name, value), workdir, capsys, monkeypatch)
    assert outcome.findings == []
    if name in NAME_FIELDS and not _name_ok(value):
        assert outcome.refused == "launch-program"
    else:
        assert outcome.refused is None, outcome.printed

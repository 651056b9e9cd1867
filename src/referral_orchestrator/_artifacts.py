"""Launch artifacts: runbook (Markdown, CSV, iCalendar), comms kit, monitoring plan.

Rendered from graph state with the skills' Jinja templates. Nothing here reads the clock
or the plan id, so the same request and ``--as-of`` give the same files byte for byte.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ._content import load_skills
from ._plan import RESPONSE_SLAS
from ._request import slugify
from ._roster import roster_from_overrides


def _env() -> Environment:
    skills = load_skills()
    folders = [str(skills[name].path / "templates") for name in ("launch-runbook", "launch-comms")]
    return Environment(loader=FileSystemLoader(folders), undefined=StrictUndefined,
                       autoescape=select_autoescape(["html"]), trim_blocks=True,
                       lstrip_blocks=True, keep_trailing_newline=True)


def _write(path: Path, text: str) -> None:
    """Atomic text write (artifacts are never left half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def runbook_csv(tasks: list[dict[str, Any]], people: dict[str, str]) -> str:
    """One row per task, for import into a tracker."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(["id", "title", "owner_agent", "role", "person", "function", "due", "status",
                     "depends_on"])
    for t in tasks:
        writer.writerow([t["id"], t["title"], t["owner"], t["role"], people.get(t["role"], ""),
                         t["function"], t["due"], t["status"], " ".join(t["depends_on"])])
    return buf.getvalue()


def _ics_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\n", "\\n"))


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 section 3.1)."""
    out: list[str] = []
    cur = b""
    for ch in line:
        enc = ch.encode()
        if len(cur) + len(enc) > (75 if not out else 74):
            out.append(cur.decode())
            cur = b""
        cur += enc
    out.append(cur.decode())
    return "\r\n ".join(out)


def runbook_ics(req: dict[str, Any], tasks: list[dict[str, Any]],
                sessions: list[dict[str, Any]]) -> str:
    """All-day events for task due dates, timed events for enablement sessions."""
    slug = slugify(req["program"])
    stamp = dt.date.fromisoformat(req["as_of"]).strftime("%Y%m%dT000000Z")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//referral-orchestrator//runbook//EN",
             "CALSCALE:GREGORIAN", f"X-WR-CALNAME:{_ics_text(req['program'])} launch"]
    for t in tasks:
        if t["status"] == "descoped":
            continue
        day = dt.date.fromisoformat(t["due"])
        lines += ["BEGIN:VEVENT", f"UID:{t['id']}@{slug}.referral-orchestrator", f"DTSTAMP:{stamp}",
                  f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                  f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
                  f"SUMMARY:{_ics_text('Due: ' + t['title'])}",
                  "DESCRIPTION:" + _ics_text(
                      "Owner: {owner} ({role}). Task {id}.".format(**t)),
                  "END:VEVENT"]
    for i, s in enumerate(sessions, start=1):
        start = dt.datetime.combine(dt.date.fromisoformat(s["date"]), dt.time(16, 0))
        end = start + dt.timedelta(minutes=int(s["duration_minutes"]))
        lines += ["BEGIN:VEVENT", f"UID:session-{i}@{slug}.referral-orchestrator",
                  f"DTSTAMP:{stamp}", f"DTSTART:{start:%Y%m%dT%H%M%S}Z",
                  f"DTEND:{end:%Y%m%dT%H%M%S}Z", f"SUMMARY:{_ics_text(s['title'])}",
                  "DESCRIPTION:" + _ics_text("Audience: {audience}. Owner: {owner}.".format(**s)),
                  "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def render(values: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """Write every artifact the state supports; returns name -> path."""
    env = _env()
    req = values["request"]
    roster = roster_from_overrides(values.get("roster"))
    people = roster.people
    tasks = values.get("tasks", [])
    enablement = values.get("enablement") or {}
    written: dict[str, str] = {}

    def emit(name: str, rel: str, text: str) -> None:
        path = out_dir / rel
        _write(path, text)
        written[name] = str(path)

    if tasks:
        emit("runbook_md", "runbook.md", env.get_template("runbook.md.j2").render(
            req=req, tasks=tasks, charter=values.get("charter") or {},
            compressed=values.get("compressed_tasks", []),
            substitutions=values.get("substitutions", []), people=people,
            sessions=enablement.get("sessions", []),
            approvals=list(values.get("approvals", {}).values()), ladder=roster.ladder()))
        emit("runbook_csv", "runbook.csv", runbook_csv(tasks, people))
        emit("runbook_ics", "runbook.ics", runbook_ics(req, tasks, enablement.get("sessions", [])))
    comms = values.get("comms") or {}
    if comms:
        assets = [a for key in sorted(comms) for a in comms[key]["assets"]]
        index = []
        for a in assets:
            rel = f"comms-kit/{a['channel']}-{slugify(a['segment'])}.md"
            if a["kind"] == "landing-page":
                rel = f"comms-kit/landing-page-{slugify(a['segment'])}.html"
                emit(f"landing_{slugify(a['segment'])}", rel,
                     env.get_template("landing-page.html.j2").render(
                         asset=a, req=req, terms_url=(values.get("charter") or {}).get(
                             "terms_url", ""), action=a["cta_url"]))
            else:
                emit(f"{a['channel']}_{slugify(a['segment'])}", rel,
                     env.get_template("asset.md.j2").render(a=a))
            index.append({**a, "file": rel.removeprefix("comms-kit/")})
        emit("comms_kit", "comms-kit/index.md", env.get_template("comms-kit.md.j2").render(
            req=req, assets=assets, index=index, faq=enablement.get("faq", [])))
    if values.get("golive"):
        emit("monitoring_plan", "monitoring-plan.md",
             env.get_template("monitoring-plan.md.j2").render(
                 req=req, golive=values["golive"], slas=RESPONSE_SLAS))
    return written

"""Launch artifacts: runbook (Markdown, CSV, iCalendar), comms kit, monitoring plan.

Rendered from graph state with the skills' Jinja templates (``launch-runbook``,
``launch-comms``, ``launch-monitoring``). Nothing here reads the clock, so the same request,
``--as-of`` and plan give the same files byte for byte. The plan id reaches the calendar
only as a digest inside event UIDs (``plan_id=``), so two launches of one program never
overwrite each other's events in a shared calendar, while a re-render of the same plan
keeps them. Every file is rendered first and then written in one go through the folder's
manifest (``manifest.publish``), which refuses to overwrite what is not the plan's and
records each file's SHA-256. The iCalendar writer is hand-rolled (RFC 5545) to keep the
runtime free of extra dependencies; timed events are written in UTC (converted from the
launch's wall clock with zoneinfo), so no VTIMEZONE has to be kept in sync with the tz
database.

Every piece of text is escaped for the file it lands in (``launch/text.py``): CSV cells
never start a formula, Markdown shows text as typed and links only the URLs this package
generated, iCalendar text is RFC 5545-escaped, HTML is autoescaped.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from referral_orchestrator.engine.roster import roster_from_overrides
from referral_orchestrator.launch import qa
from referral_orchestrator.launch.channels import (
    limits,
    measure,
    program_slug,
    segment_slug,
    sms_encoding,
)
from referral_orchestrator.launch.pages import landing_page_html, template_env
from referral_orchestrator.launch.schedule import calendar_for
from referral_orchestrator.launch.stages import RESPONSE_SLAS, readiness
from referral_orchestrator.launch.text import csv_cell, ics_text, plain_url
from referral_orchestrator.launch.zones import GO_LIVE_WINDOW, SESSION_START, WallClock, clock_for

from .manifest import publish


@dataclass
class Written:
    """What a render wrote: artifact name -> path, and relative path -> SHA-256."""

    paths: dict[str, str]
    digests: dict[str, str]


def _tidy(text: str) -> str:
    """One blank line between blocks, one newline at the end (clean Markdown)."""
    lines = [line.rstrip() for line in text.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip() + "\n"


def _csv(rows: list[list[Any]]) -> str:
    """CSV text whose every cell is spreadsheet-safe (no formula can run on import)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    return buf.getvalue()


def runbook_csv(tasks: list[dict[str, Any]], people: dict[str, str]) -> str:
    """One row per task, for import into a tracker."""
    rows: list[list[Any]] = [["id", "title", "owner_agent", "role", "person", "function",
                              "stage", "due", "status", "depends_on", "compressed"]]
    rows += [[t["id"], t["title"], t["owner"], t["role"], people.get(t["role"], ""),
              t["function"], t["stage"], t["due"], t["status"], " ".join(t["depends_on"]),
              "yes" if t.get("compressed") else "no"] for t in tasks]
    return _csv(rows)


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 5545 section 3.1), never inside a character."""
    data = line.encode()
    if len(data) <= 75:
        return line  # most lines: nothing to fold
    out: list[bytes] = []
    start, limit = 0, 75
    while len(data) - start > limit:
        cut = start + limit
        while data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: cut before its lead
            cut -= 1
        out.append(data[start:cut])
        start, limit = cut, 74  # a continuation line starts with one space
    out.append(data[start:])
    return b"\r\n ".join(out).decode()


def plan_key(req: dict[str, Any], plan_id: str | None) -> str:
    """A short stable digest naming one plan in calendar UIDs.

    From the plan id when there is one; otherwise from the request, so a render outside a
    plan (a test, a host) is still stable.
    """
    source = plan_id if plan_id is not None else json.dumps(
        {k: req.get(k) for k in ("program", "launch_date", "as_of", "channels", "audience",
                                 "approvers", "country", "timezone")}, sort_keys=True)
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def _utc(when: dt.datetime) -> str:
    return f"{when.astimezone(dt.UTC):%Y%m%dT%H%M%S}Z"


def session_times(clock: WallClock, session: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    """Start and end of an enablement session: 11:00 on the launch's wall clock."""
    start = clock.at(dt.date.fromisoformat(session["date"]), SESSION_START)
    return start, start + dt.timedelta(minutes=int(session["duration_minutes"]))


def runbook_ics(req: dict[str, Any], tasks: list[dict[str, Any]],
                sessions: list[dict[str, Any]], *, plan_id: str | None = None) -> str:
    """All-day events for task due dates, timed events for sessions and the go-live day."""
    slug = program_slug(req)
    host = f"{plan_key(req, plan_id)}.{slug}.referral-orchestrator"
    clock = clock_for(req)
    where = "" if clock.zone == "UTC" else f" ({clock.zone})"
    stamp = dt.date.fromisoformat(req["as_of"]).strftime("%Y%m%dT000000Z")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//referral-orchestrator//runbook//EN",
             "CALSCALE:GREGORIAN", "METHOD:PUBLISH",
             f"X-WR-CALNAME:{ics_text(req['program'])} launch",
             f"X-WR-TIMEZONE:{clock.zone}"]
    for t in tasks:
        if t["status"] == "descoped":
            continue
        day = dt.date.fromisoformat(t["due"])
        deps = ", ".join(t["depends_on"]) or "none"
        lines += ["BEGIN:VEVENT", f"UID:{t['id']}@{host}",
                  f"DTSTAMP:{stamp}", f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
                  f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
                  f"SUMMARY:{ics_text('Due: ' + t['title'])}",
                  "DESCRIPTION:" + ics_text(
                      f"Task {t['id']} ({t['function']}). Owner: {t['owner']} ({t['role']}). "
                      f"Depends on: {deps}."
                      + (" Compressed schedule." if t.get("compressed") else "")),
                  f"CATEGORIES:{ics_text(t['function'])}", "TRANSP:TRANSPARENT",
                  "END:VEVENT"]
    for i, s in enumerate(sessions, start=1):
        start, end = session_times(clock, s)
        lines += ["BEGIN:VEVENT", f"UID:session-{i}@{host}",
                  f"DTSTAMP:{stamp}", f"DTSTART:{_utc(start)}", f"DTEND:{_utc(end)}",
                  f"SUMMARY:{ics_text(s['title'])}",
                  "DESCRIPTION:" + ics_text(
                      f"{clock.label(start)}{where}. Audience: {s['audience']}. "
                      f"Owner: {s['owner']}."),
                  "CATEGORIES:enablement", "END:VEVENT"]
    launch = dt.date.fromisoformat(req["launch_date"])
    open_, close = (clock.at(launch, t) for t in GO_LIVE_WINDOW)
    lines += ["BEGIN:VEVENT", f"UID:go-live@{host}", f"DTSTAMP:{stamp}",
              f"DTSTART:{_utc(open_)}", f"DTEND:{_utc(close)}",
              f"SUMMARY:{ics_text('Go-live: ' + req['program'])}",
              "DESCRIPTION:" + ics_text(
                  f"Day-of checklist from {clock.label(open_)} to {clock.label(close)}{where}; "
                  "see monitoring-plan.md."),
              "CATEGORIES:golive", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "".join(_fold(line) + "\r\n" for line in lines)


def tracking_links_csv(links: list[dict[str, Any]], partner: dict[str, Any] | None) -> str:
    """The redirect map for the link shortener, and every tracking link with its UTMs."""
    rows: list[list[Any]] = [["channel", "segment", "short_url", "url"]]
    rows += [[lk["channel"], lk["segment"], lk.get("short_url", ""), lk["url"]] for lk in links]
    if partner:
        rows.append(["partner-portal", "partners", partner.get("short_url", ""),
                     partner["cta_url"]])
    return _csv(rows)


Emit = Callable[[str, str, str], None]
Markdown = Callable[..., str]
# The state the comms kit is rendered from, with the tasks' ids (``kit_inputs``)
KIT_INPUTS = ("request", "comms", "enablement", "tooling", "landing_url", "charter")
# The state the runbook is rendered from (links: the generated URLs, so the drafts too)
RUNBOOK_INPUTS = ("request", "roster", "tasks", "enablement", "charter", "compressed_tasks",
                  "full_lead_launch", "substitutions", "approvals", "landing_url", "tooling",
                  "comms")


def kit_inputs(values: dict[str, Any]) -> dict[str, Any]:
    """What of ``values`` the comms kit depends on: :data:`KIT_INPUTS` and the task ids."""
    inputs = {k: values[k] for k in KIT_INPUTS if k in values}
    inputs["tasks"] = [{"id": t["id"]} for t in values.get("tasks", [])]
    return inputs


def _writers(values: dict[str, Any], out_dir: Path, files: dict[str, bytes],
             written: dict[str, str]) -> tuple[Emit, Markdown]:
    """``emit(name, rel, text)`` adds a file; ``markdown(template, **ctx)`` renders one."""
    env = template_env()
    req = values["request"]
    linkable = _generated_links(values)

    def emit(name: str, rel: str, text: str) -> None:
        files[rel] = text.encode("utf-8")
        written[name] = str(out_dir / rel)

    def markdown(template: str, **ctx: Any) -> str:
        return _tidy(env.get_template(template).render(req=req, linkable=linkable, **ctx))

    return emit, markdown


@dataclass
class Composed:
    """One section's files (relative path -> bytes), artifact names (-> path), and temp
    files already holding some of them (relative path -> temp: ``atomic.fill_temps``)."""

    files: dict[str, bytes]
    written: dict[str, str]
    filled: dict[str, Path] = field(default_factory=dict)


def kit_files(values: dict[str, Any], out_dir: Path, plan_id: str = "") -> Composed:
    """The comms kit's files and artifact names (a pure function of :func:`kit_inputs`;
    ``plan_id``, which every section takes, names nothing in the kit)."""
    files: dict[str, bytes] = {}
    written: dict[str, str] = {}
    values = kit_inputs(values)
    if values.get("comms"):
        _render_kit(values, out_dir, *_writers(values, out_dir, files, written))
    return Composed(files, written)


def runbook_inputs(values: dict[str, Any]) -> dict[str, Any]:
    """What of ``values`` the runbook (Markdown, CSV, iCalendar) depends on."""
    return {k: values[k] for k in RUNBOOK_INPUTS if k in values}


def runbook_files(values: dict[str, Any], out_dir: Path, plan_id: str) -> Composed:
    """The runbook's files (a pure function of :func:`runbook_inputs` and ``plan_id``)."""
    files: dict[str, bytes] = {}
    written: dict[str, str] = {}
    values = runbook_inputs(values)
    tasks = values.get("tasks", [])
    if not tasks:
        return Composed(files, written)
    emit, markdown = _writers(values, out_dir, files, written)
    req = values["request"]
    roster = roster_from_overrides(values.get("roster"))
    enablement = values.get("enablement") or {}
    clock = clock_for(req)
    ordered = sorted(tasks, key=lambda t: t["due"])
    emit("runbook_md", "runbook.md", markdown(
        "runbook.md.j2", tasks=ordered, charter=values.get("charter") or {},
        compressed=[t for t in tasks if t["id"] in values.get("compressed_tasks", [])],
        full_lead_launch=values.get("full_lead_launch"),
        substitutions=values.get("substitutions", []), people=roster.people,
        sessions=[{**s, "when": clock.label(session_times(clock, s)[0])}
                  for s in enablement.get("sessions", [])],
        calendar=calendar_for(req).describe(), clock=clock.describe(),
        approvals=list(values.get("approvals", {}).values()), ladder=roster.ladder()))
    emit("runbook_csv", "runbook.csv", runbook_csv(tasks, roster.people))
    emit("runbook_ics", "runbook.ics", runbook_ics(req, tasks, enablement.get("sessions", []),
                                                   plan_id=plan_id))
    return Composed(files, written)


# The sections that can be composed ahead of the end of a run (``artifacts.ahead``):
# name -> (what of the state it depends on, how it is composed), in the order written
SECTIONS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]],
                          Callable[[dict[str, Any], Path, str], Composed]]] = {
    "runbook": (runbook_inputs, runbook_files),
    "kit": (kit_inputs, kit_files),
}


def render(values: dict[str, Any], out_dir: Path, *, plan_id: str, plan_path: Path,
           ahead: dict[str, Composed] | None = None) -> Written:
    """Write every artifact the state supports into the plan's folder ``out_dir``.

    ``plan_id`` makes calendar UIDs unique per plan (as a digest: the files never carry
    the id itself) and names the folder's owner in its manifest. ``ahead`` holds the
    :data:`SECTIONS` the caller composed already, from exactly these inputs.
    """
    written: dict[str, str] = {}
    files: dict[str, bytes] = {}
    filled: dict[str, Path] = {}
    for name, (_, compose) in SECTIONS.items():
        section = (ahead or {}).get(name) or compose(values, out_dir, plan_id)
        files.update(section.files)
        written.update(section.written)
        filled.update(section.filled)
    if values.get("golive"):
        emit, markdown = _writers(values, out_dir, files, written)
        roster = roster_from_overrides(values.get("roster"))
        checks = [c for v in values.get("qa", {}).values() for c in v.get("checks", [])]
        qa_rows = [{"stage": stage, "passed": sum(c["passed"] for c in v.get("checks", [])),
                    "total": len(v.get("checks", [])),
                    "failed": sorted({c["id"] for c in qa.failing(v.get("checks", []))})}
                   for stage, v in sorted(values.get("qa", {}).items())]
        emit("monitoring_plan", "monitoring-plan.md", markdown(
            "monitoring-plan.md.j2", golive=values["golive"], slas=RESPONSE_SLAS,
            readiness=readiness(values), accuracy=qa.accuracy(checks), qa_rows=qa_rows,
            people=roster.people, ladder=roster.ladder(),
            clock=clock_for(values["request"]).describe()))
    # files of an earlier render that this one no longer writes (a descoped channel's
    # drafts) are removed by the manifest, and only if they are unchanged
    return Written(written, publish(out_dir, plan_id, plan_path, files, filled))


def _generated_links(values: dict[str, Any]) -> frozenset[str]:
    """The URLs this launch generated (tracking, short, terms and landing links).

    Only these may be links in the Markdown files; any other URL, such as one typed into a
    note or a program name, is written as text.
    """
    urls = {values.get("landing_url") or "", (values.get("charter") or {}).get("terms_url", "")}
    for link in values.get("tooling", {}).get("tracking_links", []):
        urls |= {link.get("url", ""), link.get("short_url") or ""}
    for entry in (values.get("comms") or {}).values():
        for asset in (entry or {}).get("assets", []):
            urls |= {asset.get(k) or "" for k in ("cta_url", "short_url", "terms_url")}
    return frozenset(u for u in urls if plain_url(u))


def _kit_item(asset: dict[str, Any]) -> dict[str, Any]:
    """An asset with its limits and lengths as the channel counts them (SMS: encoding)."""
    caps = limits(asset["channel"], asset["body"])
    return {"a": asset, "limits": caps,
            "lengths": {f: measure(asset["channel"], f, asset.get(f) or "") for f in caps},
            "sms": sms_encoding(asset["body"]) if asset["kind"] == "sms" else None}


def _render_kit(values: dict[str, Any], out_dir: Path, emit: Emit,
                markdown: Markdown) -> None:
    req = values["request"]
    comms = values["comms"]
    enablement = values.get("enablement") or {}
    index: list[dict[str, Any]] = []
    for key in sorted(k for k in comms if ":" in k):
        channel, _, segment = key.partition(":")
        assets = comms[key]["assets"]
        if channel == "landing-page":
            for a in assets:
                rel = f"landing-page-{segment_slug(req, segment)}.html"
                emit(f"landing_page_{segment_slug(req, segment)}", f"comms-kit/{rel}",
                     landing_page_html(a, req))
                index.append({**a, "file": rel})
            continue
        rel = f"{channel}-{segment_slug(req, segment)}.md"
        emit(f"comms_{channel}_{segment_slug(req, segment)}", f"comms-kit/{rel}", markdown(
            "asset.md.j2", channel=channel, segment=segment,
            items=[_kit_item(a) for a in assets]))
        index += [{**a, "file": rel} for a in assets]
    shared = [a for key in ("landing-page", "partner-kit")
              for a in (comms.get(key) or {}).get("assets", [])]
    partner = next((a for a in shared if a["kind"] == "partner-kit"), None)
    for a in shared:
        if a["kind"] == "landing-page":
            emit("landing_page", "comms-kit/landing-page.html", landing_page_html(a, req))
            index.insert(0, {**a, "file": "landing-page.html"})
    if partner is not None:
        emit("partner_kit", "comms-kit/partner-kit.md", markdown(
            "partner-kit.md.j2", a=partner, sections=qa.PARTNER_KIT_SECTIONS))
        index.append({**partner, "file": "partner-kit.md"})
    links = values.get("tooling", {}).get("tracking_links", [])
    live = [lk for lk in links if lk["channel"] in req["channels"]]
    emit("tracking_links", "comms-kit/tracking-links.csv", tracking_links_csv(live, partner))
    extra = []
    if enablement.get("support_scripts"):
        emit("support_scripts", "comms-kit/support-scripts.md", markdown(
            "support-scripts.md.j2", scripts=enablement["support_scripts"], slas=RESPONSE_SLAS,
            help_center=enablement.get("help_center", [])))
        extra.append(("Support scripts and macros", "support-scripts.md"))
    if enablement.get("faq"):
        emit("faq", "comms-kit/faq.md", markdown("faq.md.j2", faq=enablement["faq"]))
        extra.append(("Customer FAQ (help center)", "faq.md"))
    extra.append(("Tracking links and short-link redirect map", "tracking-links.csv"))
    placeholders = sorted({p for a in index for p in ("{first_name}", "REFERRAL_CODE",
                                                      "[Company legal name]")
                           if p in a["body"] + a.get("footer", "") + a.get("cta_url", "")})
    emit("comms_kit", "comms-kit/index.md", markdown(
        "comms-kit.md.j2", index=index, extra=extra, links=live, partner=partner,
        placeholders=placeholders, tasks={t["id"] for t in values.get("tasks", [])}))

"""The launch request: the channel catalog and the validation of every input field."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, computed_field

from referral_orchestrator.errors import InvalidRequest

from .channels import normalize_channel, request_slugs, supported_channels
from .checks import (
    check_launch_window,
    parse_date,
)
from .money import default_currency, normalize_currency
from .schedule import DEFAULT_COUNTRY, normalize_country, normalize_subdivision
from .text import clean_line
from .zones import ZoneSource, default_timezone, normalize_timezone

Pattern = Literal["diamond", "pipeline"]
PATTERNS: tuple[Pattern, ...] = ("diamond", "pipeline")

MAX_NAME = 80
MAX_ITEM = 60  # one segment or approver
MAX_ITEMS = 12


class LaunchRequest(BaseModel):
    """A validated launch request. Build it with :func:`parse_request`."""

    model_config = ConfigDict(frozen=True)

    program: str
    launch_date: dt.date
    channels: tuple[str, ...]
    segments: tuple[str, ...] = ()
    approvers: tuple[str, ...] = ()
    as_of: dt.date
    pattern: Pattern = "diamond"
    approval_lead_days: int = 5  # approvals are due this many business days before launch
    country: str = DEFAULT_COUNTRY  # ISO 3166-1 alpha-2: the holiday calendar
    subdivision: str | None = None  # state, Land, nation... (holidays package code)
    timezone: str = "UTC"  # IANA zone of session and go-live times
    timezone_source: ZoneSource = "given"  # given | country (its one zone) | utc (several)
    currency: str = "USD"  # ISO 4217: rewards in the copy

    @property
    def program_slug(self) -> str:
        """A URL-safe id of the program, used in UTM campaigns and referral codes."""
        slug: str = self.slugs["program"]
        return slug

    @computed_field  # type: ignore[prop-decorator]
    @property
    def slugs(self) -> dict[str, Any]:
        """Slugs of the program, segments and approvers, unique within the launch.

        Recorded in the plan, so its task ids, files and links keep their names.
        """
        return request_slugs(self.program, self.audience, self.approvers)

    @property
    def audience(self) -> tuple[str, ...]:
        """Segments to draft for; one general audience when none were given."""
        return self.segments or ("all customers",)


def _check_name(value: str, what: str, flag: str, limit: int = MAX_NAME) -> str:
    name = clean_line(value, what, flag, limit, code="bad_name")
    if not name:
        raise InvalidRequest(f"{what} is empty: pass a name with {flag}", code="empty_name")
    if "/" in name or "\\" in name or name.startswith(".") or ".." in name:
        raise InvalidRequest(
            f"{what} {name!r} looks like a path: drop '/', '\\' and '..' from {flag}",
            code="path_in_name",
        )
    # Emoji are names people use for segments ("🎁🎉"); punctuation alone is not a name.
    if not any(ch.isalnum() or unicodedata.category(ch) == "So" for ch in name):
        raise InvalidRequest(
            f"{what} {name!r} has no letters or digits: pass a readable name with {flag}",
            code="bad_name",
        )
    return name


def split_list(value: str | Iterable[str] | None) -> list[str]:
    """Split a comma list (or flatten a sequence of comma lists), dropping blanks."""
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        out.extend(part.strip() for part in str(item).split(","))
    return [p for p in out if p]


def _check_list(given: str | Sequence[str] | None, what: str, flag: str) -> tuple[str, ...]:
    if given is None or (not isinstance(given, str) and not list(given)):
        return ()  # not asked for (an empty list from the API means "none")
    values = split_list(given)
    if not values:  # the flag was given, but holds only commas or blanks
        raise InvalidRequest(
            f"{flag} {given!r} names no {what}: list at least one, or leave {flag} out",
            code="empty_list",
        )
    if len(values) > MAX_ITEMS:
        raise InvalidRequest(
            f"{len(values)} {what} given: pass at most {MAX_ITEMS} with {flag}",
            code="too_many",
        )
    names = [_check_name(v, what[:-1], flag, MAX_ITEM) for v in values]
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise InvalidRequest(
                f"{what[:-1]} {name!r} is listed twice: list each once in {flag}",
                code="duplicate",
            )
        seen.add(name.lower())
    return tuple(names)


def parse_request(
    *,
    program: str | None,
    launch_date: str | dt.date | None,
    channels: str | Sequence[str] | None,
    segments: str | Sequence[str] | None = None,
    approvers: str | Sequence[str] | None = None,
    as_of: str | dt.date | None = None,
    pattern: str = "diamond",
    today: dt.date | None = None,
    approval_lead_days: int = 5,
    country: str | None = None,
    subdivision: str | None = None,
    timezone: str | None = None,
    currency: str | None = None,
) -> LaunchRequest:
    """Validate raw inputs into a :class:`LaunchRequest`; raise ``InvalidRequest`` on any flaw."""
    if program is None:
        raise InvalidRequest("missing --program: name the referral program", code="missing")
    if launch_date is None:
        raise InvalidRequest("missing --launch-date: give the go-live date as YYYY-MM-DD",
                             code="missing")
    if channels is None:
        raise InvalidRequest(
            "missing --channels: give a comma list, e.g. \"email,in-app\" "
            f"({supported_channels()})",
            code="missing",
        )
    name = _check_name(program, "program name", "--program")
    reference = parse_date(as_of, "--as-of") if as_of is not None else (today or dt.date.today())
    launch = parse_date(launch_date, "--launch-date")
    check_launch_window(launch, reference)
    raw_channels = split_list(channels)
    if not raw_channels:
        raise InvalidRequest(
            f"--channels is empty: give at least one of {supported_channels()}", code="missing"
        )
    ids: list[str] = []
    for raw in raw_channels:
        cid = normalize_channel(raw)
        if cid in ids:
            raise InvalidRequest(
                f"channel {raw!r} is listed twice (as {cid}): list each channel once in --channels",
                code="duplicate",
            )
        ids.append(cid)
    if pattern not in PATTERNS:
        raise InvalidRequest(
            f"unknown --pattern {pattern!r}: use diamond or pipeline", code="bad_pattern"
        )
    if not 0 <= approval_lead_days <= 60:
        raise InvalidRequest(
            f"--approval-lead-days {approval_lead_days} is out of range: use 0 to 60",
            code="bad_lead_days",
        )
    country_code = normalize_country(country)
    source: ZoneSource = "given"
    if timezone is not None:
        zone = normalize_timezone(timezone)
    else:
        zone, source = default_timezone(country_code, reference, launch)
    return LaunchRequest(
        approval_lead_days=approval_lead_days,
        country=country_code,
        subdivision=normalize_subdivision(country_code, subdivision),
        timezone=zone,
        timezone_source=source,
        currency=(normalize_currency(currency) if currency is not None
                  else default_currency(country_code, reference)),
        program=name,
        launch_date=launch,
        channels=tuple(ids),
        segments=_check_list(segments, "segments", "--segments"),
        approvers=_check_list(approvers, "approvers", "--approvers"),
        as_of=reference,
        pattern=pattern,
    )

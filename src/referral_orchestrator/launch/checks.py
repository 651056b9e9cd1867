"""Checks of single values the commands take besides a launch request (dates, notes, URLs,
limits): plain functions, so ``status`` and ``approve`` need no pydantic to check them."""

from __future__ import annotations

import datetime as dt
import math
from urllib.parse import urlsplit

from referral_orchestrator.errors import InvalidRequest

from .text import clean_line, plain_url

MAX_NOTE = 500
MAX_URL = 500
MAX_HORIZON_DAYS = 730
# The planning calendar: dates outside it are typos (9999-12-31), and date arithmetic on
# them would overflow after the plan was written.
CALENDAR = (dt.date(2000, 1, 1), dt.date(2199, 12, 31))


def parse_date(value: str | dt.date, flag: str) -> dt.date:
    """Parse an ISO date (YYYY-MM-DD) in the planning calendar, or raise ``InvalidRequest``."""
    if isinstance(value, dt.date):
        day = value
    else:
        try:
            day = dt.date.fromisoformat(str(value).strip())
        except ValueError:
            raise InvalidRequest(
                f"{flag} {value!r} is not a date: use YYYY-MM-DD, e.g. 2026-12-10",
                code="bad_date",
            ) from None
    if not CALENDAR[0] <= day <= CALENDAR[1]:
        raise InvalidRequest(
            f"{flag} {day} is outside the planning calendar ({CALENDAR[0].year}-"
            f"{CALENDAR[1].year}): check the year",
            code="date_out_of_range",
        )
    return day


def check_launch_window(launch: dt.date, reference: dt.date, flag: str = "--launch-date") -> None:
    """A launch date must be after the planning date and within the planning horizon."""
    if launch <= reference:
        raise InvalidRequest(
            f"{flag} {launch} is not after the planning date {reference}: "
            "pick a future go-live date (or set --as-of)",
            code="past_date",
        )
    if (launch - reference).days > MAX_HORIZON_DAYS:
        raise InvalidRequest(
            f"{flag} {launch} is more than two years after {reference}: "
            f"plan launches within {MAX_HORIZON_DAYS} days",
            code="date_too_far",
        )


def check_note(value: str | None, flag: str, limit: int = MAX_NOTE) -> str | None:
    """A note or a person's name given with a decision: one line of plain text, capped."""
    if value is None:
        return None
    return clean_line(value, f"{flag} text", flag, limit) or None


def check_landing_url(value: str | None) -> str | None:
    """``--landing-url``: an absolute http(s) URL made only of URL characters."""
    if value is None:
        return None
    url = str(value).strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidRequest(
            f"--landing-url {url[:80]!r} is not an http(s) URL: pass e.g. "
            "https://www.example.com/refer",
            code="bad_url",
        )
    if len(url) > MAX_URL or not plain_url(url) or not parts.hostname:
        raise InvalidRequest(
            f"--landing-url {url[:80]!r} is not a plain http(s) URL with a host: "
            "percent-encode spaces and quotes, and keep it under 500 characters",
            code="bad_url",
        )
    return url


def check_limits(*, max_concurrency: int, max_cost_usd: float | None) -> None:
    """``--max-concurrency`` is a positive count; ``--max-cost-usd`` a finite amount >= 0."""
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or not (
            1 <= max_concurrency <= 256):
        raise InvalidRequest(
            f"--max-concurrency {max_concurrency!r} is out of range: use 1 to 256",
            code="bad_limit",
        )
    if max_cost_usd is not None and (
            not isinstance(max_cost_usd, int | float) or not math.isfinite(max_cost_usd)
            or max_cost_usd < 0):
        raise InvalidRequest(
            f"--max-cost-usd {max_cost_usd!r} is not a spend limit: give a finite amount "
            "of US dollars, 0 or more",
            code="bad_limit",
        )

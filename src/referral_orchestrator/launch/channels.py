"""The channel catalog: ids, aliases, UTM mediums, copy limits, SMS encoding, and slugs.

Slugs (UTM values, task-id suffixes, asset file names) are transliterated with
``python-slugify`` (text-unidecode), so names in any script stay readable:
"Программа друзей" -> ``programma-druzei``, "顧客紹介" -> ``gu-ke-shao-jie``. A name that
transliterates to nothing (emoji only) gets ``id-`` and a digest of the name; names of one
launch whose slugs would collide each get a short digest suffix (:func:`unique_slugs`). The
digests depend on the name alone, so slugs are stable from run to run.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from referral_orchestrator.errors import InvalidRequest

REQUIRED_PARAMS = ("utm_source", "utm_medium", "utm_campaign", "ref")
REF_PARAM = "ref"


@dataclass(frozen=True)
class Channel:
    """One launch channel: its canonical id, label and copy limits."""

    id: str
    label: str
    medium: str  # utm_medium value
    max_chars: int | None = None  # body length limit, where the channel has one
    aliases: tuple[str, ...] = ()


CHANNELS: dict[str, Channel] = {
    c.id: c
    for c in (
        Channel("email", "Email", "email", None, ("e-mail", "mail", "newsletter")),
        Channel("in-app", "In-app prompt", "in_app", 140, ("in_app", "inapp", "in-app-message")),
        Channel("sms", "SMS", "sms", 160, ("text", "text-message")),
        Channel("push", "Push notification", "push", 110, ("push-notification", "mobile-push")),
        Channel("social", "Social posts", "social", 280, ("social-media", "twitter", "linkedin")),
        Channel("landing-page", "Landing page", "landing_page", None, ("landing", "lp", "web")),
        Channel(
            "partner-portal",
            "Partner portal",
            "partner",
            None,
            ("partner_portal", "partners", "portal"),
        ),
    )
}
_ALIASES: dict[str, str] = {}
for _c in CHANNELS.values():
    for _name in (_c.id, *_c.aliases):
        _ALIASES[_name] = _c.id
        _ALIASES[_name.replace("-", "_")] = _c.id
        _ALIASES[_name.replace("-", "")] = _c.id


def supported_channels() -> str:
    """The catalog as one comma-separated string, for error messages and help."""
    return ", ".join(CHANNELS)


def normalize_channel(raw: str) -> str:
    """Map a channel name or alias to its catalog id, or raise ``InvalidRequest``."""
    key = raw.strip().lower().replace(" ", "-")
    if key in _ALIASES:
        return _ALIASES[key]
    raise InvalidRequest(
        f"unknown channel {raw.strip()!r}: use one of {supported_channels()}",
        code="unknown_channel",
    )


SLUG_MAX = 60


def _digest(text: str, size: int) -> str:
    raw = hashlib.sha256(unicodedata.normalize("NFC", text).encode()).digest()
    return base64.b32encode(raw).decode().lower()[:size]


@functools.lru_cache(maxsize=1024)
def slugify(text: str) -> str:
    """Lower-case ASCII slug of a name in any script.

    'Customer Advocates' -> 'customer-advocates', 'Клиенты' -> 'klienty'; a name with
    nothing to transliterate ('🎉🎁') -> 'id-' and a digest of it.
    """
    from slugify import slugify as transliterate

    return transliterate(text, max_length=SLUG_MAX, word_boundary=True) or (
        "id-" + _digest(text, 8))


@functools.lru_cache(maxsize=256)
def _unique(names: tuple[str, ...]) -> dict[str, str]:
    base = {name: slugify(name) for name in names}
    counts: dict[str, int] = {}
    for slug in base.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {name: f"{slug}-{_digest(name, 6)}" if counts[slug] > 1 else slug
            for name, slug in base.items()}


def unique_slugs(names: Iterable[str]) -> dict[str, str]:
    """Slugs of the names of one launch, unique: colliding ones get a digest suffix.

    'Café' and 'Cafe' -> 'cafe-<6 chars>' each; names that do not collide keep the plain
    slug. The suffix is a digest of the name, so it is the same on every run.
    """
    return dict(_unique(tuple(dict.fromkeys(names))))


def request_slugs(program: str, segments: Iterable[str],
                  approvers: Iterable[str]) -> dict[str, Any]:
    """The slugs of a request, as recorded in the plan: program, segments, approvers."""
    return {"program": slugify(program), "segments": unique_slugs(segments),
            "approvers": unique_slugs(approvers)}


def _slugs(req: Mapping[str, Any]) -> dict[str, Any]:
    recorded: dict[str, Any] | None = req.get("slugs")
    # a plan records its slugs, so a later slug rule never renames its files or links
    return recorded if recorded is not None else request_slugs(
        req["program"], req.get("audience") or req.get("segments") or (),
        req.get("approvers") or ())


def program_slug(req: Mapping[str, Any]) -> str:
    """The program's slug in a request (UTM campaign, URLs, feature-flag name)."""
    slug: str = _slugs(req)["program"]
    return slug


def segment_slug(req: Mapping[str, Any], segment: str) -> str:
    """A segment's slug, unique within its launch (utm_content, task ids, file names)."""
    slug: str | None = _slugs(req)["segments"].get(segment)
    return slug if slug is not None else slugify(segment)


def approver_slug(req: Mapping[str, Any], approver: str) -> str:
    """An approver's slug, unique within its launch (sign-off task ids)."""
    slug: str | None = _slugs(req)["approvers"].get(approver)
    return slug if slug is not None else slugify(approver)


# Field limits besides the body limit of the channel catalog (characters).
_FIELD_LIMITS: dict[str, dict[str, int]] = {
    "email": {"title": 60, "preheader": 100, "cta_label": 25},
    "in-app": {"title": 40, "cta_label": 20},
    "push": {"title": 50},
    "sms": {},
    "social": {},
    "landing-page": {"title": 70, "cta_label": 25},
    "partner-portal": {"title": 80, "cta_label": 25},
}
# GSM 03.38: the basic set costs one septet a character; the extension table (form feed
# ^ { } \ [ ~ ] | €) costs two (an escape, then the character). One character outside both
# sends the whole message as UCS-2, where a character costs one UTF-16 unit (an emoji two).
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLM"
    "NOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
_GSM7 = _GSM7_BASIC | GSM7_EXTENSION
# (single message, per part of a multipart message): the User Data Header of a
# concatenated SMS takes 6 octets of each part's 140.
SMS_LIMITS = {"GSM-7": (160, 153), "UCS-2": (70, 67)}


def is_gsm7(text: str) -> bool:
    """True when an SMS body fits the GSM-7 alphabet (basic set or extension table)."""
    return all(ch in _GSM7 for ch in text)


@dataclass(frozen=True)
class SmsEncoding:
    """How an SMS body goes over the air: encoding, length in units, number of parts."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # GSM-7 septets or UCS-2 (UTF-16) code units
    parts: int
    single: int  # units that fit one message
    per_part: int  # units per part once the message is split

    def describe(self) -> str:
        """``GSM-7, 1 part (158/160 units)`` - the line the comms kit shows."""
        plural = "s" if self.parts != 1 else ""
        return (f"{self.encoding}, {self.parts} part{plural} ({self.units}/{self.single} units"
                + (f"; {self.per_part} per part when split)" if self.parts > 1 else ")"))


def _cost(ch: str, encoding: str) -> int:
    if encoding == "GSM-7":
        return 2 if ch in GSM7_EXTENSION else 1
    return 2 if ord(ch) > 0xFFFF else 1  # a surrogate pair


def sms_encoding(text: str) -> SmsEncoding:
    """Encoding, units and parts of an SMS body, as a carrier counts them.

    A two-unit character (an escaped GSM-7 extension character, a surrogate pair) is never
    split across parts, so a split message can need one part more than ``units / per_part``.
    """
    encoding = "GSM-7" if is_gsm7(text) else "UCS-2"
    single, per_part = SMS_LIMITS[encoding]
    costs = [_cost(ch, encoding) for ch in text]
    units = sum(costs)
    parts = 1
    if units > single:
        used = 0
        for cost in costs:
            if used + cost > per_part:
                parts, used = parts + 1, 0
            used += cost
    return SmsEncoding(encoding, units, parts, single, per_part)


def measure(channel: str, field: str, value: str) -> int:
    """The length of a field as its channel counts it: SMS bodies in GSM-7/UCS-2 units."""
    if channel == "sms" and field == "body":
        return sms_encoding(value).units
    return len(value)


def limits(channel: str, body: str = "") -> dict[str, int]:
    """Limits per asset field of a channel (``body`` refines the SMS limit).

    An SMS must fit one message: 160 GSM-7 units, or 70 UCS-2 units when any character is
    outside GSM-7 (see :func:`measure`).
    """
    out = dict(_FIELD_LIMITS.get(channel, {}))
    spec = CHANNELS.get(channel)
    if spec is not None and spec.max_chars is not None:
        out["body"] = spec.max_chars
        if channel == "sms":
            out["body"] = sms_encoding(body).single
    return out

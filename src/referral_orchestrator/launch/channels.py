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
# GSM 03.38 basic character set: SMS outside it is sent as UCS-2 with 70 characters a part.
_GSM7 = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLM"
            "NOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà^{}\\[~]|€")


def is_gsm7(text: str) -> bool:
    """True when an SMS body fits the GSM-7 alphabet (160 characters a part)."""
    return all(ch in _GSM7 for ch in text)


def limits(channel: str, body: str = "") -> dict[str, int]:
    """Character limits per asset field of a channel (``body`` refines the SMS limit)."""
    out = dict(_FIELD_LIMITS.get(channel, {}))
    spec = CHANNELS.get(channel)
    if spec is not None and spec.max_chars is not None:
        out["body"] = spec.max_chars
        if channel == "sms" and body and not is_gsm7(body):
            out["body"] = 70
    return out

"""The channel catalog: ids, aliases, UTM mediums, copy limits, SMS encoding, and slugs."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

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


def slugify(text: str) -> str:
    """Lower-case ASCII slug: 'Customer Advocates' -> 'customer-advocates'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "program"


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

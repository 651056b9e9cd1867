"""Copy for the offline drafter: templates rendered fast, links, charters, and text that fits.

The skills' copy strings (``launch-comms/copy.yaml``) are rendered with a sandboxed Jinja
(plain ``{{ name }}`` strings without compiling them); tracking and short links carry the UTM
and referral-code parameters QA checks; :func:`draft_asset` picks the first copy variant that
fits the channel's limits and :func:`repair` fixes what a failed QA check named.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import unicodedata
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import StrictUndefined, Template, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from referral_orchestrator.launch import outputs as out
from referral_orchestrator.launch import qa
from referral_orchestrator.launch.channels import (
    CHANNELS,
    REF_PARAM,
    is_gsm7,
    limits,
    measure,
    program_slug,
    segment_slug,
    slugify,
    sms_encoding,
)
from referral_orchestrator.launch.content import load_yaml, read_content, skill_file
from referral_orchestrator.launch.money import money_for
from referral_orchestrator.launch.stages import RESPONSE_SLAS

POSTAL_ADDRESS = "[Company legal name], [street address], [city, postcode], [country]"
REF_PLACEHOLDER = "REFERRAL_CODE"
OPT_OUT = "Reply STOP to opt out."
_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_TEXT = ("title", "preheader", "body", "cta_label", "footer", "disclosure", "send_at", "name")


@functools.cache
def skill_data(skill: str, name: str) -> Any:
    return load_yaml(read_content(skill_file(skill, name)))


@functools.lru_cache(maxsize=512)
def _compiled(template: str) -> Template:
    # Compiling costs ~2 ms and a launch renders the same few templates over a hundred times.
    return _ENV.from_string(template)


_SIMPLE = re.compile(r"\{\{\s*([A-Za-z_]\w*)\s*\}\}")


def render_copy(template: str, **ctx: Any) -> str:
    # Most copy strings only substitute plain names: skip compiling those (a CLI run would
    # otherwise spend ~0.2 s in Jinja's compiler). Anything richer goes through Jinja.
    if "{%" not in template and "{#" not in template and (
            template.count("{{") == len(_SIMPLE.findall(template))):
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in ctx:  # same contract as StrictUndefined
                raise UndefinedError(f"'{name}' is undefined")
            return str(ctx[name])

        return _SIMPLE.sub(value, template).strip()
    return _compiled(template).render(**ctx).strip()


def default_charter(req: dict[str, Any]) -> out.Charter:
    """The incentive-design skill's default charter, used when none is given.

    The reward is in the launch's currency, written for its country (``$20``, ``20 €``,
    ``¥3,000``: ``incentive-design/rewards.yaml``).
    """
    slug = program_slug(req)
    reward = money_for(req).reward()
    return out.Charter(
        incentive=f"Double-sided account credit: {reward} for the referrer and {reward} for "
                  "the friend",
        eligibility="Active customers in good standing; friends must be new customers",
        caps="Up to 10 rewarded referrals per referrer per calendar year",
        clawback_window_days=30,
        terms_url=f"https://www.example.com/{slug}/terms",
        success_metric="Referred sign-ups that stay active 30 days",
        referrer_reward=reward,
        friend_reward=reward,
    )


def tracking_url(landing_url: str, *, req: dict[str, Any], channel: str, segment: str) -> str:
    """The tracking link of one channel and segment (UTM + referral-code parameter).

    ``utm_campaign`` is the program's slug and ``utm_content`` the segment's, unique within
    the launch, so every segment has its own link and short link.
    """
    parts = urlsplit(landing_url)
    params = [*parse_qsl(parts.query), ("utm_source", "referral"),
              ("utm_medium", CHANNELS[channel].medium if channel in CHANNELS
               else slugify(channel)),
              ("utm_campaign", program_slug(req)), ("utm_content", segment_slug(req, segment)),
              (REF_PARAM, REF_PLACEHOLDER)]
    return urlunsplit(parts._replace(query=urlencode(params)))


def short_link(url: str) -> str:
    """The branded short link of a tracking link: ``https://<host>/r/<code>?ref=...``.

    The code is a digest of the link without its referral code, so it is stable; the
    redirect passes ``ref`` through to the full link (see comms-kit/tracking-links.csv).
    """
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != REF_PARAM]
    digest = hashlib.sha256(urlencode(query).encode() + parts.path.encode()).digest()
    code = base64.b32encode(digest).decode().lower()[:7]
    ref = dict(parse_qsl(parts.query)).get(REF_PARAM, REF_PLACEHOLDER)
    return urlunsplit((parts.scheme, parts.netloc, f"/r/{code}",
                       urlencode({REF_PARAM: ref}), ""))


def cut(text: str, limit: int) -> str:
    """Cut at a word boundary to at most ``limit`` characters, ending with '...'."""
    if len(text) <= limit:
        return text
    head = text[: max(limit - 3, 0)].rsplit(" ", 1)[0].rstrip(" ,;:-")
    return head + "..."


def fit(text: str, limit: int, keep_from: str = "") -> str:
    """Fit ``text`` in ``limit``; the tail from ``keep_from`` (a link) is never cut."""
    if len(text) <= limit:
        return text
    at = text.find(keep_from) if keep_from else -1
    if at <= 0:
        return cut(text, limit)
    tail = text[at:]
    return cut(text[:at].rstrip(), limit - len(tail) - 1) + " " + tail


_SMS_PLAIN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                            "\u2013": "-", "\u2014": "-", "\u2026": "...", "\u00a0": " "})


def sms_text(text: str, currency: str) -> str:
    """Keep an SMS in GSM-7 where that loses nothing a reader needs.

    Typographic quotes, dashes and no-break spaces become plain ones, a Latin letter GSM-7
    lacks loses its accent (``ç`` -> ``c``), and a currency symbol outside GSM-7 becomes the
    ISO code (``₹1,500`` -> ``INR 1,500``). Other scripts stay as written: such a message is
    UCS-2, with 70 units to a message (see ``channels.sms_encoding``).
    """
    text = text.translate(_SMS_PLAIN)
    symbols = {ch for ch in text if unicodedata.category(ch) == "Sc" and not is_gsm7(ch)}
    if symbols:
        pattern = re.compile(r"(?P<pre>\S?) ?[" + re.escape("".join(sorted(symbols)))
                             + r"] ?(?P<post>\S?)")

        def code(m: re.Match[str]) -> str:
            pre, post = m.group("pre"), m.group("post")
            return (pre + (" " if pre else "") + currency
                    + (" " if post[:1].isalnum() else "") + post)

        text = pattern.sub(code, text)

    def fold(ch: str) -> str:
        base = unicodedata.normalize("NFKD", ch)[:1]
        keep = is_gsm7(ch) or not unicodedata.category(ch).startswith("L")
        return ch if keep or not (base.isascii() and base.isalpha()) else base

    return "".join(map(fold, text))


def fit_sms(text: str, cap: int, keep_from: str = "") -> str:
    """Fit an SMS body in ``cap`` units of its encoding (GSM-7 extension characters: 2)."""
    while (units := sms_encoding(text).units) > cap:
        shorter = fit(text, len(text) - (units - cap), keep_from)
        if len(shorter) >= len(text):  # only the kept link is left: cut it too
            shorter = cut(text, len(text) - (units - cap))
        text = shorter
    return text


def fit_field(channel: str, name: str, text: str, cap: int, keep_from: str = "") -> str:
    if channel == "sms" and name == "body":
        return fit_sms(text, cap, keep_from)
    return fit(text, cap, keep_from)


def copy_context(req: dict[str, Any], charter: dict[str, Any], link: str = "") -> dict[str, Any]:
    """The variables every copy template is rendered with."""
    slug = program_slug(req)
    reward = charter.get("referrer_reward") or money_for(req).reward()
    friend = charter.get("friend_reward") or reward
    return {
        "program": req["program"], "program_short": cut(req["program"], 24),
        "currency": money_for(req).currency,
        "reward": reward, "friend_reward": friend,
        "both_get": f"you both get {reward}" if reward == friend
        else f"you get {reward} and your friend gets {friend}",
        "link": link, "short_link": short_link(link) if link else "",
        "terms_url": charter["terms_url"], "launch_date": req["launch_date"],
        "unsubscribe_url": f"https://www.example.com/{slug}/unsubscribe",
        "preferences_url": f"https://www.example.com/{slug}/preferences",
        "postal_address": POSTAL_ADDRESS, "caps": charter["caps"].rstrip("."),
        "eligibility": charter["eligibility"].rstrip("."),
        "incentive": charter["incentive"].rstrip("."),
        "clawback_days": charter["clawback_window_days"],
        "support_sla": RESPONSE_SLAS["support_first_response"],
        "partner_sla": RESPONSE_SLAS["partner_question"],
        "incident_sla": RESPONSE_SLAS["incident_acknowledge"],
        "approval_sla": RESPONSE_SLAS["approval_turnaround"],
    }


def draft_asset(spec: dict[str, Any], *, kind: out.AssetKind, channel: str, segment: str,
                ctx: dict[str, Any], tight: bool = False) -> out.Asset:
    """Render one asset: the first variant that fits the channel's limits.

    ``tight`` (after a comms.length failure) starts from the shortest variant and keeps
    10% headroom under every limit, cutting at word boundaries if it still does not fit.
    """
    variants = spec.get("variants") or [{}]
    fixed = {k: v for k, v in spec.items() if k in _TEXT}
    data: dict[str, str] = {}
    for variant in (variants[-1:] if tight else variants):
        data = {k: render_copy(str(v), **ctx) for k, v in {**fixed, **variant}.items()}
        if kind == "sms":
            data["body"] = sms_text(data["body"], ctx["currency"])
        if not qa.length_problems({"channel": channel, **data}):
            break
    caps = limits(channel, data.get("body", ""))
    for name, cap in caps.items():
        target = int(cap * 0.9) if tight else cap
        if measure(channel, name, data.get(name, "")) > target:
            data[name] = fit_field(channel, name, data[name], target,
                                    ctx.get("short_link", ""))
    return out.Asset(
        kind=kind, channel=channel, segment=segment, title=data.get("title", ""),
        preheader=data.get("preheader", ""), body=data.get("body", ""),
        cta_label=data.get("cta_label", ""), footer=data.get("footer", ""),
        disclosure=data.get("disclosure", ""), name=data.get("name", ""),
        send_at=data.get("send_at", ""), terms_url=ctx["terms_url"],
    )


def repair(asset: out.Asset, ctx: dict[str, Any], failed: set[str]) -> out.Asset:
    """Fix what the failed checks named (a retry with modification)."""
    if "comms.sms_optout" in failed and asset.kind == "sms" and "STOP" not in asset.body:
        room = limits("sms", asset.body)["body"] - len(OPT_OUT) - 1
        asset.body = fit_sms(asset.body, room) + " " + OPT_OUT
    if "comms.email_footer" in failed and asset.kind == "email":
        asset.footer = (f"Unsubscribe: {ctx['unsubscribe_url']} | Manage preferences: "
                        f"{ctx['preferences_url']}\n{ctx['postal_address']}")
    if "comms.disclosure" in failed and asset.kind == "social" and "#ad" not in asset.body:
        asset.body = "#ad " + asset.body
    if "comms.short_link" in failed and asset.short_url and asset.short_url not in asset.body:
        asset.body = asset.body + " " + asset.short_url
    if failed & {"comms.sms_optout", "comms.disclosure", "comms.short_link"}:
        caps = limits(asset.channel, asset.body)
        if "body" in caps:
            asset.body = fit_field(asset.channel, "body", asset.body, caps["body"],
                                    asset.short_url or "http")
    return asset

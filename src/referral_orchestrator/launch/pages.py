"""Rendering with the skills' Jinja templates, and the landing page (which QA renders too)."""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from .channels import CHANNELS, REQUIRED_PARAMS
from .content import load_skills

TEMPLATE_SKILLS = ("launch-runbook", "launch-comms", "launch-monitoring")


def _cell(value: Any) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


@functools.cache
def template_env() -> Environment:
    skills = load_skills()
    folders = [str(skills[name].path / "templates") for name in TEMPLATE_SKILLS]
    # utf-8-sig: a template saved with a byte-order mark (Windows) renders without it
    env = Environment(loader=FileSystemLoader(folders, encoding="utf-8-sig"),
                      undefined=StrictUndefined,
                      autoescape=select_autoescape(["html", "html.j2"]), trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = _cell
    env.filters["label"] = lambda c: CHANNELS[c].label if c in CHANNELS else c
    return env


def landing_page_html(asset: dict[str, Any], req: dict[str, Any]) -> str:
    """The landing page of a landing-page asset; every piece of text is HTML-escaped."""
    base = asset.get("cta_url") or ""
    parts = urlsplit(base) if base else None
    action = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}/enroll" if parts else (
        "/enroll")
    paragraphs = [p.strip() for p in asset["body"].split("\n\n") if p.strip()]
    return template_env().get_template("landing-page.html.j2").render(
        asset=asset, req=req, paragraphs=paragraphs, action=action,
        terms_url=asset.get("terms_url") or "terms", fields=REQUIRED_PARAMS[:3])

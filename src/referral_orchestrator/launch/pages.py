"""Rendering with the skills' Jinja templates, and the landing page (which QA renders too).

Both kinds of template escape every ``{{ value }}`` by default: HTML templates with Jinja's
autoescape, Markdown templates (``*.md.j2``) with :func:`~.text.md_text`, so text a person
typed (or a model drafted around it) can add no HTML, link or formatting to a file. A
filter that builds Markdown on purpose (``cell``, ``code``, ``file``, ``fence``, ``block``)
returns :class:`Markdown`, which is written as is. Render Markdown templates with
``linkable=`` the URLs this package generated, so those (and only those) stay links.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from . import text
from .channels import CHANNELS, REQUIRED_PARAMS
from .content import load_skills

TEMPLATE_SKILLS = ("launch-runbook", "launch-comms", "launch-monitoring")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Markdown(str):
    """Markdown built on purpose by a filter: the Markdown templates write it unescaped."""


def _is_html(name: str | None) -> bool:
    return bool(name) and str(name).endswith((".html", ".html.j2"))


@pass_context
def _finalize(context: Context, value: Any) -> Any:
    """Every ``{{ value }}``: unsafe characters dropped; Markdown-escaped in ``.md`` files."""
    if _is_html(context.name):
        if isinstance(value, Markup):
            return value
        return text.strip_unsafe("" if value is None else str(value), keep_newlines=True)
    if isinstance(value, Markdown):
        return value
    return text.md_text(value, context.get("linkable") or ())


@pass_context
def _block(context: Context, value: Any, headings: Any = ()) -> Markdown:
    """Drafted multi-line Markdown: lists kept, ``## `` headings only from ``headings``."""
    return Markdown(text.md_block(value, context.get("linkable") or (), tuple(headings)))


@pass_context
def _cell(context: Context, value: Any) -> Markdown:
    """Text safe inside a Markdown table cell (``|``, CR and LF included)."""
    return Markdown(text.md_text(value, context.get("linkable") or ()))


def _file(value: Any) -> Markdown:
    """A file name for a relative link; anything that is not a plain name is escaped."""
    name = str(value)
    return Markdown(name if _FILE_NAME.match(name) else text.md_text(name))


@functools.cache
def template_env() -> Environment:
    """The Jinja environment of the skills' templates (HTML and Markdown)."""
    skills = load_skills()
    folders = [str(skills[name].path / "templates") for name in TEMPLATE_SKILLS]
    # utf-8-sig: a template saved with a byte-order mark (Windows) renders without it
    env = Environment(loader=FileSystemLoader(folders, encoding="utf-8-sig"),
                      undefined=StrictUndefined,
                      autoescape=_is_html, finalize=_finalize, trim_blocks=True,
                      lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = _cell
    env.filters["block"] = _block
    env.filters["code"] = lambda v: Markdown(text.md_code(v))
    env.filters["file"] = _file
    env.filters["fence"] = lambda v, info="text": Markdown(text.md_fence(v, info))
    env.filters["label"] = lambda c: CHANNELS[c].label if c in CHANNELS else c
    return env


@functools.cache
def static_scripts(name: str) -> frozenset[str]:
    """The ``<script>`` bodies of template ``name`` that hold no Jinja tag: fixed text that
    renders byte for byte as written, so no user text can have been put in them."""
    source, _, _ = template_env().loader.get_source(template_env(), name)  # type: ignore[union-attr]
    bodies = re.findall(r"<script[^>]*>(.*?)</script>", source, flags=re.S | re.I)
    return frozenset(b for b in bodies if not re.search(r"\{[{%#]", b))


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

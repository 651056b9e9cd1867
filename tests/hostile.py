"""A hostile-input corpus and a scanner for active content in what a launch writes.

``CORPUS`` holds the text a careless or hostile person might type into any field:
spreadsheet formulas, HTML, Markdown links and autolinks, code fences, table breakers,
terminal escape sequences, NUL, bidi overrides, very long and non-Latin text. Every field
must either refuse an entry at input (exit 2, nothing written) or keep it inert wherever
it lands. ``scan`` reads every file a launch wrote (CSV cells, Markdown, HTML, iCalendar,
plan JSON) and ``scan_terminal`` what the CLI printed, and each returns what it found.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

CORPUS: dict[str, str] = {
    "formula-hyperlink": '=HYPERLINK("https://evil.example","click")',
    "formula-dde": "=cmd|' /C calc'!A0",
    "formula-plus": "+1+1",
    "formula-minus": "-2",
    "formula-at": "@SUM(A1:A9)",
    "formula-tab": "\t=1+1",
    "formula-space": " =1+1",
    "formula-cr": "\r=1+1",
    "html-img": "<img src=x onerror=alert(1)>",
    "html-script": "<script>alert(1)</script>",
    "html-entity": "&lt;img src=x onerror=alert(1)&gt;",
    "md-link": "[click](https://evil.example)",
    "md-image": "![x](https://evil.example/x.png)",
    "md-reference": "[click][1] [1]: https://evil.example",
    "md-autolink": "<https://evil.example>",
    "md-bare-url": "see https://evil.example/now",
    "md-www": "visit www.evil.com today",
    "md-email": "mail boss@evil.com",
    "md-mention": "@everyone",
    "md-fence": "```\n# FENCE BREAK\n```",
    "md-tilde-fence": "~~~\n# FENCE BREAK",
    "md-backticks": "`code` ``two``",
    "md-heading": "# HEADING",
    "md-pipe": "a | b | c",
    "crlf": "line one\r\nline two\nline three\r",
    "esc-colour": "\x1b[31mred\x1b[0m",
    "esc-osc8": "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "nul": "a\x00b",
    "c1-csi": "a\x9b31mb",
    "bidi-override": "invoice\u202egnp.exe",
    "bidi-isolate": "\u2066admin\u2069",
    "zero-width": "ad\u200bmin",
    "cyrillic": "Клиенты-адвокаты",
    "cjk": "顧客紹介プログラム",
    "arabic": "برنامج الإحالة",
    "emoji": "Refer 🎉 friends 👨‍👩‍👧",
}

# Where a person can type text, and the most characters each field takes.
FIELDS: dict[str, int] = {
    "program": 80,
    "segment": 60,
    "approver": 60,
    "roster-person": 80,
    "roster-reason": 200,
    "approval-note": 500,
    "approval-by": 80,
    "escalation-note": 500,
    "escalation-by": 80,
}


def long_entry(field: str) -> str:
    """Text exactly at the field's cap, in a script that takes two bytes a character."""
    return "Ж" * FIELDS[field]


# -- the scanner ---------------------------------------------------------------------------

_ALLOWED_CONTROLS = {"\n", "\r"}
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_LINK_OK = re.compile(r"^(https://www\.example\.com/|mailto:[\w.+-]+@example\.com$|"
                      r"[a-z0-9-]+\.(md|html|csv)$)")
_MARKERS = ("FENCE BREAK", "HEADING")  # text that must never become a heading
# The landing page may hold the tags its template has, and no others.
_LANDING = (Path(__file__).resolve().parents[1] / "skills" / "launch-comms" / "templates"
            / "landing-page.html.j2").read_text(encoding="utf-8")
_HTML_TAGS = set(re.findall(r"<([a-z][a-z0-9]*)", _LANDING))
_SCRIPTS = _LANDING.count("<script")
_ICS_NAMES = {"BEGIN", "END", "VERSION", "PRODID", "CALSCALE", "METHOD", "X-WR-CALNAME", "UID",
              "DTSTAMP", "DTSTART", "DTEND", "SUMMARY", "DESCRIPTION", "CATEGORIES", "TRANSP"}


def _markdown() -> MarkdownIt:
    # The strictest common reading: CommonMark plus GFM tables and strikethrough, plus
    # linkify with fuzzy domains (as editor previews do; stricter than GitHub).
    return MarkdownIt("commonmark", {"linkify": True, "html": True}).enable(
        ["table", "strikethrough", "linkify"])


def unsafe(text: str) -> list[str]:
    """Control, separator and invisible format characters other than CR and LF."""
    return [f"U+{ord(c):04X}" for c in text if c not in _ALLOWED_CONTROLS
            and unicodedata.category(c) in ("Cc", "Cs", "Cf", "Zl", "Zp")
            and c not in "\u200c\u200d"]


def _walk(tokens: list[Any]) -> Iterator[Any]:
    for tok in tokens:
        yield tok
        yield from _walk(tok.children or [])


def scan_markdown(text: str, where: str, links: frozenset[str] = frozenset()) -> list[str]:
    """Active content in one Markdown document."""
    found = []
    tokens = list(_walk(_markdown().parse(text)))
    for i, tok in enumerate(tokens):
        if tok.type in ("html_block", "html_inline"):
            found.append(f"{where}: raw HTML {tok.content.strip()[:60]!r}")
        elif tok.type == "image":
            found.append(f"{where}: image {tok.attrGet('src')!r}")
        elif tok.type == "link_open":
            href = str(tok.attrGet("href"))
            if not (_LINK_OK.match(href) or href in links):
                found.append(f"{where}: link to {href!r}")
        elif tok.type == "heading_open":
            title = tokens[i + 1].content if i + 1 < len(tokens) else ""
            if title.lstrip("\\`~ ").startswith(_MARKERS):
                found.append(f"{where}: heading {title!r}")
    found += _table_shapes(text, where)
    return found


def _table_shapes(text: str, where: str) -> list[str]:
    """Every row of a pipe table has as many cells as its header."""
    found, width, fenced = [], None, False
    for n, line in enumerate(text.splitlines(), start=1):
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not line.startswith("|"):
            width = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line))
        if width is None:
            width = cells
        elif cells != width:
            found.append(f"{where}:{n}: table row with {cells - 1} cells, header {width - 1}")
    return found


def scan_csv(text: str, where: str) -> list[str]:
    """Cells a spreadsheet would run as a formula."""
    found = []
    for r, row in enumerate(csv.reader(io.StringIO(text, newline="")), start=1):
        for cell in row:
            if cell.lstrip(" ").startswith(_FORMULA) or cell.startswith(_FORMULA):
                found.append(f"{where}:{r}: formula cell {cell[:40]!r}")
    return found


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def scan_html(text: str, where: str) -> list[str]:
    """Tags or event handlers the landing page template does not have."""
    page = _Tags()
    page.feed(text)
    found = [f"{where}: <{tag}>" for tag, _ in page.tags if tag not in _HTML_TAGS]
    found += [f"{where}: <{tag} {name}=...>" for tag, attrs in page.tags for name, _ in attrs
              if name.startswith("on")]
    if sum(tag == "script" for tag, _ in page.tags) != _SCRIPTS:
        found.append(f"{where}: script tags added")
    return found


def scan_ics(text: str, where: str) -> list[str]:
    """Content lines that are not the calendar's own properties (an injected property)."""
    found = []
    unfolded = re.sub(r"\r\n[ \t]", "", text)
    for line in unfolded.split("\r\n"):
        if not line:
            continue
        name = re.split(r"[;:]", line, maxsplit=1)[0]
        if name not in _ICS_NAMES:
            found.append(f"{where}: property {line[:50]!r}")
    if unfolded.count("BEGIN:VEVENT") != unfolded.count("END:VEVENT"):
        found.append(f"{where}: unbalanced events")
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def scan(*roots: Path, links: frozenset[str] = frozenset()) -> list[str]:
    """Every finding in every file under ``roots`` (artifacts, plans)."""
    found: list[str] = []
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            if path.suffix not in (".csv", ".md", ".html", ".ics", ".json"):
                continue
            where = str(path.relative_to(root.parent))
            text = path.read_text(encoding="utf-8")
            bad = unsafe(text)
            if bad:
                found.append(f"{where}: control characters {sorted(set(bad))}")
            if path.suffix == ".csv":
                found += scan_csv(text, where)
            elif path.suffix == ".md":
                found += scan_markdown(text, where, links)
            elif path.suffix == ".html":
                found += scan_html(text, where)
            elif path.suffix == ".ics":
                found += scan_ics(text, where)
            elif path.suffix == ".json":  # JSON escapes whitespace; the rest must not be there
                strings = [s for s in _strings(json.loads(text))
                           if unsafe(s.replace("\t", " "))]
                found += [f"{where}: control characters in {s[:40]!r}" for s in strings]
    return found


def scan_terminal(text: str, where: str) -> list[str]:
    """Escape sequences, bidi controls and other unsafe characters in printed output."""
    bad = [c for c in unsafe(text) if c != "U+000D"]
    return [f"{where}: control characters {sorted(set(bad))}"] if bad else []

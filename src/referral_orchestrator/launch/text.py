"""Text a person typed, checked once on the way in and escaped for every place it lands.

One control-character policy for the whole package:

- **unsafe characters** are C0 and C1 control characters (ESC, NUL, CSI, ...), DEL, lone
  surrogates, line and paragraph separators, and every invisible format character
  (bidirectional embeddings, overrides, isolates and marks, zero-width space, BOM, tag
  characters) except the zero-width joiner and non-joiner that emoji sequences and scripts
  such as Persian and Devanagari need;
- on the way in (:func:`clean_line`) whitespace runs, tabs and line breaks included, become
  one space and any unsafe character left is refused (exit code 2);
- on the way out every destination strips unsafe characters, so text that reached a plan
  before these rules (or through a roster kept in graph state) is still shown inert.

One escaper per destination: :func:`csv_cell` (spreadsheet formulas), :func:`md_text`,
:func:`md_block`, :func:`md_code` and :func:`md_fence` (Markdown), :func:`ics_text`
(iCalendar, RFC 5545), :func:`one_line` (terminal) and :func:`json_text` (JSON printed to a
terminal). HTML is escaped by Jinja's autoescape (``launch/pages.py``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Collection, Iterator
from urllib.parse import urlsplit

from referral_orchestrator.errors import InvalidRequest

# Format characters that stay: emoji ZWJ sequences and scripts that need (non-)joiners.
_KEPT_FORMAT = frozenset("\u200c\u200d")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cs", "Cf", "Zl", "Zp"})
_WHITESPACE_CONTROLS = frozenset("\t\n\r")


def is_unsafe(ch: str) -> bool:
    """Whether a character is a control, separator or invisible format character we refuse."""
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES and ch not in _KEPT_FORMAT


def unsafe_chars(text: str) -> list[str]:
    """The unsafe characters of ``text`` (tabs and line breaks are not counted)."""
    return [ch for ch in text if ch not in _WHITESPACE_CONTROLS and is_unsafe(ch)]


# Everything Python's str.splitlines() breaks on, as one newline.
_LINE_BREAKS = re.compile("\r\n|[\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")


# In ASCII the only unsafe characters are the C0 controls and DEL (tab and LF are spacing)
_ASCII_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
_ASCII_SPACING = str.maketrans("\n\t", "  ")


def strip_unsafe(text: str, *, keep_newlines: bool = False) -> str:
    """``text`` without unsafe characters; line breaks become newlines (or spaces)."""
    text = _LINE_BREAKS.sub("\n", text)
    if text.isascii():  # the common case, without a Unicode lookup per character
        text = _ASCII_UNSAFE.sub("", text)
        return text if keep_newlines else text.translate(_ASCII_SPACING)
    keep = "\n\t" if keep_newlines else ""
    return "".join(ch if ch in keep else " " if ch in "\n\t" else ch
                   for ch in text if ch in "\n\t" or not is_unsafe(ch))


def one_line(value: object) -> str:
    """Inert single-line text: unsafe characters dropped, tabs and line breaks made spaces.

    Used for everything printed to a terminal, so a value cannot move the cursor, change
    colours, open a hyperlink (OSC 8), reorder what is shown (bidi) or fake a new line.
    Other spacing, such as the no-break space in "20 €", is kept.
    """
    return strip_unsafe("" if value is None else str(value)).strip()


def clean_line(value: str, what: str, flag: str, limit: int, *,
               code: str = "control_characters") -> str:
    """Validate one line of user text: whitespace collapsed, at most ``limit`` characters,
    no unsafe characters. Raises ``InvalidRequest`` (exit 2) naming ``flag``; ``code`` is
    the error code for unsafe characters."""
    text = " ".join(str(value).split())
    bad = unsafe_chars(text)
    if bad:
        raise InvalidRequest(
            f"{what} contains control or invisible formatting characters "
            f"({', '.join(sorted({f'U+{ord(c):04X}' for c in bad}))}): pass plain text "
            f"with {flag}",
            code=code,
        )
    if len(text) > limit:
        raise InvalidRequest(
            f"{what} is {len(text)} characters long: keep {flag} to {limit} characters or fewer",
            code="name_too_long",
        )
    return text


# -- CSV ---------------------------------------------------------------------------------

_FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """A spreadsheet-safe CSV cell (OWASP "CSV injection").

    A cell whose text starts with ``= + - @``, tab or CR, also after leading whitespace,
    gets a leading ``'`` so Excel, LibreOffice and Google Sheets show it as text instead
    of running it as a formula. Dates, ids and numbers that start with a digit are kept.
    """
    text = strip_unsafe("" if value is None else str(value))
    return "'" + text if text.lstrip().startswith(_FORMULA_LEAD) else text


# -- iCalendar ---------------------------------------------------------------------------


def ics_text(value: object) -> str:
    """A TEXT property value (RFC 5545 section 3.3.11): ``\\ ; ,`` and newlines escaped."""
    text = strip_unsafe("" if value is None else str(value), keep_newlines=True)
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\t", " ").replace("\n", "\\n"))


# -- JSON on a terminal ------------------------------------------------------------------


def json_text(dumped: str) -> str:
    """JSON text with every unsafe character written as a ``\\uXXXX`` escape.

    ``json.dumps(..., ensure_ascii=False)`` escapes C0 controls but writes C1 controls and
    bidi overrides raw; unsafe characters can only sit inside JSON strings, so escaping
    them keeps the document valid and its data unchanged.
    """
    out = []
    for ch in dumped:
        if is_unsafe(ch) and ch not in _WHITESPACE_CONTROLS:
            code = ord(ch)
            if code > 0xFFFF:  # a surrogate pair, as JSON spells astral code points
                code -= 0x10000
                out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
            else:
                out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


# -- Markdown ----------------------------------------------------------------------------

# Backslash-escaped wherever they appear: emphasis, code spans, link and image openers,
# table cells, strikethrough and fences, @mentions and e-mail autolinks. The rest only
# matters in one position and is escaped there: '<' before a letter, '/', '!' or '?' (raw
# HTML and autolinks), '_' at a word edge (CommonMark never opens emphasis inside a word).
_MD_INLINE = re.compile(r"([\\`*\[|~@])|<(?=[A-Za-z/!?])|(?<![^\W_])_|_(?![^\W_])")
_MD_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
# GFM turns bare URLs and www. names into links: break the scheme's ':' and the 'www.'.
_MD_SCHEME = re.compile(r"(?i)(?<![0-9a-z+.-])([a-z][0-9a-z+.-]*):(?=//)")
# Linkifiers that guess domains (markdown-it's linkify, used by editor previews) need a dot
# between a name and a top-level domain: break it.
_MD_DOMAIN_DOT = re.compile(r"(?<=[0-9A-Za-z])\.(?=[A-Za-z]{2})")
# What starts a block when it opens a line: a heading, quote, list item or setext
# underline, or a number followed by '.' or ')' and a space (an ordered list).
_MD_BLOCK_LEAD = re.compile(r"^[#>+=-]")
_MD_ORDERED_LEAD = re.compile(r"^(\d{1,9})([.)])(?=\s|$)")
# Code spans around a plain identifier (a feature flag, a task id) are kept as code.
_MD_SAFE_CODE = re.compile(r"(`[A-Za-z0-9][A-Za-z0-9_.-]*`)")
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")


def plain_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL made only of URL characters (safe in ``<...>``)."""
    if not _URL_CHARS.match(url):
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _escape_inline(text: str) -> str:
    out = []
    for i, part in enumerate(_MD_SAFE_CODE.split(text)):
        if i % 2:  # a plain identifier in backticks
            out.append(part)
            continue
        part = _MD_INLINE.sub(lambda m: "\\" + m.group(0), part)
        part = _MD_ENTITY.sub(r"\\&", part)
        part = _MD_SCHEME.sub(r"\1\\:", part)
        out.append(_MD_DOMAIN_DOT.sub(r"\\.", part))
    return "".join(out)


def _pieces(text: str, links: Collection[str]) -> Iterator[tuple[str, bool]]:
    """Split ``text`` around occurrences of the known links (longest first)."""
    # a launch passes every tracking link (7 x 12 = 84) to every cell: look for a link only
    # in text that can hold one (every plain URL has "://"), and check a URL only if found
    known = sorted((u for u in links if u and u in text and plain_url(u)), key=len,
                   reverse=True) if "://" in text else []
    if not known:
        yield text, False
        return
    pattern = re.compile("|".join(map(re.escape, known)))
    pos = 0
    for match in pattern.finditer(text):
        if match.start() > pos:
            yield text[pos:match.start()], False
        yield match.group(0), True
        pos = match.end()
    if pos < len(text):
        yield text[pos:], False


def md_text(value: object, links: Collection[str] = ()) -> str:
    """Inline Markdown that shows ``value`` as typed and can do nothing else.

    No raw HTML, no links, images, autolinks or @mentions, no emphasis or code spans, no
    block started at the beginning of a line; CR and LF become spaces and ``|`` is escaped,
    so the result is also safe inside a table cell. URLs listed in ``links`` (ones this
    package generated, such as tracking links) stay links, written as ``<url>``.

    A string with a ``frozenset`` of links (what the renderer passes) is escaped once per
    render: a 7 x 12 launch's files show each draft and link in several tables.
    """
    if type(value) is str and type(links) is frozenset:
        return _md_text_cached(value, links)
    return _md_text(value, links)


@functools.lru_cache(maxsize=8192)
def _md_text_cached(value: str, links: frozenset[str]) -> str:
    return _md_text(value, links)


def _md_text(value: object, links: Collection[str]) -> str:
    text = one_line(value)
    out = "".join(f"<{piece}>" if is_link else _escape_inline(piece)
                  for piece, is_link in _pieces(text, links))
    out = _MD_BLOCK_LEAD.sub(lambda m: "\\" + m.group(0), out, count=1)
    return _MD_ORDERED_LEAD.sub(r"\1\\\2", out, count=1)


_MD_LIST_MARKER = re.compile(r"^([-*+] |\d{1,9}[.)] )")


def md_block(value: object, links: Collection[str] = (),
             headings: Collection[str] = ()) -> str:
    """Multi-line Markdown from drafted text (for example the partner kit body).

    Each line is escaped like :func:`md_text`, keeping only a bullet or numbered-list
    marker at its start, and a ``## `` heading only when its title is one of ``headings``
    (a drafted line may start with a name a person typed, such as ``# Big news``). The
    document keeps its outline while anything typed inside it stays text.
    """
    lines = []
    for raw in strip_unsafe("" if value is None else str(value), keep_newlines=True).split("\n"):
        line = raw.replace("\t", " ").strip()
        title = line[3:] if line.startswith("## ") else None
        if title is not None and title in headings:
            lines.append("## " + md_text(title))
            continue
        marker = _MD_LIST_MARKER.match(line)
        lead = marker.group(1) if marker else ""
        lines.append(lead + md_text(line[len(lead):], links))
    return "\n".join(lines)


_CODE_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@+-]*$")


def md_code(value: object) -> str:
    """An inline code span for ids and paths; anything unusual is escaped text instead."""
    text = one_line(value)
    return f"`{text}`" if _CODE_SAFE.match(text) else md_text(text)


def md_fence(value: object, info: str = "text") -> str:
    """A fenced code block holding ``value`` verbatim (minus unsafe characters).

    The fence is one backtick longer than the longest backtick run inside, so nothing in
    the text can close it early (CommonMark section 4.5).
    """
    text = strip_unsafe("" if value is None else str(value), keep_newlines=True)
    runs = [len(m.group(0)) for m in re.finditer(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"

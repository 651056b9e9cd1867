"""The escapers of ``launch/text.py``: one control-character policy, one escaper per place."""

from __future__ import annotations

import json

import pytest

from hostile import scan_markdown, scan_terminal
from referral_orchestrator.launch import text


@pytest.mark.parametrize(("value", "cell"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-2", "'-2"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "' =1"), (" =1", "' =1"), ("  @x", "'  @x"),
    ("\r=1", "' =1"), ("2026-12-10", "2026-12-10"), ("qa-e2e", "qa-e2e"), ("", ""),
    ("Dana Reyes", "Dana Reyes"), ("a\x1b[31mb", "a[31mb"),
])
def test_csv_cells_that_would_run_as_formulas_get_a_leading_quote(value: str,
                                                                  cell: str) -> None:
    assert text.csv_cell(value) == cell


@pytest.mark.parametrize("value", [
    "<img src=x onerror=alert(1)>", "[click](https://evil.example)", "<https://evil.example>",
    "see https://evil.example/x", "www.evil.com", "boss@evil.com", "@everyone",
    "![x](https://evil.example/x.png)", "`code span`", "a | b", "# heading", "1. item", "- item",
    "&lt;b&gt;", "line\r\nbreak", "**bold** _it_ ~~del~~", "> quote", "=== ",
])
def test_markdown_text_shows_the_value_and_can_do_nothing_else(value: str) -> None:
    escaped = text.md_text(value)
    assert "\n" not in escaped and "\r" not in escaped
    doc = f"| a | b |\n|---|---|\n| {escaped} | x |\n\n{escaped}\n\n- {escaped}\n"
    assert scan_markdown(doc, "doc") == []
    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(escaped)
    assert "<a " not in rendered and "<img" not in rendered and "<code>" not in rendered
    assert "<h1>" not in rendered and "<ol" not in rendered and "<ul>" not in rendered


def test_a_plain_identifier_in_backticks_stays_code() -> None:
    assert text.md_text("flag `referral-on` and `a b`") == "flag `referral-on` and \\`a b\\`"


def test_markdown_text_keeps_known_links_and_only_those() -> None:
    ours = "https://www.example.com/refer/x?utm_source=referral&ref=REFERRAL_CODE"
    escaped = text.md_text(f"join at {ours} or https://evil.example", links={ours})
    assert f"<{ours}>" in escaped and "https\\://evil" in escaped


def test_a_fence_is_longer_than_any_backtick_run_inside() -> None:
    body = "intro\n```\n# not a heading\n````\n<img src=x onerror=alert(1)>"
    fenced = text.md_fence(body)
    assert fenced.startswith("`````text\n") and fenced.endswith("\n`````")
    assert scan_markdown(fenced, "fence") == []


def test_a_markdown_block_keeps_its_outline_and_escapes_the_rest() -> None:
    block = "## Rules\n\n1. Join <img src=x onerror=alert(1)>\n- see [x](https://evil.example)"
    escaped = text.md_block(block, headings={"Rules"})
    assert escaped.splitlines()[0] == "## Rules"
    assert text.md_block("# HEADING rewards partners", headings={"Rules"}).startswith("\\#")
    assert escaped.splitlines()[2].startswith("1. ") and escaped.splitlines()[3][:2] == "- "
    assert scan_markdown(escaped, "block") == []


def test_ics_text_escapes_separators_and_newlines_and_drops_controls() -> None:
    assert text.ics_text("a;b,c\\d\r\ne\x1bf") == "a\\;b\\,c\\\\d\\nef"


def test_one_line_drops_escape_sequences_bidi_and_line_breaks() -> None:
    assert text.one_line("a\x1b]8;;https://x\x1b\\b\u202ec\r\nd\x9be") == "a]8;;https://x\\bc de"
    printed = text.one_line("ok\x1b[2J\u202e\x00\x9b\nstatus: completed")
    assert scan_terminal(printed, "line") == [] and "\n" not in printed


def test_json_for_the_terminal_escapes_c1_and_bidi_but_keeps_the_data() -> None:
    data = {"note": "a\u202eb\x9bc 山田 👨‍👩‍👧"}
    dumped = text.json_text(json.dumps(data, ensure_ascii=False))
    assert scan_terminal(dumped, "json") == []
    assert json.loads(dumped) == data and "山田" in dumped




def test_a_no_break_space_survives_while_line_breaks_become_spaces() -> None:
    assert text.md_text("20\u00a0€") == "20\u00a0€"
    assert text.one_line("a\u2028b\x85c\vd\r\ne") == "a b c d e"


def _strip_unsafe_per_character(value: str, keep_newlines: bool) -> str:
    """The definition strip_unsafe's ASCII fast path must match, character by character."""
    value = text._LINE_BREAKS.sub("\n", value)
    keep = "\n\t" if keep_newlines else ""
    return "".join(ch if ch in keep else " " if ch in "\n\t" else ch
                   for ch in value if ch in "\n\t" or not text.is_unsafe(ch))


@pytest.mark.parametrize("keep_newlines", [False, True])
def test_strip_unsafe_ascii_fast_path_matches_the_per_character_definition(
        keep_newlines: bool) -> None:
    samples = ["".join(chr(c) for c in range(128)), "a\r\nb\rc\vd\fe\x1cf\tg\x7fh\x00",
               "plain text", ""] + [chr(c) * 3 + "x" + chr(c) for c in range(128)]
    for sample in samples:
        assert text.strip_unsafe(sample, keep_newlines=keep_newlines) == (
            _strip_unsafe_per_character(sample, keep_newlines))


def test_md_text_checks_only_links_that_appear_in_the_text(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a launch hands every cell all its tracking links (84 at 7 x 12): checking each one
    # with urlsplit for every cell was most of a large launch's rendering time
    links = frozenset(f"https://example.com/r?utm_source=s{i}" for i in range(84))
    checked: list[str] = []
    real = text.plain_url

    def counting(url: str) -> bool:
        checked.append(url)
        return real(url)

    monkeypatch.setattr(text, "plain_url", counting)
    assert text.md_text("No link *here*", links) == "No link \\*here\\*"
    assert checked == []
    one = "https://example.com/r?utm_source=s7"
    assert text.md_text(f"Go to {one} now", links) == f"Go to <{one}> now"
    assert checked == [one]

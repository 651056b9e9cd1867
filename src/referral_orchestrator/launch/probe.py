"""Optional HTTP probe of the real referral landing page (``--landing-url``).

Tooling QA calls :func:`probe_checks` when the user gave a landing URL. It requests the
page with a sample referral code and UTM parameters, follows redirects, and reports four
checks: ``probe.reachable`` (2xx after redirects), ``probe.form`` (a form with a referral
or email field), ``probe.snippet`` (a tracking snippet that reads ``ref``/``utm_*``) and
``links.probe_params`` (the referral code and UTMs survive the redirects - it counts
toward tracking accuracy). Standard library only; one GET, a short timeout.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

PROBE_PARAMS = {"utm_source": "referral", "utm_medium": "qa_probe",
                "utm_campaign": "referral-orchestrator-qa", "ref": "QAPROBE01"}
TRACKING_MARKERS = ("utm_", "URLSearchParams", "gtag(", "dataLayer", "analytics.js",
                    "segment.com", "referral")
TIMEOUT_SECONDS = 5.0
MAX_BYTES = 2_000_000


def _check(check_id: str, passed: bool, detail: str, target: str) -> dict[str, Any]:
    return {"id": check_id, "passed": passed, "detail": detail, "target": target}


def probe_url(landing_url: str) -> str:
    """The landing URL with the probe's referral code and UTM parameters added."""
    parts = urlsplit(landing_url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in PROBE_PARAMS]
    return urlunsplit(parts._replace(query=urlencode([*query, *PROBE_PARAMS.items()])))


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms = 0
        self.fields: set[str] = set()
        self.script_text: list[str] = []
        self.script_src: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms += 1
        elif tag in ("input", "select", "textarea"):
            self.fields.add(values.get("name", "").lower())
        elif tag == "script":
            self._in_script = True
            self.script_src.append(values.get("src", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text.append(data)


def fetch(url: str, timeout: float = TIMEOUT_SECONDS) -> tuple[int, str, str]:
    """GET ``url`` following redirects: (status, final URL, body text)."""
    request = urllib.request.Request(url, headers={
        "User-Agent": "referral-orchestrator-qa/1.0", "Accept": "text/html"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = resp.read(MAX_BYTES).decode(resp.headers.get_content_charset() or "utf-8",
                                               "replace")
            return resp.status, resp.geturl(), body
    except urllib.error.HTTPError as exc:
        return exc.code, exc.geturl() or url, ""


def probe_checks(landing_url: str, *, timeout: float = TIMEOUT_SECONDS) -> list[dict[str, Any]]:
    """Probe the live landing page; one result per ``probe.*`` check (see module doc)."""
    target = landing_url
    url = probe_url(landing_url)
    if urlsplit(url).scheme not in ("http", "https"):
        return [_check(cid, False, f"{landing_url!r} is not an http(s) URL", target) for cid in
                ("probe.reachable", "probe.form", "probe.snippet", "links.probe_params")]
    try:
        status, final, body = fetch(url, timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        detail = f"could not reach {landing_url}: {reason}"
        return [_check(cid, False, detail, target) for cid in
                ("probe.reachable", "probe.form", "probe.snippet", "links.probe_params")]
    ok = 200 <= status < 300
    results = [_check("probe.reachable", ok, f"HTTP {status} at {final}", target)]
    page = _Page()
    if body:
        page.feed(body)
        page.close()
    has_field = bool(page.fields & {"ref", "referral_code", "code", "email"})
    fields = ", ".join(sorted(page.fields)) or "none"
    results.append(_check("probe.form", ok and page.forms > 0 and has_field,
                          f"{page.forms} form(s), fields: {fields}" if ok
                          else f"no page to inspect (HTTP {status})", target))
    scripts = " ".join(page.script_text + page.script_src)
    snippet = ok and any(marker in scripts for marker in TRACKING_MARKERS)
    results.append(_check("probe.snippet", snippet,
                          "tracking snippet found" if snippet
                          else "no script reads the referral code or UTM parameters", target))
    kept = dict(parse_qsl(urlsplit(final).query))
    lost = [k for k, v in PROBE_PARAMS.items() if kept.get(k) != v]
    results.append(_check("links.probe_params", ok and not lost,
                          "ref and utm_* survive redirects" if not lost
                          else "lost after redirects: " + ", ".join(lost), target))
    return results

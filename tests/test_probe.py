"""The optional landing-page probe, against a real HTTP server on loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.launch.probe import probe_checks
from referral_orchestrator.launch.qa import tooling_checks
from support import FakeClock

GOOD = b"""<!DOCTYPE html><html><head><title>Refer</title></head><body>
<form method="post" action="/enroll"><input type="hidden" name="ref">
<input name="email" type="email"></form>
<script>var p = new URLSearchParams(location.search); p.get("ref");</script>
</body></html>"""
BARE = b"<!DOCTYPE html><html><head><title>Refer</title></head><body><p>Soon</p></body></html>"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = f"?{parts.query}" if parts.query else ""
        if parts.path == "/good":
            self._send(200, GOOD)
        elif parts.path == "/bare":
            self._send(200, BARE)
        elif parts.path == "/keep":
            self._redirect("/good" + query)
        elif parts.path == "/drop":
            self._redirect("/good")
        else:
            self._send(404, b"not found")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _results(url: str) -> dict[str, bool]:
    return {r["id"]: r["passed"] for r in probe_checks(url, timeout=2)}


def test_a_live_page_with_form_and_snippet_passes_every_probe_check(server: str) -> None:
    assert _results(server + "/good") == {"probe.reachable": True, "probe.form": True,
                                          "probe.snippet": True, "links.probe_params": True}


def test_referral_and_utm_parameters_must_survive_redirects(server: str) -> None:
    assert _results(server + "/keep")["links.probe_params"] is True
    dropped = _results(server + "/drop")
    assert dropped["probe.reachable"] is True and dropped["links.probe_params"] is False


def test_a_page_without_form_or_tracking_snippet_fails_those_checks(server: str) -> None:
    bare = _results(server + "/bare")
    assert bare["probe.reachable"] and not bare["probe.form"] and not bare["probe.snippet"]


def test_a_missing_or_unreachable_page_fails_reachability(server: str) -> None:
    assert _results(server + "/missing")["probe.reachable"] is False
    port = int(server.rsplit(":", 1)[1])
    closed = f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/x"
    assert not any(_results(closed).values())
    assert not any(_results("file:///etc/passwd").values())


def test_tooling_qa_probes_only_when_asked(server: str) -> None:
    tooling = {"tracking_links": [], "reward_fulfillment": "x", "fraud_rules": ["x"],
               "forms": ["consent"]}
    req = {"channels": [], "audience": [], "approvers": [], "as_of": "2026-11-25"}
    state = {"request": req, "landing_url": server + "/good"}
    assert not any(c["id"].startswith("probe.") for c in tooling_checks(state, tooling))
    probed = tooling_checks({**state, "probe_landing": True}, tooling)
    assert {c["id"] for c in probed} >= {"probe.reachable", "probe.form", "probe.snippet",
                                         "links.probe_params"}


def test_launch_with_a_landing_url_records_the_probe_in_the_plan(server: str,
                                                                 workdir: Path) -> None:
    result = Orchestrator(workdir / "plans", clock=FakeClock()).launch(
        "Customer Advocates", "2026-12-10", "email", as_of="2026-11-25",
        landing_url=server + "/keep")
    assert result.status == "completed"
    checks = result.plan["qa"]["tooling-qa"]["checks"]
    assert {c["id"] for c in checks if c["passed"]} >= {"probe.reachable", "links.probe_params"}


def test_a_broken_landing_page_is_a_recorded_qa_failure_that_escalates(
    server: str, workdir: Path,
) -> None:
    result = Orchestrator(workdir / "plans", clock=FakeClock()).launch(
        "Customer Advocates", "2026-12-10", "email", as_of="2026-11-25",
        landing_url=server + "/drop")
    assert result.status == "awaiting_decision"
    qa = result.plan["qa"]["tooling-qa"]
    assert qa["passed"] is False
    assert {c["id"] for c in qa["checks"] if not c["passed"]} == {"links.probe_params"}
    assert result.plan["escalation_log"][0]["trigger"] == "retries_exhausted"
    assert "links.probe_params" in result.plan["escalation_log"][0]["reason"]
    assert result.plan["success_metrics"]["tracking_accuracy"] < 1

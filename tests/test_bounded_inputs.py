"""Bounded inputs: every size, number, date, URL and roster entry is checked before anything
is written, so a careless or hostile value is one line on stderr and exit code 2."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from referral_orchestrator import InvalidRequest, Orchestrator
from referral_orchestrator.engine import roster as roster_module
from referral_orchestrator.engine.roster import load_roster
from referral_orchestrator.launch.content import AgentSpec, load_agents
from referral_orchestrator.surfaces.cli import main
from support import SEED

# A classic "billion laughs" for YAML: nine levels of nine aliases (341 bytes).
ALIAS_BOMB = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [f"{n}: &{n} [{','.join('*' + p for p in [prev] * 9)}]"
       for prev, n in zip("abcdefgh", "bcdefghi", strict=True)]) + "\n"


def _refused(argv: list[str], workdir: Path, capsys: pytest.CaptureFixture[str],
             *, keep: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """The command exits 2 with one line on stderr and writes no plan and no artifacts."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    assert not (workdir / ".claude").exists()
    assert not (workdir / "launches").exists()
    assert {p.name for p in workdir.iterdir()} <= keep


@pytest.mark.parametrize("flags", [
    ["--max-concurrency", "0"], ["--max-concurrency", "-3"],
    ["--max-cost-usd", "nan"], ["--max-cost-usd", "inf"], ["--max-cost-usd", "-1"],
    ["--max-cost-usd", "-inf"],
    ["--landing-url", "javascript:alert(1)"], ["--landing-url", "file:///etc/passwd"],
    ["--landing-url", "ftp://example.com/refer"], ["--landing-url", "example.com/refer"],
    ["--landing-url", "https://"], ["--landing-url", "https://example.com/a b"],
    ["--landing-url", "https://example.com/<script>"],
    ["--approvers", ",,,"], ["--approvers", ""], ["--segments", ",,"], ["--segments", " "],
    ["--launch-date", "9999-12-31", "--as-of", "9999-12-01"],
    ["--launch-date", "9999-12-31"],
    ["--as-of", "0001-01-01"],
], ids=lambda f: " ".join(f))
def test_out_of_range_launch_options_exit_2_and_write_nothing(
    flags: list[str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*SEED, *flags]
    if "--as-of" in flags:  # the flag replaces the seed's planning date
        at = argv.index("--as-of")
        del argv[at:at + 2]
    _refused(argv, workdir, capsys)


def test_an_http_landing_url_is_still_accepted(workdir: Path, orch: Orchestrator) -> None:
    from referral_orchestrator.launch.checks import check_landing_url

    assert check_landing_url("https://www.example.com/refer?x=1") == (
        "https://www.example.com/refer?x=1")
    assert check_landing_url("http://127.0.0.1:8080/r") == "http://127.0.0.1:8080/r"


@pytest.mark.parametrize(("kwargs"), [{"max_concurrency": 0}, {"max_cost_usd": float("nan")},
                                      {"max_cost_usd": -5.0}])
def test_the_python_api_refuses_the_same_limits(kwargs: dict, workdir: Path) -> None:
    with pytest.raises(InvalidRequest):
        Orchestrator(workdir / "plans", **kwargs)
    assert not (workdir / "plans").exists()


# -- the roster file -------------------------------------------------------------------


def _roster_refused(workdir: Path, capsys: pytest.CaptureFixture[str], path: str) -> None:
    _refused([*SEED, "--roster", path], workdir, capsys,
             keep={p.name for p in workdir.iterdir()})


def test_a_yaml_alias_bomb_roster_fails_fast_with_exit_2(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert len(ALIAS_BOMB.encode()) <= 400
    (workdir / "bomb.yaml").write_text(ALIAS_BOMB)
    _roster_refused(workdir, capsys, "bomb.yaml")


def test_a_roster_using_one_anchor_is_refused(workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "r.yaml").write_text("people:\n  lifecycle-ops: &who Dana\n  Legal counsel: *who\n")
    _roster_refused(workdir, capsys, "r.yaml")


def test_a_roster_over_one_megabyte_is_refused(workdir: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    line = "  Role {}: " + "x" * 60 + "\n"
    with (workdir / "big.yaml").open("w") as fh:
        fh.write("people:\n")
        for i in range(20_000):
            fh.write(line.format(i))
    assert (workdir / "big.yaml").stat().st_size > 1_000_000
    _roster_refused(workdir, capsys, "big.yaml")


@pytest.mark.parametrize("content", [
    b"people:\n  lifecycle-ops: \xff\xfe Dana\n",  # not UTF-8
    b"people: " + b"[" * 5000 + b"]" * 5000 + b"\n",  # nested too deep
    b"unavailable:\n  lifecycle-ops: " + b"x" * 5000 + b"\n",  # a reason far too long
    b"people:\n  Legal counsel: " + b"y" * 500 + b"\n",  # a name far too long
    b"people:\n  Legal counsel: \"Sam \\e[31mOrtiz\"\n",  # an escape sequence
    b"unavailable:\n  lifecycle-ops: \"on leave \\u202e\"\n",  # a bidi override
    b"people:\n  lifecycle-ops: [Dana]\n",  # not a string
    b"- just\n- a list\n",
], ids=["not-utf8", "deep", "long-reason", "long-name", "escape", "bidi", "list", "top-list"])
def test_a_malformed_roster_is_exit_2(content: bytes, workdir: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "r.yaml").write_bytes(content)
    _roster_refused(workdir, capsys, "r.yaml")


def test_a_directory_as_roster_is_exit_2(workdir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "roster.d").mkdir()
    _roster_refused(workdir, capsys, "roster.d")


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_dev_zero_as_roster_is_exit_2_without_reading_it(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _roster_refused(workdir, capsys, "/dev/zero")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs")
@pytest.mark.timeout(30)
def test_a_fifo_as_roster_is_exit_2_without_waiting_for_a_writer(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.mkfifo(workdir / "roster.fifo")
    _roster_refused(workdir, capsys, "roster.fifo")


def test_a_roster_cannot_name_the_exec_sponsor_as_a_fallback_for_agent_work(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "r.yaml").write_text(yaml.safe_dump(
        {"unavailable": {"lifecycle-ops": "leave"},
         "fallbacks": {"lifecycle-ops": ["exec-sponsor"]}}))
    _roster_refused(workdir, capsys, "r.yaml")


def test_agent_front_matter_cannot_name_a_person_as_a_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agents = dict(load_agents())
    lead = agents["lifecycle-ops"]
    agents["lifecycle-ops"] = AgentSpec(**{**lead.__dict__, "fallbacks": ("exec-sponsor",)})
    monkeypatch.setattr(roster_module, "load_agents", lambda: agents)
    roster_module._roster_for.cache_clear()
    try:
        with pytest.raises(InvalidRequest) as err:
            load_roster()
        assert err.value.code == "person_fallback"
    finally:
        roster_module._roster_for.cache_clear()


def test_a_roster_at_the_limits_is_accepted(workdir: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "r.yaml").write_text(yaml.safe_dump(
        {"unavailable": {"partner-manager": "r" * 200},
         "people": {"Legal counsel": "Сэм Ортис 山田", "lifecycle-ops": "n" * 80}},
        allow_unicode=True))
    assert main([*SEED, "--roster", "r.yaml", "--format", "json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["status"] == "completed"


@pytest.mark.parametrize("flag", ["--note", "--by"])
def test_an_approval_note_or_name_past_its_cap_is_exit_2_and_changes_nothing(
    flag: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SEED, "--approvers", "legal", "--format", "json", "-q"]) == 0
    data = json.loads(capsys.readouterr().out)
    before = Path(data["plan_path"]).read_bytes()
    assert main(["approve", data["plan_id"], "--approver", "legal", flag, "z" * 2001]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert Path(data["plan_path"]).read_bytes() == before

"""What keeps persistence, plan ids and read commands cheap, without weakening a guarantee.

- a plan is written once per super-step (the fan-out's drafts together), and every record
  of a step is in the plan on disk before the next step's agents run;
- the plan file is the C encoder's compact JSON in the document's own key order (it parses
  to the same document, orders included), one transition per line; its digest is the
  canonical one;
- each write encodes (and hash-checks) only what changed since the plan's previous write,
  and the bytes and digest are exactly the full encoding's, also after a resume;
- an id is claimed (``O_EXCL``) before its plan is built, so taken ids cost no plan builds,
  and a claim left by a killed creator neither breaks ``status`` nor later launches;
- ``validate`` and ``status`` of one plan import no LangGraph, langchain-core, pydantic,
  jsonschema, YAML or Jinja;
- several artifacts are written atomically with one folder fsync, leaving no temp file
  when one of them fails.
"""

from __future__ import annotations

import datetime as dt
import errno
import itertools
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import PlanInvalid, PlanTampered
from referral_orchestrator.orchestrator import turn as orch_module
from referral_orchestrator.plan import atomic
from referral_orchestrator.plan import chain as chain_module
from referral_orchestrator.plan.chain import Encoded, encode_plan, seal, sha256, verify
from referral_orchestrator.plan.store import CLAIM_SUFFIX, FileStore
from referral_orchestrator.runners.base import AgentCall, AgentResult
from referral_orchestrator.surfaces.cli import main
from referral_orchestrator.testing import ScriptedRunner

SEED: dict[str, Any] = dict(program="Customer Advocates", launch_date="2026-12-10",
                            channels="email,in-app,sms", segments="power users,new customers",
                            as_of="2026-11-25")
HEAVY = ("langgraph", "langchain_core", "pydantic", "jsonschema", "yaml", "jinja2",
         "anthropic", "asyncio", "sqlite3")


class _Watching(ScriptedRunner):
    """Reads the plan on disk at every model call: what had been persisted by then."""

    def __init__(self, plans: Path) -> None:
        super().__init__()
        self.plans = plans
        self.seen: list[tuple[str, Counter[str]]] = []

    def run(self, call: AgentCall) -> AgentResult:
        (path,) = self.plans.glob("plan-*.json")
        plan = json.loads(path.read_text())
        self.seen.append((call.stage, Counter(t["node"] for t in plan["transitions"])))
        return super().run(call)


@pytest.fixture
def writes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of transitions of every plan written through ``FileStore.write``."""
    counts: list[int] = []
    real_write = FileStore.write

    def write(self: FileStore, path: Path, plan: dict[str, Any]) -> None:
        counts.append(len(plan["transitions"]))
        real_write(self, path, plan)

    monkeypatch.setattr(FileStore, "write", write)
    return counts


def test_a_plan_is_written_once_per_step_and_before_the_next_step_runs(
        tmp_path: Path, writes: list[int]) -> None:
    runner = _Watching(tmp_path / "plans")
    result = Orchestrator(tmp_path / "plans", model=runner).launch(**SEED,
                                                                   out_dir=tmp_path / "out")
    assert result.status == "completed"
    drafts = sum(t["node"] == "communications" for t in result.plan["transitions"])
    assert drafts == 8  # 3 channels x 2 segments, the partner kit and the landing page
    # one write per step and one at the end - not one per transition
    assert len(writes) < len(result.plan["transitions"]) - drafts + 3
    # the drafts of the fan-out arrive in one write
    assert any(b - a >= drafts for a, b in itertools.pairwise(writes))
    # partner ops runs after the fan-out: every draft was on disk before its call
    ops = [seen for stage, seen in runner.seen if stage == "partner-workflows"]
    assert ops and ops[0]["communications"] == drafts
    verify(json.loads(result.plan_path.read_text()))


def test_a_long_step_also_writes_as_its_branches_finish(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writes: list[int]) -> None:
    monkeypatch.setattr(orch_module, "STEP_WRITE_INTERVAL", 0.0)  # every step is "long"
    result = Orchestrator(tmp_path / "plans").launch(**SEED, out_dir=tmp_path / "out")
    assert result.status == "completed"
    assert len(writes) >= len(result.plan["transitions"])  # one per record, as before


def test_the_plan_file_is_compact_in_its_own_key_order_one_transition_per_line(
        tmp_path: Path) -> None:
    result = Orchestrator(tmp_path / "plans").launch(**SEED, out_dir=tmp_path / "out")
    raw = result.plan_path.read_bytes()
    plan = json.loads(raw)
    assert plan == result.plan
    data, digest = encode_plan(plan)
    assert data == raw
    assert digest == sha256({k: v for k, v in plan.items() if k != "integrity"})
    assert digest == plan["integrity"]["body_sha256"]
    lines = raw.decode().splitlines()
    for rec in plan["transitions"]:
        assert json.dumps(rec, separators=(",", ":"),
                          ensure_ascii=False) in {line.rstrip(",") for line in lines}
    assert lines[1].startswith('"schema_version":')  # the document's own field order
    assert list(json.loads(raw)["state"]["control"]) == list(result.plan["state"]["control"])


def test_encode_plan_digest_matches_the_canonical_hash_for_any_keys() -> None:
    plan = {"zeta": [{"b": 1, "a": "é"}, 2], "Alpha": {}, "ä": "ü", "empty": [],
            "integrity": {"x": 1}, "n": None}
    data, digest = encode_plan(plan)
    assert json.loads(data) == plan
    assert digest == sha256({k: v for k, v in plan.items() if k != "integrity"})


def _full_encoding(plan: dict[str, Any]) -> tuple[bytes, str]:
    """The plan file as defined: every field encoded from scratch, the body hashed whole."""
    def compact(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    lines = [compact(k) + ":[\n" + ",\n".join(compact(v) for v in value) + "\n]"
             if isinstance(value, list) and value else f"{compact(k)}:{compact(value)}"
             for k, value in plan.items()]
    return (("{\n" + ",\n".join(lines) + "\n}\n").encode(),
            sha256({k: v for k, v in plan.items() if k != "integrity"}))


def test_every_incremental_write_is_the_full_encoding_byte_for_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[int] = []
    real = FileStore.write

    def write(self: FileStore, path: Path, plan: dict[str, Any]) -> None:
        real(self, path, plan)
        data, digest = _full_encoding(plan)
        assert path.read_bytes() == data
        assert plan["integrity"]["body_sha256"] == digest
        checked.append(len(plan["transitions"]))

    monkeypatch.setattr(FileStore, "write", write)
    orch = Orchestrator(tmp_path / "plans")
    paused = orch.launch(**SEED, approvers="legal", out_dir=tmp_path / "out")
    assert paused.status == "awaiting_approval"
    chain_module._memo.clear()  # a new process: the resume starts from the file alone
    chain_module._verified.clear()
    done = orch.approve(paused.plan_id, "legal")
    assert done.status == "completed"
    assert len(checked) >= 4 and checked[-1] > checked[0]
    assert done.plan_path.read_bytes() == _full_encoding(done.plan)[0]


def test_a_value_equal_but_not_identical_is_encoded_again() -> None:
    base = {"plan_id": "plan-test-memo", "a": {"x": 1, "y": [1, 2]}, "b": [{"k": 1}],
            "integrity": {}}
    for changed in ({"a": {"x": 1.0, "y": [1, 2]}}, {"a": {"x": True, "y": [1, 2]}},
                    {"a": {"y": [1, 2], "x": 1}}, {"b": [{"k": 1.0}]}, {"b": [{"k": 1}, 2]}):
        Encoded(base).remember(checked=True)
        doc = {**base, **changed}
        encoded = Encoded(doc)
        assert (encoded.data, encoded.body_sha256) == _full_encoding(doc)
        assert json.loads(encoded.data) == doc


def test_reused_records_still_have_their_place_in_the_chain_checked(tmp_path: Path) -> None:
    result = Orchestrator(tmp_path / "plans").launch(**SEED, out_dir=tmp_path / "out")
    plan = json.loads(result.plan_path.read_bytes())
    FileStore._encode(plan)  # every record now known as checked
    swapped = {**plan, "transitions": [plan["transitions"][1], plan["transitions"][0],
                                       *plan["transitions"][2:]]}
    encoded = Encoded(swapped)
    assert all(encoded.checked)
    with pytest.raises(PlanTampered):
        verify(swapped, body_sha256=encoded.body_sha256, checked=encoded.checked)
    edited = dict(plan["transitions"][-1], reason="edited")
    forged = {**plan, "transitions": [*plan["transitions"][:-1], edited]}
    assert not Encoded(forged).checked[-1]  # a record never checked is hashed again
    with pytest.raises(PlanTampered):
        FileStore._encode(forged)


def test_a_sealed_plan_is_written_with_the_encoding_its_seal_made(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = Orchestrator(tmp_path / "plans").launch(**SEED, out_dir=tmp_path / "out")
    plan = json.loads(result.plan_path.read_bytes())
    plan["updated_at"] = "2026-11-25T10:00:00+00:00"
    seal(plan)
    built: list[int] = []
    real = Encoded.__init__

    def counted(self: Encoded, doc: dict[str, Any]) -> None:
        built.append(1)
        real(self, doc)

    monkeypatch.setattr(Encoded, "__init__", counted)
    assert FileStore._encode(plan) == _full_encoding(plan)[0]
    assert built == []  # encoded once, by the seal
    # a sealed plan whose integrity was changed afterwards is encoded (and checked) anew
    seal(plan)
    plan["integrity"] = {**plan["integrity"], "body_sha256": "0" * 64}
    with pytest.raises(PlanTampered):
        FileStore._encode(plan)
    assert built == [1, 1]  # the seal's, and the write's own


def _pinned() -> dt.datetime:
    return dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)


def test_a_taken_id_costs_no_plan_build(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    built: list[str] = []

    def make(plan_id: str) -> dict[str, Any]:
        built.append(plan_id)
        return _plan_for(plan_id)

    for _ in range(6):
        store.create(make, _pinned())
    # one build per plan: the k-th create skips k-1 taken ids without building for them
    assert built == ["plan-20261125-090000"] + [f"plan-20261125-090000-{n}"
                                                 for n in range(2, 7)]
    assert not list(tmp_path.glob(f"*{CLAIM_SUFFIX}"))  # claims are released


def test_a_claim_left_by_a_killed_creator_is_skipped_and_breaks_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plans = tmp_path / "plans"
    plans.mkdir()
    (plans / f".plan-20261125-090000{CLAIM_SUFFIX}").touch()  # killed before its plan
    orch = Orchestrator(plans, clock=_pinned)
    result = orch.launch(**SEED, out_dir=tmp_path / "out")
    assert result.plan_id == "plan-20261125-090000-2"
    assert [r["plan_id"] for r in orch.list_plans()] == [result.plan_id]
    assert main(["status", "--plans-dir", str(plans)]) == 0
    assert "invalid" not in capsys.readouterr().out
    assert main(["status", result.plan_id, "--plans-dir", str(plans)]) == 0
    again = orch.launch(**SEED, out_dir=tmp_path / "out-2")
    assert again.plan_id == "plan-20261125-090000-3"


def test_a_plan_written_by_another_creator_without_a_claim_is_never_replaced(
        tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    taken = store.path_of("plan-20261125-090000")
    taken.write_text("theirs")  # e.g. a creator that predates claims
    plan_id, _path = store.create(_plan_for, _pinned())
    assert plan_id == "plan-20261125-090000-2"
    assert taken.read_text() == "theirs"


_TEMPLATE: dict[str, Any] = {}


def _plan_for(plan_id: str) -> dict[str, Any]:
    """A real plan (one offline launch, made once) under another id, sealed again."""
    if not _TEMPLATE:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            done = Orchestrator(Path(tmp) / "plans").launch(**SEED, out_dir=Path(tmp) / "out")
        _TEMPLATE.update(done.plan)
    return seal({**json.loads(json.dumps(_TEMPLATE)), "plan_id": plan_id})


@pytest.mark.parametrize("command", ["validate", "status"])
def test_read_commands_import_no_heavy_module(tmp_path: Path, command: str) -> None:
    result = Orchestrator(tmp_path / "plans").launch(**SEED, out_dir=tmp_path / "out")
    code = (
        "import sys\n"
        "from referral_orchestrator.surfaces.cli import main\n"
        f"code = main([{command!r}, {str(result.plan_path)!r}, '--plans-dir', "
        f"{str(tmp_path / 'plans')!r}] if {command!r} == 'status' else "
        f"[{command!r}, {str(result.plan_path)!r}])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[1:]))\n"
        "print('HEAVY', ','.join(heavy), 'EXIT', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, *HEAVY], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=True)
    last = done.stdout.strip().splitlines()[-1]
    assert last == "HEAVY  EXIT 0", (last, done.stderr)


def test_a_launch_on_the_plans_folder_never_loads_the_postgresql_store(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from referral_orchestrator.surfaces.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "pg = sorted(m for m in sys.modules if m.startswith('referral_orchestrator.plan.pg'))\n"
        "print('PG', ','.join(pg), 'EXIT', code)\n"
    )
    args = ["launch-program", "--program", SEED["program"], "--launch-date",
            SEED["launch_date"], "--channels", SEED["channels"], "--as-of", SEED["as_of"]]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path, check=True,
                          env={k: v for k, v in os.environ.items()
                               if k != "REFERRAL_ORCHESTRATOR_STORE"})
    last = done.stdout.strip().splitlines()[-1]
    assert last == "PG  EXIT 0", (last, done.stderr)


def test_a_tampered_plan_is_still_refused_by_the_light_validate(tmp_path: Path) -> None:
    result = Orchestrator(tmp_path / "plans").launch(**SEED, out_dir=tmp_path / "out")
    plan = json.loads(result.plan_path.read_text())
    plan["transitions"][3]["agent"] = "someone else"
    result.plan_path.write_text(json.dumps(plan))
    assert main(["validate", str(result.plan_path)]) == 3
    plan = json.loads(json.dumps(result.plan))
    plan["tasks"][0]["id"] = 7  # not a string: the schema refuses it
    result.plan_path.write_text(json.dumps(plan))
    assert main(["validate", str(result.plan_path)]) == 3


def test_write_atomic_many_writes_all_and_leaves_no_temp_file_on_failure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    files = [(tmp_path / f"f{i}.md", f"new {i}".encode()) for i in range(20)]
    files.append((tmp_path / "sub" / "g.md", b"new g"))
    atomic.write_atomic_many(files)
    assert all(p.read_bytes() == data for p, data in files)

    for p, _ in files:
        p.write_bytes(b"old")
    real_write = os.write

    def failing(fd: int, data: Any) -> int:
        if bytes(data) == b"new 13":
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(atomic.os, "write", failing)
    with pytest.raises(OSError):
        atomic.write_atomic_many(files)
    monkeypatch.undo()
    assert all(p.read_bytes() == b"old" for p, _ in files)  # nothing renamed: all old
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(atomic.TEMP_SUFFIX)]


def test_a_temp_manifest_left_by_a_killed_writer_is_swept_on_the_next_publish(
        tmp_path: Path) -> None:
    from referral_orchestrator.artifacts.manifest import MANIFEST, claim, publish

    out, plan = tmp_path / "out", tmp_path / "plan-20261125-090000.json"
    claim(out, "plan-20261125-090000", plan)
    left = out / atomic.temp_name(MANIFEST, "0badf00d")
    left.write_text("{")  # killed between writing the new manifest and renaming it
    publish(out, "plan-20261125-090000", plan, {"runbook.md": b"# runbook\n"})
    assert not left.exists()
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST, "runbook.md"]


def test_a_write_still_refuses_a_changed_field_or_a_missing_one_the_schema_rejects(
        tmp_path: Path) -> None:
    result = Orchestrator(tmp_path / "plans").launch(**SEED, out_dir=tmp_path / "out")
    plan = json.loads(result.plan_path.read_bytes())
    FileStore._encode(plan)  # every field now known as valid
    assert Encoded(plan).valid >= set(plan) - {"integrity"}
    for broken in ({**plan, "status": "bogus"},
                   {k: v for k, v in plan.items() if k != "usage"},
                   {**plan, "tasks": [*plan["tasks"], {"id": 1}]}):
        with pytest.raises(PlanInvalid):
            FileStore._encode(seal(broken))


def test_markdown_escaping_is_the_same_cached_or_not() -> None:
    from referral_orchestrator.launch import text

    links = frozenset({"https://example.com/r?c=1"})
    for value in ("# Join *now* https://example.com/r?c=1 | 1. go", "1) x", "plain"):
        assert text.md_text(value, links) == text.md_text(value, set(links))
        assert text.md_text(value, links) == text._md_text(value, links)


def test_plans_sealed_and_never_written_are_not_kept_without_bound() -> None:
    base = {"plan_id": "", "schema_version": "1.0", "transitions": []}
    for n in range(3 * chain_module._MEMO_PLANS):
        seal({**base, "plan_id": f"plan-export-{n}"})  # a server exporting many threads
    assert len(chain_module._sealed) <= chain_module._MEMO_PLANS


def _mutations(plan: dict[str, Any]) -> list[tuple[str, Any]]:
    """(what, how) pairs: edits deep inside the fields that change at every write."""
    draft = next(k for k in plan["state"]["outputs"]["comms"] if ":" in k)
    return [
        ("a draft's asset loses its body", lambda p: p["state"]["outputs"]["comms"][draft][
            "assets"][0].pop("body")),
        ("a draft is not an object", lambda p: p["state"]["outputs"]["comms"].__setitem__(
            draft, "text")),
        ("an unknown key in state", lambda p: p["state"].__setitem__("extra", 1)),
        ("settled holds a zero", lambda p: p["state"]["settled"].append(0)),
        ("a task without its owner", lambda p: p["tasks"][-1].pop("owner")),
        ("a transition's seq is text", lambda p: p["transitions"][-1].__setitem__(
            "seq", "92")),
        ("the usage loses its total", lambda p: p["usage"].pop("total")),
        ("a new, valid task note", lambda p: p["tasks"][0].__setitem__("status", "done")),
        ("nothing", lambda p: None),
    ]


@pytest.mark.parametrize("n", range(9))
def test_part_by_part_schema_checks_agree_with_the_whole_schema(tmp_path: Path, n: int) -> None:
    from referral_orchestrator.launch.schema import fast_validator

    result = Orchestrator(tmp_path / "plans").launch(
        **{**SEED, "channels": "email,in-app,sms,social,landing-page"},
        out_dir=tmp_path / "out")
    plan = json.loads(result.plan_path.read_bytes())
    first = Encoded(plan)
    assert chain_module._fast_valid(plan, first.valid, first.parts)
    first.remember(checked=True)  # as after a write: every field passed
    what, edit = _mutations(plan)[n]
    changed = json.loads(json.dumps(plan))
    edit(changed)
    encoded = Encoded(changed)
    assert encoded.parts or what == "nothing"
    whole = bool(fast_validator("plan").is_valid(changed))
    assert chain_module._fast_valid(changed, encoded.valid, encoded.parts) == whole, what
    assert whole == (what in ("a new, valid task note", "nothing")), what

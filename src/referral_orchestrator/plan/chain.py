"""The hash chain: canonical JSON, SHA-256, chaining records, sealing and verifying a plan.

``transitions`` is one record per node execution, each carrying ``prev_hash`` and ``hash``
(SHA-256 over the canonical record), and ``integrity.body_sha256`` covers everything else,
so an edit anywhere in the file is detected on load. With a signing key set
(``signing.KEY_ENV``), ``integrity.signature`` is an HMAC over the chain head and the body
digest, and a plan without it, or re-sealed without the key, is refused.
"""

from __future__ import annotations

import functools
import hashlib
import json
import marshal
import threading
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from referral_orchestrator.errors import BadSignature, PlanInvalid, PlanTampered, PlanUnsigned
from referral_orchestrator.launch.schema import (
    fast_field_validators,
    fast_validator,
    load_schema,
    validator,
)

from .signing import plan_signature, signature_problem, signing_key
from .validity import part_valid

GENESIS = "0" * 64
CHAIN_FIELDS = ("seq", "prev_hash", "hash")


# json.dumps with these options, without building an encoder per call
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_compact = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def canonical(data: Any) -> bytes:
    """Canonical JSON bytes (sorted keys, no spaces) used for every hash."""
    return _canonical(data).encode()


def sha256(data: Any) -> str:
    """SHA-256 hex of the canonical JSON of ``data``."""
    return hashlib.sha256(canonical(data)).hexdigest()


# A value's encodings: (fingerprint, compact, canonical, parts). A non-empty list or dict
# near the top of the plan is encoded part by part (``parts``: a list's items in order, a
# dict's by key), so a part that did not change since the previous write is not encoded
# again; anything else is one part with its fingerprint.
_Piece = tuple[bytes | None, str, str, Any]
_SPLIT_DEPTH = 4  # a top-level field, its items, theirs and theirs are split
_SPLIT_BYTES = 2048  # a smaller value is one part (below this, parts cost more than they save)
_MEMO_PLANS = 16
_memo: dict[str, dict[str, _Piece]] = {}  # plan id -> the last encoding of each field
_verified: dict[str, frozenset[str]] = {}  # plan id -> compact records whose hash was checked
_valid: dict[str, dict[str, _Piece]] = {}  # plan id -> encodings of the fields validated
# plan id -> the plan object seal() last returned and its encoding, integrity included
_sealed: dict[str, tuple[dict[str, Any], Encoded]] = {}
_memo_lock = threading.Lock()


def _fingerprint(value: Any) -> bytes | None:
    """``marshal`` bytes of a value (~4x faster than JSON), or None if it has no such bytes.

    ``marshal`` writes every type, key order and float bit by bit, and its bytes read back
    as one structure: equal bytes are the same JSON value in the same order, so the same
    compact and canonical text. ``1``, ``1.0`` and ``True`` differ, where ``==`` would
    call them equal. Format 2 writes no back-references, so the bytes do not depend on
    which objects are shared (or on reference counts).
    """
    try:
        return marshal.dumps(value, 2)
    except ValueError:  # a subclass (an enum) or another type marshal does not write
        return None


def _piece(value: Any, prior: _Piece | None, depth: int = _SPLIT_DEPTH) -> _Piece:
    """A value's encodings: ``prior`` if the value is unchanged, else built part by part.

    A top-level list or dict is never fingerprinted whole: its fingerprint is made of its
    parts' (keys and order included), so the plan is fingerprinted about once per encoding.
    """
    top = depth == _SPLIT_DEPTH and isinstance(value, (list, dict)) and bool(value) and (
        isinstance(value, list) or all(type(k) is str for k in value))
    mark = None if top else _fingerprint(value)
    if prior is not None and mark is not None and prior[0] == mark:
        return prior
    if not top and (prior is None or mark is None or len(mark) < _SPLIT_BYTES):
        depth = 0  # new or small: one part, encoded whole
    if depth and isinstance(value, list) and value:
        old = prior[3] if prior is not None and isinstance(prior[3], list) else []
        items = [_piece(v, old[i] if i < len(old) else None, depth - 1)
                 for i, v in enumerate(value)]
        mark = mark if not top else _composite("l", None, [p[0] for p in items])
        if top and prior is not None and mark is not None and prior[0] == mark:
            return prior
        return (mark, "[" + ",".join(p[1] for p in items) + "]",
                "[" + ",".join(p[2] for p in items) + "]", items)
    if depth and isinstance(value, dict) and value and all(type(k) is str for k in value):
        was = prior[3] if prior is not None and isinstance(prior[3], dict) else {}
        parts = {k: _piece(v, was.get(k), depth - 1) for k, v in value.items()}
        mark = mark if not top else _composite("d", list(parts), [p[0] for p in parts.values()])
        if top and prior is not None and mark is not None and prior[0] == mark:
            return prior
        return (mark, "{" + ",".join(f"{_name(k)}:{p[1]}" for k, p in parts.items()) + "}",
                "{" + ",".join(f"{_name(k)}:{parts[k][2]}" for k in sorted(parts)) + "}",
                parts)
    return mark, _compact(value), _canonical(value), None


def _composite(kind: str, keys: list[str] | None, marks: list[bytes | None]) -> bytes | None:
    """A container's fingerprint from its parts' (strict too: each part's is), or None."""
    if any(m is None for m in marks):
        return None
    return marshal.dumps((kind, keys, marks), 2)


@functools.lru_cache(maxsize=4096)
def _name(key: str) -> str:
    """A key's JSON text."""
    return _compact(key)


class Encoded:
    """A plan's file bytes and body digest, and what a later write of the plan can reuse."""

    def __init__(self, plan: dict[str, Any]) -> None:
        plan_id = plan.get("plan_id")
        self.key = plan_id if isinstance(plan_id, str) else None
        with _memo_lock:
            prior = _memo.get(self.key, {}) if self.key is not None else {}
            checked = _verified.get(self.key, frozenset()) if self.key is not None else (
                frozenset())
            valid = _valid.get(self.key, {}) if self.key is not None else {}
        self.fields = {k: _piece(v, prior.get(k)) for k, v in plan.items()}
        body = ",".join(f"{_name(k)}:{self.fields[k][2]}"
                        for k in sorted(self.fields) if k != "integrity")
        self.body_sha256 = hashlib.sha256(("{" + body + "}").encode()).hexdigest()
        records = self.fields.get("transitions", (None, "", "", None))[3]
        self.records = [p[1] for p in records] if isinstance(records, list) else []
        # a record whose exact text was hash-checked in an earlier write of this plan
        self.checked = [text in checked for text in self.records]
        # a field whose exact value passed the schema in an earlier write of this plan
        self.valid = {k for k, p in self.fields.items()
                      if p[0] is not None and k in valid and valid[k][0] == p[0]}
        # the other fields, each with its encoding when it last passed (``plan.validity``)
        self.parts = {k: (p, valid.get(k)) for k, p in self.fields.items()
                      if k not in self.valid}

    @classmethod
    def of(cls, plan: dict[str, Any]) -> Encoded:
        """The encoding of ``plan``: the one :func:`seal` made if this is the plan object it
        sealed (a plan is written as it is sealed: changing it afterwards would break its
        digest), else a new one."""
        key = plan.get("plan_id")
        with _memo_lock:
            sealed = _sealed.pop(key, None) if isinstance(key, str) else None
        if sealed is not None and sealed[0] is plan and "integrity" in sealed[1].fields and (
                sealed[1].fields["integrity"][3] is None
                and _fingerprint(plan.get("integrity")) == sealed[1].fields["integrity"][0]):
            return sealed[1]
        return cls(plan)

    @functools.cached_property
    def data(self) -> bytes:
        """The file bytes (built when asked: sealing a plan needs its digest alone)."""
        lines = []
        for key, (_, text, _, items) in self.fields.items():
            name = _name(key)
            if isinstance(items, list):
                lines.append(name + ":[\n" + ",\n".join(p[1] for p in items) + "\n]")
            else:
                lines.append(f"{name}:{text}")
        return ("{\n" + ",\n".join(lines) + "\n}\n").encode()

    def remember(self, *, checked: bool) -> None:
        """Keep these encodings for the plan's next encoding; ``checked``: and the records.

        Only a record :func:`verify` has hash-checked is remembered as checked; an encoding
        is remembered either way (equal compact text, equal canonical text).
        """
        if self.key is None:
            return
        with _memo_lock:
            _memo.pop(self.key, None)
            while len(_memo) >= _MEMO_PLANS:
                oldest = next(iter(_memo))
                _memo.pop(oldest)
                _verified.pop(oldest, None)
                _sealed.pop(oldest, None)
                _valid.pop(oldest, None)
            _memo[self.key] = self.fields
            if checked:
                _verified[self.key] = frozenset(self.records)
                _valid[self.key] = dict(self.fields)


def encode_plan(plan: dict[str, Any]) -> tuple[bytes, str]:
    """The file bytes of a plan and the SHA-256 of its body (for :func:`verify`).

    Both come from the C encoder (``json.dumps`` without ``indent``): the file keeps every
    object's own key order (an approval's order is the order people were asked in), with
    one top-level field per line and one item per line for top-level lists - a transition
    is one line - so it diffs line by line and reads with ``jq``; the digest is over the
    canonical encoding, as ever. ``indent=2`` used the pure-Python encoder, ~6x slower.

    The canonical text of a list item or dict entry whose compact text is what the plan's
    previous encoding had is reused (:class:`Encoded`): the bytes are the same either way.
    """
    encoded = Encoded(plan)
    return encoded.data, encoded.body_sha256


def chain(records: list[dict[str, Any]], prior: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Append ``records`` to the already-chained ``prior``, skipping keys already present."""
    out = list(prior)
    seen = {r["key"] for r in prior}
    for rec in records:
        if rec["key"] in seen:
            continue
        seen.add(rec["key"])
        body = {k: v for k, v in rec.items() if k not in ("seq", "prev_hash", "hash")}
        body["seq"] = len(out) + 1
        body["prev_hash"] = out[-1]["hash"] if out else GENESIS
        body["hash"] = sha256(body)
        out.append(body)
    return out


def seal(plan: dict[str, Any]) -> dict[str, Any]:
    """Set ``integrity`` (chain head + body digest, signed when a key is set); returns it."""
    plan.pop("integrity", None)
    head = plan["transitions"][-1]["hash"] if plan["transitions"] else GENESIS
    body = Encoded(plan)  # the sealed plan is written with this encoding (Encoded.of)
    body.remember(checked=False)
    plan["integrity"] = {"algorithm": "sha256", "chain_head": head,
                         "body_sha256": body.body_sha256}
    key = signing_key()
    if key is not None:
        plan["integrity"]["signature"] = plan_signature(key, head, plan["integrity"][
            "body_sha256"])
    if body.key is not None:
        body.fields["integrity"] = _piece(plan["integrity"], None, 0)
        with _memo_lock:
            _sealed.pop(body.key, None)
            while len(_sealed) >= _MEMO_PLANS:  # plans sealed and never written (exports)
                _sealed.pop(next(iter(_sealed)))
            _sealed[body.key] = (plan, body)
    return plan


def verify(plan: Any, source: str = "plan", *, body_sha256: str | None = None,
           checked: Sequence[bool] = (), valid: Collection[str] = (),
           parts: Mapping[str, tuple[Any, Any]] | None = None) -> dict[str, Any]:
    """Schema-validate a plan and check its chain and digest; raise PlanInvalid/PlanTampered.

    ``body_sha256`` is the digest of the body when the caller has just computed it from
    the same document (:class:`Encoded`); it is then not computed again. ``checked[i]``
    says transition ``i`` is, byte for byte, a record whose hash an earlier check of this
    plan recomputed (:attr:`Encoded.checked`): its hash is not recomputed, but its place in
    the chain (``seq``, ``prev_hash``) is checked like every other record's. ``valid``
    names top-level fields whose exact value (:attr:`Encoded.valid`) passed the schema
    before: the required keys and every other field are checked, each on its own - and,
    with ``parts`` (:attr:`Encoded.parts`), part by part (:mod:`.validity`).
    """
    errors = [] if _fast_valid(plan, valid, parts) else sorted(
        validator("plan").iter_errors(plan), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].absolute_path) or "(root)"
        raise PlanInvalid(f"{source} fails plan.schema.json at {where}: {errors[0].message}")
    prev = GENESIS
    for i, rec in enumerate(plan["transitions"], start=1):
        known = i <= len(checked) and checked[i - 1]
        if rec["seq"] != i or rec["prev_hash"] != prev or (not known and sha256(
                {k: v for k, v in rec.items() if k != "hash"}) != rec["hash"]):
            raise PlanTampered(
                f"{source}: transition #{i} ({rec.get('node')}) breaks the hash chain: "
                "the plan was edited; restore it from version control or start a new launch"
            )
        prev = rec["hash"]
    if body_sha256 is None:
        body_sha256 = sha256({k: v for k, v in plan.items() if k != "integrity"})
    integrity = plan["integrity"]
    if integrity["chain_head"] != prev or body_sha256 != integrity["body_sha256"]:
        raise PlanTampered(
            f"{source}: body digest does not match (a field outside the transitions was edited): "
            "restore the plan from version control or start a new launch"
        )
    key = signing_key()
    problem = None if key is None else signature_problem(key, integrity)
    if problem is not None:
        error = PlanUnsigned if problem[0] == "plan_unsigned" else BadSignature
        raise error(f"{source}: {problem[1]}: restore the signed plan from version control, "
                    "or check REFERRAL_ORCHESTRATOR_SIGNING_KEY")
    return dict(plan)


def _fast_valid(plan: Any, valid: Collection[str],
                parts: Mapping[str, tuple[Any, Any]] | None = None) -> bool:
    """jsonschema-rs accepts the plan (~50x faster; a plan it rejects goes to jsonschema).

    With ``valid`` or ``parts``, field by field: the plan schema is an object with required
    keys and a subschema per property, nothing else, so that is the same check; a field in
    ``parts`` is checked part by part against what passed before (:mod:`.validity`).
    """
    fields = fast_field_validators("plan") if valid or parts else None
    if fields is None or not isinstance(plan, dict):
        fast = fast_validator("plan")
        return fast is not None and bool(fast.is_valid(plan))
    schema = load_schema("plan")
    parts = parts or {}

    def field_valid(key: str, value: Any) -> bool:
        if key in valid or key not in fields:
            return True
        if key in parts:
            return part_valid(schema["properties"][key], schema, value, *parts[key],
                              whole=fields[key])
        return bool(fields[key].is_valid(value))

    return all(k in plan for k in schema["required"]) and all(
        field_valid(k, v) for k, v in plan.items())


def checkpoint_mismatch(plan: dict[str, Any], values: dict[str, Any]) -> str | None:
    """Why a checkpoint thread is not this plan's run, or ``None`` when it is.

    The thread must carry the plan's run id; its history must open with the transitions
    the plan's state reflects (``state.settled``), each identical to the plan's record; and
    the plan's chain, re-derived from the thread's copies of its records, must end at the
    plan's own hash. A thread may be ahead of the plan (a crash between the checkpoint and
    the plan write): those records are merged on resume. It may never be behind or differ.
    """
    state = plan["state"]
    if values.get("run_id") != state["run_id"]:
        return "they belong to another run of this plan id"
    records: list[dict[str, Any]] = values.get("transitions", [])
    by_seq = {t["seq"]: t for t in plan["transitions"]}
    settled = state["settled"]
    if len(records) < len(settled):
        return "they are older than the plan"
    for seq, rec in zip(settled, records, strict=False):
        mine = by_seq.get(seq, {})
        if {k: v for k, v in mine.items() if k not in CHAIN_FIELDS} != rec:
            return f"their transition #{seq} differs from the plan's"
    theirs = {r["key"]: r for r in records}
    copies = []
    for rec in plan["transitions"]:
        copy = theirs.get(rec["key"])
        if copy is None:
            break
        copies.append(copy)
    rebuilt = chain(copies, [])
    if rebuilt and rebuilt[-1]["hash"] != plan["transitions"][len(rebuilt) - 1]["hash"]:
        return f"the plan's chain head does not match theirs at transition #{len(rebuilt)}"
    return None

"""The optional signing key: plans and checkpoints that cannot be re-sealed without it.

Without a key, a plan's integrity block (chain head + body digest) detects edits made by
hand or by a tool that does not know the format - but anyone with the project's code can
recompute it after an edit. With ``REFERRAL_ORCHESTRATOR_SIGNING_KEY`` set, every plan is
also sealed with an HMAC-SHA256 over its chain head and body digest, and every checkpoint
blob with an HMAC over its bytes; every command refuses a plan or checkpoint whose HMAC is
missing or wrong. HMAC is symmetric: whoever can verify can also sign, so the key belongs
to the people and machines that run launches, not to every reader (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from referral_orchestrator.errors import CheckpointMismatch, UsageError

KEY_ENV = "REFERRAL_ORCHESTRATOR_SIGNING_KEY"
MIN_KEY_BYTES = 16
ALGORITHM = "hmac-sha256"
_PLAN_CONTEXT = b"referral-orchestrator plan v1\n"
_BLOB_CONTEXT = b"referral-orchestrator checkpoint v1\n"
_TYPE_SUFFIX = "+hmac"


def signing_key() -> bytes | None:
    """The key from the environment, ``None`` when unset; a weak key is bad input (exit 2)."""
    text = os.environ.get(KEY_ENV, "").strip()
    if not text:
        return None
    key = text.encode("utf-8")
    if len(key) < MIN_KEY_BYTES:
        raise UsageError(
            f"{KEY_ENV} is too short ({len(key)} bytes): use at least {MIN_KEY_BYTES}, e.g. "
            "python -c \"import secrets; print(secrets.token_hex(32))\"")
    return key


def key_id(key: bytes) -> str:
    """A public name for a key (tells 'another key' from 'edited'); reveals nothing of it."""
    return hashlib.sha256(b"referral-orchestrator key id\n" + key).hexdigest()[:16]


def plan_signature(key: bytes, chain_head: str, body_sha256: str) -> dict[str, str]:
    """The ``integrity.signature`` block of a plan."""
    mac = hmac.new(key, _PLAN_CONTEXT + f"{chain_head}\n{body_sha256}".encode(), "sha256")
    return {"algorithm": ALGORITHM, "key_id": key_id(key), "value": mac.hexdigest()}


def signature_problem(key: bytes, integrity: dict[str, Any]) -> tuple[str, str] | None:
    """``(code, why)`` when a plan's signature is missing or wrong, else ``None``."""
    found = integrity.get("signature")
    if not isinstance(found, dict):
        return "plan_unsigned", "it carries no signature but a signing key is set"
    want = plan_signature(key, integrity["chain_head"], integrity["body_sha256"])
    if found.get("key_id") != want["key_id"]:
        return "bad_signature", "it was signed with another key"
    if not hmac.compare_digest(str(found.get("value", "")), want["value"]):
        return "bad_signature", "its signature does not match: it was re-sealed without the key"
    return None


class SignedSerializer:
    """A LangGraph checkpoint serializer that MACs every blob it writes and checks on read.

    A blob without a MAC, or whose MAC does not match (edited, or written with another
    key or none), raises ``CheckpointMismatch``: the run is rebuilt from its plan instead.
    """

    def __init__(self, key: bytes, inner: Any = None) -> None:
        from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

        self._key = key
        self._inner = inner or JsonPlusSerializer()

    def _mac(self, kind: str, data: bytes) -> bytes:
        return hmac.new(self._key, _BLOB_CONTEXT + kind.encode() + b"\n" + data,
                        "sha256").digest()

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize with the inner serializer, then prefix the MAC."""
        kind, data = self._inner.dumps_typed(obj)
        return kind + _TYPE_SUFFIX, self._mac(kind, data) + data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Check the MAC, then deserialize with the inner serializer."""
        kind, blob = data
        if not kind.endswith(_TYPE_SUFFIX):
            raise CheckpointMismatch(
                f"checkpoint data was written without {KEY_ENV} (or edited): rebuild the run "
                "from its plan with 'referral-orchestrator resume PLAN --from-plan'")
        kind = kind[: -len(_TYPE_SUFFIX)]
        mac, body = bytes(blob[:32]), bytes(blob[32:])
        if not hmac.compare_digest(mac, self._mac(kind, body)):
            raise CheckpointMismatch(
                "checkpoint data does not match its signature (edited, or written with "
                "another key): rebuild the run from its plan with 'referral-orchestrator "
                "resume PLAN --from-plan'")
        return self._inner.loads_typed((kind, body))

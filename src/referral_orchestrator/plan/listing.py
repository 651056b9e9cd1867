"""The plans folder's status rows, reused while each plan file is unchanged (``status``).

Listing a folder means verifying every plan (schema, hash chain, digest, signature), about
a millisecond a plan. The rows of the last listing are kept in ``.status-index.json``
beside the plans, each under its file's name with the file's size, modification time,
change time and inode; a file whose four still match is not read again. Any write to a
plan - by this project, a tool or a hand edit - sets its change time (``st_ctime``), which
nobody but root can set back, so a changed plan is always verified again. A row is kept
only once its file is :data:`SETTLED_NS` old: on a filesystem with coarse timestamps a
second write in the same tick would otherwise go unseen (git's "racy" index entries).

The index is a cache. Unreadable, malformed, written for another plan schema or another
signing key, it is ignored and written anew; a folder that cannot be written is listed
without one. With a signing key the index is sealed with it (HMAC), so an index edited by
hand - to list a tampered plan as valid - is ignored as a forged plan would be refused;
without a key anyone who can write the folder can re-seal a plan anyway (docs/security.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .atomic import write_atomic
from .chain import canonical
from .signing import key_id, signing_key

INDEX_NAME = ".status-index.json"
FORMAT = 1
SETTLED_NS = 2_000_000_000  # a file changed less than this long ago is read every time
_CONTEXT = b"referral-orchestrator status index v1\n"

Row = dict[str, Any]
_Stamp = list[int]


def _stamp(path: Path) -> _Stamp | None:
    """What changes whenever the file does: size, mtime, ctime, inode (None: no file)."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _header() -> dict[str, Any]:
    """What the rows depend on besides the files: the plan schema and the signing key."""
    from referral_orchestrator.launch.schema import content_root

    schema = (content_root() / "schemas" / "plan.schema.json").read_bytes()
    key = signing_key()
    return {"format": FORMAT, "schema": hashlib.sha256(schema).hexdigest(),
            "key_id": None if key is None else key_id(key)}


def _seal(header: dict[str, Any], entries: dict[str, Any]) -> str | None:
    key = signing_key()
    if key is None:
        return None
    return hmac.new(key, _CONTEXT + canonical([header, entries]), "sha256").hexdigest()


def _read(path: Path, header: dict[str, Any]) -> dict[str, Any]:
    """The entries of the index at ``path`` if it is sound and current, else none."""
    try:
        data = json.loads(path.read_bytes())
        entries = data["entries"]
        if data["header"] != header or not isinstance(entries, dict):
            return {}
        mac = _seal(header, entries)
        if mac is not None and not hmac.compare_digest(str(data.get("mac")), mac):
            return {}
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return {}
    return entries


def status_rows(root: Path, paths: Iterable[Path], row_of: Callable[[Path], Row]) -> list[Row]:
    """The status row of each plan file in ``paths``: ``row_of(path)`` for a file that is
    new or changed since the folder's last listing, the row kept then for the others."""
    index = root / INDEX_NAME
    header = _header()
    kept = _read(index, header)
    entries: dict[str, Any] = {}
    rows: list[Row] = []
    now = time.time_ns()
    for path in paths:
        stamp = _stamp(path)
        entry = kept.get(path.name)
        if stamp is not None and isinstance(entry, dict) and entry.get("stamp") == stamp:
            row = entry["row"]
        else:
            row = row_of(path)
        rows.append(row)
        if stamp is not None and now - max(stamp[1], stamp[2]) >= SETTLED_NS:
            entries[path.name] = {"stamp": stamp, "row": row}
    if entries != kept:
        body = {"header": header, "entries": entries, "mac": _seal(header, entries)}
        # a folder this user may read but not write is listed without an index
        with contextlib.suppress(OSError):
            write_atomic(index, json.dumps(body, separators=(",", ":")).encode())
    return rows

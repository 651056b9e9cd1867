"""Which plan owns an artifact folder, and exactly which files it wrote there.

Every artifact folder holds ``.referral-orchestrator.json``: the plan id, the plan file, and
the SHA-256 of every file the plan wrote. The manifest is how ``--out`` stays safe:

- a launch refuses a folder that holds another plan's manifest or any file of nobody;
- a render never overwrites a file that is not on its plan's manifest;
- stale-file cleanup (a descoped channel's drafts) deletes only files on the manifest, and
  only while they still hold what the plan wrote (a file someone edited is left alone).

The manifest is written before the files (listing both the old and the new names) and
again after them, so a run killed in between still owns everything it may have written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from referral_orchestrator.errors import OutFolderTaken
from referral_orchestrator.plan.atomic import sweep, write_atomic, write_atomic_many

MANIFEST = ".referral-orchestrator.json"


def digest(data: bytes) -> str:
    """SHA-256 hex of a file's bytes (what the plan records per artifact)."""
    return hashlib.sha256(data).hexdigest()


def _read(folder: Path) -> dict[str, Any] | None:
    """The folder's manifest, ``None`` when there is none; refuse one that is not ours."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError):
        data = None
    if not (isinstance(data, dict) and isinstance(data.get("plan_id"), str)
            and isinstance(data.get("files"), dict) and all(map(_inside, data["files"]))):
        raise OutFolderTaken(f"{path} cannot be read as an artifact manifest: pick another "
                             "folder, or move that file away")
    return data


def _inside(rel: object) -> bool:
    """A manifest entry names a file inside the folder (never ``..``, never absolute)."""
    if not isinstance(rel, str) or not rel or "\\" in rel:
        return False
    parts = Path(rel).parts
    return not Path(rel).is_absolute() and ".." not in parts and parts[0] != MANIFEST


def _stray(folder: Path) -> Path | None:
    """A file in ``folder`` (at any depth), if there is one."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return folder
    return next((p for p in sorted(folder.rglob("*")) if not p.is_dir()), None)


def check_free(folder: Path) -> None:
    """Refuse (exit 2) a folder a new launch cannot own: another plan's, or not empty."""
    owner = _read(folder) if folder.is_dir() else None
    if owner is not None:
        raise OutFolderTaken(
            f"{folder} holds the artifacts of plan {owner['plan_id']}: pick a new --out folder, "
            f"or continue that plan with 'referral-orchestrator resume {owner['plan_id']}'")
    stray = _stray(folder)
    if stray is not None:
        raise OutFolderTaken(
            f"{folder} is not an empty folder ({stray} is there and no plan wrote it): pick "
            "a new or empty --out folder, so nothing of yours is overwritten or deleted")


def claim(folder: Path, plan_id: str, plan_path: Path) -> None:
    """Make ``folder`` this plan's artifact folder, or refuse it (exit 2)."""
    owner = _read(folder) if folder.is_dir() else None
    if owner is not None and owner["plan_id"] == plan_id:
        return
    check_free(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:  # exclusive: of two launches racing for one folder, one wins
        write_atomic(folder / MANIFEST, _encode(plan_id, plan_path, {}), exclusive=True)
    except FileExistsError:
        check_free(folder)
        raise  # pragma: no cover - check_free raises: the winner's manifest is there


def publish(folder: Path, plan_id: str, plan_path: Path, files: dict[str, bytes],
            filled: Mapping[str, Path] | None = None) -> dict[str, str]:
    """Write ``files`` (relative path -> bytes) as this plan's; returns their digests.

    Refuses (exit 2) when the folder is another plan's, or when a file to write is there
    and not on this plan's manifest. Afterwards, files the plan wrote before and no longer
    writes are deleted if unchanged. ``filled`` maps a relative path to a temp file
    already holding exactly its bytes (``atomic.fill_temps``): it is renamed into place.
    """
    ready = {folder / rel: tmp for rel, tmp in (filled or {}).items() if rel in files}
    owner = _read(folder) if folder.is_dir() else None
    if owner is None or owner["plan_id"] != plan_id:
        claim(folder, plan_id, plan_path)
        owner = {"files": {}}
    sweep(folder, [MANIFEST])  # a killed writer's temp manifest (the folder is this plan's)
    owned: dict[str, str] = dict(owner["files"])
    clash = next((rel for rel in sorted(files) if rel not in owned
                  and (folder / rel).exists()), None)
    if clash is not None:
        raise OutFolderTaken(
            f"{folder / clash} is not plan {plan_id}'s and would be overwritten: move it "
            f"away, then run 'referral-orchestrator resume {plan_id}'")
    digests = {rel: digest(data) for rel, data in sorted(files.items())}
    write_atomic(folder / MANIFEST, _encode(plan_id, plan_path, {**owned, **digests}))
    by_folder: dict[Path, list[str]] = {}
    for rel in sorted(files):
        by_folder.setdefault((folder / rel).parent, []).append((folder / rel).name)
    for parent, names in by_folder.items():  # one listing per folder, not one per file
        parent.mkdir(parents=True, exist_ok=True)
        sweep(parent, names, keep=ready.values())  # a killed writer's temp files
    write_atomic_many(((folder / rel, data) for rel, data in sorted(files.items())),
                      filled=ready)
    for rel in sorted(set(owned) - set(files)):
        path = folder / rel
        with contextlib.suppress(OSError):
            if path.is_file() and digest(path.read_bytes()) == owned[rel]:
                path.unlink()
    write_atomic(folder / MANIFEST, _encode(plan_id, plan_path, digests))
    return digests


def changed(folder: Path, digests: dict[str, str]) -> tuple[list[str], list[str]]:
    """Files whose bytes differ from ``digests``, and files that are missing."""
    edited, missing = [], []
    for rel, want in sorted(digests.items()):
        try:
            data = (folder / rel).read_bytes()
        except FileNotFoundError:
            missing.append(rel)
            continue
        except OSError:
            edited.append(rel)
            continue
        if digest(data) != want:
            edited.append(rel)
    return edited, missing


def _encode(plan_id: str, plan_path: Path, files: dict[str, str]) -> bytes:
    doc = {"tool": "referral-orchestrator", "plan_id": plan_id,
           "plan": str(plan_path.absolute()), "files": dict(sorted(files.items()))}
    return (json.dumps(doc, indent=2) + "\n").encode()

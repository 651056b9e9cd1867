"""The ``Store`` protocol: everything the façade and the surfaces need from where plans live.

A store keeps plan documents, serialises the commands that change one (its lock), and
holds the LangGraph checkpoints of its runs. :class:`~referral_orchestrator.plan.store.
FileStore` is the one that ships (a plans folder: JSON files, lock files, a SQLite
checkpoint database); another backend implements the same methods and is passed as
``Orchestrator(store=...)``.

A plan is found by a *reference* (its id, or for a file store its path) and afterwards
addressed by the ``Path`` that :meth:`Store.resolve` returned: the file for a file store,
or a stable name for a store without files. Every method that writes validates the plan
first (schema, hash chain, digest), and every load verifies it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

PlanRef = str | os.PathLike[str]
"""A plan id (``plan-YYYYMMDD-HHMMSS[-n]``) or, for a file store, the path of its file."""


@runtime_checkable
class Store(Protocol):
    """Plans, their locks and their checkpoints (see the module docstring)."""

    @property
    def checkpoint_location(self) -> str:
        """Where this store's checkpoints are (the plan records it; errors name it)."""
        ...

    @property
    def command_options(self) -> list[str]:
        """The command-line options that select this store (next-action commands repeat them)."""
        ...

    def where(self, path: Path) -> str:
        """Where a person finds the plan at ``path`` (the summary's and the plan's ``plan``)."""
        ...

    def home_of(self, path: Path) -> Store:
        """The store that owns the plan at ``path``: its lock and its checkpoints live there."""
        ...

    def artifacts_folder(self, plan_id: str) -> Path:
        """Where a plan's artifacts go when the launch names no ``--out``."""
        ...

    def resolve(self, ref: PlanRef) -> Path:
        """A plan reference -> the plan's path, or ``PlanNotFound`` / ``PlanIdentity``."""
        ...

    def create(self, make: Callable[[str], dict[str, Any]],
               stamp: dt.datetime) -> tuple[str, Path]:
        """Claim the first free id for ``stamp`` and write ``make(plan_id)``; (id, path).

        Never replaces another plan, even when two processes create at the same second.
        """
        ...

    def load(self, ref: PlanRef, *, identity: bool = True) -> tuple[Path, dict[str, Any]]:
        """Read and verify a plan (schema, chain, digest, signature); refuse it if any fails."""
        ...

    def write(self, path: Path, plan: dict[str, Any]) -> None:
        """Validate and atomically replace a plan (a reader never sees a torn one)."""
        ...

    def lock(self, plan_id: str) -> AbstractContextManager[None]:
        """Exclusive hold on one plan for a read-modify-write; bounded wait, then ``PlanBusy``."""
        ...

    def sweep(self, plan_id: str) -> None:
        """Clear what a killed writer of this plan left behind (called under its lock)."""
        ...

    def list_plans(self) -> list[dict[str, Any]]:
        """One summary row per plan, oldest first (``status`` without a plan prints them).

        Rows hold ``plan_id``, ``status``, ``program``, ``launch_date``, ``channels``,
        ``readiness`` and ``updated_at``; a plan that fails verification is listed as
        ``{"plan_id", "status": "invalid", "error": <code>}`` instead of hiding the rest.
        """
        ...

    def find_plans(self, *, status: str | None = None, program: str | None = None,
                   since: dt.date | None = None, limit: int | None = None,
                   offset: int = 0) -> list[dict[str, Any]]:
        """:meth:`list_plans` rows filtered by status, program and last update, paginated."""
        ...

    def discard(self, path: Path) -> None:
        """Remove a plan that has just been created and has no transitions (launch failed)."""
        ...

    def identity(self, by: str | None) -> dict[str, Any]:
        """Who is deciding: ``{"name", "source", "self_asserted"}``.

        A store that authenticates its users (PostgreSQL: ``session_user``) says who;
        otherwise ``by`` or the OS user, recorded as self-asserted.
        """
        ...

    def export(self, ref: PlanRef) -> tuple[bytes, dict[str, bytes]]:
        """A verified plan's JSON bytes (as the file store writes them) and its artifacts."""
        ...

    def checkpointer(self, plan_id: str) -> AbstractContextManager[BaseCheckpointSaver[Any]]:
        """A LangGraph checkpointer holding the run of ``plan_id`` (thread id = plan id).

        Its serializer signs checkpoint blobs when a signing key is set.
        """
        ...


def self_asserted(by: str | None) -> dict[str, Any]:
    """An identity nobody checked: ``--by``, else the OS user of the process."""
    if by:
        return {"name": by, "source": "--by", "self_asserted": True}
    import getpass

    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER
        name = f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return {"name": name, "source": "os user", "self_asserted": True}


def filter_rows(rows: list[dict[str, Any]], *, status: str | None = None,
                program: str | None = None, since: dt.date | None = None,
                limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """``list_plans`` rows by status, program and last update (on or after ``since``)."""
    picked = [r for r in rows
              if (status is None or r.get("status") == status)
              and (program is None or str(r.get("program", "")).casefold()
                   == program.casefold())
              and (since is None or ("updated_at" in r and dt.datetime.fromisoformat(
                  r["updated_at"]).date() >= since))]
    end = None if limit is None else offset + limit
    return picked[offset:end]


def artifact_files(plan: dict[str, Any]) -> dict[str, bytes]:
    """The artifacts a plan recorded, read from its folder; an edited one is refused."""
    import hashlib

    from referral_orchestrator.errors import ArtifactsTampered

    folder = Path(plan["context_passing"]["artifacts_location"])
    files: dict[str, bytes] = {}
    for rel, want in sorted(plan.get("artifact_digests", {}).items()):
        try:
            data = (folder / rel).read_bytes()
        except FileNotFoundError:
            continue
        if hashlib.sha256(data).hexdigest() != want:
            raise ArtifactsTampered(f"{folder / rel} differs from the SHA-256 that "
                                    f"{plan['plan_id']} recorded: restore it")
        files[rel] = data
    return files

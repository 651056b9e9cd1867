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

    def checkpointer(self, plan_id: str) -> AbstractContextManager[BaseCheckpointSaver[Any]]:
        """A LangGraph checkpointer holding the run of ``plan_id`` (thread id = plan id).

        Its serializer signs checkpoint blobs when a signing key is set.
        """
        ...

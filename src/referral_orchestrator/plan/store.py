"""The only module that writes plan files.

Plans live in ``<plans-dir>/plan-<YYYYMMDD-HHMMSS>[-n].json``. Every write validates
first and is atomic (temp file, fsync, rename, fsync of the folder), so a reader - or a
``kill -9`` - never sees a torn file. Every load validates too. Commands that change a
plan hold its lock (``fcntl.flock``) for the whole read-modify-write.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from referral_orchestrator.errors import PlanInvalid, PlanNotFound

from .atomic import sweep, write_atomic
from .chain import verify

CHECKPOINTS = "checkpoints.sqlite"


class PlanStore:
    """Plan files, their locks and the checkpoint database of one plans folder."""

    def __init__(self, plans_dir: str | os.PathLike[str] = ".claude/plans") -> None:
        self.root = Path(plans_dir)

    @property
    def checkpoint_path(self) -> Path:
        """The SQLite checkpoint database beside the plans."""
        return self.root / CHECKPOINTS

    def path_of(self, plan_id: str) -> Path:
        """The file of a plan id."""
        return self.root / f"{plan_id}.json"

    def resolve(self, ref: str | os.PathLike[str]) -> Path:
        """A plan id or a path -> an existing plan file, or ``PlanNotFound``."""
        text = str(ref)
        candidates = [Path(text)] if text.endswith(".json") else []
        candidates.append(self.path_of(text))
        for path in candidates:
            if path.is_file():
                return path
        raise PlanNotFound(
            f"no plan {text!r} in {self.root}: run 'referral-orchestrator status' to list plans "
            "or pass --plans-dir"
        )

    def ensure(self) -> None:
        """Create the plans folder."""
        self.root.mkdir(parents=True, exist_ok=True)

    def create(self, make: Callable[[str], dict[str, Any]],
               stamp: dt.datetime) -> tuple[str, Path]:
        """Write ``make(plan_id)`` under the first free id for ``stamp``; returns (id, path)."""
        self.ensure()
        base = f"plan-{stamp:%Y%m%d-%H%M%S}"
        for n in range(1, 10_000):
            plan_id = base if n == 1 else f"{base}-{n}"
            try:  # exclusive: fails if the id is taken, never clobbers another plan
                write_atomic(self.path_of(plan_id), self._encode(make(plan_id)), exclusive=True)
            except FileExistsError:
                continue
            return plan_id, self.path_of(plan_id)
        raise PlanInvalid(f"too many plans created at {base}")  # pragma: no cover

    def write(self, path: Path, plan: dict[str, Any]) -> None:
        """Validate and atomically replace a plan file."""
        write_atomic(path, self._encode(plan))

    def sweep(self, plan_id: str) -> None:
        """Remove temp files a killed writer of this plan left behind (call under its lock)."""
        sweep(self.root, [f"{plan_id}.json"])

    def load(self, ref: str | os.PathLike[str]) -> tuple[Path, dict[str, Any]]:
        """Read and verify a plan (schema, hash chain, digest); refuse it if any fails."""
        path = self.resolve(ref)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise PlanInvalid(f"{path} is not valid JSON ({exc}): restore it or start a new "
                              "launch") from None
        return path, verify(data, str(path))

    def list(self) -> list[Path]:
        """All plan files, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("plan-*.json"))

    @contextlib.contextmanager
    def lock(self, plan_id: str) -> Iterator[None]:
        """Exclusive lock on one plan, held across a read-modify-write (blocks, never fails)."""
        self.ensure()
        with open(self.root / f".{plan_id}.lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    @staticmethod
    def _encode(plan: dict[str, Any]) -> bytes:
        verify(plan, f"plan {plan.get('plan_id')}")
        return (json.dumps(plan, indent=2, ensure_ascii=False) + "\n").encode("utf-8")

"""The only module that writes plan files: :class:`FileStore`, the plans folder.

It implements :class:`~referral_orchestrator.plan.base.Store`. Plans live in
``<plans-dir>/plan-<YYYYMMDD-HHMMSS>[-n].json``. Every write validates first and is atomic (temp
file, fsync, rename, fsync of the folder), so a reader - or a ``kill -9`` - never sees a
torn file. Every load validates too, and refuses a file that is a symbolic link or whose
``plan_id`` is not its name (two names for one plan would mean two locks, and a write
through a link replaces the link with a copy). A file is the C encoder's compact JSON, one
top-level field per line and one transition per line (``chain.encode_plan``); a new plan's
id is claimed with an empty ``.<id>.claim`` file while it is built (:meth:`FileStore.create`).

Commands that change a plan hold its lock for the whole read-modify-write: a ``filelock``
lock (``fcntl`` on POSIX, ``msvcrt`` on Windows) named after the plan id, in the plan's own
folder. Waiting is bounded (``lock_timeout``, default 60 s); past it the command fails with
:class:`~referral_orchestrator.errors.PlanBusy` instead of hanging.

The LangGraph checkpoints of the folder's runs are a SQLite database beside the plans,
``checkpoints.sqlite``.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referral_orchestrator.errors import (
    PlanBusy,
    PlanError,
    PlanIdentity,
    PlanInvalid,
    PlanNotFound,
)

from .atomic import sweep, write_atomic
from .base import PlanRef, Store, artifact_files, filter_rows, self_asserted
from .chain import Encoded, verify
from .signing import SignedSerializer, signing_key

if TYPE_CHECKING:
    from langgraph.checkpoint.sqlite import SqliteSaver

CHECKPOINTS = "checkpoints.sqlite"
CLAIM_SUFFIX = ".claim"
LOCK_TIMEOUT = 60.0
DEFAULT_PLANS_DIR = ".claude/plans"
# relative on purpose: the launch records it absolute, from the working directory it ran in
ARTIFACTS_DIR = "launches"


class FileStore:
    """Plan files, their locks and the checkpoint database of one plans folder."""

    def __init__(self, plans_dir: str | os.PathLike[str] = DEFAULT_PLANS_DIR, *,
                 lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.root = Path(plans_dir)
        self.lock_timeout = lock_timeout

    def where(self, path: Path) -> str:
        """The plan file's absolute path."""
        return str(path.absolute())

    def home_of(self, path: Path) -> FileStore:
        """The store of the folder a plan file really lives in (its checkpoints and lock).

        A plan named by path from another working directory, or with another
        ``--plans-dir``, is still run against its own checkpoints and its own lock.
        """
        folder = path.parent.resolve()
        if folder == self.root.resolve():
            return self
        return FileStore(folder, lock_timeout=self.lock_timeout)

    @property
    def checkpoint_path(self) -> Path:
        """The SQLite checkpoint database beside the plans."""
        return self.root / CHECKPOINTS

    @property
    def checkpoint_location(self) -> str:
        """The checkpoint database's absolute path."""
        return str(self.checkpoint_path.absolute())

    @property
    def command_options(self) -> builtins.list[str]:
        """``--plans-dir ROOT``, or nothing for the default folder."""
        return [] if str(self.root) == DEFAULT_PLANS_DIR else ["--plans-dir", str(self.root)]

    def artifacts_folder(self, plan_id: str) -> Path:
        """``launches/<plan-id>`` under the working directory."""
        return Path(ARTIFACTS_DIR) / plan_id

    def path_of(self, plan_id: str) -> Path:
        """The file of a plan id."""
        return self.root / f"{plan_id}.json"

    def resolve(self, ref: PlanRef) -> Path:
        """A plan id or a path -> an existing plan file, or ``PlanNotFound``."""
        text = str(ref)
        candidates = [Path(text)] if text.endswith(".json") else []
        candidates.append(self.path_of(text))
        for path in candidates:
            if path.is_symlink():
                raise PlanIdentity(
                    f"{path} is a symbolic link: a plan is refused under a second name; "
                    "pass the plan's own file")
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
        """Write ``make(plan_id)`` under the first free id for ``stamp``; returns (id, path).

        An id is claimed before its plan is built: an empty ``.<id>.claim`` file created
        exclusively (``O_EXCL``) beside the plans, removed once the plan is written. A
        taken id - its plan already there, or its claim held by another process - costs a
        ``stat`` or a failed ``open``, not a plan built, validated and fsynced in vain, so
        the 50th plan of one second is created as fast as the first. The plan's own write
        is still exclusive (a hard link), so two creators never share an id even without
        claims. A claim left by a killed process only makes its id skipped: ``status`` and
        later launches read ``plan-*.json`` files alone.
        """
        self.ensure()
        base = f"plan-{stamp:%Y%m%d-%H%M%S}"
        for n in range(1, 10_000):
            plan_id = base if n == 1 else f"{base}-{n}"
            if self.path_of(plan_id).exists():
                continue  # taken: one stat, no file created
            claim = self.root / f".{plan_id}{CLAIM_SUFFIX}"
            try:
                os.close(os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                continue  # another process is creating this id right now (or died doing so)
            try:
                if self.path_of(plan_id).exists():
                    continue  # created between the stat and the claim
                # exclusive: fails if the id is taken, never clobbers another plan
                write_atomic(self.path_of(plan_id), self._encode(make(plan_id)), exclusive=True)
            except FileExistsError:
                continue
            finally:
                with contextlib.suppress(OSError):
                    claim.unlink()
            return plan_id, self.path_of(plan_id)
        raise PlanInvalid(f"too many plans created at {base}")  # pragma: no cover

    def write(self, path: Path, plan: dict[str, Any]) -> None:
        """Validate and atomically replace a plan file."""
        write_atomic(path, self._encode(plan))

    def sweep(self, plan_id: str) -> None:
        """Remove temp files a killed writer of this plan left behind (call under its lock)."""
        sweep(self.root, [f"{plan_id}.json"])

    def load(self, ref: PlanRef, *,
             identity: bool = True) -> tuple[Path, dict[str, Any]]:
        """Read and verify a plan (schema, hash chain, digest); refuse it if any fails.

        ``identity=False`` skips the name checks (``validate`` of a copy kept elsewhere).
        """
        path = self.resolve(ref)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PlanInvalid(f"{path} cannot be read ({exc.strerror}): fix its permissions "
                              "or restore it") from None
        try:
            plan = verify(json.loads(raw.decode("utf-8")), str(path))
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise PlanInvalid(f"{path} is not valid JSON ({exc}): restore it or start a new "
                              "launch") from None
        except RecursionError:
            raise PlanInvalid(f"{path} is nested too deeply to be a plan: restore it or start "
                              "a new launch") from None
        if identity and plan["plan_id"] != path.stem:
            raise PlanIdentity(
                f"{path} holds plan {plan['plan_id']}: a plan's file must be named after its "
                f"id; rename it to {plan['plan_id']}.json or restore it")
        return path, plan

    def list(self) -> list[Path]:
        """All plan files, oldest first."""
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("plan-*.json"))

    def list_plans(self) -> builtins.list[dict[str, Any]]:
        """One summary row per plan file (invalid plans are listed as such).

        A plan unchanged since the folder's last listing is not verified again: its row
        comes from the folder's status index (:mod:`.listing`).
        """
        from .listing import status_rows

        return status_rows(self.root, self.list(), self._status_row)

    def _status_row(self, path: Path) -> dict[str, Any]:
        """A plan file's status row, from the verified plan (or why it is invalid)."""
        try:
            doc = self.load(path)[1]
        except PlanError as exc:
            return {"plan_id": path.stem, "status": "invalid", "error": exc.code}
        req = doc["request"]["normalized"]
        return {"plan_id": doc["plan_id"], "status": doc["status"],
                "program": req["program"], "launch_date": req["launch_date"],
                "channels": ",".join(req["channels"]),
                "readiness": doc["success_metrics"]["launch_readiness_pct"],
                "updated_at": doc["updated_at"]}

    def find_plans(self, *, status: str | None = None, program: str | None = None,
                   since: dt.date | None = None, limit: int | None = None,
                   offset: int = 0) -> builtins.list[dict[str, Any]]:
        """:meth:`list_plans` filtered and paginated (every row, then filtered: a folder has no
        query index; its status index spares re-verifying unchanged plans)."""
        return filter_rows(self.list_plans(), status=status, program=program, since=since,
                           limit=limit, offset=offset)

    def discard(self, path: Path) -> None:
        """Delete a plan file that has just been created (a launch that failed to start)."""
        path.unlink()

    def identity(self, by: str | None) -> dict[str, Any]:
        """``by``, else the OS user: self-asserted (a folder authenticates nobody)."""
        return self_asserted(by)

    def export(self, ref: PlanRef) -> tuple[bytes, dict[str, bytes]]:
        """The verified plan file's bytes and its artifacts that match their digests."""
        _path, plan = self.load(ref)
        return self._encode(plan), artifact_files(plan)

    @contextlib.contextmanager
    def checkpointer(self, plan_id: str) -> Iterator[SqliteSaver]:
        """A ``SqliteSaver`` on the folder's database (one per folder, threads by plan id).

        Concurrent writers (a fan-out's tasks) share commits: :mod:`.sqlite`.
        """
        import sqlite3

        from .sqlite import GroupCommitSaver

        key = signing_key()
        conn = sqlite3.connect(self.checkpoint_path, check_same_thread=False, timeout=60)
        saver = GroupCommitSaver(conn, serde=None if key is None else SignedSerializer(key))
        try:
            yield saver
        finally:
            # under the saver's lock: a branch still finishing after its run stopped (a
            # failed plan write mid fan-out) saves its writes through this connection from
            # another thread; closing it under that write crashed the interpreter. A save
            # after the close fails with sqlite3.ProgrammingError, like a crash's lost write.
            with saver.lock:
                conn.close()

    @contextlib.contextmanager
    def lock(self, plan_id: str) -> Iterator[None]:
        """Exclusive lock on one plan id, held across a read-modify-write.

        Waits at most ``lock_timeout`` seconds, then raises ``PlanBusy``.
        """
        from filelock import FileLock, SoftFileLock, Timeout

        self.ensure()
        path = self.root / f".{plan_id}.lock"
        lock = FileLock(str(path), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            # only a soft lock (no fcntl, no msvcrt) can outlive a killed holder
            stale = (f"; if no command is running, delete {path}"
                     if issubclass(FileLock, SoftFileLock) else "")
            raise PlanBusy(
                f"another command holds plan {plan_id} (waited {self.lock_timeout:g} s): try "
                f"again when it finishes{stale}") from None
        try:
            yield
        finally:
            lock.release()

    @staticmethod
    def _encode(plan: dict[str, Any]) -> bytes:
        encoded = Encoded.of(plan)  # one canonical encoding: the file and the digest
        verify(plan, f"plan {plan.get('plan_id')}", body_sha256=encoded.body_sha256,
               checked=encoded.checked, valid=encoded.valid, parts=encoded.parts)
        encoded.remember(checked=True)
        return encoded.data


PlanStore = FileStore
"""The former name of :class:`FileStore`."""

if TYPE_CHECKING:  # FileStore is a Store (mypy checks the assignment)
    _check: Store = FileStore()

"""What a failed write looks like to a person: one ``StorageError`` naming the way on.

A plan write or a checkpoint that the disk refuses (full, read-only, permissions) stops the
command with one line and exit 1; the plan stays valid and ``resume`` continues once the
cause is fixed. A parallel draft that finishes after such a stop is dropped quietly (the
checkpoint does not have it, so ``resume`` runs it again).
"""

from __future__ import annotations

import contextlib
import errno
import sys
from collections.abc import Iterator

from referral_orchestrator.errors import StorageError

# errno values that mean "the disk or the file system refused the write"
_FULL = {errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC)}
_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO, errno.ENOENT, errno.ENOTDIR}


@contextlib.contextmanager
def storage_errors(plan_id: str | None) -> Iterator[None]:
    """A failed write (disk full, permissions) as one ``StorageError`` naming the way on.

    Every plan write is atomic and the checkpoint is transactional, so whatever failed,
    the plan on disk is valid and ``resume`` continues once the cause is fixed.
    """
    try:
        yield
    except OSError as exc:
        if exc.errno not in _FULL | _REFUSED:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        raise StorageError(storage_message(
            plan_id, f"{exc.strerror or exc}{where}", exc.errno in _FULL)) from exc
    except Exception as exc:
        # sqlite3 is imported by the checkpointer only: without it no such error can occur
        sqlite3 = sys.modules.get("sqlite3")
        if sqlite3 is None or not isinstance(exc, sqlite3.Error):
            raise
        full = "full" in str(exc).lower()
        raise StorageError(storage_message(plan_id, f"the checkpoint database failed ({exc})",
                                            full)) from exc


def storage_message(plan_id: str | None, what: str, full: bool) -> str:
    fix = "free some space" if full else "fix the folder's permissions or the disk"
    if plan_id is None:
        return f"{what}: nothing was started; {fix}, then launch again"
    return (f"{plan_id} stopped: {what}; the plan file is intact: {fix}, then run "
            f"'referral-orchestrator resume {plan_id}'")


def quiet_abandoned_tasks() -> None:
    """Drop the log line of a draft that finished after its run was stopped by an error.

    When a plan write fails (a full disk) while parallel drafts are still running, the
    run stops at once; a draft finishing in that moment cannot save its result any more and
    ``concurrent.futures`` logs a traceback. Its result is lost the way a crash loses it:
    the checkpoint does not have it, so ``resume`` runs that draft again.
    """
    import logging  # here: commands that run no graph never import logging

    def abandoned(record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, RuntimeError) and "after shutdown" in str(exc))

    logger = logging.getLogger("concurrent.futures")
    if not any(getattr(f, "__name__", "") == _ABANDONED for f in logger.filters):
        abandoned.__name__ = _ABANDONED
        logger.addFilter(abandoned)


_ABANDONED = "referral_orchestrator_abandoned_task"

"""Open the store a command names: ``--store postgresql://...``, else the plans folder."""

from __future__ import annotations

import math
import os
from pathlib import Path

from referral_orchestrator.errors import UsageError

from .base import Store
from .store import DEFAULT_PLANS_DIR, LOCK_TIMEOUT, FileStore

STORE_ENV = "REFERRAL_ORCHESTRATOR_STORE"
LOCK_TIMEOUT_ENV = "REFERRAL_ORCHESTRATOR_LOCK_TIMEOUT"


def store_spec(spec: str | None = None) -> str | None:
    """The ``--store`` value, else ``REFERRAL_ORCHESTRATOR_STORE``, else ``None`` (files)."""
    if spec is None:
        spec = os.environ.get(STORE_ENV, "").strip() or None
    return spec


def open_store(spec: str | None = None, *, plans_dir: str | os.PathLike[str] = DEFAULT_PLANS_DIR,
               lock_timeout: float = LOCK_TIMEOUT) -> Store:
    """The store ``spec`` names (a ``postgresql://`` URL), or the plans folder without one.

    ``spec`` defaults to ``REFERRAL_ORCHESTRATOR_STORE``. Nothing is created: a database
    without the tables fails on first use, naming ``store migrate``.
    """
    spec = store_spec(spec)
    if spec is None:
        return FileStore(Path(plans_dir), lock_timeout=lock_timeout)
    from .pgconn import is_url, redact

    if not is_url(spec):
        raise UsageError(f"--store {redact(spec)!r} is not a postgresql://user@host/db URL; "
                         f"leave --store and {STORE_ENV} unset for the plans folder")
    from .pgstore import PgStore  # only for a database: the plans folder never loads it

    return PgStore(spec, lock_timeout=lock_timeout)


def lock_timeout_from_env(given: float | None) -> float:
    """Seconds to wait for a busy plan: the argument, else the environment, else 60."""
    text = os.environ.get(LOCK_TIMEOUT_ENV, "").strip() if given is None else str(given)
    if not text:
        return LOCK_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(f"{LOCK_TIMEOUT_ENV} (lock_timeout) must be a number of seconds "
                         f">= 0, default {LOCK_TIMEOUT:g}; got {text!r}")
    return seconds


def close_store(store: object) -> None:
    """Release what a store holds open (a database pool); a plans folder holds nothing."""
    close = getattr(store, "close", None)
    if callable(close):
        close()

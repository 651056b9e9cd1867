"""A PostgreSQL database reached through one connection pool, as the store uses it.

The URL is repeated in messages only without its password (:func:`redact`); the pool is
opened on first use, after the schema is checked (an un-migrated database names ``store
migrate``); a database error becomes one ``StorageError`` naming the database; a missing
client library names the ``postgres`` extra.
"""

from __future__ import annotations

import contextlib
import urllib.parse
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Self

from referral_orchestrator.errors import StorageError, UsageError

from .pgschema import check_schema

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg_pool import ConnectionPool

SCHEMES = ("postgresql://", "postgres://")


def is_url(spec: str) -> bool:
    """Whether a ``--store`` value names a PostgreSQL database."""
    return spec.startswith(SCHEMES)


def redact(url: str) -> str:
    """The URL without its password (what plans, hints and errors may repeat)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = (f"{parts.username}@" if parts.username else "") + host + (
        f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def missing_extra(exc: ImportError) -> UsageError:
    """The error for a PostgreSQL client library that is not installed."""
    return UsageError(f"--store postgresql://... needs the PostgreSQL client ({exc.name}): "
                      "pip install 'referral-orchestrator[postgres]'")


def first_line(exc: BaseException) -> str:
    """The first line of a database error (its detail lines repeat the query)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class PgDatabase:
    """One PostgreSQL database: its URL, a connection pool, connections and their errors."""

    def __init__(self, url: str, *, max_connections: int = 8) -> None:
        if not is_url(url):
            raise UsageError(f"--store {redact(url)!r} is not a postgresql:// URL")
        self.url = url
        self.max_connections = max(3, max_connections)  # lock + plan write + checkpoints
        self._pool: ConnectionPool[Any] | None = None

    @property
    def location(self) -> str:
        """The database URL without its password."""
        return redact(self.url)

    def _connect(self) -> Connection[Any]:
        """One connection outside the pool (migrate, and the first check)."""
        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as exc:
            raise missing_extra(exc) from None
        try:
            return psycopg.connect(self.url, autocommit=True, row_factory=dict_row,
                                   connect_timeout=10)
        except psycopg.Error as exc:
            raise StorageError(f"cannot connect to PostgreSQL at {self.location}: "
                               f"{first_line(exc)}") from None

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The connection pool, opened on first use after checking the schema version."""
        if self._pool is None:
            with self._connect() as conn:
                check_schema(conn, self.location)
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool

            self._pool = ConnectionPool(
                self.url, min_size=1, max_size=self.max_connections, open=True, timeout=60,
                kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row})
        return self._pool

    def close(self) -> None:
        """Close the pool (a later use opens a new one)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _db(self) -> Iterator[Connection[Any]]:
        """A pooled connection; database errors become one ``StorageError``."""
        import psycopg

        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL at {self.location} failed: "
                               f"{first_line(exc)}") from exc

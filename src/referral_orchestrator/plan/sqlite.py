"""The SQLite checkpointer of a plans folder, with group commit.

LangGraph saves each task's writes as the task finishes (``put_writes``), one transaction
each: the fan-out's ~90 drafts, finishing together, made ~90 commits, each an fsync of
the write-ahead log, one after another under the saver's lock, before the super-step's
checkpoint could be saved. :class:`GroupCommitSaver` lets writers that arrive while a
commit is in flight share the next one (group commit, as database servers do): a writer
still returns only once its rows are committed and synced, so nothing is less durable; a
commit that fails fails every writer whose rows it held. A task's writes are also
serialised before the lock is taken, not under it: the drafts' ~90 writers no longer queue
behind one another's msgpack encoding.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import WRITES_IDX_MAP
from langgraph.checkpoint.sqlite import SqliteSaver

COMMIT_DELAY = 0.005  # longest a commit waits for writers already on their way (seconds)


class GroupCommitSaver(SqliteSaver):
    """``SqliteSaver`` whose concurrent writers share commits.

    A writer runs its statements under the saver's lock, then commits everything run so
    far - unless a commit begun after its statements ran has taken them along. Before
    committing, it waits (at most :data:`COMMIT_DELAY`) for writers already waiting for
    the lock to run theirs, so one commit takes a whole burst.
    """

    def __init__(self, conn: sqlite3.Connection, **kwargs: Any) -> None:
        super().__init__(conn, **kwargs)
        self._commit_lock = threading.Lock()
        self._arriving = threading.Condition(threading.Lock())
        self._writers = 0  # writers that have not run their statements yet
        self._executed = 0  # write batches run on the connection (under self.lock)
        self._committed = 0  # write batches settled: committed, or lost in a failed commit
        # (first, last, error): write batches a failed commit rolled back
        self._lost: list[tuple[int, int, BaseException]] = []

    def put_writes(self, config: RunnableConfig, writes: Sequence[tuple[str, Any]],
                   task_id: str, task_path: str = "") -> None:
        """``SqliteSaver.put_writes``, with the rows encoded before the saver's lock."""
        conf = config["configurable"]
        rows = [(str(conf["thread_id"]), str(conf["checkpoint_ns"]), str(conf["checkpoint_id"]),
                 task_id, task_path, WRITES_IDX_MAP.get(channel, idx), channel,
                 *self.serde.dumps_typed(value))
                for idx, (channel, value) in enumerate(writes)]
        # special channels (errors, interrupts, resumes) replace; the others keep the first
        verb = "REPLACE" if all(w[0] in WRITES_IDX_MAP for w in writes) else "IGNORE"
        with self.cursor() as cur:
            cur.executemany(
                f"INSERT OR {verb} INTO writes (thread_id, checkpoint_ns, checkpoint_id, "
                "task_id, task_path, idx, channel, type, value) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)

    @contextlib.contextmanager
    def cursor(self, transaction: bool = True) -> Iterator[sqlite3.Cursor]:
        """A cursor under the saver's lock; with ``transaction``, return once committed."""
        mine = 0
        if transaction:
            with self._arriving:
                self._writers += 1
        try:
            with self.lock:
                self.setup()
                cur = self.conn.cursor()
                try:
                    yield cur
                finally:
                    cur.close()
                    if transaction:
                        self._executed += 1
                        mine = self._executed
        finally:
            if transaction:
                with self._arriving:
                    self._writers -= 1
                    self._arriving.notify_all()
            if mine:
                self._commit(mine)

    def _commit(self, mine: int) -> None:
        """Commit batch ``mine`` and every batch run before it, unless a commit already has."""
        with self._commit_lock:
            for first, last, error in self._lost:
                if first <= mine <= last:
                    raise sqlite3.OperationalError(
                        f"the commit holding these writes failed: {error}") from error
            if mine <= self._committed:
                return  # a commit begun after our rows ran took them along
            with self._arriving:  # let the writers already waiting run their statements
                self._arriving.wait_for(lambda: self._writers == 0, timeout=COMMIT_DELAY)
            with self.lock:
                first, upto = self._committed + 1, self._executed
                try:
                    self.conn.commit()
                except BaseException as exc:
                    with contextlib.suppress(sqlite3.Error):
                        self.conn.rollback()  # every batch it held is lost, for certain
                    self._lost.append((first, upto, exc))
                    self._committed = upto  # settled: lost, not pending
                    raise
                self._committed = upto

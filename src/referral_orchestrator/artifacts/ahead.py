"""The comms kit composed ahead of the end of a run, while the run's last calls wait.

The kit is most of a launch's files (one per channel and segment) and is final once the
merge gate passes the drafts, one to two model calls before the run ends. Composing it
in a worker thread then, instead of after the last call, takes it off the launch's
critical path. The kit composed ahead is only used for exactly the inputs it was composed
from: the inputs (``render.kit_inputs``) are copied at the offer and compared byte for
byte at the end (``marshal``: equal bytes are equal values, types and order included);
anything else - a re-drafted channel, a failure in the worker - composes the kit again
where the artifacts are written, as before. The worker also writes and fsyncs the kit's
files under temp names beside their destinations (``atomic.fill_temps``): publishing
them is then a rename each; temp files not renamed are removed when the run ends.
"""

from __future__ import annotations

import contextlib
import marshal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from referral_orchestrator.plan.atomic import fill_temps

from .render import KitFiles, kit_files, kit_inputs


def _key(values: dict[str, Any], out_dir: Path) -> bytes | None:
    """The kit's inputs as bytes (a fingerprint and a deep copy), or None if unmarshalable."""
    try:
        return marshal.dumps((kit_inputs(values), str(out_dir)), 2)
    except ValueError:
        return None


class KitAhead:
    """At most one kit composed ahead, in one worker thread, for one run.

    :meth:`offer` names the inputs and readies the worker; it starts composing at the
    next :meth:`call_started` (a model call going out, which only sets an event), so it
    runs while that call waits instead of competing with the steps that send it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._key: bytes | None = None
        self._go = threading.Event()  # the current offer may start
        self._job: Future[KitFiles | None] | None = None
        self._closed = False
        self._temps: list[Path] = []  # temp files filled ahead, removed unless renamed

    def offer(self, values: dict[str, Any], out_dir: Path) -> None:
        """Compose the kit of ``values`` at the next call, unless it is composed already."""
        key = _key(values, out_dir)
        with self._lock:
            if key is None or key == self._key or self._closed:
                return
            self._go.set()  # a superseded offer's job returns at once
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kit-ahead")
            self._key, self._go = key, threading.Event()
            self._job = self._pool.submit(self._compose, key, self._go)

    def call_started(self) -> None:
        """A model call is going out: the kit offered may be composed now."""
        self._go.set()

    def _compose(self, key: bytes, go: threading.Event) -> KitFiles | None:
        """Once ``go``: compose the kit and write its files under temp names."""
        go.wait()
        with self._lock:
            if self._closed or key != self._key:
                return None  # superseded, or the run ended first
        inputs, folder = marshal.loads(key)  # a copy: the run moves on meanwhile
        out_dir = Path(folder)
        kit = kit_files(inputs, out_dir)
        for rel in kit.files:
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        with self._lock:  # filled under the lock: close() removes every temp file
            if self._closed:
                return None
            filled = fill_temps((out_dir / rel, data) for rel, data in kit.files.items())
            self._temps.extend(filled.values())
        kit.filled = {rel: filled[out_dir / rel] for rel in kit.files}
        return kit

    def take(self, values: dict[str, Any], out_dir: Path) -> KitFiles | None:
        """The kit composed ahead from exactly these inputs, else None."""
        with self._lock:
            key, go, job = self._key, self._go, self._job
        if job is None or not go.is_set() or _key(values, out_dir) != key:
            return None
        try:
            return job.result()
        except Exception:  # composed again by the caller, where errors surface
            return None

    def close(self) -> None:
        """Stop the worker (a kit being composed is finished first); remove the temp files
        it filled that were not renamed into place."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            self._go.set()
        if pool is not None:
            pool.shutdown(wait=True)
        with self._lock:
            temps, self._temps = self._temps, []
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

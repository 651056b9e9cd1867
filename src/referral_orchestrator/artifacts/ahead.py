"""Artifacts composed ahead of the end of a run, while the run's last model calls wait.

The comms kit is most of a launch's files (one per channel and segment) and is final once
the merge gate passes the drafts, one to two model calls before the run ends; the runbook
(Markdown, CSV, calendar) is final once the approvals are in, before go-live's call.
Composing each section (``render.SECTIONS``) in a worker thread as soon as its inputs are
known, instead of after the last call, takes it off the launch's critical path. A section
composed ahead is only used for exactly the inputs it was composed from: its inputs are
copied at the offer and compared byte for byte at the end (``marshal``: equal bytes are
equal values, types and order included); anything else - a re-drafted channel, a task
that moved, a failure in the worker - composes the section again where the artifacts are
written, as before. The worker also writes and fsyncs the section's files under temp
names beside their destinations (``atomic.fill_temps``): publishing them is then a rename
each; temp files not renamed are removed when the run ends.
"""

from __future__ import annotations

import contextlib
import marshal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from referral_orchestrator.plan.atomic import fill_temps

from . import render
from .render import Composed


def _key(name: str, values: dict[str, Any], out_dir: Path, plan_id: str) -> bytes | None:
    """A section's inputs as bytes (a fingerprint and a deep copy), or None."""
    inputs = render.SECTIONS[name][0]
    try:
        return marshal.dumps((inputs(values), str(out_dir), plan_id), 2)
    except ValueError:  # a value marshal does not write: composed at the end
        return None


class FilesAhead:
    """Sections composed ahead, in one worker thread, for one run.

    :meth:`offer` names each section's inputs and readies the worker; it starts composing
    at the next :meth:`call_started` (a model call going out, which only sets an event),
    so it runs while that call waits instead of competing with the steps that send it.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled  # off beside a runner that answers at once: nothing to overlap
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._keys: dict[str, bytes] = {}
        # section -> (its job, the event that lets it start)
        self._jobs: dict[str, tuple[Future[Composed | None], threading.Event]] = {}
        self._waiting: list[threading.Event] = []  # offers no call has started yet
        self._closed = False
        self._temps: list[Path] = []  # temp files filled ahead, removed unless renamed

    def offer(self, values: dict[str, Any], out_dir: Path, plan_id: str) -> None:
        """Compose the sections of ``values`` at the next call, unless already composed."""
        if not self.enabled:
            return
        keys = {name: _key(name, values, out_dir, plan_id) for name in render.SECTIONS}
        with self._lock:
            if self._closed:
                return
            for name, key in keys.items():
                if key is None or key == self._keys.get(name):
                    continue
                if name in self._jobs:
                    self._jobs[name][1].set()  # superseded: its job returns at once
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(max_workers=1,
                                                    thread_name_prefix="files-ahead")
                go = threading.Event()
                self._keys[name] = key
                self._jobs[name] = (self._pool.submit(self._compose, name, key, go), go)
                self._waiting.append(go)

    def call_started(self) -> None:
        """A model call is going out: the sections offered may be composed now."""
        if self._waiting:
            with self._lock:
                waiting, self._waiting = self._waiting, []
            for go in waiting:
                go.set()

    def _compose(self, name: str, key: bytes, go: threading.Event) -> Composed | None:
        """Once ``go``: compose the section and write its files under temp names."""
        go.wait()
        with self._lock:
            if self._closed or key != self._keys.get(name):
                return None  # superseded, or the run ended first
        inputs, folder, plan_id = marshal.loads(key)  # a copy: the run moves on meanwhile
        out_dir = Path(folder)
        section = render.SECTIONS[name][1](inputs, out_dir, plan_id)
        for rel in section.files:
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        with self._lock:  # filled under the lock: close() removes every temp file
            if self._closed:
                return None
            filled = fill_temps((out_dir / rel, data) for rel, data in section.files.items())
            self._temps.extend(filled.values())
        section.filled = {rel: filled[out_dir / rel] for rel in section.files}
        return section

    def take(self, values: dict[str, Any], out_dir: Path, plan_id: str) -> dict[str, Composed]:
        """The sections composed ahead from exactly these inputs (others are left out)."""
        with self._lock:
            keys, jobs = dict(self._keys), dict(self._jobs)
        taken: dict[str, Composed] = {}
        for name, (job, go) in jobs.items():
            if not go.is_set() or _key(name, values, out_dir, plan_id) != keys[name]:
                continue  # never started (no call after the offer), or other inputs
            with contextlib.suppress(Exception):  # composed again by the caller
                section = job.result()
                if section is not None:
                    taken[name] = section
        return taken

    def close(self) -> None:
        """Stop the worker (a section being composed is finished first); remove the temp
        files it filled that were not renamed into place."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            for _, go in self._jobs.values():
                go.set()
        if pool is not None:
            pool.shutdown(wait=True)
        with self._lock:
            temps, self._temps = self._temps, []
        for tmp in temps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

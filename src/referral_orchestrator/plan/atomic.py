"""The one way files are written: atomically, durably, with the permissions the umask gives.

Plans and artifacts both go through :func:`write_atomic`: a temp file in the destination's
folder, every byte written, flushed and fsynced, then renamed over the destination (or
hard-linked for a create that must never replace), then the folder fsynced, so a reader -
or a ``kill -9`` - sees the old file or the new one, never a torn one. The temp file is
removed on any error. Files are created with mode ``0o666`` minus the umask (``mkstemp``'s
``0o600`` would keep the runbook from teammates and the landing page from a web server).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path

TEMP_SUFFIX = ".tmp"


def temp_name(name: str, token: str) -> str:
    """The temp file name used while ``name`` is written (hidden, recognisable, unique)."""
    return f".{name}.{token}{TEMP_SUFFIX}"


def _open_temp(tmp: Path) -> int:
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)


def _temp_for(path: Path) -> Path:
    return path.parent / temp_name(path.name, secrets.token_hex(4))


def _fill(tmp: Path, data: bytes) -> None:
    """Create ``tmp``, write every byte, fsync and close it."""
    fd = _open_temp(tmp)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` atomically; ``exclusive`` raises if ``path`` exists."""
    tmp = _temp_for(path)
    renamed = False
    try:
        _fill(tmp, data)
        if exclusive:
            os.link(tmp, path)  # fails if the name is taken: a create never clobbers
        else:
            os.replace(tmp, path)
            renamed = True
    finally:
        if not renamed:  # after a link, or on any error, the temp name must go
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    fsync_dir(path.parent)


def write_atomic_many(files: Iterable[tuple[Path, bytes]], *,
                      filled: Mapping[Path, Path] | None = None) -> None:
    """:func:`write_atomic` for several files, each folder fsynced once instead of per file.

    Every file is written and fsynced under its temp name first (:func:`fill_temps`), then
    all are renamed, then each folder is fsynced: each file is still old or new, never
    torn, and all of them are durable on return. Temp files not yet renamed are removed on
    any error. ``filled`` maps a destination to a temp file :func:`fill_temps` already
    wrote with exactly its bytes: it is only renamed (and left to its owner on an error).
    """
    filled = filled or {}
    pending = fill_temps((path, data) for path, data in files if path not in filled)
    paths = list(pending) + list(filled)
    try:
        for path, tmp in list(pending.items()):
            os.replace(tmp, path)
            del pending[path]
    finally:
        for tmp in pending.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    for path, tmp in filled.items():
        os.replace(tmp, path)
    for folder in dict.fromkeys(path.parent for path in paths):
        fsync_dir(folder)


def fill_temps(files: Iterable[tuple[Path, bytes]]) -> dict[Path, Path]:
    """Write and fsync each file under a temp name beside it; returns destination -> temp.

    A few at a time: fsync releases the GIL, and the file system commits concurrent ones
    together. The first half of :func:`write_atomic_many`, also done ahead (while a run
    waits on a model call) and passed as its ``filled``. On an error no temp file is left.
    """
    from concurrent.futures import ThreadPoolExecutor  # not at import: readers never write

    items = {path: (_temp_for(path), data) for path, data in files}
    try:
        if items:
            with ThreadPoolExecutor(max_workers=min(8, len(items))) as pool:
                for done in [pool.submit(_fill, tmp, data) for tmp, data in items.values()]:
                    done.result()
    except BaseException:
        for tmp, _ in items.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise
    return {path: tmp for path, (tmp, _) in items.items()}


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # Windows cannot open a folder; its renames are durable on return
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep(folder: Path, names: Iterable[str], *, keep: Iterable[Path] = ()) -> None:
    """Remove temp files a killed writer of ``names`` left in ``folder`` (nothing else).

    ``keep``: temp files this process filled and is about to rename (:func:`fill_temps`).
    """
    wanted = set(names)
    kept = set(keep)
    if not folder.is_dir():
        return
    for entry in folder.glob(f".*{TEMP_SUFFIX}"):
        base = entry.name[1:-len(TEMP_SUFFIX)].rpartition(".")[0]
        if base in wanted and entry not in kept:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()

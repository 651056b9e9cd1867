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
from collections.abc import Iterable
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


def write_atomic_many(files: Iterable[tuple[Path, bytes]]) -> None:
    """:func:`write_atomic` for several files, each folder fsynced once instead of per file.

    Every file is written and fsynced under its temp name first (a few at a time: fsync
    releases the GIL, and the file system commits concurrent ones together), then all are
    renamed, then each folder is fsynced: each file is still old or new, never torn, and
    all of them are durable on return. Temp files not yet renamed are removed on any error.
    """
    from concurrent.futures import ThreadPoolExecutor  # not at import: readers never write

    items = [(_temp_for(path), path, data) for path, data in files]
    renamed = 0
    try:
        with ThreadPoolExecutor(max_workers=max(1, min(8, len(items)))) as pool:
            for done in [pool.submit(_fill, tmp, data) for tmp, _, data in items]:
                done.result()
        for tmp, path, _ in items:
            os.replace(tmp, path)
            renamed += 1
    finally:
        for tmp, _, _ in items[renamed:]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
    for folder in dict.fromkeys(path.parent for _, path, _ in items):
        fsync_dir(folder)


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


def sweep(folder: Path, names: Iterable[str]) -> None:
    """Remove temp files a killed writer of ``names`` left in ``folder`` (nothing else)."""
    wanted = set(names)
    if not folder.is_dir():
        return
    for entry in folder.glob(f".*{TEMP_SUFFIX}"):
        base = entry.name[1:-len(TEMP_SUFFIX)].rpartition(".")[0]
        if base in wanted:
            with contextlib.suppress(FileNotFoundError):
                entry.unlink()

"""Files the team can open: plans and artifacts honour the umask and are written atomically."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_orchestrator.plan import atomic
from referral_orchestrator.surfaces.cli import main
from support import SEED


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def test_plans_and_artifacts_are_readable_by_the_team_under_a_022_umask(
    workdir: Path, umask_022: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SEED, "--out", "out", "-q"]) == 0
    written = _files(workdir / "out") + list((workdir / ".claude" / "plans").glob("plan-*.json"))
    assert len(written) > 10
    modes = {str(p.relative_to(workdir)): stat.S_IMODE(p.stat().st_mode) for p in written}
    assert set(modes.values()) == {0o644}, modes


def test_a_failed_artifact_write_leaves_no_temp_file_and_exits_1(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = os.replace

    def replace(src: str, dst: str) -> None:
        if str(dst).endswith("runbook.csv"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    assert main([*SEED, "--out", "out", "-q"]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    leftovers = [p.name for p in workdir.rglob("*") if p.is_file() and ".tmp" in p.name]
    assert leftovers == []


def test_the_atomic_write_fsyncs_the_file_and_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    real = os.fsync

    def fsync(fd: int) -> None:
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic.write_atomic(tmp_path / "a.md", b"hello\n")
    assert (tmp_path / "a.md").read_bytes() == b"hello\n"
    assert synced == [False, True]


def test_an_exclusive_write_never_replaces_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "plan.json"
    target.write_bytes(b"first")
    with pytest.raises(FileExistsError):
        atomic.write_atomic(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]


def test_a_write_that_fails_midway_removes_its_temp_file_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "runbook.md"
    target.write_bytes(b"old")

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError):
        atomic.write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["runbook.md"]


def test_temp_files_a_killed_writer_left_are_swept_only_for_the_names_asked(
    tmp_path: Path
) -> None:
    (tmp_path / atomic.temp_name("runbook.md", "abcd1234")).write_bytes(b"x")
    (tmp_path / ".notes.md.swp").write_bytes(b"mine")
    atomic.sweep(tmp_path, ["runbook.md"])
    assert sorted(p.name for p in tmp_path.iterdir()) == [".notes.md.swp"]

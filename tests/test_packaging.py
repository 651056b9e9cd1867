"""The wheel is the product: built from the files git would ship, installed into a fresh
virtual environment, it runs the seed command from an unrelated folder with its content
folders (agents/, skills/, prompts/, schemas/) read from inside the installed package.

Slow (a build plus a dependency install), so marked ``slow``; it still runs in CI.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support import SEED

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
CONTENT = ("agents", "skills", "prompts", "schemas")
_JUNK = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "launches", ".claude",
                               "__pycache__", "*.pyc", ".*_cache")


@dataclass(frozen=True)
class Installed:
    """A fresh virtual environment with the wheel installed, and the source it came from."""

    source: Path
    wheel: Path
    bin: Path

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "ANTHROPIC_API_KEY")}
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run([str(self.bin / args[0]), *args[1:]], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=240, check=False)


def _shipped_files(root: Path) -> list[str] | None:
    """Tracked plus untracked-but-not-ignored files: what a fresh clone would hold."""
    if shutil.which("git") is None or not (root / ".git").exists():
        return None
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, check=False,
    )
    if out.returncode != 0:
        return None
    return [name for name in out.stdout.decode().split("\0") if name]


def _source_copy(dest: Path) -> Path:
    """Copy the project as a fresh clone would see it (no empty folders, no ignored junk)."""
    files = _shipped_files(REPO)
    if files is None:  # an sdist or an exported tree: copy it minus build junk
        shutil.copytree(REPO, dest, ignore=_JUNK)
        return dest
    for name in files:
        src = REPO / name
        if src.is_file():  # deleted-but-tracked files are not part of the next clone
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def _build_wheel(source: Path, out: Path) -> Path:
    if importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)]
    else:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(source)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=240)
    assert done.returncode == 0, f"build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    (wheel,) = out.glob("referral_orchestrator-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("packaging")
    source = _source_copy(base / "src-copy")
    wheel = _build_wheel(source, base / "dist")
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    # No package index: the wheel goes in with --no-deps, and its dependencies are the ones
    # this test run already has (their site-packages folder is put on the new venv's path
    # with a .pth line, which adds the folder without running the .pth files inside it, so
    # the editable install of this checkout stays invisible).
    site = subprocess.run([str(bin_dir / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    outer = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "_test_env_packages.pth").write_text("\n".join(sorted(outer)) + "\n")
    pip = subprocess.run(
        [str(bin_dir / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "--no-index", "--no-deps", str(wheel)],
        capture_output=True, text=True, check=False, timeout=600,
    )
    assert pip.returncode == 0, f"pip install failed:\n{pip.stdout[-3000:]}\n{pip.stderr[-3000:]}"
    yield Installed(source=source, wheel=wheel, bin=bin_dir)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    """A folder that has nothing to do with the repository."""
    folder = tmp_path / "somewhere" / "else"
    folder.mkdir(parents=True)
    return folder


def _content_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for folder in CONTENT if (root / folder).is_dir()
            for p in (root / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts}


def test_installed_package_is_the_wheel_and_carries_every_content_file(
    installed: Installed, elsewhere: Path
) -> None:
    probe = (
        "import json, referral_orchestrator as r, referral_orchestrator.launch.content as c;"
        "print(json.dumps({'file': r.__file__, 'content': str(c.content_root()),"
        " 'agents': sorted(c.load_agents()), 'skills': sorted(c.load_skills())}))"
    )
    done = installed.run("python", "-c", probe, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    package = Path(info["file"]).parent
    assert "site-packages" in package.parts
    assert REPO not in package.parents
    content = Path(info["content"])
    assert content == package / "_content"
    for folder in ("agents", "skills", "schemas"):
        assert (content / folder).is_dir(), folder
    assert _content_files(installed.source) <= _content_files(content)
    assert info["agents"] == sorted(p.stem for p in (installed.source / "agents").glob("*.md"))
    assert info["skills"] == sorted(
        p.parent.name for p in (installed.source / "skills").glob("*/SKILL.md"))


def test_seed_command_runs_from_an_unrelated_folder_with_the_installed_wheel(
    installed: Installed, elsewhere: Path
) -> None:
    done = installed.run("referral-orchestrator", *SEED, cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    (plan_path,) = (elsewhere / ".claude" / "plans").glob("plan-*.json")
    plan = json.loads(plan_path.read_text(encoding="utf-8"))
    assert plan["status"] == "completed"
    assert plan["plan_id"] in done.stdout
    assert plan["deliverables"], "the launch produced no artifacts"
    for path in plan["deliverables"].values():
        assert (elsewhere / path).is_file(), path
    checked = installed.run("referral-orchestrator", "validate", str(plan_path), cwd=elsewhere)
    assert checked.returncode == 0, checked.stderr


def test_graph_command_prints_the_same_mermaid_as_the_source_tree(
    installed: Installed, elsewhere: Path
) -> None:
    done = installed.run("python", "-m", "referral_orchestrator", "graph", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    here = subprocess.run([sys.executable, "-m", "referral_orchestrator", "graph"],
                          capture_output=True, text=True, check=True, timeout=120)
    assert done.stdout.startswith(("graph TD", "flowchart", "---")), done.stdout[:200]
    assert done.stdout == here.stdout

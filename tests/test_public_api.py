"""What users see of the package: public modules only, in docs, examples and the notebook."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRIVATE = re.compile(r"referral_orchestrator\._[a-z]")
USER_FACING = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
               *sorted((ROOT / "examples").glob("*.py")),
               *sorted((ROOT / "examples").glob("*.ipynb")),
               *sorted((ROOT / "commands").glob("*.md"))]


@pytest.mark.parametrize("path", USER_FACING, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_and_examples_never_import_a_private_module(path: Path) -> None:
    hits = PRIVATE.findall(path.read_text(encoding="utf-8"))
    assert not hits, f"{path.name} names a private module: {hits}"


@pytest.mark.parametrize("module", [
    "referral_orchestrator.runners", "referral_orchestrator.engine.graph",
    "referral_orchestrator.engine.state", "referral_orchestrator.plan.chain",
    "referral_orchestrator.testing", "referral_orchestrator.drawing",
])
def test_the_public_modules_import_and_document_themselves(module: str) -> None:
    mod = importlib.import_module(module)
    assert (mod.__doc__ or "").strip(), f"{module} has no docstring"


def test_the_package_ships_type_information() -> None:
    import referral_orchestrator

    assert (Path(referral_orchestrator.__file__).parent / "py.typed").is_file()


def test_the_version_is_declared_once() -> None:
    import tomllib

    import referral_orchestrator

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", referral_orchestrator.__version__)

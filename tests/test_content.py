"""Content is data with a contract: agents, skills, prompts and schemas load and validate,
cross-references resolve, and the public API is a reviewed snapshot.

Refresh the API snapshot after a deliberate change with
``UPDATE_SNAPSHOTS=1 python -m pytest tests/test_content.py``.
"""

from __future__ import annotations

import inspect
import json
import os
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

import referral_orchestrator
from referral_orchestrator.engine.roster import load_roster
from referral_orchestrator.launch.content import (
    content_root,
    load_agents,
    load_prompt,
    load_skills,
    split_front_matter,
    validator,
)

ROOT = content_root()
SNAPSHOTS = Path(__file__).parent / "snapshots"
DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"

AGENT_FILES = sorted((ROOT / "agents").glob("*.md"))
SKILL_FILES = sorted((ROOT / "skills").glob("*/SKILL.md"))
SCHEMA_FILES = sorted((ROOT / "schemas").glob("*.json"))


def _ids(paths: list[Path]) -> list[str]:
    return [p.relative_to(ROOT).as_posix() for p in paths]


def test_every_content_folder_has_files() -> None:
    assert AGENT_FILES and SKILL_FILES and SCHEMA_FILES


@pytest.mark.parametrize("path", AGENT_FILES, ids=_ids(AGENT_FILES))
def test_agent_front_matter_validates_and_its_name_is_the_file_stem(path: Path) -> None:
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path.name)
    assert not list(validator("agent").iter_errors(meta))
    assert meta["name"] == path.stem
    assert body.strip(), "the body is the agent's persona and duties"


@pytest.mark.parametrize("path", SKILL_FILES, ids=_ids(SKILL_FILES))
def test_skill_front_matter_validates_and_its_name_is_the_folder(path: Path) -> None:
    meta, body = split_front_matter(path.read_text(encoding="utf-8"), path.name)
    assert not list(validator("skill").iter_errors(meta))
    assert meta["name"] == path.parent.name
    assert body.strip(), "a skill needs instructions below its front matter"


def test_loaders_return_every_agent_and_skill_file() -> None:
    assert sorted(load_agents()) == [p.stem for p in AGENT_FILES]
    assert sorted(load_skills()) == [p.parent.name for p in SKILL_FILES]
    for name, agent in load_agents().items():
        assert agent.name == name


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=_ids(SCHEMA_FILES))
def test_schema_declares_draft_2020_12_and_an_id_and_is_a_valid_schema(path: Path) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    assert schema.get("$schema") == DRAFT_2020_12
    assert isinstance(schema.get("$id"), str) and schema["$id"].endswith("/" + path.name)
    Draft202012Validator.check_schema(schema)


def test_schema_ids_are_unique() -> None:
    ids = [json.loads(p.read_text(encoding="utf-8"))["$id"] for p in SCHEMA_FILES]
    assert len(ids) == len(set(ids))


def test_every_stage_prompt_exists_and_loads_as_text() -> None:
    from referral_orchestrator.launch.stages import STAGE_OUTPUTS

    assert (ROOT / "prompts").is_dir(), "prompts/ is missing"
    on_disk = {p.stem for p in (ROOT / "prompts").glob("*.md")}
    missing = {stage for stage in STAGE_OUTPUTS if stage not in on_disk}
    assert not missing, f"stages without a prompt: {sorted(missing)}"
    for name in sorted(on_disk):
        assert load_prompt(name).strip(), name


def test_every_skill_an_agent_names_exists() -> None:
    skills = load_skills()
    missing = {(a.name, s) for a in load_agents().values() for s in a.skills if s not in skills}
    assert not missing


def test_every_fallback_and_escalation_target_is_a_known_agent() -> None:
    agents = load_agents()
    named = {(a.name, f) for a in agents.values() for f in a.fallbacks}
    named |= {(a.name, a.escalates_to) for a in agents.values() if a.escalates_to}
    assert not {(who, target) for who, target in named if target not in agents}
    assert not {a.name for a in agents.values() if a.name in a.fallbacks}


def test_escalation_ladder_runs_lifecycle_ops_to_architect_to_exec_sponsor() -> None:
    assert load_roster().ladder() == ["lifecycle-ops", "referral-architect", "exec-sponsor"]
    assert load_agents()["exec-sponsor"].kind == "person"


def test_every_stage_has_exactly_one_owner() -> None:
    owners: dict[str, list[str]] = {}
    for agent in load_agents().values():
        for capability in agent.capabilities:
            owners.setdefault(capability, []).append(agent.name)
    for stage in ("checklist", "tooling-qa", "communications", "enablement",
                  "partner-workflows", "go-live"):
        assert len(owners.get(stage, [])) == 1, (stage, owners.get(stage))


def test_public_api_matches_the_snapshot() -> None:
    names = sorted(referral_orchestrator.__all__)
    snapshot = SNAPSHOTS / "public_api.txt"
    text = "\n".join(names) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.parent.mkdir(exist_ok=True)
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.read_text(encoding="utf-8") == text, (
        "the public API changed: review it, then rerun with UPDATE_SNAPSHOTS=1"
    )


def test_every_public_name_resolves_and_documents_itself() -> None:
    assert len(set(referral_orchestrator.__all__)) == len(referral_orchestrator.__all__)
    for name in referral_orchestrator.__all__:
        value = getattr(referral_orchestrator, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), f"{name} has no docstring"

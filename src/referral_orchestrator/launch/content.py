"""The content folders (agents/, skills/, prompts/, schemas/): locate, load, validate.

In a wheel they live in ``referral_orchestrator/_content``; in a source checkout they are
the top-level folders of the repository. Everything read from them is validated against
the JSON Schemas in ``schemas/`` so a broken agent file fails loudly, not mid-launch.
Files saved on Windows load too: a UTF-8 byte-order mark is dropped and CRLF (or CR) line
ends read as LF (:func:`read_content`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from referral_orchestrator.errors import ReferralError

from .schema import (  # re-exported: the content API is one module
    clean_text,
    content_root,
    fast_validator,
    load_schema,
    read_content,
    validator,
)

__all__ = ["clean_text", "content_root", "fast_validator", "load_schema", "read_content",
           "validator"]

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is ~10x faster
MAX_YAML_DEPTH = 16


class UnsafeYaml(yaml.YAMLError):
    """YAML that uses anchors or aliases, or nests deeper than any of our files."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


def load_yaml(text: str) -> Any:
    """Safe YAML load (libyaml's C loader when available; BOM and CRLF allowed) that
    refuses anchors, aliases and deep nesting.

    Aliases let a few hundred bytes expand into gigabytes ("billion laughs") and deep
    nesting exhausts the recursion of the constructor, so the event stream is checked
    first; it stops at the first offending event.
    """
    depth = 0
    text = clean_text(text)
    for event in yaml.parse(text, Loader=_YAML_LOADER):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise UnsafeYaml("anchors and aliases (&name, *name) are not allowed",
                             event.start_mark)
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise UnsafeYaml(f"nested deeper than {MAX_YAML_DEPTH} levels",
                                 event.start_mark)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return yaml.load(text, Loader=_YAML_LOADER)


def split_front_matter(text: str, source: str) -> tuple[dict[str, Any], str]:
    """Split a Markdown file into its YAML front matter and body (BOM and CRLF allowed)."""
    text = clean_text(text)
    if not text.startswith("---\n"):
        raise ReferralError(f"{source}: missing YAML front matter (start the file with ---)")
    end = text.find("\n---", 4)
    if end < 0:
        raise ReferralError(f"{source}: front matter is not closed with ---")
    meta = load_yaml(text[4:end]) or {}
    if not isinstance(meta, dict):
        raise ReferralError(f"{source}: front matter must be a mapping")
    return meta, text[end + 4 :].lstrip("\n")


def _validated(meta: dict[str, Any], schema: str, source: str) -> dict[str, Any]:
    errors = sorted(validator(schema).iter_errors(meta), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        raise ReferralError(f"{source}: {where}: {errors[0].message}")
    return meta


@dataclass(frozen=True)
class AgentSpec:
    """One agent (or person) of the roster, as its Markdown file defines it."""

    name: str
    description: str
    model: str
    kind: str
    role: str
    capabilities: tuple[str, ...]
    skills: tuple[str, ...]
    fallbacks: tuple[str, ...]
    escalates_to: str | None
    available: bool
    persona: str = field(repr=False)


@dataclass(frozen=True)
class SkillSpec:
    """One skill folder: ``SKILL.md`` plus whatever templates and data sit beside it."""

    name: str
    description: str
    body: str = field(repr=False)
    path: Path = field(repr=False)


@functools.cache
def load_agents() -> dict[str, AgentSpec]:
    """Load and validate every ``agents/*.md``; file stem must equal ``name``."""
    agents: dict[str, AgentSpec] = {}
    for path in sorted((content_root() / "agents").glob("*.md")):
        meta, body = split_front_matter(read_content(path), f"agents/{path.name}")
        _validated(meta, "agent", f"agents/{path.name}")
        if meta["name"] != path.stem:
            raise ReferralError(f"agents/{path.name}: name {meta['name']!r} must match file stem")
        agents[path.stem] = AgentSpec(
            name=meta["name"],
            description=meta["description"],
            model=meta["model"],
            kind=meta["kind"],
            role=meta["role"],
            capabilities=tuple(meta["capabilities"]),
            skills=tuple(meta.get("skills", ())),
            fallbacks=tuple(meta["fallbacks"]),
            escalates_to=meta.get("escalates_to"),
            available=meta.get("available", True),
            persona=body,
        )
    return agents


@functools.cache
def load_skills() -> dict[str, SkillSpec]:
    """Load and validate every ``skills/<name>/SKILL.md``; folder name must equal ``name``."""
    skills: dict[str, SkillSpec] = {}
    for path in sorted((content_root() / "skills").glob("*/SKILL.md")):
        source = f"skills/{path.parent.name}/SKILL.md"
        meta, body = split_front_matter(read_content(path), source)
        _validated(meta, "skill", source)
        if meta["name"] != path.parent.name:
            raise ReferralError(f"{source}: name {meta['name']!r} must match its folder")
        skills[meta["name"]] = SkillSpec(meta["name"], meta["description"], body, path.parent)
    return skills


def skill_file(skill: str, relative: str) -> Path:
    """Path of a file that ships with a skill (templates, data)."""
    return load_skills()[skill].path / relative


@functools.cache
def load_prompt(name: str) -> str:
    """Text of ``prompts/<name>.md``."""
    return read_content(content_root() / "prompts" / f"{name}.md")

"""Who does what: stage owners, availability, substitutes and the escalation ladder.

Everything comes from the agents' front matter (``capabilities``, ``fallbacks``,
``escalates_to``, ``available``), optionally overridden by a ``--roster`` YAML file::

    unavailable:            # agent -> why
      lifecycle-ops: "on leave until Dec 12"
    fallbacks:              # agent -> ordered substitutes (replaces the front matter list)
      lifecycle-ops: [partner-manager, partner-ops]
    people:                 # agent or role -> person, shown in the runbook
      lifecycle-ops: "Dana Reyes"
      Legal counsel: "Sam Ortiz"
    approvers:              # who may decide: approver role or exec-sponsor -> identities
      legal: [sam_ortiz]    # database roles (PostgreSQL store) or user names / --by
      exec-sponsor: [ceo]

The file is untrusted input: at most 1 MB of UTF-8 from a regular file, plain YAML (no
anchors or aliases), each value one line of plain text (names up to 80 characters,
reasons up to 200). Work can only fall back to agents, never to a person (``kind:
person`` in the agent's front matter, such as the exec sponsor).
"""

from __future__ import annotations

import functools
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from referral_orchestrator.errors import InvalidRequest, ReferralError
from referral_orchestrator.launch.content import AgentSpec, load_agents, load_yaml, validator
from referral_orchestrator.launch.text import clean_line

FIRST_RUNG = "lifecycle-ops"
MAX_ROSTER_BYTES = 1_000_000
MAX_ROSTER_NAME = 80  # an agent, a role or a person
MAX_ROSTER_REASON = 200


@dataclass(frozen=True)
class Assignment:
    """The agent that will do a stage's work, and whether it stands in for someone."""

    stage: str
    agent: str
    primary: str
    reason: str | None = None

    @property
    def substituted(self) -> bool:
        """True when a substitute covers for the primary owner."""
        return self.agent != self.primary


class NoSubstitute(ReferralError):
    """The stage's owner is unavailable and no substitute in its chain is available."""

    code = "no_substitute"


@dataclass(frozen=True)
class Roster:
    """The agents plus this launch's overrides. Serialize with :meth:`overrides`."""

    agents: dict[str, AgentSpec]
    unavailable: dict[str, str]
    fallbacks: dict[str, tuple[str, ...]]
    people: dict[str, str]
    # approver role (or exec-sponsor) -> who may decide for it; empty: nobody is checked
    approvers: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def may_decide(self, role: str, who: str) -> str | None:
        """Why ``who`` may not decide for ``role``, or ``None`` when they may.

        Without an ``approvers`` allow-list everyone may; with one, only the names listed
        for the role (compared case-insensitively), and nobody for a role it omits.
        """
        if not self.approvers:
            return None
        wanted = role.strip().lower()
        listed = next((names for r, names in self.approvers.items()
                       if r.strip().lower() == wanted), ())
        if who.strip().lower() in {n.strip().lower() for n in listed}:
            return None
        return (f"the roster allows {', '.join(listed)} to decide for {role}" if listed
                else f"the roster's approvers list nobody for {role}")

    def owner_of(self, stage: str) -> str:
        """The agent whose capabilities include ``stage``."""
        for agent in self.agents.values():
            if stage in agent.capabilities:
                return agent.name
        raise ReferralError(f"no agent in agents/ has capability {stage!r}")

    def is_available(self, agent: str) -> bool:
        """Whether the agent can take work in this launch."""
        return agent not in self.unavailable and self.agents[agent].available

    def why_unavailable(self, agent: str) -> str:
        """The recorded reason an agent is unavailable."""
        return self.unavailable.get(agent, "marked unavailable in agents/" + agent + ".md")

    def assign(self, stage: str, *, exclude: frozenset[str] = frozenset()) -> Assignment:
        """Pick the stage owner or its first available substitute (chains allowed).

        ``exclude`` lists agents that already failed this stage for good (for example an
        agent that errored past its budget), so their work moves on down the chain.
        """
        primary = self.owner_of(stage)
        seen: set[str] = set()
        queue = [primary]
        while queue:
            candidate = queue.pop(0)
            if candidate in seen:
                continue
            seen.add(candidate)
            if self.is_available(candidate) and candidate not in exclude:
                reason = None
                if candidate != primary:
                    why = (
                        "failed this stage" if primary in exclude
                        else self.why_unavailable(primary)
                    )
                    reason = f"{primary} unavailable ({why}); {candidate} covers"
                return Assignment(stage, candidate, primary, reason)
            queue.extend(self.fallbacks.get(candidate, self.agents[candidate].fallbacks))
        raise NoSubstitute(
            f"{primary} cannot take {stage} and no substitute is available "
            f"(tried {', '.join(sorted(seen))})"
        )

    def fallback_map(self) -> dict[str, list[str]]:
        """Agent -> ordered substitutes, as the plan records it."""
        return {
            name: list(self.fallbacks.get(name, spec.fallbacks))
            for name, spec in self.agents.items()
            if spec.kind == "agent"
        }

    def ladder(self) -> list[str]:
        """The escalation ladder, following ``escalates_to`` from lifecycle-ops."""
        rungs = [FIRST_RUNG]
        while (nxt := self.agents[rungs[-1]].escalates_to) is not None:
            if nxt in rungs:
                raise ReferralError(f"escalation ladder loops at {nxt!r}")
            rungs.append(nxt)
        return rungs

    def person_for(self, agent_or_role: str) -> str | None:
        """The person named for an agent or role, if the roster names one."""
        return self.people.get(agent_or_role)

    def overrides(self) -> dict[str, Any]:
        """The roster overrides as plain data (kept in graph state and the plan)."""
        data: dict[str, Any] = {
            "unavailable": dict(self.unavailable),
            "fallbacks": {k: list(v) for k, v in self.fallbacks.items()},
            "people": dict(self.people),
        }
        if self.approvers:  # only when set: plans without an allow-list stay as they were
            data["approvers"] = {k: list(v) for k, v in self.approvers.items()}
        return data


def roster_from_overrides(data: dict[str, Any] | None) -> Roster:
    """Build a roster from the agents plus override data (validated).

    Every node rebuilds the roster from state; the same overrides are validated once.
    """
    return _roster_for(json.dumps(data or {}, sort_keys=True))


@functools.lru_cache(maxsize=64)
def _roster_for(key: str) -> Roster:
    data: dict[str, Any] = json.loads(key)
    errors = list(validator("roster").iter_errors(data))
    if errors:
        raise InvalidRequest(
            f"roster: {errors[0].message}: see the roster format in the README",
            code="bad_roster",
        )
    agents = load_agents()
    named = [*data.get("unavailable", {}), *data.get("fallbacks", {})]
    named += [s for subs in data.get("fallbacks", {}).values() for s in subs]
    for name in named:
        if name not in agents:
            raise InvalidRequest(
                f"roster names unknown agent {name!r}: use one of {', '.join(agents)}",
                code="bad_roster",
            )
    _check_fallbacks(agents, data.get("fallbacks", {}))
    return Roster(
        agents=agents,
        unavailable=dict(data.get("unavailable", {})),
        fallbacks={k: tuple(v) for k, v in data.get("fallbacks", {}).items()},
        people=dict(data.get("people", {})),
        approvers={k: tuple(v) for k, v in data.get("approvers", {}).items()},
    )


def _check_fallbacks(agents: dict[str, AgentSpec], overrides: dict[str, list[str]]) -> None:
    """Agent work falls back to agents only: a person (the exec sponsor) decides, not drafts."""
    for name, spec in agents.items():
        if spec.kind != "agent":
            continue
        source = "the roster" if name in overrides else f"agents/{name}.md"
        for sub in overrides.get(name, spec.fallbacks):
            if sub in agents and agents[sub].kind != "agent":
                raise InvalidRequest(
                    f"{source} names {sub}, a person, as a fallback for {name}: "
                    "list agents only (a person decides at the top of the ladder)",
                    code="person_fallback",
                )


def _read_roster(file: Path) -> str:
    """The roster's text: a regular file, at most ``MAX_ROSTER_BYTES`` of UTF-8.

    Opened without blocking and checked with ``fstat`` before reading, so a FIFO, a
    directory or a device such as ``/dev/zero`` is refused instead of hanging or filling
    memory; at most one byte past the cap is ever read.
    """
    def refuse(why: str) -> InvalidRequest:
        return InvalidRequest(f"--roster {file} {why}", code="bad_roster")

    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise refuse("does not exist: pass a YAML file") from None
    except IsADirectoryError:
        raise refuse("is a folder: pass a YAML file") from None
    except OSError as exc:
        raise refuse(f"cannot be read ({exc.strerror}): pass a YAML file") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise refuse("is a folder: pass a YAML file" if stat.S_ISDIR(mode)
                     else "is not a regular file: pass a YAML file")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_ROSTER_BYTES + 1)
    if len(data) > MAX_ROSTER_BYTES:
        raise refuse(f"is larger than {MAX_ROSTER_BYTES // 1_000_000} MB: a roster lists a "
                     "few agents and people")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise refuse(f"is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None


def _check_values(file: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Every name and reason: one line of plain text within its cap."""
    def text(value: Any, where: str, limit: int) -> str:
        if not isinstance(value, str):
            raise InvalidRequest(f"--roster {file}: {where} must be text, not "
                                 f"{type(value).__name__}", code="bad_roster")
        return clean_line(value, f"--roster {file}: {where}", "--roster", limit)

    out: dict[str, Any] = dict(data)
    if isinstance(data.get("unavailable"), dict):
        out["unavailable"] = {text(k, "an agent name", MAX_ROSTER_NAME):
                              text(v, f"the reason for {k}", MAX_ROSTER_REASON)
                              for k, v in data["unavailable"].items()}
    if isinstance(data.get("people"), dict):
        out["people"] = {text(k, "a role name", MAX_ROSTER_NAME):
                         text(v, f"the person for {k}", MAX_ROSTER_NAME)
                         for k, v in data["people"].items()}
    if isinstance(data.get("approvers"), dict):
        out["approvers"] = {
            text(k, "an approver role", MAX_ROSTER_NAME):
            [text(n, f"a person who decides for {k}", MAX_ROSTER_NAME) for n in v]
            if isinstance(v, list) else v
            for k, v in data["approvers"].items()}
    return out


def load_roster(path: str | Path | None = None) -> Roster:
    """Load the default roster, overridden by a ``--roster`` YAML file when given."""
    if path is None:
        return roster_from_overrides(None)
    file = Path(path)
    try:
        data = load_yaml(_read_roster(file)) or {}
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
        why = getattr(exc, "problem", None) or "fix the syntax"
        raise InvalidRequest(f"--roster {file} is not valid YAML (line {line}): {why}",
                             code="bad_roster") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"--roster {file} must be a mapping", code="bad_roster")
    return roster_from_overrides(_check_values(file, data))

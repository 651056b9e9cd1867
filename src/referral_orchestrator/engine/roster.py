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
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from referral_orchestrator.errors import InvalidRequest, ReferralError
from referral_orchestrator.launch.content import AgentSpec, load_agents, load_yaml, validator

FIRST_RUNG = "lifecycle-ops"


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
        return {
            "unavailable": dict(self.unavailable),
            "fallbacks": {k: list(v) for k, v in self.fallbacks.items()},
            "people": dict(self.people),
        }


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
    return Roster(
        agents=agents,
        unavailable=dict(data.get("unavailable", {})),
        fallbacks={k: tuple(v) for k, v in data.get("fallbacks", {}).items()},
        people=dict(data.get("people", {})),
    )


def load_roster(path: str | Path | None = None) -> Roster:
    """Load the default roster, overridden by a ``--roster`` YAML file when given."""
    if path is None:
        return roster_from_overrides(None)
    file = Path(path)
    try:
        data = load_yaml(file.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InvalidRequest(f"--roster {file} does not exist: pass a YAML file",
                             code="bad_roster") from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", -1) + 1
        raise InvalidRequest(f"--roster {file} is not valid YAML (line {line}): fix the syntax",
                             code="bad_roster") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"--roster {file} must be a mapping", code="bad_roster")
    return roster_from_overrides(data)

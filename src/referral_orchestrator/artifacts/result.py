"""``LaunchResult``: where a launch stands, as every surface returns and prints it."""

from __future__ import annotations

from pathlib import Path
from typing import Any


class LaunchResult:
    """Where a launch stands: status, plan, artifacts and what a person must do next.

    A plain class, not a dataclass: ``dataclasses`` (with ``inspect`` and ``ast``) would
    be most of what ``status`` imports. Compared field by field; ``plan`` is left out of
    its repr.
    """

    _FIELDS = ("plan_id", "status", "plan_path", "artifacts", "next_actions", "pending", "plan")

    def __init__(self, plan_id: str, status: str, plan_path: Path, artifacts: dict[str, str],
                 next_actions: list[str], pending: dict[str, Any] | None = None,
                 plan: dict[str, Any] | None = None) -> None:
        self.plan_id = plan_id
        self.status = status
        self.plan_path = plan_path
        self.artifacts = artifacts
        self.next_actions = next_actions
        self.pending = pending
        self.plan: dict[str, Any] = {} if plan is None else plan

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._FIELDS[:-1])
        return f"LaunchResult({shown})"

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self._FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def to_dict(self) -> dict[str, Any]:
        """The stable JSON shape printed by ``--format json``."""
        from .report import usage_by_agent

        metrics = self.plan.get("success_metrics", {})
        req = self.plan.get("request", {}).get("normalized", {})
        return {
            "plan_id": self.plan_id, "status": self.status, "plan_path": str(self.plan_path),
            "program": req.get("program"), "launch_date": req.get("launch_date"),
            "channels": req.get("channels"), "pattern": req.get("pattern"),
            "artifacts": self.artifacts, "next_actions": self.next_actions,
            "pending": self.pending,
            "launch_readiness_pct": metrics.get("launch_readiness_pct"),
            "on_schedule_pct": metrics.get("on_schedule_pct"),
            "tracking_accuracy": metrics.get("tracking_accuracy"),
            "tasks": len(self.plan.get("tasks", [])),
            "compressed_tasks": self.plan.get("compressed_tasks", []),
            "substitutions": self.plan.get("substitutions", []),
            "approvals": self.plan.get("approvals", []),
            "remediations": self.plan.get("remediation_log", []),
            "transitions": len(self.plan.get("transitions", [])),
            "usage": self.plan.get("usage", {}).get("total"),
            "model": self.plan.get("model"),
            "usage_by_agent": usage_by_agent(self.plan),
        }

    def _repr_markdown_(self) -> str:
        from .report import result_markdown

        return result_markdown(self.to_dict())

    def _repr_html_(self) -> str:
        from .report import result_html

        return result_html(self.to_dict())

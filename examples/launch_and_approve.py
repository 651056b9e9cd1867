"""Launch a referral program from Python, wait at the approval gate, approve, finish.

Run from any folder: plans go to ./.claude/plans, artifacts to ./launches/<plan-id>/.
"""

from __future__ import annotations

import datetime as dt

from referral_orchestrator import Orchestrator

launch_date = dt.date.today() + dt.timedelta(days=21)
orch = Orchestrator(".claude/plans")

result = orch.launch("Customer Advocates", launch_date, ["email", "in-app"],
                     segments=["power users", "new customers"], approvers=["legal", "finance"])
print(result.plan_id, result.status)  # awaiting_approval
for action in result.next_actions:
    print(" -", action)

for approver in ("legal", "finance"):
    result = orch.approve(result.plan_id, approver, note="reviewed the launch package")
    print(f"{approver} approved -> {result.status}")

assert result.status == "completed", result.status
print(result.to_dict()["launch_readiness_pct"], "% ready")
print("runbook:", result.artifacts["runbook_md"])

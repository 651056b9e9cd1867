"""Watch a launch move: each transition record arrives the moment the plan records it.

The same records end up in the plan JSON's hash-chained ``transitions``. One stream
object serves ``for`` (a worker thread does the run) and ``async for`` (the event loop is
never blocked).
"""

from __future__ import annotations

import asyncio
import datetime as dt

from referral_orchestrator import Orchestrator
from referral_orchestrator.surfaces.hosts import stream, stream_launch

launch_date = (dt.date.today() + dt.timedelta(days=21)).isoformat()

# sync: a generator of records
launch = stream_launch("Customer Advocates", launch_date, "email,in-app,push",
                       approvers="legal", plans_dir=".claude/plans")
for record in launch:
    print(f"{record['seq']:>3} {record['node']:<16} {record['event']:<12} {record['agent']}")
assert launch.result is not None
print("->", launch.result.status, launch.result.plan_id)


# async: the approval that resumes it, streamed inside an event loop
async def approve(plan_id: str) -> str:
    approval = stream(Orchestrator(".claude/plans"), "approve", plan_id, "legal")
    async for record in approval:
        print(f"{record['seq']:>3} {record['node']:<16} {record['event']:<12} {record['agent']}")
    assert approval.result is not None
    return approval.result.status


status = asyncio.run(approve(launch.result.plan_id))
print("->", status)
assert status == "completed"

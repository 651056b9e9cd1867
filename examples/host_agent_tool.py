"""Give a host agent the launch as langchain-core tools.

A host model answers with tool calls; the host's ``ToolNode`` runs them. The AI messages
are written out here so the example runs offline - with a real chat model, bind the same
tools (``model.bind_tools(tools)``) and let it produce them.
"""

from __future__ import annotations

import datetime as dt
import json

from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode

from referral_orchestrator.surfaces.hosts import as_tools

tools = as_tools(plans_dir=".claude/plans")  # launch, approve, escalation, status
for tool in tools:
    print(f"{tool.name}: {tool.description[:70]}...")

host = StateGraph(MessagesState)
host.add_node("tools", ToolNode(tools))
host.add_edge(START, "tools")
host.add_edge("tools", END)
app = host.compile()


def run_tool(name: str, args: dict[str, object]) -> dict[str, object]:
    call = AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{name}"}])
    reply = app.invoke({"messages": [call]})["messages"][-1]
    print(f"{name} -> {reply.content[:100]}")
    return dict(json.loads(reply.content)) if reply.content.startswith("{") else {}


launch_date = (dt.date.today() + dt.timedelta(days=21)).isoformat()
# a mistake the model can fix from the answer: an unknown channel comes back as an error line
run_tool("launch_referral_program", {"program": "Customer Advocates",
                                     "launch_date": launch_date, "channels": ["fax"]})
launched = run_tool("launch_referral_program", {
    "program": "Customer Advocates", "launch_date": launch_date,
    "channels": ["email", "in-app"], "approvers": ["legal"]})
assert launched["status"] == "awaiting_approval"
done = run_tool("approve_referral_launch", {"plan": launched["plan_id"], "approver": "legal"})
assert done["status"] == "completed"

"""Human-facing summaries of a launch: next actions, text, Markdown and the plans table.

Plans can hold text a person typed (program, approvers, notes, names), including plans
written before input was checked: every value is made terminal-safe (unsafe characters
dropped) in the text forms, Markdown-escaped in :func:`result_markdown` and HTML-escaped in
:func:`result_html`.
"""

from __future__ import annotations

import html
import shlex
from collections.abc import Sequence
from typing import Any

from referral_orchestrator.launch.text import md_code, md_text, one_line, strip_unsafe


def _cmd(*parts: str, store: Sequence[str]) -> str:
    return shlex.join(["referral-orchestrator", *parts, *store])


def next_actions(plan: dict[str, Any], store: Sequence[str] = ()) -> list[str]:
    """What a person must do next, with the exact commands.

    ``store`` is the options that select the plan's store (``Store.command_options``).
    """
    pid, status = plan["plan_id"], plan["status"]
    files = plan.get("deliverables", {})
    pending = plan.get("pending") or {}
    if status == "awaiting_approval":
        review = ", ".join(files[k] for k in ("comms_kit", "runbook_md") if k in files)
        actions = [f"Approvers review the launch package: {review}"]
        for item in pending.get("pending", []):
            actions.append(f"{item['approver']} decides by {item['deadline']}: "
                           + _cmd("approve", pid, "--approver", item["approver"],
                                  store=store)
                           + "  (add --reject --note '...' to send it back)")
        return actions
    if status == "awaiting_decision":
        req = plan["request"]["normalized"]
        return [
            f"Exec sponsor decides on {pending.get('stage')}: {pending.get('reason', '')}",
            _cmd("escalation", pid, "--decision", "proceed", store=store),
            _cmd("escalation", pid, "--decision", "descope", "--channel", req["channels"][-1],
                 store=store),
            _cmd("escalation", pid, "--decision", "postpone", "--launch-date", "YYYY-MM-DD",
                 store=store),
            _cmd("escalation", pid, "--decision", "halt", "--note", "why",
                 store=store),
        ]
    if status == "halted":
        who: dict[str, Any] = next(
            (r for r in reversed(plan["remediation_log"]) if r["action"] == "halt"), {})
        return [f"Launch halted by {who.get('by', 'the exec sponsor')}: "
                f"{who.get('summary', '')}. Start a new launch-program run when ready."]
    if status == "running":
        return ["The run stopped before it finished: " + _cmd("resume", pid,
                                                              store=store)]
    actions = []
    if "runbook_md" in files:
        actions.append(f"Import the runbook into your tracker: {files.get('runbook_csv')} "
                       f"(calendar: {files.get('runbook_ics')})")
    if "comms_kit" in files:
        actions.append(f"Hand the comms kit to the channel owners: {files['comms_kit']}")
    if "monitoring_plan" in files:
        actions.append(f"Set up dashboards and alerts from {files['monitoring_plan']} "
                       "before launch day")
    squeezed = plan.get("compressed_tasks") or []
    if squeezed:
        shown = ", ".join(squeezed[:5]) + (f" and {len(squeezed) - 5} more" if len(squeezed) > 5
                                           else "")
        fits = plan.get("full_lead_launch")
        actions.insert(0, f"Schedule is compressed: {len(squeezed)} tasks get less than their "
                       f"usual lead time ({shown}; see the runbook). "
                       + (f"Launch on or after {fits} to give every task its lead time, "
                          "or add people." if fits else "Move the launch date or add people."))
    return actions


USAGE_FIELDS = ("calls", "input_tokens", "output_tokens", "cache_read_tokens",
                "cache_write_tokens", "cost_usd")


def usage_by_agent(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per agent: the model ids its billed calls went to, and its calls, tokens and cost.

    Read from the plan's usage records, so a runner with per-agent tiers (Claude: haiku for
    one agent, sonnet for another) shows each agent's own model.
    """
    usage = plan.get("usage") or {}
    records = usage.get("records") or []
    out: dict[str, dict[str, Any]] = {}
    for agent, totals in (usage.get("by_agent") or {}).items():
        models = sorted({r["model"] for r in records if r.get("agent") == agent
                         and r.get("model")})
        out[agent] = {"models": models, **{k: totals.get(k, 0) for k in USAGE_FIELDS}}
    return out


def _usage_line(head: str, usage: dict[str, Any]) -> str:
    tokens = f"{usage.get('input_tokens', 0):,} in / {usage.get('output_tokens', 0):,} out"
    cached = usage.get("cache_read_tokens", 0) + usage.get("cache_write_tokens", 0)
    calls = usage.get("calls", 0)
    return (f"{head}{calls} call{'' if calls == 1 else 's'}, {tokens} tokens"
            + (f" ({cached:,} cached)" if cached else "")
            + f", ${usage.get('cost_usd', 0):.4f}")


def usage_text(result: dict[str, Any]) -> list[str]:
    """The run's model, then each agent's model, calls, tokens and cost (``status`` text)."""
    total = result.get("usage") or {}
    model = result.get("model") or "offline"
    if not total.get("calls"):
        return [f"model:   {model} (no billed model calls, $0)"]
    lines = [_usage_line(f"model:   {model}: ", total)]
    for agent, used in (result.get("usage_by_agent") or {}).items():
        lines.append(_usage_line(f"  {agent} on {', '.join(used['models']) or model}: ", used))
    return lines


def result_text(result: dict[str, Any]) -> str:
    """The short human summary printed by the CLI (every line terminal-safe)."""
    return "\n".join(strip_unsafe(line) for line in _text_lines(result))


def _text_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{result['program']} - launch {result['launch_date']} via "
        f"{', '.join(result['channels'] or [])} ({result['pattern']})",
        f"plan:    {result['plan_id']}  status: {result['status']}",
        f"ready:   {result['launch_readiness_pct']}% launch readiness "
        f"({result.get('on_schedule_pct')}% of tasks on schedule), "
        f"tracking accuracy {result['tracking_accuracy']:.0%}, {result['tasks']} tasks, "
        f"{result['transitions']} transitions",
        *usage_text(result),
    ]
    covers: dict[tuple[str, str], list[str]] = {}
    for sub in result.get("substitutions") or []:
        covers.setdefault((sub["substitute"], sub["covered"]), []).append(sub["stage"])
    for (substitute, covered), stages in covers.items():
        lines.append(f"cover:   {substitute} covers {covered} ({', '.join(stages)})")
    for a in result.get("approvals") or []:
        rejected = [h for h in a.get("history", []) if h["decision"] == "reject"]
        note = f", rejected {len(rejected)}x: {rejected[-1]['note']}" if rejected else ""
        lines.append(f"approval: {a['approver']} {a['status']} (due {a['deadline']}{note})")
    for r in result.get("remediations") or []:
        lines.append(f"ladder:  rung {r['rung']} {r['by']} on {r['stage']}: {r['summary']}")
    lines.append("files:")
    lines += _file_lines(result["artifacts"])
    lines.append("next:")
    lines += [f"  - {a}" for a in result["next_actions"]]
    return lines


def _file_lines(artifacts: dict[str, str]) -> list[str]:
    """Main artifacts one per line; the comms kit's assets counted behind its index."""
    main = {"plan": "plan", "runbook_md": "runbook", "runbook_csv": "runbook csv",
            "runbook_ics": "calendar", "comms_kit": "comms kit",
            "monitoring_plan": "monitoring"}
    lines = [f"  {label:<12} {artifacts[key]}" for key, label in main.items() if key in artifacts]
    assets = len([k for k in artifacts if k not in main])
    if assets and "comms_kit" in artifacts:
        idx = next(i for i, line in enumerate(lines) if line.startswith("  comms kit"))
        lines[idx] += f"  ({assets} assets beside it)"
    return lines


def result_markdown(result: dict[str, Any]) -> str:
    """Markdown summary (``--format md`` and Jupyter)."""
    lines = [f"### {md_text(result['program'])} — {md_code(result['plan_id'])} — "
             f"**{md_text(result['status'])}**", "",
             md_text(f"Launch {result['launch_date']} via {', '.join(result['channels'] or [])} "
                     f"({result['pattern']}); readiness {result['launch_readiness_pct']}%, "
                     f"tracking accuracy {result['tracking_accuracy']:.0%}, "
                     f"{result['tasks']} tasks."), "",
             "| artifact | path |", "|---|---|"]
    lines += [f"| {md_text(name)} | {md_code(path)} |"
              for name, path in result["artifacts"].items()]
    lines += ["", "**Next**", ""] + [f"- {md_text(a)}" for a in result["next_actions"]]
    return "\n".join(lines)


def plans_table(rows: list[dict[str, Any]], narrowed: list[str] | None = None) -> str:
    """The listed plans as a fixed-width table (``narrowed``: the filter options given)."""
    if not rows and narrowed:
        return f"no plan matches {', '.join(narrowed)}: run 'referral-orchestrator status' " \
            "alone to list every plan"
    if not rows:
        return "no plans yet: run 'referral-orchestrator launch-program --help'"
    cols = ["plan_id", "status", "program", "launch_date", "channels", "readiness"]
    cells = [{c: one_line(r.get(c, "")) for c in cols} for r in rows]
    widths = {c: max(len(c), *(len(r[c]) for r in cells)) for c in cols}
    out = ["  ".join(c.ljust(widths[c]) for c in cols)]
    out += ["  ".join(r[c].ljust(widths[c]) for c in cols) for r in cells]
    return "\n".join(out)


def result_html(result: dict[str, Any]) -> str:
    """HTML summary for Jupyter (``_repr_html_``); every value is escaped."""
    def e(value: str) -> str:
        return html.escape(one_line(value))

    status = str(result["status"])
    colour = {"completed": "#1a7f37", "halted": "#cf222e"}.get(status, "#9a6700")
    rows = "".join(f"<tr><td>{e(str(k))}</td><td><code>{e(str(v))}</code></td></tr>"
                   for k, v in result["artifacts"].items())
    actions = "".join(f"<li>{e(str(a))}</li>" for a in result["next_actions"])
    pending = result.get("pending") or {}
    waiting = "".join(f"<li>{e(str(p['approver']))} by {e(str(p['deadline']))}</li>"
                      for p in pending.get("pending", []))
    readiness = result.get("launch_readiness_pct")
    return (
        f"<div class=\"referral-launch\"><h4>{e(str(result['program']))} &mdash; "
        f"<code>{e(str(result['plan_id']))}</code> &mdash; "
        f"<span style=\"color:{colour}\"><b>{e(status)}</b></span></h4>"
        f"<p>Launch {e(str(result['launch_date']))} via "
        f"{e(', '.join(result['channels'] or []))} ({e(str(result['pattern']))}); "
        f"readiness {e(str(readiness))}%, {e(str(result['tasks']))} tasks, "
        f"{e(str(result['transitions']))} transitions.</p>"
        + (f"<p><b>Waiting for</b></p><ul>{waiting}</ul>" if waiting else "")
        + f"<table><tr><th>artifact</th><th>path</th></tr>{rows}</table>"
        f"<p><b>Next</b></p><ul>{actions}</ul></div>"
    )

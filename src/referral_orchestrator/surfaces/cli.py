"""The command line. The only module that parses argv and prints.

Heavy imports (LangGraph, the runners) happen inside the commands, so ``--help`` is fast.
Errors become one line on stderr and the exit code of their family (see ``_errors``).
"""

from __future__ import annotations

import argparse
import os
import sys

from referral_orchestrator.errors import ReferralError, UsageError

# --help must stay a few ms above a bare interpreter (bench/bench_cli.py): no typing, json,
# shlex or shutil at import time. mypy treats a module-level TYPE_CHECKING as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn

PROG = "referral-orchestrator"
EXIT_HALTED = 4


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized like ``shutil.get_terminal_size`` without importing shutil."""

    def __init__(self, prog: str, **kwargs: Any) -> None:
        if kwargs.get("width") is None:
            try:
                columns = int(os.environ.get("COLUMNS", "0")) or os.get_terminal_size().columns
            except (ValueError, OSError):
                columns = 80
            kwargs["width"] = columns - 2
        super().__init__(prog, **kwargs)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help')")


# Commands whose arguments are decisions: a value there is never read as options, so a
# note cannot carry a second --approver or --reject.
_NEVER_RESPLIT = frozenset({"approve", "escalation"})


def _resplit(argv: list[str]) -> list[str]:
    """Accept a slash command's ``$ARGUMENTS`` handed over as one string.

    Only one shape is split again: the command followed by exactly one argument that
    starts with ``--`` and holds whitespace, e.g. ``launch-program '--program "Customer
    Advocates" --launch-date 2026-12-10 --channels email'``. Any other argument list is
    taken as the shell split it: text inside a value (quotes, ``--flags``) stays data.
    """
    if (len(argv) != 2 or argv[0] in _NEVER_RESPLIT or not argv[1].startswith("--")
            or not any(ch.isspace() for ch in argv[1])):
        return argv
    import shlex

    try:
        return [argv[0], *shlex.split(argv[1])]
    except ValueError as exc:  # an unbalanced quote
        raise UsageError(f"cannot read the arguments of {argv[0]}: {exc} (close the quote, "
                         f"or pass each option as its own argument)") from None


def _add_common(p: argparse.ArgumentParser, fmt: bool = True) -> None:
    p.add_argument("--plans-dir", default=".claude/plans", metavar="DIR",
                   help="folder of plan JSON files and checkpoints (default: .claude/plans)")
    if fmt:
        p.add_argument("--format", choices=["text", "json", "md"], default="text",
                       help="output format (default: text)")
    p.add_argument("--model", default=None,
                   help="'offline' (default) or an Anthropic model id, e.g. claude-sonnet-5-5")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no live progress on stderr; print only the summary")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render the docs)."""
    parser = _Parser(prog=PROG, description="Run a referral program launch as a multi-agent "
                     "state machine with an audit-ready plan JSON.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("launch-program", help="plan and run a launch",
                       description="Plan and run the launch of a referral program.")
    p.add_argument("--program", help="program name or id, e.g. \"Customer Advocates\"")
    p.add_argument("--launch-date", help="go-live date, YYYY-MM-DD")
    p.add_argument("--channels", help="comma list: email, in-app, sms, push, social, "
                   "landing-page, partner-portal")
    p.add_argument("--segments", help="comma list of participant personas (optional)")
    p.add_argument("--approvers", help="comma list of stakeholders who gate go-live (optional)")
    p.add_argument("--as-of", help="planning reference date, YYYY-MM-DD (default: today)")
    p.add_argument("--out", help="artifact folder (default: launches/<plan-id>)")
    p.add_argument("--roster", help="YAML file: unavailable agents, substitutes, people")
    p.add_argument("--pattern", choices=["diamond", "pipeline"], default="diamond",
                   help="diamond: comms and enablement in parallel (default); pipeline: in turn")
    p.add_argument("--landing-url",
                   help="referral landing page URL for tracking links (QA probes it over HTTP)")
    p.add_argument("--approval-lead-days", type=int, default=5,
                   help="approvals are due this many business days before launch (default: 5)")
    p.add_argument("--country", help="ISO 3166-1 alpha-2 code of the holiday calendar for due "
                   "dates and business days, e.g. GB, DE, JP (default: US)")
    p.add_argument("--subdivision", help="state, Land or nation of --country for regional "
                   "holidays, e.g. ENG, BY, CA (default: nationwide holidays only)")
    p.add_argument("--timezone", help="IANA time zone of sessions and go-live times, e.g. "
                   "Europe/Berlin (default: the country's zone, or UTC when it has several)")
    p.add_argument("--currency", help="ISO 4217 code of the reward copy, e.g. EUR "
                   "(default: the country's currency)")
    p.add_argument("--max-cost-usd", type=float, default=None,
                   help="model spend limit for this launch; a breach escalates")
    p.add_argument("--max-concurrency", type=int, default=16,
                   help="parallel drafts at once (default: 16)")
    _add_common(p)

    p = sub.add_parser("approve", help="record an approver's decision and resume")
    p.add_argument("plan", metavar="PLAN", help="plan id or path")
    p.add_argument("--approver", required=True, help="approver name as given in --approvers")
    p.add_argument("--reject", action="store_true", help="send the package back for rework")
    p.add_argument("--note", help="what to change (fed back into the rework)")
    p.add_argument("--by", help="person recording the decision")
    _add_common(p)

    p = sub.add_parser("escalation", help="the exec sponsor's decision at the top of the ladder")
    p.add_argument("plan", metavar="PLAN", help="plan id or path")
    p.add_argument("--decision", required=True,
                   choices=["proceed", "descope", "postpone", "halt"])
    p.add_argument("--channel", help="channel to drop (descope)")
    p.add_argument("--launch-date", help="new go-live date (postpone)")
    p.add_argument("--note", help="why")
    p.add_argument("--by", help="person deciding")
    _add_common(p)

    p = sub.add_parser("resume", help="continue a stopped run from its last checkpoint")
    p.add_argument("plan", metavar="PLAN", help="plan id or path")
    p.add_argument("--from-plan", action="store_true",
                   help="rebuild missing or foreign checkpoints from the plan's own records "
                   "(decisions and finished stages are kept), then continue")
    _add_common(p)

    p = sub.add_parser("status", help="one plan in detail, or all plans as a table")
    p.add_argument("plan", metavar="PLAN", nargs="?", help="plan id or path")
    p.add_argument("--as-of", help="evaluate approval deadlines on this date (default: today)")
    _add_common(p)

    p = sub.add_parser("validate", help="schema-validate a plan and check its transition chain")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("graph", help="print the state machine as Mermaid")
    p.add_argument("--view", choices=["full", "stages"], default="full",
                   help="full: every node and edge (default); stages: the one-glance view")

    p = sub.add_parser("mcp", help="serve the launch tools and plans over MCP (stdio)",
                       description="Serve launch_program, approve, escalation_decision, "
                       "status and list_plans as MCP tools, and the plans as resources, over "
                       "stdio. Needs the 'mcp' extra: pip install 'referral-orchestrator[mcp]'.")
    _add_common(p, fmt=False)
    return parser


def _json(data: Any) -> str:
    """JSON for the terminal: C1 controls and bidi overrides written as \\u escapes."""
    import json

    from referral_orchestrator.launch.text import json_text

    return json_text(json.dumps(data, indent=2, ensure_ascii=False))


def _emit(result: Any, fmt: str) -> int:
    from referral_orchestrator.artifacts.report import result_markdown, result_text

    data = result.to_dict()
    if fmt == "json":
        print(_json(data))
    elif fmt == "md":
        print(result_markdown(data))
    else:
        print(result_text(data))
    return EXIT_HALTED if result.status == "halted" else 0


def _orchestrator(args: argparse.Namespace, on_transition: Any = None) -> Any:
    from referral_orchestrator.orchestrator import Orchestrator

    return Orchestrator(args.plans_dir, model=args.model or "offline",
                        max_cost_usd=getattr(args, "max_cost_usd", None),
                        max_concurrency=getattr(args, "max_concurrency", 16),
                        on_transition=on_transition)


def run(argv: Sequence[str]) -> int:
    """Run one command; returns the exit code (raises ``ReferralError`` on failure)."""
    args = build_parser().parse_args(_resplit(list(argv)))
    if args.command is None:
        build_parser().print_help()
        return 0
    if args.command == "graph":
        from referral_orchestrator.engine.graph import draw

        print(draw(args.view))
        return 0
    if args.command == "validate":
        from referral_orchestrator.launch.text import strip_unsafe
        from referral_orchestrator.orchestrator import validate_plan

        report = validate_plan(args.file)
        seen = report["artifacts"]
        print(_json(report) if args.format == "json" else strip_unsafe(
              f"{report['file']}: valid ({report['status']}, {report['transitions']} "
              f"transitions, chain head {report['chain_head'][:12]}, signature "
              f"{report['signature']}; artifacts: {seen['checked']} match"
              + (f", {seen['missing']} not found" if seen["missing"] else "") + ")"))
        return 0
    if args.command == "mcp":
        try:
            from .mcp import serve
        except ImportError as exc:
            raise UsageError("the mcp command needs the MCP SDK: "
                             "pip install 'referral-orchestrator[mcp]'") from exc
        serve(args.plans_dir, model=args.model or "offline")
        return 0
    from .progress import progress_for

    # Live progress on stderr (rich on a terminal, plain lines otherwise), stopped before
    # the summary is printed, whether the command succeeds or fails.
    with progress_for(sys.stderr, quiet=args.quiet) as progress:
        outcome = _dispatch(args, _orchestrator(args, progress))
    return outcome if isinstance(outcome, int) else _emit(outcome, args.format)


def _dispatch(args: argparse.Namespace, orch: Any) -> Any:
    """Run one orchestrator command; returns its ``LaunchResult`` (or an exit code)."""
    if args.command == "launch-program":
        return orch.launch(
            args.program, args.launch_date, args.channels, segments=args.segments,
            approvers=args.approvers, as_of=args.as_of, pattern=args.pattern,
            roster=args.roster, landing_url=args.landing_url, out_dir=args.out,
            approval_lead_days=args.approval_lead_days, country=args.country,
            subdivision=args.subdivision, timezone=args.timezone, currency=args.currency)
    if args.command == "approve":
        return orch.approve(args.plan, args.approver, reject=args.reject, note=args.note,
                            by=args.by)
    if args.command == "escalation":
        return orch.escalation(args.plan, args.decision, channel=args.channel,
                               launch_date=args.launch_date, note=args.note, by=args.by)
    if args.command == "resume":
        return orch.resume(args.plan, from_plan=args.from_plan)
    if args.plan is None:
        from referral_orchestrator.artifacts.report import plans_table

        rows = orch.list_plans()
        print(_json(rows) if args.format == "json" else plans_table(rows))
        return 0
    return orch.status(args.plan, today=args.as_of)


def _one_line(value: object) -> str:
    """An error message as one terminal-safe line (it may quote what the user typed)."""
    from referral_orchestrator.launch.text import one_line

    return one_line(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        return run(sys.argv[1:] if argv is None else argv)
    except ReferralError as exc:
        print(f"{PROG}: error: {_one_line(exc.message)}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # `... | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; continue with 'referral-orchestrator resume PLAN'",
              file=sys.stderr)
        return 130
    except Exception as exc:  # the last line of defence: one line, exit 1
        if os.environ.get("REFERRAL_ORCHESTRATOR_DEBUG"):
            raise
        print(f"{PROG}: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(set REFERRAL_ORCHESTRATOR_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

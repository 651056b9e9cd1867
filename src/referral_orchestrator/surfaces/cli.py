"""The command line. The only module that parses argv and prints.

The façade's commands (``launch-program``, ``approve``, ``escalation``, ``resume``,
``status``) and their options are rendered from the table of operations
(:mod:`.operations`); ``validate``, ``graph`` and ``mcp`` are this module's own. Heavy
imports (LangGraph, the runners, pydantic) happen inside the commands, so ``--help`` is
fast. Errors become one line on stderr and the exit code of their family.
"""

from __future__ import annotations

import argparse
import os
import sys

from referral_orchestrator.errors import ReferralError, UsageError

from .operations import CLI, OPERATIONS, Operation, exposed

PLANS_DIR = ".claude/plans"  # plan.store.DEFAULT_PLANS_DIR, without importing the store

# --help must stay a few ms above a bare interpreter (bench/bench_cli.py): no typing, json,
# shlex or shutil at import time. mypy treats a module-level TYPE_CHECKING as True.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn

    from .operations import Option

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


STORE_HELP = ("postgresql://user@host/db: plans, locks and checkpoints in PostgreSQL "
              "(default: $REFERRAL_ORCHESTRATOR_STORE, else the plans folder)")


def _add_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plans-dir", default=PLANS_DIR, metavar="DIR",
                   help="folder of plan JSON files and checkpoints (default: %(default)s)")
    p.add_argument("--store", default=None, metavar="URL", help=STORE_HELP)


def _add_common(p: argparse.ArgumentParser, fmt: bool = True) -> None:
    _add_store(p)
    if fmt:
        p.add_argument("--format", choices=["text", "json", "md"], default="text",
                       help="output format (default: text)")
    p.add_argument("--model", default=None,
                   help="'offline' (default) or an Anthropic model id, e.g. claude-sonnet-5-5")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no live progress on stderr; print only the summary")


def _add_option(p: argparse.ArgumentParser, o: Option) -> None:
    """One option of the table as argparse declares it."""
    if o.positional:
        optional: dict[str, Any] = {"nargs": "?"} if o.cli_optional else {}
        p.add_argument(o.name, metavar=o.metavar, help=o.cli_help, **optional)
        return
    kw: dict[str, Any] = {"help": o.cli_help}
    if o.kind == "bool":
        kw["action"] = "store_true"
    else:
        if o.kind in ("int", "float"):
            kw["type"] = int if o.kind == "int" else float
        if o.choices:
            kw["choices"] = list(o.choices)
        if o.default is not None or o.kind in ("int", "float"):
            kw["default"] = o.default
        if o.required and not o.cli_optional:
            kw["required"] = True
    p.add_argument(o.flag, **kw)


def _add_operation(sub: Any, op: Operation) -> None:
    extra = {"description": op.cli_description} if op.cli_description else {}
    p = sub.add_parser(op.cli, help=op.summary, **extra)
    for o in op.options_for(CLI):
        _add_option(p, o)
    _add_common(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used to render the docs)."""
    parser = _Parser(prog=PROG, description="Run a referral program launch as a multi-agent "
                     "state machine with an audit-ready plan JSON.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for op in exposed(CLI):
        _add_operation(sub, op)

    p = sub.add_parser("validate", help="schema-validate a plan and check its transition chain")
    p.add_argument("file", metavar="PLAN", help="plan file, or plan id (in --plans-dir, or "
                   "with --store in the database)")
    p.add_argument("--plans-dir", default=PLANS_DIR, metavar="DIR",
                   help="where a plan id is looked up (default: %(default)s)")
    p.add_argument("--store", default=None, metavar="URL", help=STORE_HELP)
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("export", help="write a plan's JSON and artifacts from its store",
                       description="Write a plan's JSON exactly as the file store writes it, "
                       "and with --artifacts its artifacts, from the store it is in.")
    p.add_argument("plan", metavar="PLAN")
    p.add_argument("--out", metavar="FILE", help="write the plan JSON here (default: stdout)")
    p.add_argument("--artifacts", metavar="DIR",
                   help="write the plan's artifacts into this folder")
    _add_store(p)

    p = sub.add_parser("store", help="set up and fill a PostgreSQL store; prune old "
                       "checkpoints",
                       description="migrate: create or upgrade the tables (versioned); "
                       "import DIR: copy a plans folder's plans and checkpoints in "
                       "(idempotent); prune --finished-before DATE: drop the checkpoints of "
                       "plans that finished before DATE (plans and transitions are kept).")
    p.add_argument("action", choices=["migrate", "import", "prune"])
    p.add_argument("dir", nargs="?", metavar="DIR", help="import: the plans folder to copy in")
    p.add_argument("--finished-before", metavar="DATE", help="prune: YYYY-MM-DD")
    p.add_argument("--store", default=None, metavar="URL", help=STORE_HELP)
    p.add_argument("--plans-dir", default=PLANS_DIR, metavar="DIR",
                   help="prune without --store: the plans folder (default: %(default)s)")
    p.add_argument("--format", choices=["text", "json"], default="text")

    p = sub.add_parser("graph", help="print the state machine as Mermaid")
    p.add_argument("--view", choices=["full", "stages"], default="full",
                   help="full: every node and edge (default); stages: the one-glance view")

    tools = [op.mcp for op in OPERATIONS if op.mcp]
    p = sub.add_parser("mcp", help="serve the launch tools and plans over MCP (stdio)",
                       description=f"Serve {', '.join(tools[:-1])} and {tools[-1]} as MCP "
                       "tools, and the plans as resources, over stdio. Needs the 'mcp' "
                       "extra: pip install 'referral-orchestrator[mcp]'.")
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
                        on_transition=on_transition, store=args.store)


def _store(args: argparse.Namespace) -> Any:
    """The store the command names (--store, REFERRAL_ORCHESTRATOR_STORE, else the folder)."""
    from referral_orchestrator.orchestrator import Orchestrator

    return Orchestrator(getattr(args, "plans_dir", PLANS_DIR), store=args.store).store


def _closing(store: Any) -> None:
    from referral_orchestrator.plan.stores import close_store

    close_store(store)


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
    if args.command == "store":
        from .admin import store_command

        return store_command(args, _store(args), _json)
    if args.command == "export":
        from .admin import export_command

        return export_command(args, _store(args))
    if args.command == "validate":
        from referral_orchestrator.launch.text import strip_unsafe
        from referral_orchestrator.orchestrator import validate_plan
        from referral_orchestrator.plan.stores import store_spec

        store = _store(args) if store_spec(args.store) is not None else None
        try:
            report = validate_plan(args.file, store, plans_dir=args.plans_dir)
        finally:
            _closing(store)
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
        serve(args.plans_dir, model=args.model or "offline", store=args.store)
        return 0
    from .progress import progress_for

    # Live progress on stderr (rich on a terminal, plain lines otherwise), stopped before
    # the summary is printed, whether the command succeeds or fails.
    with progress_for(sys.stderr, quiet=args.quiet) as progress:
        orch = _orchestrator(args, progress)
        try:
            outcome = _dispatch(args, orch)
        finally:
            _closing(orch.store)
    return outcome if isinstance(outcome, int) else _emit(outcome, args.format)


def _dispatch(args: argparse.Namespace, orch: Any) -> Any:
    """Run one orchestrator command; returns its ``LaunchResult`` (or an exit code)."""
    op = next(op for op in OPERATIONS if op.cli == args.command)
    if op.name == "status" and args.plan is None:
        from referral_orchestrator.artifacts.report import plans_table

        listing = next(o for o in OPERATIONS if o.name == "list_plans")
        given = {o.name: getattr(args, o.name) for o in listing.options}
        rows = orch.list_plans(**listing.call_kwargs(given))
        narrowed = [o.flag for o in listing.options if given.get(o.name) is not None]
        print(_json(rows) if args.format == "json" else plans_table(rows, narrowed))
        return 0
    values = {o.name: getattr(args, o.name) for o in op.options_for(CLI)}
    filters = [o.flag for o in op.options_for(CLI) if o.listing and values[o.name] is not None]
    if filters:
        raise UsageError(f"{', '.join(filters)} filter the list of plans: leave out PLAN")
    return getattr(orch, op.method)(**op.call_kwargs(values))


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

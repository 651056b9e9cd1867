"""One table of the façade's operations, rendered by every way in.

Each :class:`Operation` names an ``Orchestrator`` method and its arguments (:class:`Option`)
once; the surfaces render it:

- the CLI sub-commands and their options (``surfaces/cli.py``, argparse);
- the MCP tools (``surfaces/mcp.py``) and the langchain-core tools (``surfaces/hosts.py``),
  both from the pydantic model :func:`arguments_model` builds (field descriptions included);
- the Claude Code slash commands in ``commands/*.md`` are written by hand (they are prompts),
  and a test checks each one against its operation: the options its ``argument-hint``
  lists, the choices it shows, and ``disable-model-invocation`` for a person's decision.

The table itself is plain classes and tuples: ``referral-orchestrator --help`` builds its
parser from it without importing pydantic (``bench/bench_cli.py`` watches that).
"""

from __future__ import annotations

# No typing at run time: the CLI imports this module for --help (see surfaces/cli.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    from pydantic import BaseModel

CLI = "cli"
MCP = "mcp"
TOOLS = "tools"  # langchain-core tools (hosts.as_tools)
PLUGIN = "claude-code"  # a slash command in commands/<cli name>.md
ALL = frozenset({CLI, MCP, TOOLS})


class Option:
    """One argument of an operation.

    ``name`` is the CLI destination and the MCP / tool field; ``param`` the façade
    method's keyword (default: ``name``); ``flag`` the CLI option (default ``--name`` with
    dashes). ``kind`` is ``str``, ``list`` (a comma list on the command line; a list or a
    comma list in tools), ``int``, ``float`` or ``bool`` (a switch). ``cli_optional``
    leaves a required value's check to the façade, whose error names the fix (or, for a
    positional, makes it optional: ``status`` without a plan lists them all).
    ``setting`` options configure the ``Orchestrator`` rather than the call;
    ``cli_help=False`` prints no help line for the option (as ``--decision`` has none).
    ``listing`` options of ``status`` filter the list of plans (``status`` without a plan,
    i.e. ``list_plans``): they are not passed to the method of a single plan.
    """

    __slots__ = ("choices", "cli_help", "cli_optional", "default", "flag", "help", "kind",
                 "listing", "metavar", "name", "param", "positional", "required", "setting",
                 "surfaces")

    def __init__(self, name: str, help: str, *, kind: str = "str", required: bool = False,
                 default: Any = None, choices: tuple[str, ...] = (), flag: str | None = None,
                 param: str | None = None, positional: bool = False, metavar: str | None = None,
                 surfaces: frozenset[str] = ALL, cli_optional: bool = False,
                 cli_help: bool = True, setting: bool = False, listing: bool = False) -> None:
        self.name = name
        self.help = help
        self.kind = kind
        self.required = required
        self.default = default
        self.choices = choices
        self.flag = flag or "--" + name.replace("_", "-")
        self.param = param or name
        self.positional = positional
        self.metavar = metavar
        self.surfaces = surfaces
        self.cli_optional = cli_optional
        self.cli_help = help if cli_help else None
        self.setting = setting
        self.listing = listing


class Operation:
    """One façade operation and where it is exposed.

    ``method`` is the ``Orchestrator`` method (``a<method>`` is its async twin);
    ``cli`` / ``mcp`` / ``tool`` are its names on each surface (``None``: not exposed
    there); ``plugin`` says ``commands/<cli>.md`` offers it as a Claude Code slash
    command; ``person`` says a person must trigger it (a decision is theirs): the slash
    command carries ``disable-model-invocation`` and tool descriptions say so.
    """

    __slots__ = ("cli", "cli_description", "description", "mcp", "method", "name", "options",
                 "person", "plugin", "summary", "title", "tool")

    def __init__(self, name: str, *, method: str, summary: str, title: str, description: str,
                 options: tuple[Option, ...], cli: str | None = None, mcp: str | None = None,
                 tool: str | None = None, plugin: bool = False, person: bool = False,
                 cli_description: str | None = None) -> None:
        self.name = name
        self.method = method
        self.summary = summary
        self.title = title
        self.description = description
        self.options = options
        self.cli = cli
        self.mcp = mcp
        self.tool = tool
        self.plugin = plugin
        self.person = person
        self.cli_description = cli_description

    @property
    def surfaces(self) -> frozenset[str]:
        """The surfaces that expose this operation."""
        named = {CLI: self.cli, MCP: self.mcp, TOOLS: self.tool,
                 PLUGIN: self.cli if self.plugin else None}
        return frozenset(s for s, n in named.items() if n is not None)

    def options_for(self, surface: str) -> tuple[Option, ...]:
        """The options this surface carries, in table order."""
        return tuple(o for o in self.options if surface in o.surfaces)

    def doc(self) -> str:
        """The description tools and MCP clients read (a person's decision says so)."""
        if not self.person:
            return self.description
        return (self.description + " Only call this on a person's explicit instruction: "
                "the decision is theirs.")

    def call_kwargs(self, values: dict[str, Any]) -> dict[str, Any]:
        """The façade method's keyword arguments from a surface's values (by option name)."""
        return {o.param: values[o.name] for o in self.options
                if not o.setting and not o.listing and o.name in values}


PLAN = Option("plan", "plan id or path", required=True, positional=True, metavar="PLAN")


def _filters(listing: bool) -> tuple[Option, ...]:
    """The filters of the list of plans (on ``status`` without a plan they are ``listing``)."""
    surfaces = frozenset({CLI}) if listing else frozenset({MCP, TOOLS})
    return (
        Option("status", "only plans in this status, e.g. awaiting_approval, completed",
               flag="--status", surfaces=surfaces, listing=listing),
        Option("program", "only plans of this program (its name, in any case)",
               surfaces=surfaces, listing=listing),
        Option("since", "only plans updated on or after this date, YYYY-MM-DD",
               surfaces=surfaces, listing=listing),
        Option("limit", "at most this many plans (oldest first)", kind="int",
               surfaces=surfaces, listing=listing),
        Option("offset", "skip this many plans first (pagination)", kind="int",
               surfaces=surfaces, listing=listing),
    )


PERSON = "person recording the decision"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "launch", method="launch", cli="launch-program", mcp="launch_program",
        tool="launch_referral_program", plugin=True, title="Launch a referral program",
        summary="plan and run a launch",
        cli_description="Plan and run the launch of a referral program.",
        description=(
            "Plan and run the launch of a referral program: checklist, tooling & QA, comms "
            "kit, enablement, approvals and go-live, with an audit-ready plan JSON. Returns "
            "the plan id, status, artifact paths and next_actions; status awaiting_approval "
            "means each approver must decide (approve), awaiting_decision that the exec "
            "sponsor must (escalation)."),
        options=(
            Option("program", 'program name or id, e.g. "Customer Advocates"', required=True,
                   cli_optional=True),
            Option("launch_date", "go-live date, YYYY-MM-DD", required=True, cli_optional=True),
            Option("channels", "comma list: email, in-app, sms, push, social, landing-page, "
                   "partner-portal", kind="list", required=True, cli_optional=True),
            Option("segments", "comma list of participant personas (optional)", kind="list"),
            Option("approvers", "comma list of stakeholders who gate go-live (optional)",
                   kind="list"),
            Option("as_of", "planning reference date, YYYY-MM-DD (default: today)"),
            Option("out", "artifact folder (default: launches/<plan-id>)", param="out_dir",
                   surfaces=frozenset({CLI})),
            Option("roster", "YAML file: unavailable agents, substitutes, people",
                   surfaces=frozenset({CLI})),
            Option("pattern", "diamond: comms and enablement in parallel (default); "
                   "pipeline: in turn", choices=("diamond", "pipeline"), default="diamond"),
            Option("landing_url", "referral landing page URL for tracking links (QA probes "
                   "it over HTTP)", surfaces=frozenset({CLI})),
            Option("approval_lead_days", "approvals are due this many business days before "
                   "launch (default: 5)", kind="int", default=5, surfaces=frozenset({CLI})),
            Option("country", "ISO 3166-1 alpha-2 code of the holiday calendar for due dates "
                   "and business days, e.g. GB, DE, JP (default: US)"),
            Option("subdivision", "state, Land or nation of --country for regional holidays, "
                   "e.g. ENG, BY, CA (default: nationwide holidays only)"),
            Option("timezone", "IANA time zone of sessions and go-live times, e.g. "
                   "Europe/Berlin (default: the country's zone, or UTC when it has several)"),
            Option("currency", "ISO 4217 code of the reward copy, e.g. EUR (default: the "
                   "country's currency)"),
            Option("max_cost_usd", "model spend limit for this launch; a breach escalates",
                   kind="float", setting=True, surfaces=frozenset({CLI})),
            Option("max_concurrency", "parallel drafts at once (default: 16)", kind="int",
                   default=16, setting=True, surfaces=frozenset({CLI})),
        )),
    Operation(
        "approve", method="approve", cli="approve", mcp="approve",
        tool="approve_referral_launch", plugin=True, person=True,
        title="Record an approval decision",
        summary="record an approver's decision and resume",
        description=(
            "Record one approver's decision on a launch awaiting approval and resume the run; "
            "reject sends the package back for rework with the note as the feedback."),
        options=(
            PLAN,
            Option("approver", "approver name as given in --approvers", required=True),
            Option("reject", "send the package back for rework", kind="bool", default=False),
            Option("note", "what to change (fed back into the rework)"),
            Option("by", PERSON),
        )),
    Operation(
        "escalation", method="escalation", cli="escalation", mcp="escalation_decision",
        tool="decide_referral_escalation", plugin=True, person=True,
        title="Exec sponsor's escalation decision",
        summary="the exec sponsor's decision at the top of the ladder",
        description=(
            "The exec sponsor's decision on a launch awaiting a decision (the top of the "
            "escalation ladder): proceed, descope a channel (needs channel), postpone to a "
            "new date (needs launch_date), or halt the launch for good."),
        options=(
            PLAN,
            Option("decision", "proceed, descope, postpone or halt", required=True,
                   choices=("proceed", "descope", "postpone", "halt"), cli_help=False),
            Option("channel", "channel to drop (descope)"),
            Option("launch_date", "new go-live date (postpone)"),
            Option("note", "why"),
            Option("by", "person deciding"),
        )),
    Operation(
        "resume", method="resume", cli="resume", title="Resume a stopped launch",
        summary="continue a stopped run from its last checkpoint",
        description="Continue a run that stopped (crash, kill) from its last checkpoint.",
        options=(
            PLAN,
            Option("from_plan", "rebuild missing or foreign checkpoints from the plan's own "
                   "records (decisions and finished stages are kept), then continue",
                   kind="bool", default=False),
        )),
    Operation(
        "status", method="status", cli="status", mcp="status", tool="referral_launch_status",
        plugin=True, title="Launch status", summary="one plan in detail, or all plans as a table",
        description=(
            "One launch plan's status, artifacts and next actions; evaluates approval "
            "deadlines (as of a date, default today), which may escalate a slipped approval. "
            "model and usage_by_agent say which model each agent ran on and what it cost; "
            "pending is the open question (action_requests / review_configs) if any."),
        options=(
            Option("plan", "plan id or path", required=True, positional=True, metavar="PLAN",
                   cli_optional=True),
            Option("as_of", "evaluate approval deadlines on this date (default: today)",
                   param="today"),
            *_filters(listing=True),
        )),
    Operation(
        "list_plans", method="list_plans", mcp="list_plans", title="List launch plans",
        summary="every plan as a table",
        description=("Every plan in the store: id, status, program, launch date, "
                     "readiness; filtered by status, program and last update, paginated."),
        options=_filters(listing=False)),
)
BY_NAME = {op.name: op for op in OPERATIONS}


def operation(name: str) -> Operation:
    """The operation called ``name`` (``launch``, ``approve``, ...)."""
    return BY_NAME[name]


def exposed(surface: str) -> Iterable[Operation]:
    """The operations a surface exposes, in table order."""
    return (op for op in OPERATIONS if surface in op.surfaces)


_MODELS: dict[tuple[str, str], type[BaseModel]] = {}


def arguments_model(op: Operation, surface: str) -> type[BaseModel]:
    """The pydantic model of ``op``'s arguments on ``surface`` (MCP or tools), cached.

    Field descriptions are the table's help texts; a ``list`` option takes a list of
    strings or one comma-separated string, as the façade does.
    """
    key = (op.name, surface)
    if key not in _MODELS:
        from typing import Literal

        from pydantic import Field, create_model

        fields: dict[str, Any] = {}
        for o in op.options_for(surface):
            kind: Any = {"str": str, "list": list[str] | str, "int": int, "float": float,
                         "bool": bool}[o.kind]
            if o.choices:  # Literal["a", "b"] from the table's tuple
                kind = Literal.__getitem__(o.choices)
            if not o.required and o.default is None:
                kind = kind | None
            text = o.help + ("; a list of names, or one comma-separated string"
                             if o.kind == "list" else "")
            fields[o.name] = (kind, Field(... if o.required else o.default, description=text))
        _MODELS[key] = create_model(
            "".join(part.title() for part in op.name.split("_")) + "Arguments",
            __doc__=op.doc(), **fields)
    return _MODELS[key]

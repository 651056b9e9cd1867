"""One table of operations: the CLI, the MCP tools, the langchain tools and the slash commands.

Every surface is rendered from ``surfaces/operations.py`` (the slash commands are prompts
written by hand, so they are checked against it here), and every option reaches a
parameter of the façade method it names.
"""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from referral_orchestrator import Orchestrator, as_tools
from referral_orchestrator.surfaces.cli import build_parser
from referral_orchestrator.surfaces.operations import (
    CLI,
    MCP,
    OPERATIONS,
    PLUGIN,
    TOOLS,
    Operation,
    arguments_model,
    exposed,
)

ROOT = Path(__file__).resolve().parents[1]
# Options every CLI command takes besides its operation's (process settings, output)
COMMON = {"--plans-dir", "--store", "--format", "--model", "--quiet", "-q", "--help", "-h"}


def cli_flags(op: Operation) -> dict[str, Any]:
    """The CLI parser's options of ``op``'s sub-command, by flag."""
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    parser = sub.choices[op.cli]  # type: ignore[attr-defined]
    return {flag: action for action in parser._actions for flag in action.option_strings}


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    head, body = path.read_text(encoding="utf-8")[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def test_operation_and_option_names_are_unique_and_documented() -> None:
    for surface in (CLI, MCP, TOOLS):
        names = [getattr(op, {CLI: "cli", MCP: "mcp", TOOLS: "tool"}[surface])
                 for op in exposed(surface)]
        assert len(names) == len(set(names)), surface
    for op in OPERATIONS:
        assert op.summary and op.description and op.title
        assert len({o.name for o in op.options}) == len(op.options)
        assert all(o.help for o in op.options)


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.name)
def test_every_option_reaches_a_parameter_of_its_facade_method(op: Operation) -> None:
    method = inspect.signature(getattr(Orchestrator, op.method)).parameters
    settings = inspect.signature(Orchestrator).parameters
    listing = inspect.signature(Orchestrator.list_plans).parameters  # status without a plan
    for o in op.options:
        assert o.param in (settings if o.setting else listing if o.listing else method), (
            op.name, o.name)
    if TOOLS in op.surfaces:  # a langchain tool's coroutine awaits the async twin
        assert inspect.iscoroutinefunction(getattr(Orchestrator, "a" + op.method))


@pytest.mark.parametrize("op", list(exposed(CLI)), ids=lambda op: op.name)
def test_each_cli_command_has_exactly_the_options_of_its_operation(op: Operation) -> None:
    flags = cli_flags(op)
    table = {o.flag: o for o in op.options_for(CLI) if not o.positional}
    assert set(flags) - COMMON == set(table)
    for flag, o in table.items():
        action = flags[flag]
        assert action.help == o.cli_help
        assert tuple(action.choices or ()) == o.choices
        assert action.required == (o.required and not o.cli_optional)


def test_the_mcp_server_lists_the_tables_tools_with_its_argument_schemas(
        tmp_path: Path) -> None:
    from referral_orchestrator.surfaces.mcp import build_server

    async def tools() -> list[Any]:
        return list(await build_server(tmp_path / "plans").list_tools())

    listed = {t.name: t for t in anyio.run(tools)}
    assert list(listed) == [op.mcp for op in exposed(MCP)]
    for op in exposed(MCP):
        schema = listed[op.mcp].input_schema
        model = arguments_model(op, MCP).model_json_schema()
        assert schema["properties"] == model["properties"]
        assert set(schema.get("required", [])) == set(model.get("required", []))
        assert listed[op.mcp].title == op.title and listed[op.mcp].description == op.doc()


def test_the_langchain_tools_are_the_tables_with_its_argument_models(
        orch: Orchestrator) -> None:
    tools = as_tools(orch)
    assert [t.name for t in tools] == [op.tool for op in exposed(TOOLS)]
    for tool, op in zip(tools, exposed(TOOLS), strict=True):
        assert tool.args_schema is arguments_model(op, TOOLS)
        assert tool.description == op.doc()
        assert set(tool.args) == {o.name for o in op.options_for(TOOLS)}


def test_a_persons_decisions_say_so_to_every_model() -> None:
    for op in OPERATIONS:
        assert ("person's explicit instruction" in op.doc()) == op.person


def test_the_slash_commands_are_the_tables_commands() -> None:
    files = {p.stem for p in (ROOT / "commands").glob("*.md")}
    assert files == {op.cli for op in exposed(PLUGIN)}


@pytest.mark.parametrize("op", list(exposed(PLUGIN)), ids=lambda op: op.name)
def test_each_slash_commands_argument_hint_lists_options_the_table_has(op: Operation) -> None:
    meta, body = front_matter(ROOT / "commands" / f"{op.cli}.md")
    hint = meta["argument-hint"]
    shown = re.findall(r"(--[a-z-]+)(?: ([a-z|-]+\|[a-z|-]+))?", hint)
    options = {o.flag: o for o in op.options_for(CLI) if not o.positional}
    assert {flag for flag, _ in shown} <= set(options) | COMMON, hint
    for flag, choices in shown:  # `--decision proceed|descope|postpone|halt`
        if choices and flag in options:
            assert tuple(choices.split("|")) == options[flag].choices, flag
    required = {o.flag for o in options.values() if o.required}
    assert required <= {flag for flag, _ in shown}, hint
    positional = [o for o in op.options_for(CLI) if o.positional]
    for o in positional:  # PLAN, or [PLAN] when the CLI may go without it
        assert re.search(rf"(^|\s){re.escape(f'[{o.metavar}]' if o.cli_optional else o.metavar)}"
                         r"(\s|$)", hint), hint
    assert (meta.get("disable-model-invocation") is True) == op.person
    assert f"referral-orchestrator {op.cli} $ARGUMENTS" in body


def test_help_builds_the_parser_from_the_table_without_pydantic() -> None:
    code = ("import sys; from referral_orchestrator.surfaces import cli; cli.build_parser(); "
            "print(sorted(m for m in ('pydantic', 'langgraph', 'langchain_core', 'typing') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_the_docs_table_of_operations_is_the_tables() -> None:
    text = (ROOT / "docs" / "surfaces.md").read_text(encoding="utf-8")
    section = text.split("## One table of operations", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip().strip("`") for c in line.strip("|").split("|")]
            for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    documented = {row[1]: row[2:6] for row in rows[1:]}
    assert list(documented) == [op.method for op in OPERATIONS]
    for op in OPERATIONS:
        cli, mcp, tool, _ = documented[op.method]
        assert cli == op.cli or (op.cli is None and cli.startswith("status"))
        assert (mcp, tool) == (op.mcp or "–", op.tool or "–")

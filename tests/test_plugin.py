"""The repo as a Claude Code plugin and marketplace: manifests, commands, agents, skills.

Field lists follow Claude Code's plugin, marketplace, slash-command and sub-agent
references and the Agent Skills format. Each command body's CLI line is run the way Claude
Code expands it: ``$ARGUMENTS`` replaced by the text the user typed, then run by a shell.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import referral_orchestrator

IN_CI = os.environ.get("CI", "").lower() in ("true", "1")
ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "referral-program-orchestration"
KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")

PLUGIN_FIELDS = {"name", "version", "description", "author", "homepage", "repository",
                 "license", "keywords", "commands", "agents", "skills", "hooks", "mcpServers",
                 "lspServers", "outputStyles", "userConfig"}
MARKETPLACE_FIELDS = {"$schema", "name", "owner", "plugins", "description", "version",
                      "metadata"}
ENTRY_FIELDS = PLUGIN_FIELDS | {"source", "category", "tags", "strict"}
COMMAND_FIELDS = {"description", "argument-hint", "allowed-tools", "model",
                  "disable-model-invocation"}
# Claude Code's sub-agent fields, plus the ones our roster reads (SPEC section 3).
AGENT_FIELDS = {"name", "description", "tools", "disallowedTools", "model", "permissionMode",
                "maxTurns", "skills", "mcpServers", "hooks", "memory", "background",
                "isolation", "color"}
OUR_AGENT_FIELDS = {"kind", "role", "capabilities", "fallbacks", "escalates_to", "available"}
AGENT_MODELS = {"inherit", "sonnet", "opus", "haiku"}
SKILL_FIELDS = {"name", "description", "license", "allowed-tools", "metadata", "compatibility"}
COMMANDS = ["launch-program", "approve", "escalation", "status"]


def front_matter(path: Path) -> tuple[dict[str, Any], str]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), f"{path} has no YAML front matter"
    head, body = text[4:].split("\n---\n", 1)
    meta = yaml.safe_load(head)
    assert isinstance(meta, dict), path
    return meta, body


def test_plugin_manifest_names_the_plugin_with_documented_fields_only() -> None:
    manifest = json.loads((ROOT / ".claude-plugin" / "plugin.json").read_text())
    assert manifest["name"] == PLUGIN and KEBAB.match(manifest["name"])
    assert set(manifest) <= PLUGIN_FIELDS, set(manifest) - PLUGIN_FIELDS
    assert SEMVER.match(manifest["version"])
    assert manifest["version"] == referral_orchestrator.__version__
    assert isinstance(manifest["author"], dict) and manifest["author"]["name"]
    assert manifest["description"].strip()
    # the default component folders sit at the plugin root, never inside .claude-plugin/
    for folder in ("commands", "agents", "skills"):
        assert (ROOT / folder).is_dir() and not (ROOT / ".claude-plugin" / folder).exists()


def test_marketplace_lists_the_plugin_from_this_repository() -> None:
    market = json.loads((ROOT / ".claude-plugin" / "marketplace.json").read_text())
    assert set(market) <= MARKETPLACE_FIELDS, set(market) - MARKETPLACE_FIELDS
    assert KEBAB.match(market["name"]) and market["owner"]["name"]
    (entry,) = market["plugins"]
    assert set(entry) <= ENTRY_FIELDS, set(entry) - ENTRY_FIELDS
    assert entry["name"] == PLUGIN
    assert entry["source"].startswith("./")
    source = (ROOT / entry["source"]).resolve()
    assert (source / ".claude-plugin" / "plugin.json").is_file()
    manifest = json.loads((source / ".claude-plugin" / "plugin.json").read_text())
    assert entry.get("version", manifest["version"]) == manifest["version"]


@pytest.mark.parametrize("name", COMMANDS)
def test_command_front_matter_is_claude_code_format_scoped_to_the_cli(name: str) -> None:
    meta, body = front_matter(ROOT / "commands" / f"{name}.md")
    assert set(meta) <= COMMAND_FIELDS, set(meta) - COMMAND_FIELDS
    assert {"description", "argument-hint", "allowed-tools"} <= set(meta)
    assert 0 < len(meta["description"]) <= 80
    tools = [t.strip() for t in str(meta["allowed-tools"]).split(",")]
    assert tools == ["Bash(referral-orchestrator:*)"]
    (line,) = [ln for ln in body.splitlines() if "$ARGUMENTS" in ln and ln.startswith("ref")]
    assert line == f"referral-orchestrator {name} $ARGUMENTS"
    assert "next" in body.lower()  # tells Claude how to report the next action


@pytest.mark.parametrize("name", ["approve", "escalation"])
def test_decision_commands_are_only_triggered_by_a_person(name: str) -> None:
    meta, _ = front_matter(ROOT / "commands" / f"{name}.md")
    assert meta.get("disable-model-invocation") is True


def test_plugin_bundles_the_mcp_server_for_the_project_plans_folder() -> None:
    manifest = json.loads((ROOT / ".claude-plugin" / "plugin.json").read_text())
    (server,) = manifest["mcpServers"].values()
    assert server["command"] == "referral-orchestrator"
    assert server["args"] == ["mcp", "--plans-dir", "${CLAUDE_PROJECT_DIR:-.}/.claude/plans"]


def test_command_files_are_exactly_the_four_backend_commands() -> None:
    assert sorted(p.stem for p in (ROOT / "commands").glob("*.md")) == sorted(COMMANDS)


@pytest.mark.parametrize("path", sorted((ROOT / "agents").glob("*.md")), ids=lambda p: p.stem)
def test_agent_files_load_as_claude_code_sub_agents(path: Path) -> None:
    meta, body = front_matter(path)
    assert meta["name"] == path.stem and KEBAB.match(meta["name"])
    assert isinstance(meta["description"], str) and len(meta["description"]) >= 20
    unknown = set(meta) - AGENT_FIELDS - OUR_AGENT_FIELDS
    assert not unknown, f"{path.name}: unknown front matter {unknown}"
    model = meta.get("model", "inherit")
    assert model in AGENT_MODELS or str(model).startswith("claude-"), model
    skills = meta.get("skills") or []
    assert isinstance(skills, list)
    for skill in skills:
        assert (ROOT / "skills" / skill / "SKILL.md").is_file(), f"{path.name}: {skill}"
    if "tools" in meta:
        assert isinstance(meta["tools"], (str, list))
    assert len(body.strip()) >= 20  # the system prompt


@pytest.mark.parametrize("path", sorted((ROOT / "skills").glob("*/SKILL.md")),
                         ids=lambda p: p.parent.name)
def test_skills_follow_the_agent_skills_format(path: Path) -> None:
    meta, body = front_matter(path)
    assert set(meta) <= SKILL_FIELDS, set(meta) - SKILL_FIELDS
    name, desc = meta["name"], meta["description"]
    assert name == path.parent.name and KEBAB.match(name) and len(name) <= 64
    assert "anthropic" not in name and "claude" not in name
    assert isinstance(desc, str) and 0 < len(desc) <= 1024
    assert "<" not in desc and ">" not in desc
    assert body.strip()


# -- running the command bodies as Claude Code would ------------------------------------


def expand(command: str, arguments: str) -> str:
    """The command body's CLI line with ``$ARGUMENTS`` replaced by the user's text."""
    _, body = front_matter(ROOT / "commands" / f"{command}.md")
    (line,) = [ln for ln in body.splitlines() if "$ARGUMENTS" in ln and ln.startswith("ref")]
    return line.replace("$ARGUMENTS", arguments)


def shell(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def plan_id(out: str) -> str:
    match = re.search(r"plan-\d{8}-\d{6}(-\d+)?", out)
    assert match, out
    return match.group(0)


def test_slash_commands_run_the_backend_as_typed_through_an_approval(tmp_path: Path) -> None:
    seed = ('--program "Customer Advocates" --launch-date 2026-12-10 --channels "email,in-app"'
            ' --as-of 2026-11-25 --approvers "legal,finance"')
    launched = shell(expand("launch-program", seed), tmp_path)
    assert launched.returncode == 0, launched.stderr
    assert "status: awaiting_approval" in launched.stdout
    pid = plan_id(launched.stdout)
    assert (tmp_path / ".claude" / "plans" / f"{pid}.json").is_file()
    assert "checklist" in launched.stderr  # plain progress lines when not a terminal

    table = shell(expand("status", ""), tmp_path)
    assert table.returncode == 0 and pid in table.stdout and "awaiting_approval" in table.stdout

    legal = shell(expand("approve", f'{pid} --approver legal --note "terms reviewed"'), tmp_path)
    assert legal.returncode == 0, legal.stderr
    finance = shell(expand("approve", f"{pid} --approver finance"), tmp_path)
    assert finance.returncode == 0 and "status: completed" in finance.stdout

    one = shell(expand("status", f"{pid} --format json"), tmp_path)
    assert json.loads(one.stdout)["status"] == "completed"


def test_escalation_command_records_the_sponsor_decision(tmp_path: Path) -> None:
    seed = ("--program 'Customer Advocates' --launch-date 2026-12-10 --channels email,in-app "
            "--as-of 2026-11-25 --approvers legal --quiet")
    pid = plan_id(shell(expand("launch-program", seed), tmp_path).stdout)
    # the approval slips past its deadline twice: rung 2 re-runs it, then the sponsor decides
    for day in ("2026-12-05", "2026-12-08"):
        shell(expand("status", f"{pid} --as-of {day} --quiet"), tmp_path)
    waiting = shell(expand("status", f"{pid} --format json"), tmp_path)
    assert json.loads(waiting.stdout)["status"] == "awaiting_decision"

    halted = shell(expand("escalation", f'{pid} --decision halt --note "legal not ready" '
                                        "--by 'VP Growth'"), tmp_path)
    assert halted.returncode == 4 and "status: halted" in halted.stdout


def test_a_bad_slash_command_argument_gives_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = shell(expand("launch-program", shlex.join(
        ["--program", "Customer Advocates", "--launch-date", "2026-12-10", "--channels",
         "fax"])), tmp_path)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "email" in bad.stderr
    assert not (tmp_path / ".claude").exists()


# -- the Claude Code CLI itself (offline: validation and an MCP health check, no model) ----


def claude_cli() -> str:
    """The ``claude`` executable (.ci/run installs it under .ci/node), or skip / fail."""
    local = ROOT / ".ci" / "node" / "node_modules" / ".bin" / "claude"
    found = str(local) if local.exists() else shutil.which("claude")
    if found is None:
        why = "the Claude Code CLI is not installed (npm install --prefix .ci/node " \
              "@anthropic-ai/claude-code)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    return found


def run_claude(args: list[str], home: Path, cwd: Path,
               **env: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with a throwaway HOME and a dead API endpoint: nothing leaves the host."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "CLAUDE"))}
    full.update(HOME=str(home), ANTHROPIC_BASE_URL="http://127.0.0.1:9",
                DISABLE_AUTOUPDATER="1", CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC="1",
                PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                **env)
    return subprocess.run([claude_cli(), *args], cwd=cwd, env=full, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.parametrize("target", [".", ".claude-plugin/plugin.json"])
def test_claude_code_validates_the_marketplace_and_plugin_strictly(target: str,
                                                                   tmp_path: Path) -> None:
    # the plugin manifest path also validates every command, agent and skill file
    done = run_claude(["plugin", "validate", "--strict", str(ROOT / target)], tmp_path,
                      tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation passed" in done.stdout


def test_claude_code_reports_the_bundled_mcp_server_healthy(tmp_path: Path) -> None:
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    project.mkdir()
    done = run_claude(["--plugin-dir", str(ROOT), "mcp", "list"], home, project,
                      CLAUDE_PROJECT_DIR=str(project))
    assert done.returncode == 0, done.stdout + done.stderr
    (line,) = [ln for ln in done.stdout.splitlines()
               if ln.startswith(f"plugin:{PLUGIN}:referral-orchestrator:")]
    assert f"--plans-dir {project}/.claude/plans" in line
    assert "Connected" in line, done.stdout

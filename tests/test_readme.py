"""Every command on README's front page runs as written, in the order written, from a checkout beside the data.

The commands are read from README.md itself. Only their size is scaled down: fewer training steps and evaluation
rows, a free port, and the tiny test model for the two commands that train (so the adapter the later commands
load is the tiny one). `ask`, `mcp` and the Python example use the real embedded model with the shipped adapter.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sqlora.cli.main import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SCALED = {"--max-steps": "2", "--limit": "4"}


def quickstart_blocks() -> tuple[list[str], str]:
    """The shell lines (continuations joined) and the Python example of the Quickstart section."""
    section = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    shell = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    python = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    lines = shell.replace("\\\n", " ").splitlines()
    return [line.split(" #")[0].strip() for line in lines if line.strip() and not line.startswith("#")], python


def scaled(args: list[str], tiny: Path, port: int) -> list[str]:
    """The same command, smaller: SCALED counts, a free port, the tiny model for commands that train."""
    args = [SCALED.get(args[i - 1], arg) if i else arg for i, arg in enumerate(args)]
    args = [str(port) if i and args[i - 1] == "--port" else arg for i, arg in enumerate(args)]
    if args[0] in ("train", "adapt"):
        args += ["--model", str(tiny)]
    if args[0] == "adapt":
        args += ["--max-pairs", "40", "--eval-limit", "2", "--max-new-tokens", "24"]
    return args


@pytest.fixture
def checkout(tmp_path, spider_dir, sql_create_context_path) -> Path:
    """A repository folder with ../shared/data beside it; the database the commands open is a private copy."""
    repo, data = tmp_path / "repo", tmp_path / "shared" / "data"
    repo.mkdir()
    (data / "spider" / "database").mkdir(parents=True)
    (data / "sql-create-context").symlink_to(sql_create_context_path.parent, target_is_directory=True)
    for db in (spider_dir / "database").iterdir():
        target = data / "spider" / "database" / db.name
        if db.name == "musical":
            shutil.copytree(db, target)
        else:
            target.symlink_to(db, target_is_directory=True)
    return repo


def serve_answers(args: list[str], cwd: Path, port: int) -> dict:
    """Start `sqlora serve` as written, ask one question over HTTP, stop it."""
    command = [sys.executable, "-m", "sqlora", *args]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SQLORA_TOKEN": ""}
    with subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as server:
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(240):
                if server.poll() is not None:
                    raise AssertionError(server.stdout.read().decode())
                try:
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.5)
            response = httpx.post(url + "/v1/sql", json={"question": "How many actors are there?"}, timeout=60)
            assert response.status_code == 200, response.text
            return response.json()
        finally:
            server.terminate()


def mcp_tools(args: list[str], cwd: Path) -> set[str]:
    """Start `sqlora mcp` as written on stdio, list its tools and the database's tables with the SDK client."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    params = StdioServerParameters(command=sys.executable, args=["-m", "sqlora", *args], env=env, cwd=str(cwd))

    async def scenario() -> set[str]:
        async with Client(params) as client:
            tables = (await client.call_tool("list_tables", {})).structured_content
            assert {t["name"] for t in tables["tables"]} == {"musical", "actor"}
            return {tool.name for tool in (await client.list_tools()).tools}

    return asyncio.run(scenario())


@pytest.mark.real_model
def test_every_front_page_command_runs(checkout, tiny_model_dir, monkeypatch, embedded_dir):
    from db_fixtures import sqlite_checksum

    monkeypatch.chdir(checkout)
    database = checkout.parent / "shared" / "data" / "spider" / "database" / "musical" / "musical.sqlite"
    before = sqlite_checksum(database)
    lines, python = quickstart_blocks()
    variables: dict[str, str] = {}
    ran: list[str] = []
    for line in lines:
        if line.startswith("source "):
            continue
        if match := re.fullmatch(r"(\w+)=(\S+)", line):
            variables[match[1]] = match[2]
            continue
        words = [re.sub(r"\$(\w+)", lambda m: variables[m[1]], word) for word in shlex.split(line)]
        assert words[0] == "sqlora", line
        port = 8000 + os.getpid() % 1000
        args = scaled(words[1:], tiny_model_dir, port)
        if args[0] == "serve":
            answer = serve_answers(args, checkout, port)
            assert isinstance(answer["sql"], str) and "valid" in answer
        elif args[0] == "mcp":
            assert mcp_tools(args, checkout) >= {"list_tables", "generate_sql", "run_query"}
        else:
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, f"{line}\n{result.output}"
        ran.append(args[0])
    assert ran == ["ask", "ask", "train", "eval", "analyze", "serve", "mcp", "adapt"]
    assert (checkout / "runs" / "mine" / "adapter_model.safetensors").exists()
    assert (checkout / "runs" / "eval.json").exists() and (checkout / "runs" / "musical").is_dir()

    printed: list[str] = []
    monkeypatch.setattr("builtins.print", lambda *values, **_: printed.append(" ".join(map(str, values))))
    exec(compile(python, "README.md", "exec"), {})  # noqa: S102 - the README's own example
    assert printed[0].endswith(" True") and printed[1].startswith("[(")  # valid SQL, then its rows
    assert sqlite_checksum(database) == before  # nothing the commands ran wrote to the database

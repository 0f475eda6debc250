"""`sqlora mcp` end to end with the MCP SDK's own client: stdio (a spawned `python -m sqlora mcp`) on a real SQLite
file, streamable HTTP (a spawned server on 127.0.0.1) on the local PostgreSQL; hostile SQL refused, data unchanged."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp")
from db_fixtures import PG_URL, load_into, pg_checksum, pg_connect, spider_sqlite, sqlite_checksum, sqlite_tables  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DB_ID = "musical"
TOOLS = {"list_tables", "describe_table", "generate_sql", "run_query", "explain_query", "optimize_query"}
HOSTILE = [
    "DROP TABLE actor",
    "DELETE FROM actor",
    "UPDATE actor SET age = 0",
    "INSERT INTO actor (Actor_ID, Name) VALUES (99, 'x')",
    "SELECT 1; DROP TABLE actor",
    "WITH d AS (DELETE FROM actor RETURNING *) SELECT * FROM d",
    "CREATE TABLE pwned (a INTEGER)",
]
SQLITE_HOSTILE = [*HOSTILE, "PRAGMA writable_schema = 1", "ATTACH DATABASE '/tmp/pwned.sqlite' AS p"]
PG_HOSTILE = [*HOSTILE, "SELECT pg_read_file('/etc/passwd')", "COPY actor TO '/tmp/pwned.csv'",
              "SELECT set_config('default_transaction_read_only', 'off', false)"]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def text(result) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def musical_db(spider_dir, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("mcp-db") / f"{DB_ID}.sqlite"
    shutil.copyfile(spider_sqlite(spider_dir, DB_ID), target)
    target.chmod(0o644)  # writable: only the server's read-only handling protects it
    return target


async def check_hostile(client, statements: list[str]) -> None:
    for sql in statements:
        result = await client.call_tool("run_query", {"sql": sql})
        assert result.is_error, sql
        assert "refused" in text(result), (sql, text(result))
    planned = await client.call_tool("optimize_query", {"sql": "DELETE FROM actor"})
    assert planned.is_error and "refused" in text(planned)


# --- stdio on SQLite -----------------------------------------------------------------------------------------


def test_stdio_server_on_sqlite(musical_db, tiny_model_dir):
    before = sqlite_checksum(musical_db)
    args = ["-m", "sqlora", "mcp", "--db", f"sqlite:///{musical_db}", "--model", str(tiny_model_dir),
            "--max-new-tokens", "8", "--max-rows", "5"]  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=args, env=env(), cwd=str(ROOT))

    async def scenario() -> None:
        async with Client(params) as client:
            listed = await client.list_tools()
            assert {t.name for t in listed.tools} == TOOLS
            assert all(t.annotations and t.annotations.read_only_hint for t in listed.tools)

            tables = (await client.call_tool("list_tables", {})).structured_content
            assert tables["dialect"] == "sqlite" and tables["database"] == DB_ID
            assert {t["name"] for t in tables["tables"]} == {"musical", "actor"}

            described = await client.call_tool("describe_table", {"table": "MUSICAL"})
            body = described.structured_content
            assert not described.is_error and body["name"] == "musical"
            assert body["primary_key"] == ["Musical_ID"]
            assert {"name": "Name", "type": "TEXT", "primary_key": False} in body["columns"]
            assert body["sample_rows"][0][1] == "The Phantom of the Opera" and len(body["sample_rows"]) == 3

            missing = await client.call_tool("describe_table", {"table": "actors; DROP TABLE actor"})
            assert missing.is_error and "no table named" in text(missing) and "musical, actor" in text(missing)

            rows = await client.call_tool("run_query", {"sql": "SELECT Name, age FROM actor ORDER BY Actor_ID"})
            assert rows.structured_content["columns"] == ["Name", "age"]
            assert rows.structured_content["rows"][0] == ["Ray Meagher", 26]
            assert rows.structured_content["row_count"] == 5 and rows.structured_content["truncated"] is True
            two = await client.call_tool("run_query", {"sql": "SELECT Name FROM actor", "max_rows": 2})
            assert two.structured_content["row_count"] == 2
            broken = await client.call_tool("run_query", {"sql": "SELECT nope FROM actor"})
            assert broken.is_error and "rejected" in text(broken) and "nope" in text(broken)
            await check_hostile(client, SQLITE_HOSTILE)

            explained = await client.call_tool("explain_query", {"sql": "SELECT count(*) FROM actor WHERE age > 20"})
            assert "actor" in explained.structured_content["explanation"]
            assert "greater than 20" in explained.structured_content["explanation"]
            unparsable = await client.call_tool("explain_query", {"sql": "SELEC nonsense (("})
            assert unparsable.is_error and "cannot explain" in text(unparsable)

            hints = await client.call_tool("optimize_query", {"sql": "SELECT * FROM actor WHERE Name = 'Tom Oliver'"})
            report = hints.structured_content
            assert report["plan"] and any(h["kind"] == "full_scan" for h in report["hints"])
            assert any((h["suggestion"] or "").startswith("CREATE INDEX") for h in report["hints"])

            generated = await client.call_tool("generate_sql", {"question": "How many actors are there?"})
            answer = generated.structured_content
            assert not generated.is_error and isinstance(answer["sql"], str) and isinstance(answer["valid"], bool)
            assert answer["valid"] or answer["errors"]  # the random tiny model writes junk: it must say why
            assert answer["dialect"] == "sqlite" and "actor" in answer["tables"]

            empty = await client.call_tool("generate_sql", {"question": ""})
            assert empty.is_error

    asyncio.run(scenario())
    assert sqlite_checksum(musical_db) == before


# --- streamable HTTP on PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_musical(spider_dir, pg_schema) -> str:
    conn = pg_connect()
    load_into("postgres", conn, sqlite_tables(spider_sqlite(spider_dir, DB_ID)), schema=pg_schema)
    conn.execute(f"ALTER TABLE {pg_schema}.musical ADD PRIMARY KEY (musical_id)")
    conn.execute(f"ALTER TABLE {pg_schema}.actor ADD FOREIGN KEY (musical_id) REFERENCES {pg_schema}.musical")
    conn.close()
    return pg_schema


@pytest.fixture()
def http_server(pg_musical, tiny_model_dir, tmp_path):
    """``sqlora mcp --transport http`` on 127.0.0.1 over the PostgreSQL schema, until the test ends."""
    port = free_port()
    log = tmp_path / "mcp.log"
    cmd = [sys.executable, "-m", "sqlora", "mcp", "--db", PG_URL, "--schema", pg_musical, "--transport", "http",
           "--port", str(port), "--model", str(tiny_model_dir), "--max-new-tokens", "8", "--timeout", "1"]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"sqlora mcp exited with {proc.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"sqlora mcp did not come up:\n{log.read_text()}")
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.mark.postgres
def test_streamable_http_server_on_postgres(http_server, pg_musical):
    before = pg_checksum(pg_musical)

    async def scenario() -> None:
        async with Client(http_server) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            tables = (await client.call_tool("list_tables", {})).structured_content
            assert tables["dialect"] == "postgres" and {t["name"] for t in tables["tables"]} == {"musical", "actor"}

            actor = (await client.call_tool("describe_table", {"table": "actor"})).structured_content
            assert actor["foreign_keys"] == [{"columns": ["musical_id"], "ref_table": "musical",
                                              "ref_columns": ["musical_id"]}]  # fmt: skip
            musical = (await client.call_tool("describe_table", {"table": "musical"})).structured_content
            assert musical["primary_key"] == ["musical_id"] and musical["referenced_by"][0]["ref_table"] == "actor"
            assert len(musical["sample_rows"]) == 3

            rows = await client.call_tool("run_query", {"sql": "SELECT count(*) AS n FROM actor"})
            assert rows.structured_content["rows"] == [[9]]
            slow = await client.call_tool("run_query", {"sql": "SELECT pg_sleep(5)"})
            assert slow.is_error and "limit" in text(slow)
            await check_hostile(client, PG_HOSTILE)

            hints = await client.call_tool("optimize_query", {"sql": "SELECT name FROM actor WHERE age > 30"})
            assert hints.structured_content["plan"] and not hints.is_error

            generated = await client.call_tool("generate_sql", {"question": "How many actors are there?"})
            answer = generated.structured_content
            assert not generated.is_error and answer["dialect"] == "postgres" and isinstance(answer["valid"], bool)
            assert answer["valid"] or answer["errors"]

    asyncio.run(scenario())
    assert pg_checksum(pg_musical) == before


# --- the real embedded model, in-process -------------------------------------------------------------------------


@pytest.mark.real_model
def test_generate_sql_with_the_embedded_model(musical_db):
    from sqlora.db.connect import Database
    from sqlora.inference.generator import SQLGenerator
    from sqlora.mcp import DatabaseTools, build_server

    tools = DatabaseTools(Database(musical_db), lambda: SQLGenerator(max_new_tokens=48))

    async def scenario() -> dict:
        async with Client(build_server(tools)) as client:
            generated = await client.call_tool("generate_sql", {"question": "How many actors are there?"})
            assert not generated.is_error
            answer = generated.structured_content
            ran = await client.call_tool("run_query", {"sql": answer["sql"]}) if answer["valid"] else None
            return {**answer, "ran": ran}

    answer = asyncio.run(scenario())
    assert 0 < answer["generated_tokens"] <= 48
    assert answer["valid"] == (not answer["errors"])  # the raw 135M base model often writes no SQL at all
    if answer["valid"]:
        assert not answer["ran"].is_error, text(answer["ran"])


# --- the CLI's own checks ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--transport", "sse"], "--transport"),
        (["--port", "0"], "--port"),
        (["--max-rows", "0"], "--max-rows"),
        (["--precision", "int3"], "unknown --precision"),
    ],
)
def test_mcp_cli_rejects_bad_options(musical_db, args, message):
    from typer.testing import CliRunner

    from sqlora.cli.main import app

    result = CliRunner().invoke(app, ["mcp", "--db", f"sqlite:///{musical_db}", *args])
    assert result.exit_code == 2 and message in result.output


def test_mcp_cli_unopenable_database_is_one_error_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sqlora", "mcp", "--db", f"sqlite:///{tmp_path / 'missing.sqlite'}"],
        capture_output=True, text=True, env=env(), cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "cannot open database" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stdout == ""

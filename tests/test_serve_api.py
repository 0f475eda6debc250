"""The HTTP API: real tiny model, real Spider SQLite database, read-only execution, limits, auth, batching, vLLM client."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from sqlora.inference.generator import SQLGenerator, SQLResult
from sqlora.serving.app import ServeSettings, create_app
from sqlora.serving.batching import MicroBatcher

DB_ID = "musical"


@pytest.fixture(scope="module")
def musical_db(spider_dir, tmp_path_factory) -> Path:
    """A temporary copy of Spider's ``musical`` database (so even a failed guard cannot touch shared data)."""
    source = spider_dir / "database" / DB_ID / f"{DB_ID}.sqlite"
    if not source.exists():
        pytest.skip(f"{source} not found")
    target = tmp_path_factory.mktemp("db") / f"{DB_ID}.sqlite"
    shutil.copyfile(source, target)
    target.chmod(0o644)
    return target


@pytest.fixture(scope="module")
def tiny_generator(tiny_model_dir) -> SQLGenerator:
    """The real generator on the random tiny model: real prompts, extraction and validation, garbage SQL."""
    return SQLGenerator(model=str(tiny_model_dir), max_new_tokens=8, device="cpu")


@pytest.fixture(scope="module")
def client(musical_db, tiny_generator):
    app = create_app(ServeSettings(db_url=f"sqlite:///{musical_db}"), generator=tiny_generator)
    with TestClient(app) as c:
        yield c


class StubGeneratorForExecutionPath:
    """NOT a model: returns fixed SQL claiming it is valid, to exercise execution and the read-only guard."""

    model_name = "stub"
    adapter = None

    def __init__(self, sql: str | None = None, delay_s: float = 0.0) -> None:
        self.sql = sql
        self.delay_s = delay_s
        self.calls: list[int] = []
        self.pairs: list[tuple[str, str]] = []

    def generate_batch(self, pairs: list[tuple[str, str]], checks=None, values=None) -> list[SQLResult]:
        self.calls.append(len(pairs))
        self.pairs.extend(pairs)
        time.sleep(self.delay_s)
        # Without fixed SQL, echo the question so each caller can check it got its own answer.
        return [SQLResult(self.sql or f"SELECT '{q}'", True, [], "", self.delay_s, 1) for q, _ in pairs]


def stub_client(db_path: Path, stub: StubGeneratorForExecutionPath, **settings) -> TestClient:
    return TestClient(create_app(ServeSettings(db_url=f"sqlite:///{db_path}", **settings), generator=stub))


def db_fingerprint(path: Path) -> tuple[str, list]:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("actor", "musical")]
    return digest, counts


# --- meta and schema ---------------------------------------------------------------------------------


def test_healthz_says_what_is_served(client, tiny_model_dir):
    body = client.get("/healthz").json()
    assert body["status"] == "ok"
    assert body["database"] is True and body["dialect"] == "sqlite"
    assert body["model"] == str(tiny_model_dir)
    assert body["backend"] == "hf" and body["max_batch"] == 8


def test_schema_lists_the_real_tables(client):
    body = client.get("/v1/schema").json()
    tables = {t["name"]: t["columns"] for t in body["tables"]}
    assert set(tables) == {"musical", "actor"}
    assert "Musical_ID" in tables["musical"] and "Character" in tables["actor"]
    assert body["context"].startswith("CREATE TABLE") and body["dialect"] == "sqlite"


def test_index_page_and_openapi_docs(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>sqlora" in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN: works offline
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/sql", "/v1/explain", "/v1/schema", "/healthz"} <= set(paths)


# --- /v1/sql through the real tiny model ---------------------------------------------------------------


def test_sql_from_the_database_schema_with_the_tiny_model(client):
    response = client.post("/v1/sql", json={"question": "How many actors are there?"})
    assert response.status_code == 200
    body = response.json()
    assert isinstance(body["sql"], str) and isinstance(body["valid"], bool)
    assert body["valid"] or body["errors"]  # a random model: invalid SQL must say why
    assert body["dialect"] == "sqlite" and body["rows"] is None and body["executed"] is False
    assert body["latency_s"] > 0


def test_sql_with_an_explicit_schema_and_no_database(tiny_generator):
    with TestClient(create_app(generator=tiny_generator)) as c:
        schema = "CREATE TABLE head (age INTEGER, name TEXT)"
        ok = c.post("/v1/sql", json={"question": "How many heads are older than 56?", "schema": schema})
        assert ok.status_code == 200 and set(ok.json()) >= {"sql", "valid", "errors", "latency_s"}
        missing = c.post("/v1/sql", json={"question": "How many heads?"})
        assert missing.status_code == 422 and "schema" in missing.json()["error"]
        no_db = c.post("/v1/sql", json={"question": "q", "schema": schema, "execute": True})
        assert no_db.status_code == 400 and "--db" in no_db.json()["error"]
        assert c.get("/v1/schema").status_code == 404


def test_execute_with_the_tiny_model_never_fails_the_request(client, musical_db):
    before = db_fingerprint(musical_db)
    body = client.post("/v1/sql", json={"question": "List the names of all musicals.", "execute": True}).json()
    if body["executed"]:
        assert body["valid"] and isinstance(body["rows"], list)
    else:
        assert not body["valid"] and body["errors"]
    assert db_fingerprint(musical_db) == before


def test_schemas_are_cut_to_the_tables_the_question_is_about(spider_dir):
    db = spider_dir / "database" / "college_2" / "college_2.sqlite"
    stub = StubGeneratorForExecutionPath("SELECT count(*) FROM instructor")
    with stub_client(db, stub) as c:
        body = c.post("/v1/sql", json={"question": "How many instructors are there?", "execute": True}).json()
        full = c.get("/v1/schema").json()["context"]
    schema = stub.pairs[0][1]
    assert "CREATE TABLE instructor" in schema and len(schema) < len(full)
    assert 1 <= schema.count("CREATE TABLE") <= 3 < full.count("CREATE TABLE")
    assert body["executed"] and body["rows"][0][0] > 0


def test_generator_failure_is_a_clear_5xx(musical_db):
    class Broken(StubGeneratorForExecutionPath):
        def generate_batch(self, pairs, checks=None, values=None):
            raise RuntimeError("CUDA out of memory")

    with stub_client(musical_db, Broken()) as c:
        response = c.post("/v1/sql", json={"question": "q"})
    assert response.status_code == 500 and "CUDA out of memory" in response.json()["error"]


# --- execution path (stub generator) ---------------------------------------------------------------------


def test_execute_returns_rows_from_the_real_database(musical_db):
    stub = StubGeneratorForExecutionPath("SELECT Name, Year FROM musical ORDER BY Musical_ID LIMIT 3")
    with stub_client(musical_db, stub) as c:
        body = c.post("/v1/sql", json={"question": "First three musicals?", "execute": True}).json()
    with sqlite3.connect(f"file:{musical_db}?mode=ro", uri=True) as conn:
        expected = [list(r) for r in conn.execute("SELECT Name, Year FROM musical ORDER BY Musical_ID LIMIT 3")]
    assert body["valid"] and body["executed"] and body["errors"] == []
    assert body["columns"] == ["Name", "Year"] and body["rows"] == expected
    assert body["rows"][0][0] == "The Phantom of the Opera"
    assert body["truncated"] is False
    assert body["explanation"]


class CandidateJudge(StubGeneratorForExecutionPath):
    """NOT a model: runs the server's database checks on fixed SQL, as SQLGenerator's candidate selection does."""

    candidates = 4
    probes = ("SELECT Name FROM musical", "SELECT Name FROM musical WHERE 1 = 0", "SELECT nope FROM musical")

    def generate_batch(self, pairs, checks=None, values=None):
        self.verdicts = [[check(sql) if check else "no check" for sql in self.probes] for check in checks or []]
        return super().generate_batch(pairs)


def test_beam_candidates_are_judged_on_the_database_only_for_its_own_schema(musical_db):
    judge = CandidateJudge("SELECT 1")
    with stub_client(musical_db, judge, candidates=4) as c:
        assert c.post("/v1/sql", json={"question": "List the musicals."}).status_code == 200
        ok, empty, error = judge.verdicts[0]
        assert ok is None and empty == "returned no rows" and "nope" in error
        schema = "CREATE TABLE head (age INTEGER)"
        assert c.post("/v1/sql", json={"question": "How many heads?", "schema": schema}).status_code == 200
        assert judge.verdicts == [["no check"] * 3]  # a caller's own schema is not this database's


def test_row_cap_truncates(musical_db):
    stub = StubGeneratorForExecutionPath("SELECT Name FROM actor")
    with stub_client(musical_db, stub, max_rows=2) as c:
        body = c.post("/v1/sql", json={"question": "all actors", "execute": True}).json()
    assert body["executed"] and len(body["rows"]) == 2 and body["truncated"] is True


@pytest.mark.parametrize(
    "hostile",
    [
        "DROP TABLE actor",
        "DELETE FROM actor",
        "UPDATE musical SET Name = 'x'",
        "INSERT INTO actor (Actor_ID) VALUES (99)",
        "SELECT 1; DROP TABLE actor",
        "PRAGMA writable_schema = 1",
        "ATTACH DATABASE '/tmp/x.sqlite' AS x",
        "CREATE TABLE evil (a INT)",
        "WITH d AS (DELETE FROM actor RETURNING *) SELECT * FROM d",
        "SELECT * FROM actor /* ; DROP TABLE actor */",
    ],
)
def test_hostile_sql_from_the_generator_is_refused_and_the_database_unchanged(musical_db, hostile):
    before = db_fingerprint(musical_db)
    with stub_client(musical_db, StubGeneratorForExecutionPath(hostile)) as c:
        response = c.post("/v1/sql", json={"question": "anything", "execute": True})
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False and body["executed"] is False and body["rows"] is None
    assert any("refused" in e for e in body["errors"]), body["errors"]
    assert db_fingerprint(musical_db) == before


def test_dialect_transpiles_but_executes_on_the_database(musical_db):
    stub = StubGeneratorForExecutionPath('SELECT Name FROM musical WHERE Name = "Wicked"')
    with stub_client(musical_db, stub) as c:
        body = c.post("/v1/sql", json={"question": "Wicked?", "dialect": "postgresql", "execute": True}).json()
        bad = c.post("/v1/sql", json={"question": "Wicked?", "dialect": "klingon"})
    assert body["dialect"] == "postgres"
    assert body["sql"] == "SELECT Name FROM musical WHERE Name = 'Wicked'"
    assert body["sqlite_sql"] == 'SELECT Name FROM musical WHERE Name = "Wicked"'
    assert body["executed"] and body["rows"] == [["Wicked"]]
    assert bad.status_code == 422 and "klingon" in bad.json()["error"]


# --- /v1/explain ------------------------------------------------------------------------------------------


def test_explain(client):
    body = client.post("/v1/explain", json={"sql": "SELECT count(*) FROM actor WHERE age > 20"}).json()
    assert isinstance(body["explanation"], str) and body["explanation"]
    assert client.post("/v1/explain", json={}).status_code == 422
    garbage = client.post("/v1/explain", json={"sql": "SELEC garbage((("})
    assert garbage.status_code == 422 and "cannot explain" in garbage.json()["error"]
    assert client.post("/v1/explain", json={"sql": "SELECT 1", "dialect": "nope"}).status_code == 422


# --- limits, bad input, auth --------------------------------------------------------------------------


def test_oversized_body_is_413(client):
    response = client.post("/v1/sql", json={"question": "x", "schema": "a" * 70_000})
    assert response.status_code == 413 and "too large" in response.json()["error"]
    chunked = client.post(
        "/v1/sql", content=iter([b'{"question": "', b"x" * 70_000, b'"}']), headers={"content-type": "application/json"}
    )
    assert chunked.status_code == 413


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": "x" * 2001}, "question"),
        ({"question": ""}, "question"),
        ({"question": "q", "schema": "s" * 32_001}, "schema"),
        ({"schema": "CREATE TABLE t (a INT)"}, "question"),
        ({"question": "q", "execute": "maybe"}, "execute"),
        ({"question": "q", "bogus": 1}, "bogus"),
    ],
)
def test_bad_input_is_a_clear_422(client, body, field):
    response = client.post("/v1/sql", json=body)
    assert response.status_code == 422
    assert field in response.json()["error"]


def test_invalid_json_is_422(client):
    response = client.post("/v1/sql", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and response.json()["error"]


def test_bearer_token(musical_db):
    stub = StubGeneratorForExecutionPath("SELECT 1")
    with stub_client(musical_db, stub, token="s3cret") as c:
        assert c.post("/v1/sql", json={"question": "q"}).status_code == 401
        wrong = c.get("/v1/schema", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert c.post("/v1/explain", json={"sql": "SELECT 1"}).status_code == 401
        ok = c.post("/v1/sql", json={"question": "q"}, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert c.get("/healthz").status_code == 200 and c.get("/").status_code == 200


# --- batching ----------------------------------------------------------------------------------------------


async def _concurrent(app, questions: list[str]) -> list[dict]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as ac:
        responses = await asyncio.gather(*(ac.post("/v1/sql", json={"question": q}) for q in questions))
    return [r.json() for r in responses]


def test_concurrent_requests_share_generate_calls(musical_db):
    stub = StubGeneratorForExecutionPath(delay_s=0.2)
    app = create_app(ServeSettings(db_url=f"sqlite:///{musical_db}", max_batch=8, max_wait_ms=20), generator=stub)
    questions = [f"q{i}" for i in range(12)]
    bodies = asyncio.run(_concurrent(app, questions))
    assert [b["sql"] for b in bodies] == [f"SELECT '{q}'" for q in questions]  # each got its own answer
    assert sum(stub.calls) == 12 and len(stub.calls) < 12 and max(stub.calls) <= 8
    assert app.state.sqlora.batcher.stats.to_dict()["requests"] == 12


def test_batching_off_is_one_call_per_request(musical_db):
    stub = StubGeneratorForExecutionPath(delay_s=0.01)
    app = create_app(ServeSettings(db_url=f"sqlite:///{musical_db}", max_batch=1), generator=stub)
    asyncio.run(_concurrent(app, [f"q{i}" for i in range(5)]))
    assert stub.calls == [1] * 5


def test_concurrent_requests_batched_onto_the_real_tiny_model(musical_db, tiny_generator):
    calls: list[int] = []
    original = tiny_generator.generate_batch

    class Counting:
        model_name = tiny_generator.model_name
        adapter = None

        def generate_batch(self, pairs, checks=None, values=None):
            calls.append(len(pairs))
            return original(pairs, checks, values)

    app = create_app(ServeSettings(db_url=f"sqlite:///{musical_db}", max_wait_ms=50), generator=Counting())
    bodies = asyncio.run(_concurrent(app, [f"How many actors are older than {n}?" for n in range(6)]))
    assert all(isinstance(b["valid"], bool) for b in bodies)
    assert sum(calls) == 6 and len(calls) < 6


def test_batcher_fans_errors_out_to_every_waiter():
    def broken(pairs):
        raise RuntimeError("model crashed")

    async def run() -> list:
        batcher = MicroBatcher(broken, max_batch=4, max_wait_ms=20)
        results = await asyncio.gather(*(batcher.submit(f"q{i}", "s") for i in range(3)), return_exceptions=True)
        await batcher.aclose()
        return results

    results = asyncio.run(run())
    assert all(isinstance(r, RuntimeError) and "crashed" in str(r) for r in results)


# --- vLLM backend against a fake OpenAI-compatible server -------------------------------------------------


class FakeVLLM(BaseHTTPRequestHandler):
    """Answers like vLLM's OpenAI server: /v1/models and /v1/completions (records what it was sent)."""

    requests: list[dict] = []
    fail = False

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": "base-model"}, {"id": "sqlora-lora"}]})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append(payload)
        if type(self).fail:
            self._send(500, {"error": "engine dead"})
            return
        choices = []
        for i, prompt in enumerate(payload["prompt"]):
            if "How many" in prompt:
                text = " SELECT count(*) FROM actor"
            elif "Name them" in prompt:
                text = " SELECT nme FROM actor"  # a wrong column name, repaired to the schema's
            else:
                text = " I do not know"
            choices.append({"index": i, "text": text, "finish_reason": "stop"})
        self._send(200, {"id": "cmpl-1", "object": "text_completion", "model": payload["model"], "choices": choices})


@pytest.fixture()
def fake_vllm():
    FakeVLLM.requests, FakeVLLM.fail = [], False
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeVLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_vllm_generator_batches_validates_and_repairs(fake_vllm, tiny_model_dir, musical_db):
    from sqlora.inference.vllm_backend import VLLMGenerator

    generator = VLLMGenerator(fake_vllm, model=str(tiny_model_dir))
    schema = "CREATE TABLE actor (Actor_ID INTEGER, Name TEXT, age INTEGER)"
    results = generator.generate_batch([("How many actors?", schema), ("Name them", schema)])
    first = FakeVLLM.requests[0]
    assert first["model"] == "base-model" and first["temperature"] == 0.0
    assert len(first["prompt"]) == 2 and "How many actors?" in first["prompt"][0]
    assert ";" in first["stop"] and first["max_tokens"] == 160
    assert results[0].sql == "SELECT count(*) FROM actor" and results[0].valid and not results[0].repaired
    assert results[1].valid and results[1].repaired and results[1].sql == "SELECT Name FROM actor"
    assert len(FakeVLLM.requests) == 1  # names are repaired without another round trip
    assert results[0].generated_tokens > 0

    app = create_app(ServeSettings(db_url=f"sqlite:///{musical_db}", backend="vllm"), generator=generator)
    with TestClient(app) as c:
        body = c.post("/v1/sql", json={"question": "How many actors?", "execute": True}).json()
        assert c.get("/healthz").json()["backend"] == "vllm"
    assert body["valid"] and body["rows"] == [[9]]


def test_vllm_generator_uses_the_lora_module_name(fake_vllm, tiny_model_dir, tmp_path):
    from sqlora.inference.vllm_backend import VLLMGenerator

    adapter = tmp_path / "sqlora-lora"
    adapter.mkdir()
    (adapter / "sqlora.json").write_text(json.dumps({"base_model": str(tiny_model_dir), "prompt_style": "article"}))
    generator = VLLMGenerator(fake_vllm, adapter=str(adapter))
    assert generator.served_model == "sqlora-lora" and generator.prompt_style == "article"
    assert VLLMGenerator(fake_vllm + "/v1", served_model="x", model=str(tiny_model_dir)).served_model == "x"


def test_vllm_errors_are_clear(fake_vllm, tiny_model_dir):
    from sqlora.inference.vllm_backend import VLLMError, VLLMGenerator

    generator = VLLMGenerator(fake_vllm, model=str(tiny_model_dir), served_model="m")
    FakeVLLM.fail = True
    with pytest.raises(VLLMError, match="answered 500"):
        generator.generate_batch([("q", "CREATE TABLE t (a INT)")])
    with pytest.raises(VLLMError, match="cannot list models"):
        VLLMGenerator("http://127.0.0.1:9", model=str(tiny_model_dir))


# --- CLI ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--backend", "vllm"], "--vllm-url"),
        (["--backend", "tgi"], "--backend"),
        (["--port", "0"], "--port"),
        (["--max-batch", "0"], "--max-batch"),
        (["--precision", "int3"], "unknown --precision"),
        (["--db", "nosuchdb://x"], "cannot open database"),
    ],
)
def test_serve_cli_rejects_bad_options(args, message):
    from typer.testing import CliRunner

    from sqlora.cli.main import app

    result = CliRunner().invoke(app, ["serve", *args])
    assert result.exit_code == 2
    assert message in result.output

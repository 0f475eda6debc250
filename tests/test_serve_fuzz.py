"""Fuzz harness, server part: every HTTP endpoint with a catalogue of bad requests.

Each must be answered 4xx (never 5xx) with an ``error`` field naming the problem, and leave the database unchanged.
The app runs in-process (FastAPI's TestClient) on the real tiny random model and a copy of a Spider database.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

import pytest
from db_fixtures import spider_sqlite, sqlite_checksum
from fastapi.testclient import TestClient

from sqlora.inference.generator import SQLGenerator
from sqlora.serving.app import ServeSettings, create_app

SCHEMA = "CREATE TABLE singer (id INT, name TEXT, age INT)"
TOKEN = "s3cret-token"


@dataclass
class Request:
    """One bad request, the status range it must get, and a word its ``error`` must contain (any of)."""

    method: str
    path: str
    json_body: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 422
    expect: tuple[str, ...] = ()


def _requests() -> dict[str, Request]:
    r: dict[str, Request] = {}
    sql = "/v1/sql"
    r["sql-empty-body"] = Request("POST", sql, {}, expect=("question",))
    r["sql-question-empty"] = Request("POST", sql, {"question": ""}, expect=("question",))
    r["sql-question-blank"] = Request("POST", sql, {"question": "  \n\t "}, expect=("question",))
    r["sql-question-huge"] = Request("POST", sql, {"question": "why " * 1000}, expect=("question",))
    r["sql-question-number"] = Request("POST", sql, {"question": 42}, expect=("question",))
    r["sql-question-null"] = Request("POST", sql, {"question": None}, expect=("question",))
    r["sql-question-list"] = Request("POST", sql, {"question": ["a", "b"]}, expect=("question",))
    r["sql-schema-words"] = Request("POST", sql, {"question": "q", "schema": "just words"}, expect=("schema",))
    r["sql-schema-select"] = Request("POST", sql, {"question": "q", "schema": "SELECT 1"}, expect=("schema",))
    r["sql-schema-truncated"] = Request("POST", sql, {"question": "q", "schema": "CREATE TABLE"}, expect=("schema",))
    r["sql-schema-hostile"] = Request(
        "POST", sql, {"question": "q", "schema": SCHEMA + "; DROP TABLE singer"}, expect=("schema",)
    )
    r["sql-schema-non-ascii"] = Request("POST", sql, {"question": "q", "schema": "élèves 学生 🎭"}, expect=("schema",))
    r["sql-schema-huge"] = Request("POST", sql, {"question": "q", "schema": "x" * 40_000}, expect=("schema",))
    r["sql-schema-number"] = Request("POST", sql, {"question": "q", "schema": 7}, expect=("schema",))
    r["sql-execute-bad-schema"] = Request(
        "POST", sql, {"question": "q", "schema": "words", "execute": True}, expect=("schema",)
    )
    r["sql-execute-not-bool"] = Request("POST", sql, {"question": "q", "execute": "please"}, expect=("execute",))
    r["sql-dialect-unknown"] = Request("POST", sql, {"question": "q", "dialect": "klingon"}, expect=("dialect",))
    r["sql-dialect-huge"] = Request("POST", sql, {"question": "q", "dialect": "x" * 100}, expect=("dialect",))
    r["sql-extra-field"] = Request("POST", sql, {"question": "q", "drop": "tables"}, expect=("drop",))
    r["sql-body-array"] = Request("POST", sql, [], expect=("body", "object", "dict"))
    r["sql-body-string"] = Request("POST", sql, "how many singers?", expect=("body", "object", "dict"))
    r["sql-malformed-json"] = Request(
        "POST", sql, content=b'{"question": ', headers={"content-type": "application/json"}, expect=("invalid JSON",)
    )
    r["sql-binary-body"] = Request(
        "POST", sql, content=bytes(range(256)), headers={"content-type": "application/json"}, expect=("json", "body")
    )
    r["sql-text-plain"] = Request(
        "POST", sql, content=b"question=q", headers={"content-type": "text/plain"}, expect=("body", "object", "dict")
    )
    r["sql-too-large"] = Request("POST", sql, {"question": "q" * 70_000}, status=413, expect=("too large",))
    r["sql-bad-content-length"] = Request(
        "POST", sql, content=b"{}", headers={"content-length": "lots"}, status=413, expect=("too large",)
    )
    r["sql-get"] = Request("GET", sql, status=405, expect=("method",))
    ex = "/v1/explain"
    r["explain-words"] = Request("POST", ex, {"sql": "this is not sql"}, expect=("not a SQL statement",))
    r["explain-question"] = Request("POST", ex, {"sql": "how many singers are there?"}, expect=("parse",))
    r["explain-empty"] = Request("POST", ex, {"sql": ""}, expect=("sql",))
    r["explain-blank"] = Request("POST", ex, {"sql": "   "}, expect=("empty",))
    r["explain-bare-select"] = Request("POST", ex, {"sql": "SELECT"}, expect=("select",))
    r["explain-two"] = Request("POST", ex, {"sql": "SELECT 1; SELECT 2"}, expect=("one SQL statement",))
    r["explain-non-ascii"] = Request("POST", ex, {"sql": "élèves 学生 🎭"}, expect=("parse", "not a SQL"))
    r["explain-huge"] = Request("POST", ex, {"sql": "x" * 17_000}, expect=("sql",))
    r["explain-dialect"] = Request("POST", ex, {"sql": "SELECT 1", "dialect": "klingon"}, expect=("dialect",))
    r["explain-missing-sql"] = Request("POST", ex, {"query": "SELECT 1"}, expect=("sql",))
    r["explain-get"] = Request("GET", ex, status=405, expect=("method",))
    r["explain-delete"] = Request("DELETE", ex, status=405, expect=("method",))
    r["schema-post"] = Request("POST", "/v1/schema", {}, status=405, expect=("method",))
    r["stats-post"] = Request("POST", "/v1/stats", {}, status=405, expect=("method",))
    r["healthz-post"] = Request("POST", "/healthz", {}, status=405, expect=("method",))
    chat, user = "/v1/chat/completions", {"role": "user", "content": "How many singers?"}
    r["chat-empty-body"] = Request("POST", chat, {}, status=400, expect=("messages", "model"))
    r["chat-messages-text"] = Request(
        "POST", chat, {"model": "sqlora", "messages": "hi"}, status=400, expect=("messages",)
    )
    r["chat-no-user"] = Request(
        "POST", chat, {"model": "sqlora", "messages": [{"role": "system", "content": SCHEMA}]}, status=400
    )
    r["chat-bad-role"] = Request(
        "POST", chat, {"model": "sqlora", "messages": [{"role": "wizard", "content": "x"}]}, status=400
    )
    r["chat-unknown-model"] = Request(
        "POST", chat, {"model": "gpt-9", "messages": [user]}, status=404, expect=("model",)
    )
    r["chat-question-huge"] = Request(
        "POST", chat, {"model": "sqlora", "messages": [{"role": "user", "content": "why " * 5000}]}, status=400
    )
    r["chat-schema-words"] = Request(
        "POST", chat, {"model": "sqlora", "messages": [user], "schema": "just words"}, status=400, expect=("schema",)
    )
    r["chat-not-json"] = Request("POST", chat, content=b"{not json", status=400)
    r["models-post"] = Request("POST", "/v1/models", {}, status=405, expect=("method",))
    r["page-post"] = Request("POST", "/", {}, status=405, expect=("method",))
    r["docs-post"] = Request("POST", "/docs", {}, status=405, expect=("method",))
    r["unknown-path"] = Request("GET", "/v1/drop-tables", status=404, expect=("not found",))
    r["unknown-path-non-ascii"] = Request("GET", "/v1/学生", status=404, expect=("not found",))
    r["traversal"] = Request("GET", "/docs-assets/../../../../etc/passwd", status=404, expect=("not found",))
    return r


REQUESTS = _requests()
AUTH_REQUESTS = {
    "no-token": Request("POST", "/v1/sql", {"question": "q", "schema": SCHEMA}, status=401, expect=("token",)),
    "wrong-token": Request(
        "POST", "/v1/explain", {"sql": "SELECT 1"}, headers={"authorization": f"Bearer {TOKEN}x"}, status=401
    ),
    "wrong-scheme": Request(
        "GET", "/v1/schema", headers={"authorization": f"Basic {TOKEN}"}, status=401, expect=("token",)
    ),
    "token-on-bad-input": Request(
        "POST", "/v1/explain", {"sql": "words"}, headers={"authorization": f"Bearer {TOKEN}"}, expect=("explain",)
    ),
}


@pytest.fixture(scope="module")
def database(spider_dir, tmp_path_factory):
    target = tmp_path_factory.mktemp("serve-fuzz") / "musical.sqlite"
    shutil.copyfile(spider_sqlite(spider_dir, "musical"), target)
    before = sqlite_checksum(target)
    yield target
    assert sqlite_checksum(target) == before, "a bad request changed the database"


@pytest.fixture(scope="module")
def generator(tiny_model_dir):
    return SQLGenerator(model=str(tiny_model_dir), max_new_tokens=4, device="cpu")


@pytest.fixture(scope="module")
def client(database, generator):
    with TestClient(create_app(ServeSettings(db_url=f"sqlite:///{database}"), generator=generator)) as c:
        yield c


@pytest.fixture(scope="module")
def auth_client(database, generator):
    settings = ServeSettings(db_url=f"sqlite:///{database}", token=TOKEN)
    with TestClient(create_app(settings, generator=generator)) as c:
        yield c


def send(client: TestClient, req: Request):
    kwargs: dict[str, Any] = {"headers": req.headers}
    if req.content is not None:
        kwargs["content"] = req.content
    elif req.json_body is not None:
        kwargs["json"] = req.json_body
    return client.request(req.method, req.path, **kwargs)


def assert_clean_4xx(response, req: Request) -> None:
    assert response.status_code == req.status, response.text[:500]
    assert response.status_code < 500
    error = response.json().get("error")
    if isinstance(error, dict):  # the OpenAI-compatible endpoints answer in OpenAI's error format
        error = error.get("message")
    assert isinstance(error, str) and error, response.text[:500]
    assert "Traceback" not in response.text
    assert not req.expect or any(w.lower() in error.lower() for w in req.expect), error


@pytest.mark.parametrize("name", list(REQUESTS))
def test_bad_request(name, client):
    assert_clean_4xx(send(client, REQUESTS[name]), REQUESTS[name])


@pytest.mark.parametrize("name", list(AUTH_REQUESTS))
def test_bad_request_with_auth(name, auth_client):
    assert_clean_4xx(send(auth_client, AUTH_REQUESTS[name]), AUTH_REQUESTS[name])


def test_every_endpoint_is_covered(client):
    paths = {path for path in client.app.openapi()["paths"] if path.startswith("/v1/") or path == "/healthz"}
    tried = {req.path for req in [*REQUESTS.values(), *AUTH_REQUESTS.values()]}
    assert paths <= tried, paths - tried
    assert len(REQUESTS) + len(AUTH_REQUESTS) >= 40


def test_docs_work_offline(client):
    """``/docs`` loads Swagger UI from assets shipped with the swagger-ui-bundle package, not from a CDN."""
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "/docs-assets/swagger-ui-bundle.js" in page.text
    script = client.get("/docs-assets/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert client.get("/openapi.json").json()["info"]["title"] == "sqlora"


def test_json_error_names_the_position(client):
    body = b'{"question": "q",\n "schema": }'
    response = client.post("/v1/sql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == f"invalid JSON at character {body.index(b'}')}: Expecting value"

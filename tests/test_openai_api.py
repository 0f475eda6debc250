"""The OpenAI-compatible endpoint through the official `openai` client, against uvicorn on 127.0.0.1 (random port)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

openai = pytest.importorskip("openai")

from db_fixtures import spider_sqlite, sqlite_checksum  # noqa: E402

from sqlora.inference.generator import SQLGenerator, SQLResult  # noqa: E402
from sqlora.serving.app import ServeSettings, create_app  # noqa: E402
from sqlora.serving.openai_api import create_table_text  # noqa: E402

DB_ID = "musical"
QUESTION = "How many actors are there?"


class StubGenerator:
    """NOT a model: returns fixed SQL and records what it was asked, to check schemas and execution."""

    model_name = "stub"
    adapter = None

    def __init__(self, sql: str = "SELECT count(*) FROM actor", fail: bool = False) -> None:
        self.sql, self.fail = sql, fail
        self.pairs: list[tuple[str, str]] = []

    def generate_batch(self, pairs: list[tuple[str, str]], checks=None, values=None) -> list[SQLResult]:
        if self.fail:
            raise RuntimeError("CUDA out of memory")
        self.pairs.extend(pairs)
        return [SQLResult(self.sql, True, [], self.sql, 0.01, 3) for _ in pairs]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(app) -> Iterator[str]:
    """``app`` served by uvicorn on 127.0.0.1 in a thread; yields the OpenAI base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.config.port}/v1"
    finally:
        server.should_exit = True
        thread.join(10)


def client(base_url: str, api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def musical_db(spider_dir, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("openai-db") / f"{DB_ID}.sqlite"
    shutil.copyfile(spider_sqlite(spider_dir, DB_ID), target)
    target.chmod(0o644)
    return target


@pytest.fixture(scope="module")
def tiny_server(musical_db, tiny_model_dir) -> Iterator[str]:
    generator = SQLGenerator(model=str(tiny_model_dir), max_new_tokens=8, device="cpu")
    with running(create_app(ServeSettings(db_url=f"sqlite:///{musical_db}"), generator=generator)) as url:
        yield url


def stub_server(stub: StubGenerator, db: Path | None = None, **settings):
    return running(create_app(ServeSettings(db_url=f"sqlite:///{db}" if db else None, **settings), generator=stub))


# --- the real tiny model ----------------------------------------------------------------------------------------


def test_models_list(tiny_server, tiny_model_dir):
    models = client(tiny_server).models.list()
    assert [m.id for m in models.data] == ["sqlora"]
    assert models.data[0].owned_by == "sqlora" and models.data[0].model_extra["root"] == str(tiny_model_dir)


def test_chat_completion_and_its_stream_give_the_same_sql(tiny_server):
    api = client(tiny_server)
    messages = [{"role": "system", "content": "You write SQL."}, {"role": "user", "content": QUESTION}]
    completion = api.chat.completions.create(model="sqlora", messages=messages, temperature=0, max_tokens=50)
    choice = completion.choices[0]
    extra = completion.model_extra["sqlora"]
    assert completion.object == "chat.completion" and completion.id.startswith("chatcmpl-")
    assert choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert choice.message.content == extra["sql"] and isinstance(extra["valid"], bool)
    assert extra["valid"] or extra["errors"]  # the random tiny model writes junk: it must say why
    assert extra["dialect"] == "sqlite" and extra["executed"] is False
    assert completion.usage.completion_tokens == extra["generated_tokens"] > 0
    assert completion.usage.prompt_tokens > 0  # the prompt carried the database's schema

    stream = api.chat.completions.create(
        model="sqlora", messages=messages, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == choice.message.content  # greedy decoding: the same answer streamed
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finish) == 1 and finish[0].choices[0].finish_reason == "stop"
    assert finish[0].model_extra["sqlora"]["valid"] == extra["valid"]
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == completion.usage.total_tokens


def test_stream_is_server_sent_events_ending_in_done(tiny_server):
    body = {"model": "sqlora", "stream": True, "messages": [{"role": "user", "content": QUESTION}]}
    with httpx.stream("POST", f"{tiny_server}/chat/completions", json=body, timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in events)
    assert events[-1] == "data: [DONE]" and len(events) == 4


# --- where the schema comes from (stub generator) ----------------------------------------------------------------


def test_schema_from_a_system_message_without_a_database():
    stub = StubGenerator("SELECT count(*) FROM head WHERE age > 56")
    system = (
        "You translate questions into SQL for this database:\n"
        "CREATE TABLE head (age INTEGER, name TEXT);\n"
        "create table dept (id INT, budget DECIMAL(10, 2), PRIMARY KEY (id))\n"
        "Answer with one query."
    )
    with stub_server(stub) as url:
        completion = client(url).chat.completions.create(
            model="sqlora",
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": "How many heads?"},
                {"role": "assistant", "content": "SELECT count(*) FROM head"},
                {"role": "user", "content": [{"type": "text", "text": "How many heads are older than 56?"}]},
            ],
        )
    question, schema = stub.pairs[-1]
    assert question == "How many heads are older than 56?"  # the last user message is the question
    assert (
        schema
        == "CREATE TABLE head (age INTEGER, name TEXT);\ncreate table dept (id INT, budget DECIMAL(10, 2), PRIMARY KEY (id));"
    )
    assert completion.choices[0].message.content == "SELECT count(*) FROM head WHERE age > 56"
    assert completion.model_extra["sqlora"]["valid"] is True


def test_schema_field_wins_and_the_database_is_question_linked(spider_dir):
    college = spider_sqlite(spider_dir, "college_2")
    stub = StubGenerator("SELECT count(*) FROM instructor")
    with stub_server(stub, college) as url:
        api = client(url)
        api.chat.completions.create(model="sqlora", messages=[{"role": "user", "content": "How many instructors?"}])
        linked = stub.pairs[-1][1]
        api.chat.completions.create(
            model="sqlora",
            messages=[{"role": "system", "content": "CREATE TABLE ignored (x INT)"}, {"role": "user", "content": "q"}],
            extra_body={"schema": "CREATE TABLE instructor (id INT)"},
        )
        given = stub.pairs[-1][1]
    assert "CREATE TABLE instructor" in linked and 1 <= linked.count("CREATE TABLE") <= 3
    assert given == "CREATE TABLE instructor (id INT)"


def test_execute_returns_rows_and_hostile_sql_is_refused(musical_db):
    before = sqlite_checksum(musical_db)
    with stub_server(StubGenerator("SELECT Name FROM actor ORDER BY Actor_ID LIMIT 2"), musical_db) as url:
        done = client(url).chat.completions.create(
            model="sqlora", messages=[{"role": "user", "content": "First two actors?"}], extra_body={"execute": True}
        )
    extra = done.model_extra["sqlora"]
    assert extra["executed"] and extra["rows"] == [["Ray Meagher"], ["Tom Oliver"]]
    for hostile in ("DROP TABLE actor", "SELECT 1; DELETE FROM actor", "UPDATE actor SET age = 0"):
        with stub_server(StubGenerator(hostile), musical_db) as url:
            refused = client(url).chat.completions.create(
                model="sqlora", messages=[{"role": "user", "content": "q"}], extra_body={"execute": True}
            )
        extra = refused.model_extra["sqlora"]
        assert not extra["executed"] and not extra["valid"], hostile
        assert any("refused" in e or "not valid" in e for e in extra["errors"]), extra["errors"]
    assert sqlite_checksum(musical_db) == before


# --- errors: OpenAI's format, 4xx ----------------------------------------------------------------------------------


def test_bad_requests_are_openai_4xx_errors(musical_db):
    with stub_server(StubGenerator(), musical_db) as url:
        api = client(url)
        user = [{"role": "user", "content": QUESTION}]
        with pytest.raises(openai.NotFoundError) as err:
            api.chat.completions.create(model="gpt-4o", messages=user)
        assert err.value.body["code"] == "model_not_found" and err.value.body["param"] == "model"
        with pytest.raises(openai.BadRequestError) as err:
            api.chat.completions.create(model="sqlora", messages=[{"role": "system", "content": "no question"}])
        assert "user message" in err.value.message
        with pytest.raises(openai.BadRequestError) as err:
            api.chat.completions.create(model="sqlora", messages=user, n=2)
        assert err.value.body["param"] == "n" and err.value.body["type"] == "invalid_request_error"
        with pytest.raises(openai.BadRequestError):
            api.chat.completions.create(model="sqlora", messages=[{"role": "wizard", "content": "hi"}])
        with pytest.raises(openai.BadRequestError) as err:
            api.chat.completions.create(model="sqlora", messages=user, extra_body={"dialect": "klingon"})
        assert "dialect" in err.value.message
        raw = httpx.post(f"{url}/chat/completions", content=b"{not json", headers={"content-type": "application/json"})
        assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    with stub_server(StubGenerator()) as url:
        with pytest.raises(openai.BadRequestError) as err:
            client(url).chat.completions.create(model="sqlora", messages=[{"role": "user", "content": QUESTION}])
        assert "CREATE TABLE" in err.value.message and "--db" in err.value.message


def test_bearer_token_is_the_api_key(musical_db):
    with stub_server(StubGenerator(), musical_db, token="s3cret") as url:
        with pytest.raises(openai.AuthenticationError) as err:
            client(url, api_key="wrong").models.list()
        assert err.value.status_code == 401 and err.value.body["type"] == "authentication_error"
        assert [m.id for m in client(url, api_key="s3cret").models.list().data] == ["sqlora"]


def test_generator_failure_is_an_openai_5xx(musical_db):
    with stub_server(StubGenerator(fail=True), musical_db) as url, pytest.raises(openai.InternalServerError) as err:
        client(url).chat.completions.create(model="sqlora", messages=[{"role": "user", "content": QUESTION}])
    assert err.value.status_code == 500 and "CUDA out of memory" in err.value.message


def test_create_table_text_keeps_statements_and_drops_prose():
    text = "Tables:\nCREATE TABLE a (x DECIMAL(4,2), y TEXT) -- note\nThen CREATE TEMP TABLE b (z INT); done"
    assert create_table_text(text) == "CREATE TABLE a (x DECIMAL(4,2), y TEXT);\nCREATE TEMP TABLE b (z INT);"
    assert create_table_text("You are a helpful assistant.") == ""

"""The FastAPI app: question -> validated SQL (batched onto one model), read-only execution, explanations."""

from __future__ import annotations

import asyncio
import hmac
import threading
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqlora.serving.batching import MicroBatcher, QueueFull
from sqlora.serving.limits import BodySizeLimit
from sqlora.serving.schemas import (
    ErrorBody,
    ExplainRequest,
    ExplainResponse,
    Health,
    SchemaResponse,
    SQLRequest,
    SQLResponse,
    TableInfo,
)
from sqlora.sql.schema import parse_schema
from sqlora.sql.to_dialect import schema_columns, transpile_from_sqlite  # noqa: F401 - re-exported

STATIC = Path(__file__).parent / "static"
DOCS_ASSETS = "/docs-assets"
NO_DOCS_PAGE = (
    "<!doctype html><title>sqlora API</title><p>The interactive API page needs the <code>swagger-ui-bundle</code>"
    " package (<code>pip install 'sqlora[serve]'</code>). The API description is at"
    ' <a href="/openapi.json">/openapi.json</a>.</p>'
)
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 404, 413, 422, 503)}


@dataclass
class ServeSettings:
    """Everything ``sqlora serve`` configures."""

    model: str | None = None
    adapter: str | None = None
    backend: str = "hf"
    db_url: str | None = None
    token: str | None = None
    max_batch: int = 8
    max_wait_ms: float = 5.0
    max_queue: int = 256
    max_body_bytes: int = 64 * 1024
    max_rows: int = 1000
    timeout_s: float = 10.0
    candidates: int = 1  # > 1: beam candidates, chosen by running them on the database (execution-guided)
    precision: str | None = None  # nf4/fp32/bf16/fp16 (None: the generator's default)


def default_generator_factory(settings: ServeSettings) -> Callable[[], Any]:
    """Build the local Hugging Face generator for ``settings`` (loaded once per process)."""

    def build() -> Any:
        from sqlora.inference.generator import SQLGenerator

        return SQLGenerator.shared(
            model=settings.model,
            adapter=settings.adapter,
            candidates=settings.candidates,
            precision=settings.precision,
        )

    return build


def open_database(url: str) -> Any:
    """The project's :class:`Database` for a SQLAlchemy URL."""
    from sqlora.db.connect import Database

    return Database(url)


def check_dialect(name: str) -> str:
    """The sqlglot name of a dialect (aliases such as ``postgresql`` accepted), or a 422 naming the problem."""
    from sqlora.sql.dialects import DialectError, normalize_dialect

    try:
        return normalize_dialect(name)
    except DialectError as err:
        raise HTTPException(422, f"dialect: {err}") from err


class ServerState:
    """The app's generator (loaded once, lazily or at startup), batcher and database."""

    def __init__(self, settings: ServeSettings, factory: Callable[[], Any], database: Any) -> None:
        self.settings = settings
        self.factory = factory
        self.database = database
        self._generator: Any = None
        self._lock = threading.Lock()
        self.batcher = MicroBatcher(self._generate, settings.max_batch, settings.max_wait_ms, settings.max_queue)
        self._context: str | None = None
        self._database_contexts: dict[str, None] = {}  # recent schema contexts built from the database
        self._contexts_lock = threading.Lock()

    @property
    def generator(self) -> Any:
        with self._lock:
            if self._generator is None:
                self._generator = self.factory()
            return self._generator

    def _generate(self, pairs: list[tuple[str, str]]) -> list[Any]:
        generator = self.generator
        if self.database is None:
            return generator.generate_batch(pairs)
        # For questions over this database: its stored values ground the answers' filter literals, and with beam
        # candidates its answers are checked there (execution-guided selection).
        ours = [schema if schema in self._database_contexts else None for _, schema in pairs]
        values = [self.database.value_index if schema else None for schema in ours]
        guided = getattr(generator, "candidates", 1) > 1
        checks = [self.database_check(schema) if schema and guided else None for schema in ours]
        return generator.generate_batch(pairs, checks, values)

    def database_check(self, schema: str) -> Callable[[str], str | None]:
        """A check for SQLGenerator: why an answer fails or returns no rows on the database (read-only), or None."""

        def check(sql: str) -> str | None:
            try:
                query = transpile_from_sqlite(sql, self.dialect or "sqlite", schema)
                result = self.database.execute_readonly(query, timeout_s=self.settings.timeout_s, max_rows=1)
            except Exception as err:  # noqa: BLE001 - a failing candidate is a verdict, not a server error
                return str(err).splitlines()[0] if str(err) else type(err).__name__
            return None if result.rows else "returned no rows"

        return check

    @property
    def dialect(self) -> str | None:
        return getattr(self.database, "dialect", None) if self.database is not None else None

    def full_context(self) -> str:
        if self._context is None:
            self._context = self.database.schema_context()
        return self._context

    def context_for(self, question: str) -> str:
        """The database's schema context cut to the tables the question is about (schema linking: on Spider
        questions the tuned headline model went from 2.5 to 17.5 % EX with it, docs/evaluation.md)."""
        context = self.database.schema_context(question=question)
        with self._contexts_lock:  # request threads call this concurrently
            self._database_contexts[context] = None
            while len(self._database_contexts) > 1024:
                del self._database_contexts[next(iter(self._database_contexts))]
        return context


def _summarize(errors: list[dict]) -> str:
    parts = []
    for error in errors[:3]:
        message = error.get("msg", "invalid")
        if message.startswith("invalid JSON"):  # the position is in the message
            parts.append(message)
            continue
        loc = ".".join(str(p) for p in error.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {message}")
    return "; ".join(parts)


def _message(error: dict) -> str:
    """A validation error's message; a JSON syntax error keeps its reason and character position."""
    if error.get("type") == "json_invalid":
        loc = [p for p in error.get("loc", ()) if isinstance(p, int)]
        reason = (error.get("ctx") or {}).get("error", "")
        where = f" at character {loc[0]}" if loc else ""
        return f"invalid JSON{where}: {reason}" if reason else f"invalid JSON{where}"
    return str(error.get("msg", "invalid"))


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": _message(e)} for e in err.errors()]
        return JSONResponse({"error": _summarize(detail), "detail": detail}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, err: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(err.detail)}, status_code=err.status_code, headers=err.headers)


def _install_offline_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI from the assets of the ``swagger-ui-bundle`` package (no CDN), else a pointer page."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None

    if swagger_ui_path is not None:
        from fastapi.openapi.docs import get_swagger_ui_html
        from fastapi.staticfiles import StaticFiles

        app.mount(DOCS_ASSETS, StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        if swagger_ui_path is None:
            return HTMLResponse(NO_DOCS_PAGE)
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="sqlora API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
        )


def _bearer(token: str | None) -> Callable[[Request], None]:
    def require(request: Request) -> None:
        if not token:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    return require


def create_app(
    settings: ServeSettings | None = None,
    *,
    generator: Any = None,
    generator_factory: Callable[[], Any] | None = None,
    database: Any = None,
    load_on_startup: bool = True,
) -> FastAPI:
    """The HTTP app. Pass a ready ``generator`` (anything with ``generate_batch``) or a factory for one;
    by default the local model named in ``settings`` is loaded. ``database`` defaults to ``settings.db_url``.
    """
    settings = settings or ServeSettings()
    if database is None and settings.db_url:
        database = open_database(settings.db_url)
    factory = (lambda: generator) if generator is not None else generator_factory
    state = ServerState(settings, factory or default_generator_factory(settings), database)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        if load_on_startup:
            await asyncio.to_thread(lambda: state.generator)
        yield
        await state.batcher.aclose()

    app = FastAPI(
        title="sqlora",
        summary="Questions in, validated SQL out; optionally executed read-only on a configured database.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    _install_offline_docs(app)
    app.state.sqlora = state
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    _install_error_handlers(app)
    auth = [Depends(_bearer(settings.token))]
    page = (STATIC / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(page)

    @app.get("/healthz", response_model=Health, tags=["meta"])
    async def healthz() -> Health:
        """Liveness, and what is being served."""
        gen = state._generator
        model = getattr(gen, "model_name", None) or settings.model or "embedded"
        return Health(
            status="ok" if gen is not None else "loading",
            model=str(model),
            adapter=getattr(gen, "adapter", None) or settings.adapter,
            backend=settings.backend,
            database=state.database is not None,
            dialect=state.dialect,
            max_batch=settings.max_batch,
        )

    @app.get("/v1/schema", response_model=SchemaResponse, responses=ERRORS, dependencies=auth, tags=["sql"])
    async def schema() -> SchemaResponse:
        """The configured database's tables and its CREATE TABLE context."""
        if state.database is None:
            raise HTTPException(404, "no database configured (start the server with --db URL)")
        from sqlora.db import DatabaseError, QueryError

        try:
            context = await asyncio.to_thread(state.full_context)
        except (DatabaseError, QueryError) as err:
            raise HTTPException(503, f"database unavailable: {str(err).splitlines()[0]}") from err
        tables = [TableInfo(name=t.name, columns=t.column_names) for t in parse_schema(context)]
        return SchemaResponse(dialect=state.dialect or "sqlite", tables=tables, context=context)

    @app.post("/v1/sql", response_model=SQLResponse, responses=ERRORS, dependencies=auth, tags=["sql"])
    async def sql(body: SQLRequest) -> SQLResponse:
        """Generate SQL for a question; optionally transpile it, explain it and run it read-only."""
        return await answer(state, body)

    @app.post("/v1/explain", response_model=ExplainResponse, responses=ERRORS, dependencies=auth, tags=["sql"])
    async def explain(body: ExplainRequest) -> ExplainResponse:
        """A plain-English explanation of a SQL query."""
        from sqlora.sql.explain import explain_sql
        from sqlora.sql.statements import statement_problem

        dialect = check_dialect(body.dialect or "sqlite")
        problem = statement_problem(body.sql, dialect)
        if problem:
            raise HTTPException(422, f"sql: cannot explain this: {problem}")
        try:
            text = await asyncio.to_thread(explain_sql, body.sql, dialect)
        except (ValueError, sqlglot.errors.SqlglotError) as err:
            raise HTTPException(422, f"cannot explain this SQL: {str(err).splitlines()[0]}") from err
        return ExplainResponse(explanation=text)

    @app.get("/v1/stats", dependencies=auth, tags=["meta"])
    async def stats() -> dict:
        """How well concurrent requests were batched."""
        return state.batcher.stats.to_dict()

    from sqlora.serving.openai_api import router as openai_router  # /v1/models, /v1/chat/completions

    app.include_router(openai_router, dependencies=auth)
    return app


async def answer(state: ServerState, body: SQLRequest) -> SQLResponse:
    """The work behind ``POST /v1/sql``."""
    db = state.database
    if body.execute and db is None:
        raise HTTPException(400, "execute=true needs a database (start the server with --db URL)")
    if not body.question.strip():
        raise HTTPException(422, "question: the question is empty")
    if not body.schema_ and db is None:
        raise HTTPException(422, "schema: give CREATE TABLE statements, or start the server with --db URL")
    if body.schema_:
        check_schema(body.schema_)
    dialect = check_dialect(body.dialect or state.dialect or "sqlite")
    schema = body.schema_ or await _database_context(state, body.question)

    started = time.perf_counter()
    try:
        result = await state.batcher.submit(body.question, schema)
    except QueueFull as err:
        raise HTTPException(503, f"server busy: {err}") from err
    except Exception as err:  # noqa: BLE001 - the model (or the vLLM server) failed: a server-side error
        status = 502 if type(err).__name__ == "VLLMError" else 500
        raise HTTPException(status, f"generation failed: {str(err).splitlines()[0] if str(err) else err!r}") from err
    out = SQLResponse(
        sql=result.sql,
        valid=result.valid,
        errors=list(result.errors),
        dialect=dialect,
        sqlite_sql=result.sql,
        generated_tokens=result.generated_tokens,
        repaired=result.repaired,
    )
    if out.valid and dialect != "sqlite":
        try:
            out.sql = transpile_from_sqlite(result.sql, dialect, schema)
        except Exception as err:  # noqa: BLE001 - reported to the caller
            out.valid = False
            out.errors.append(f"cannot transpile to {dialect}: {str(err).splitlines()[0]}")
    if out.valid and body.explain:
        out.explanation = await _explanation(result.sql)
    if body.execute:
        await _execute(state, out, schema)
    out.latency_s = round(time.perf_counter() - started, 4)
    return out


def check_schema(schema: str) -> None:
    """A pasted schema must be CREATE TABLE statements, or a 422 naming the problem."""
    from sqlora.data.validation import context_problem

    problem = context_problem(schema)
    if problem:
        raise HTTPException(422, f"schema: not usable as a schema: {problem}")


async def _database_context(state: ServerState, question: str) -> str:
    """The configured database's schema context for ``question``, or a 503 when the database cannot be read."""
    from sqlora.db import DatabaseError, QueryError

    try:
        return await asyncio.to_thread(state.context_for, question)
    except (DatabaseError, QueryError) as err:
        raise HTTPException(503, f"database unavailable: {str(err).splitlines()[0]}") from err


async def _explanation(sql: str) -> str | None:
    try:
        from sqlora.sql.explain import explain_sql

        return await asyncio.to_thread(explain_sql, sql, "sqlite")
    except Exception:  # noqa: BLE001 - an explanation is optional
        return None


async def _execute(state: ServerState, out: SQLResponse, schema: str) -> None:
    """Run the answer strictly through ``Database.execute_readonly``; refusals become errors."""
    from sqlora.db.readonly import UnsafeSQLError

    if not out.valid:
        out.errors.append("not executed: the SQL is not valid")
        return
    db, settings = state.database, state.settings
    try:
        sql = transpile_from_sqlite(out.sqlite_sql, state.dialect or "sqlite", schema)
        result = await asyncio.to_thread(
            db.execute_readonly, sql, timeout_s=settings.timeout_s, max_rows=settings.max_rows
        )
    except UnsafeSQLError as err:
        out.valid = False
        out.errors.append(str(err) if str(err).startswith("refused") else f"refused: {err}")
        return
    except Exception as err:  # noqa: BLE001 - a failing query is an answer, not a server error
        out.valid = False
        out.errors.append(f"execution failed: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
        return
    out.executed = True
    out.columns = [str(c) for c in result.columns]
    out.rows = result.json_rows()
    out.truncated = bool(result.truncated)

"""Request and response bodies of the HTTP API (pydantic models; they also make the OpenAPI docs)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_QUESTION_CHARS = 2_000
MAX_SCHEMA_CHARS = 32_000
MAX_SQL_CHARS = 16_000


class SQLRequest(BaseModel):
    """A question, optionally a schema, and what to do with the answer."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    question: str = Field(..., min_length=1, max_length=MAX_QUESTION_CHARS, description="The question in English.")
    schema_: str | None = Field(
        None,
        alias="schema",
        max_length=MAX_SCHEMA_CHARS,
        description="CREATE TABLE statements; default: the configured database's schema.",
    )
    execute: bool = Field(False, description="Run the SQL read-only on the configured database.")
    dialect: str | None = Field(None, max_length=32, description="Target SQL dialect (default: the database's).")
    explain: bool = Field(True, description="Add a plain-English explanation of the SQL.")


class SQLResponse(BaseModel):
    """The SQL (in ``dialect``), whether it is valid, and rows when it was executed."""

    sql: str
    valid: bool
    errors: list[str] = Field(default_factory=list)
    dialect: str = "sqlite"
    sqlite_sql: str = Field("", description="The SQL as generated (SQLite), before transpiling.")
    executed: bool = False
    columns: list[str] | None = None
    rows: list[list[Any]] | None = None
    truncated: bool = False
    explanation: str | None = None
    latency_s: float = 0.0
    generated_tokens: int = 0
    repaired: bool = False


class ExplainRequest(BaseModel):
    """A SQL query to explain."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(..., min_length=1, max_length=MAX_SQL_CHARS)
    dialect: str | None = Field(None, max_length=32, description="The query's dialect (default: sqlite).")


class ExplainResponse(BaseModel):
    explanation: str


class Health(BaseModel):
    status: str
    model: str | None
    adapter: str | None
    backend: str
    database: bool
    dialect: str | None
    max_batch: int


class TableInfo(BaseModel):
    name: str
    columns: list[str]


class SchemaResponse(BaseModel):
    dialect: str
    tables: list[TableInfo]
    context: str


class ErrorBody(BaseModel):
    error: str
    detail: Any = None

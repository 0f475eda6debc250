"""What the MCP tools return (pydantic models: they become each tool's output schema)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class TableSummary(BaseModel):
    name: str
    columns: list[str]


class TableList(BaseModel):
    database: str = Field(description="The database's short name.")
    dialect: str = Field(description="The SQL dialect queries must be written in.")
    tables: list[TableSummary]


class Column(BaseModel):
    name: str
    type: str
    primary_key: bool = False


class ForeignKeyInfo(BaseModel):
    columns: list[str]
    ref_table: str
    ref_columns: list[str]


class TableDescription(BaseModel):
    name: str
    columns: list[Column]
    primary_key: list[str]
    foreign_keys: list[ForeignKeyInfo] = Field(description="Keys of this table that reference other tables.")
    referenced_by: list[ForeignKeyInfo] = Field(description="Keys of other tables (ref_table) that reference this one.")
    sample_rows: list[list[Any]] = Field(description="A few rows, in column order.")


class GeneratedSQL(BaseModel):
    sql: str = Field(description="The generated query, in the database's dialect.")
    valid: bool = Field(description="Whether it parsed and every table and column exists in the schema.")
    errors: list[str] = Field(default_factory=list, description="Why it is not valid.")
    dialect: str
    sqlite_sql: str = Field(description="The query as the model wrote it (SQLite), before transpiling.")
    repaired: bool = Field(False, description="Names or joins were mended after generation.")
    generated_tokens: int = 0
    tables: list[str] = Field(description="The tables given to the model (those the question is about).")


class QueryRows(BaseModel):
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool = Field(description="More rows existed than the row cap.")


class Explanation(BaseModel):
    explanation: str


class OptimizationHint(BaseModel):
    kind: str
    message: str
    suggestion: str | None = None
    table: str | None = None
    columns: list[str] = Field(default_factory=list)


class Optimization(BaseModel):
    plan: list[str] = Field(description="The database's own query plan, one line per step.")
    hints: list[OptimizationHint]
    optimized_sql: str | None = Field(None, description="sqlglot's optimized rewrite, when it differs.")

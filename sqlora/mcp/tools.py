"""The work behind each MCP tool, over one :class:`~sqlora.db.connect.Database`.

Every failure a caller can cause (an unknown table, SQL the read-only gate refuses, a query the database
rejects or that runs too long) raises :class:`ToolError` with the reason, which the SDK returns to the client
as a tool error (``isError``) instead of failing the request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlglot
from mcp.server.mcpserver.exceptions import ToolError
from sqlglot import exp

from sqlora.db.connect import Database, DatabaseError
from sqlora.db.executors import QueryError, QueryTimeout
from sqlora.db.readonly import UnsafeSQLError
from sqlora.mcp.models import (
    Column,
    Explanation,
    ForeignKeyInfo,
    GeneratedSQL,
    Optimization,
    OptimizationHint,
    QueryRows,
    TableDescription,
    TableList,
    TableSummary,
)
from sqlora.sql.schema import parse_schema


@dataclass(frozen=True)
class ToolSettings:
    """Limits for queries the tools run."""

    max_rows: int = 1000
    timeout_s: float = 10.0
    sample_rows: int = 3


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class DatabaseTools:
    """Tables, descriptions, generation, read-only queries, explanations and hints for one database.

    ``generator_factory`` builds the SQL generator (anything with ``generate(question, schema)`` returning a
    :class:`~sqlora.inference.generator.SQLResult`); it is called once, on the first ``generate_sql``.
    """

    def __init__(
        self,
        database: Database,
        generator_factory: Callable[[], Any],
        settings: ToolSettings | None = None,
    ) -> None:
        self.database = database
        self.settings = settings or ToolSettings()
        self._factory = generator_factory
        self._generator: Any = None
        self._lock = threading.Lock()
        self._generate_lock = threading.Lock()  # one generation at a time on the one model

    @property
    def generator(self) -> Any:
        with self._lock:
            if self._generator is None:
                self._generator = self._factory()
            return self._generator

    @property
    def dialect(self) -> str:
        return self.database.dialect

    # -- schema ------------------------------------------------------------------------------------
    def list_tables(self) -> TableList:
        tables = [TableSummary(name=t.name, columns=t.column_names) for t in self._tables()]
        return TableList(database=self.database.name, dialect=self.dialect, tables=tables)

    def describe_table(self, table: str) -> TableDescription:
        try:
            found = self.database.table(table)
        except DatabaseError as err:
            known = ", ".join(t.name for t in self._tables())
            raise ToolError(f"{err}; the tables are: {known}") from err
        try:
            primary = self.database.primary_key(found.name)
        except Exception:  # noqa: BLE001 - keys are a nicety on engines that cannot report them
            primary = []
        keys = self.database.foreign_keys()
        outgoing = [_fk(fk.columns, fk.ref_table, fk.ref_columns) for fk in keys if fk.table == found.name]
        incoming = [_fk(fk.ref_columns, fk.table, fk.columns) for fk in keys if fk.ref_table == found.name]
        return TableDescription(
            name=found.name,
            columns=[Column(name=n, type=str(t), primary_key=n in primary) for n, t in found.columns],
            primary_key=primary,
            foreign_keys=outgoing,
            referenced_by=incoming,
            sample_rows=self._sample_rows(found.name),
        )

    def _tables(self) -> list:
        try:
            return self.database.tables()
        except DatabaseError as err:
            raise ToolError(_first_line(err)) from err

    def _sample_rows(self, table: str) -> list[list[Any]]:
        n = self.settings.sample_rows
        if n <= 0:
            return []
        query = exp.select("*").from_(exp.Table(this=exp.to_identifier(table, quoted=True))).limit(n)
        try:
            result = self.database.execute_readonly(query.sql(dialect=self.dialect), self.settings.timeout_s, n)
        except Exception:  # noqa: BLE001 - samples are optional (e.g. a table the user cannot read)
            return []
        return result.json_rows()

    # -- SQL ---------------------------------------------------------------------------------------
    def generate_sql(self, question: str) -> GeneratedSQL:
        question = question.strip()
        if not question:
            raise ToolError("the question is empty")
        schema = self.database.schema_context(question=question)
        try:
            generator = self.generator
            with self._generate_lock:
                result = generator.generate(question, schema, self.database.value_index)
        except Exception as err:  # noqa: BLE001 - a model failure is reported, the server stays up
            raise ToolError(f"generation failed: {_first_line(err)}") from err
        tables = [t.name for t in parse_schema(schema)]
        out = GeneratedSQL(
            sql=result.sql,
            valid=result.valid,
            errors=list(result.errors),
            dialect=self.dialect,
            sqlite_sql=result.sql,
            repaired=bool(result.repaired),
            generated_tokens=int(result.generated_tokens),
            tables=tables,
        )
        if out.valid and self.dialect != "sqlite":
            from sqlora.sql.dialects import transpile

            columns = {c.lower() for t in parse_schema(schema) for c in t.column_names}
            try:
                out.sql = transpile(result.sql, to=self.dialect, columns=columns or None)
            except Exception as err:  # noqa: BLE001 - reported in the result
                out.valid = False
                out.errors.append(f"cannot transpile to {self.dialect}: {_first_line(err)}")
        return out

    def run_query(self, sql: str, max_rows: int | None = None) -> QueryRows:
        cap = self.settings.max_rows if max_rows is None else max(1, min(max_rows, self.settings.max_rows))
        try:
            result = self.database.execute_readonly(sql, timeout_s=self.settings.timeout_s, max_rows=cap)
        except UnsafeSQLError as err:
            raise ToolError(str(err)) from err
        except QueryTimeout as err:
            raise ToolError(f"the query ran past the {self.settings.timeout_s:g} s limit and was stopped") from err
        except QueryError as err:
            raise ToolError(f"the database rejected the query: {_first_line(err)}") from err
        rows = result.json_rows()
        return QueryRows(columns=[str(c) for c in result.columns], rows=rows, row_count=len(rows),
                         truncated=bool(result.truncated))  # fmt: skip

    def explain_query(self, sql: str) -> Explanation:
        from sqlora.sql.explain import explain_sql

        try:
            return Explanation(explanation=explain_sql(sql, self.dialect))
        except (ValueError, sqlglot.errors.SqlglotError) as err:
            raise ToolError(f"cannot explain this SQL: {_first_line(err)}") from err

    def optimize_query(self, sql: str) -> Optimization:
        from sqlora.db.optimize import optimize_hints

        try:
            report = optimize_hints(sql, self.database)
        except UnsafeSQLError as err:
            raise ToolError(str(err)) from err
        except (QueryError, ValueError, sqlglot.errors.SqlglotError) as err:
            raise ToolError(f"cannot analyse this SQL: {_first_line(err)}") from err
        hints = [OptimizationHint(**vars(h)) for h in report.hints]
        return Optimization(plan=report.plan, hints=hints, optimized_sql=report.optimized_sql)


def _fk(columns: tuple[str, ...], ref_table: str, ref_columns: tuple[str, ...]) -> ForeignKeyInfo:
    return ForeignKeyInfo(columns=list(columns), ref_table=ref_table, ref_columns=list(ref_columns))

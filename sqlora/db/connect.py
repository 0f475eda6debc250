"""A user's database opened by SQLAlchemy URL: its schema as prompt context, and read-only queries."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SAWarning
from sqlalchemy.pool import NullPool

from sqlora.db import executors
from sqlora.db.executors import QueryError, QueryResult
from sqlora.db.readonly import check_readonly
from sqlora.db.sqlite import connect_readonly
from sqlora.sql.dialects import dialect_for_url
from sqlora.sql.linking import ValueIndex
from sqlora.sql.schema import Table, quote_identifier


@dataclass(frozen=True)
class ForeignKey:
    """``table.columns`` references ``ref_table.ref_columns``."""

    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


class DatabaseError(ValueError):
    """The database cannot be opened or inspected."""


def normalize_url(url: str | Path | URL) -> URL:
    """An SQLAlchemy URL; a plain path to a ``.sqlite``/``.db``/``.duckdb`` file is accepted too."""
    if isinstance(url, URL):
        return url
    text = str(url)
    if "://" not in text:
        path = Path(text).expanduser().resolve()
        scheme = "duckdb" if path.suffix in (".duckdb", ".ddb") else "sqlite"
        return make_url(f"{scheme}:///{path}")
    try:
        return make_url(text)
    except Exception as err:
        raise DatabaseError(f"not a database URL: {text!r} ({err})") from err


class Database:
    """A database reachable by SQLAlchemy URL, used read-only.

    ``Database("sqlite:///path.sqlite")``, ``Database("postgresql+psycopg://user@host/db", schema="s")``,
    ``Database("mysql+pymysql://root@host/db")``, ``Database("duckdb:///file.duckdb")``.
    """

    def __init__(self, url: str | Path | URL, schema: str | None = None, connect_timeout: int = 10):
        self.url = normalize_url(url)
        self.backend = self.url.get_backend_name()
        self.dialect = dialect_for_url(self.url)
        self.schema = schema
        self.engine = self._make_engine(connect_timeout)

    # -- connections ---------------------------------------------------------------------------
    def _make_engine(self, connect_timeout: int) -> Engine:
        if self.backend == "sqlite":
            path = self.url.database
            if not path or path == ":memory:" or not Path(path).is_file():
                raise DatabaseError(f"no SQLite database file at {path!r}")
            return create_engine("sqlite://", creator=lambda: connect_readonly(path), poolclass=NullPool)
        if self.backend == "postgresql":
            args = {"options": "-c default_transaction_read_only=on", "connect_timeout": connect_timeout}
            return create_engine(self.url, connect_args=args, pool_pre_ping=True, pool_size=2)
        if self.backend in ("mysql", "mariadb"):
            return create_engine(self.url, connect_args={"connect_timeout": connect_timeout}, pool_pre_ping=True)
        if self.backend == "duckdb":
            path = self.url.database
            if not path or path == ":memory:" or not Path(path).is_file():
                raise DatabaseError(f"no DuckDB database file at {path!r} (in-memory databases cannot be read-only)")
            args = {"read_only": True, "config": {"enable_external_access": False}}
            return create_engine(self.url, connect_args=args, poolclass=NullPool)
        return create_engine(self.url, pool_pre_ping=True)

    @cached_property
    def name(self) -> str:
        """A short name: the file stem or the database name."""
        database = self.url.database or self.backend
        return Path(database).stem if self.backend in ("sqlite", "duckdb") else database

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"

    # -- queries -------------------------------------------------------------------------------
    def execute_readonly(self, sql: str, timeout_s: float = 10.0, max_rows: int = 1000) -> QueryResult:
        """Run ``sql`` after the safety gate, in a read-only transaction with a timeout and a row cap.

        Raises :class:`~sqlora.db.readonly.UnsafeSQLError` (refused), :class:`QueryTimeout` or
        :class:`QueryError` (the database failed it).
        """
        check_readonly(sql, self.dialect)
        return self.execute_unchecked(sql, timeout_s=timeout_s, max_rows=max_rows)

    def execute_unchecked(self, sql: str, timeout_s: float = 10.0, max_rows: int = 1000) -> QueryResult:
        """The read-only transaction layer alone, WITHOUT the parser gate (internal use and tests)."""
        try:
            raw = self.engine.raw_connection()
        except Exception as err:
            raise QueryError(f"cannot connect to {self!r}: {err}") from err
        driver = raw.driver_connection
        discard = False
        try:
            if self.backend == "sqlite":
                return executors.run_sqlite(driver, sql, timeout_s, max_rows)
            if self.backend == "postgresql":
                return executors.run_postgres(driver, sql, timeout_s, max_rows, self.schema)
            if self.backend in ("mysql", "mariadb"):
                discard = True  # until the run says the connection is clean
                result, discard = executors.run_mysql(driver, sql, timeout_s, max_rows)
                return result
            if self.backend == "duckdb":
                return executors.run_duckdb(_duckdb_connection(driver), sql, timeout_s, max_rows)
            return executors.run_generic(driver, sql, timeout_s, max_rows)
        finally:
            if discard:
                raw.invalidate()
            else:
                raw.close()

    # -- schema --------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Forget cached schema information (after the database changed)."""
        for key in ("_schema_info", "value_index"):
            self.__dict__.pop(key, None)

    @cached_property
    def value_index(self) -> ValueIndex:
        """The text values of every column (the first 10,000 rows of each table), read once, for linking a
        question to the columns whose values it spells out (:mod:`sqlora.db.context`)."""
        from sqlora.db.context import column_values

        return column_values(self)

    @cached_property
    def _schema_info(self) -> tuple[list[Table], list[ForeignKey]]:
        if self.backend == "duckdb":  # duckdb-engine's inspector needs pg_catalog tables DuckDB lacks
            return _duckdb_schema(self)
        try:
            insp = inspect(self.engine)
            names = insp.get_table_names(schema=self.schema)
            tables = [Table(name, self._columns(insp, name)) for name in names]
            fks = []
            for name in names:
                # SQLite: a key whose column differs in case from its declaration still comes from PRAGMA
                # foreign_key_list; SQLAlchemy's warning about it would reach the user as noise
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", ".*SQL-parsed foreign key constraint", SAWarning)
                    found = insp.get_foreign_keys(name, schema=self.schema)
                for fk in found:
                    ref = fk.get("referred_table")
                    cols = tuple(fk.get("constrained_columns") or ())
                    ref_cols = tuple(fk.get("referred_columns") or ())
                    if not ref or not cols:
                        continue
                    if not ref_cols or len(ref_cols) != len(cols):
                        ref_cols = tuple(self.primary_key(ref) or ())
                    if len(ref_cols) == len(cols):
                        fks.append(ForeignKey(name, cols, ref, ref_cols))
        except Exception as err:
            raise DatabaseError(f"cannot read the schema of {self!r}: {err}") from err
        if self.backend == "sqlite":  # keep creation order, like the dataset contexts
            order = {t.name: i for i, t in enumerate(_sqlite_order(self))}
            tables.sort(key=lambda t: order.get(t.name, len(order)))
        return tables, fks

    def _columns(self, insp: Any, name: str) -> list[tuple[str, str]]:
        if self.backend == "sqlite":
            result = self.execute_unchecked(f"PRAGMA table_info({quote_identifier(name)})", max_rows=100_000)
            return [(row[1], row[2] or "TEXT") for row in result.rows]
        cols = []
        for col in insp.get_columns(name, schema=self.schema):
            try:
                kind = col["type"].compile(dialect=self.engine.dialect)
            except Exception:
                kind = "TEXT"
            cols.append((col["name"], kind))
        return cols

    def tables(self) -> list[Table]:
        """The user tables with their columns (name, declared type)."""
        return list(self._schema_info[0])

    def foreign_keys(self) -> list[ForeignKey]:
        """Declared foreign keys between the tables."""
        return list(self._schema_info[1])

    def table(self, name: str) -> Table:
        """A table by name (case-insensitive)."""
        for table in self.tables():
            if table.name.lower() == name.lower():
                return table
        raise DatabaseError(f"no table named {name!r}")

    def primary_key(self, table: str) -> list[str]:
        """The primary key columns of ``table``."""
        if self.backend == "duckdb":
            return _duckdb_constraint_columns(self, table, "PRIMARY KEY")
        return list(inspect(self.engine).get_pk_constraint(table, schema=self.schema).get("constrained_columns") or [])

    def indexes(self, table: str) -> list[list[str]]:
        """Column lists of the indexes on ``table`` (primary key and unique constraints included; not cached)."""
        if self.backend == "duckdb":
            rows = self.execute_unchecked(
                f"SELECT expressions FROM duckdb_indexes() WHERE table_name = {_lit(table)}", max_rows=10_000
            ).rows
            found = [[c.strip().strip('"') for c in str(r[0]).strip("[]").split(",")] for r in rows]
            return found + [cols for cols in [self.primary_key(table)] if cols]
        insp = inspect(self.engine)
        found = [list(i.get("column_names") or []) for i in insp.get_indexes(table, schema=self.schema)]
        pk = self.primary_key(table)
        if pk:
            found.append(pk)
        try:
            for uc in insp.get_unique_constraints(table, schema=self.schema):
                found.append(list(uc.get("column_names") or []))
        except NotImplementedError:
            pass
        return [[c for c in cols if c] for cols in found if cols]

    def schema_context(self, sample_values: int = 0, question: str | None = None) -> str:
        """Compact CREATE TABLE context, cut to the tables ``question`` is about (see :mod:`sqlora.db.context`)."""
        from sqlora.db.context import schema_context

        return schema_context(self, sample_values=sample_values, question=question)


def _sqlite_order(db: Database) -> list[Table]:
    result = db.execute_unchecked(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        max_rows=100_000,
    )
    return [Table(row[0]) for row in result.rows]


def _duckdb_connection(driver: Any) -> Any:
    """The DuckDBPyConnection behind duckdb-engine's wrapper."""
    return getattr(driver, "_ConnectionWrapper__c", None) or getattr(driver, "c", None) or driver


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _duckdb_schema(db: Database) -> tuple[list[Table], list[ForeignKey]]:
    schema = _lit(db.schema or "main")
    rows = db.execute_unchecked(
        "SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        f"WHERE c.table_schema = {schema} AND t.table_type = 'BASE TABLE' "
        "ORDER BY c.table_name, c.ordinal_position",
        max_rows=1_000_000,
    ).rows
    tables: dict[str, Table] = {}
    for table, col, kind in rows:
        tables.setdefault(table, Table(table)).columns.append((col, kind))
    fks = []
    for table, cols, ref, ref_cols in db.execute_unchecked(
        "SELECT table_name, constraint_column_names, referenced_table, referenced_column_names "
        f"FROM duckdb_constraints() WHERE constraint_type = 'FOREIGN KEY' AND schema_name = {schema}",
        max_rows=100_000,
    ).rows:
        if ref and cols and len(cols) == len(ref_cols or []):
            fks.append(ForeignKey(table, tuple(cols), ref, tuple(ref_cols)))
    return list(tables.values()), fks


def _duckdb_constraint_columns(db: Database, table: str, kind: str) -> list[str]:
    rows = db.execute_unchecked(
        "SELECT constraint_column_names FROM duckdb_constraints() "
        f"WHERE table_name = {_lit(table)} AND constraint_type = {_lit(kind)}",
        max_rows=10,
    ).rows
    return list(rows[0][0]) if rows else []

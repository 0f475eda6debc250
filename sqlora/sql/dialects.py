"""Transpile SQL from the training dialect (SQLite) to any dialect sqlglot speaks, and name a URL's dialect."""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialects
from sqlglot.errors import ErrorLevel, ParseError, TokenError, UnsupportedError

TRAINING_DIALECT = "sqlite"

#: Every dialect name sqlglot can read and write, sorted.
SUPPORTED_DIALECTS: tuple[str, ...] = tuple(sorted(d.value for d in Dialects if d.value))

#: Common spellings accepted on top of sqlglot's own names.
ALIASES: dict[str, str] = {
    "postgresql": "postgres",
    "pg": "postgres",
    "psql": "postgres",
    "mariadb": "mysql",
    "mssql": "tsql",
    "sqlserver": "tsql",
    "sql_server": "tsql",
    "sqlite3": "sqlite",
    "bq": "bigquery",
    "pyspark": "spark",
}

#: SQLAlchemy backend names (``URL.get_backend_name()``) -> sqlglot dialect.
BACKENDS: dict[str, str] = {
    "sqlite": "sqlite",
    "postgresql": "postgres",
    "postgres": "postgres",
    "cockroachdb": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "duckdb": "duckdb",
    "mssql": "tsql",
    "oracle": "oracle",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "redshift": "redshift",
    "trino": "trino",
    "presto": "presto",
    "clickhouse": "clickhouse",
    "databricks": "databricks",
    "hive": "hive",
    "teradata": "teradata",
    "exasol": "exasol",
    "awsathena": "athena",
    "doris": "doris",
    "starrocks": "starrocks",
    "risingwave": "risingwave",
    "materialize": "materialize",
}


class DialectError(ValueError):
    """An unknown dialect name, or SQL that cannot be transpiled."""


def normalize_dialect(name: str) -> str:
    """The sqlglot name of a dialect (accepts aliases such as ``postgresql`` or ``mariadb``)."""
    key = (name or "").strip().lower()
    key = ALIASES.get(key, key)
    if key not in SUPPORTED_DIALECTS:
        raise DialectError(f"unknown dialect '{name}'; choose one of: {', '.join(SUPPORTED_DIALECTS)}")
    return key


_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Like, exp.ILike, exp.Glob)


def sqlite_double_quoted_strings(tree: exp.Expression, columns: set[str] | None = None) -> exp.Expression:
    """Turn SQLite's double-quoted *strings* (``WHERE name = "Bob"``, common in Spider) into string literals.

    SQLite reads ``"Bob"`` as a string when no column is called Bob; other engines read it as a column.
    With ``columns`` (lower-cased names) any quoted, unqualified name that is not a column becomes a
    string; without it, only quoted names on the value side of a comparison, IN list or BETWEEN do.
    """
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if not isinstance(ident, exp.Identifier) or not ident.quoted or column.table:
            continue
        if columns is not None:
            is_string = ident.name.lower() not in columns
        else:
            parent = column.parent
            is_string = (
                (isinstance(parent, _COMPARISONS) and column.arg_key == "expression")
                or (isinstance(parent, exp.In) and column.arg_key == "expressions")
                or (isinstance(parent, exp.Between) and column.arg_key in ("low", "high"))
            )
        if is_string:
            column.replace(exp.Literal.string(ident.name))
    return tree


def transpile(
    sql: str,
    to: str,
    source: str = TRAINING_DIALECT,
    pretty: bool = False,
    strict: bool = False,
    columns: set[str] | None = None,
) -> str:
    """Rewrite ``sql`` (in ``source``) for dialect ``to``; several statements come back joined by ';\\n'.

    From SQLite, double-quoted strings become string literals (see :func:`sqlite_double_quoted_strings`;
    pass the schema's lower-cased ``columns`` for an exact decision). With ``strict`` a construct the
    target cannot express raises :class:`DialectError` instead of being written on a best-effort basis.
    """
    read, write = normalize_dialect(source), normalize_dialect(to)
    level = ErrorLevel.RAISE if strict else ErrorLevel.WARN
    try:
        trees = [t for t in sqlglot.parse(sql, read=read) if t is not None]
        if read == "sqlite" and write != "sqlite":
            trees = [sqlite_double_quoted_strings(t, columns) for t in trees]
        out = [t.sql(dialect=write, pretty=pretty, unsupported_level=level) for t in trees]
    except (ParseError, TokenError, RecursionError) as err:
        raise DialectError(f"cannot parse the SQL as {read}: {str(err).splitlines()[0]}") from err
    except UnsupportedError as err:
        raise DialectError(f"{write} cannot express this query: {str(err).splitlines()[0]}") from err
    return ";\n".join(s for s in out if s.strip())


def dialect_for_url(url: Any) -> str:
    """The sqlglot dialect for an SQLAlchemy URL string, ``URL`` or ``Engine``/``Connection``."""
    from sqlalchemy.engine import make_url

    if hasattr(url, "dialect") and hasattr(url.dialect, "name"):
        backend = url.dialect.name
    else:
        try:
            backend = make_url(url).get_backend_name()
        except Exception as err:  # sqlalchemy raises ArgumentError for junk
            raise DialectError(f"not a database URL: {url!r} ({err})") from err
    backend = backend.lower()
    if backend in BACKENDS:
        return BACKENDS[backend]
    try:
        return normalize_dialect(backend)
    except DialectError:
        raise DialectError(f"no SQL dialect known for database backend '{backend}'") from None

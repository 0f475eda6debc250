"""The safety gate: generated SQL runs against a user's database only if it is one read-only query.

The gate parses the SQL with sqlglot in the target dialect and refuses, with :class:`UnsafeSQLError`:

* anything that is not exactly one statement (chains such as ``SELECT 1; DROP TABLE t``), empty or
  unparseable SQL;
* a root that is not a query (``SELECT``, ``WITH ... SELECT``, ``UNION``/``INTERSECT``/``EXCEPT``,
  a parenthesised query); so writes, DDL, ``PRAGMA``, ``ATTACH``, ``SET``, ``COPY``, ``CALL``... never pass;
* statement nodes anywhere in the tree: data-modifying CTEs (``WITH d AS (DELETE ...) SELECT``),
  ``SELECT ... INTO``, ``SELECT ... FOR UPDATE/SHARE`` and friends;
* comments that hide code: MySQL/MariaDB executable comments (``/*! ... */``) and comments that contain
  ``;`` or a write/DDL keyword;
* functions with side effects or that reach outside the database (:data:`FORBIDDEN_FUNCTIONS`: file
  access, large objects, dblink, extension loading, session/config changes, sequences, locks, functions
  that run SQL strings) and reads of credential tables (:data:`FORBIDDEN_TABLES`).

Sleep functions (``pg_sleep``, MySQL ``SLEEP``) are allowed: they cannot change anything, and every
query runs under a statement timeout (see :mod:`sqlora.db.executors`), which is the second layer.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from sqlora.sql.dialects import normalize_dialect


class UnsafeSQLError(ValueError):
    """SQL refused by the read-only gate; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(f"refused: {reason}")
        self.reason = reason


def _classes(*names: str) -> tuple[type, ...]:
    return tuple(getattr(exp, name) for name in names if hasattr(exp, name))


#: Nodes that write, change schema or state, or lock — refused anywhere in the tree.
FORBIDDEN_NODES: tuple[type, ...] = _classes(
    "Insert", "Update", "Delete", "Merge", "Create", "Drop", "Alter", "TruncateTable", "Command",
    "Pragma", "Attach", "Detach", "Set", "Use", "Grant", "Revoke", "Copy", "LoadData", "Install",
    "Execute", "Into", "Lock", "Transaction", "Commit", "Rollback", "Cache", "Uncache", "Refresh",
    "Analyze", "Kill", "Comment", "Describe", "Show", "Summarize",
)  # fmt: skip

#: Root nodes a read query may have.
READ_ROOTS: tuple[type, ...] = (exp.Select, exp.SetOperation, exp.Subquery)

#: Functions refused in every dialect (lower-case names).
FORBIDDEN_FUNCTIONS: frozenset[str] = frozenset(
    {
        # SQLite: extensions and the CLI's file functions
        "load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile",
        # PostgreSQL: files, large objects, other servers, server/session state, sequences, locks
        "lo_import", "lo_export", "lo_unlink", "lo_create", "lo_creat", "lo_from_bytea", "lo_put", "lo_open",
        "pg_read_file", "pg_read_binary_file", "pg_ls_dir", "pg_stat_file", "pg_ls_logdir", "pg_ls_waldir",
        "pg_ls_tmpdir", "pg_ls_archive_statusdir", "pg_file_write", "pg_file_rename", "pg_file_unlink",
        "dblink", "dblink_exec", "dblink_connect", "dblink_send_query", "dblink_open",
        "pg_terminate_backend", "pg_cancel_backend", "pg_reload_conf", "pg_rotate_logfile",
        "pg_promote", "pg_switch_wal", "pg_create_restore_point", "pg_logical_emit_message",
        "set_config", "nextval", "setval", "pg_notify", "txid_current", "pg_current_xact_id",
        "pg_advisory_lock", "pg_advisory_xact_lock", "pg_try_advisory_lock", "pg_advisory_lock_shared",
        "pg_try_advisory_xact_lock", "pg_advisory_unlock", "pg_advisory_unlock_all",
        "query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema", "cursor_to_xml",
        "table_to_xml", "database_to_xml", "schema_to_xml", "pg_import_system_collations",
        # MySQL / MariaDB: files, locks, CPU burners, UDF shells
        "load_file", "benchmark", "get_lock", "release_lock", "release_all_locks", "sys_exec", "sys_eval",
        "master_pos_wait", "source_pos_wait",
        # DuckDB: files, remote data, other databases
        "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "read_json", "read_json_auto",
        "read_json_objects", "read_ndjson", "read_ndjson_auto", "read_text", "read_blob", "glob",
        "sqlite_scan", "sqlite_attach", "postgres_scan", "postgres_attach", "mysql_scan", "iceberg_scan",
        "delta_scan", "read_xlsx", "st_read", "query", "query_table",
    }
)  # fmt: skip

#: Tables holding credentials (lower-case, unqualified or ``schema.table``).
FORBIDDEN_TABLES: frozenset[str] = frozenset(
    {
        "pg_authid", "pg_shadow", "pg_user_mapping", "pg_user_mappings", "pg_hba_file_rules",
        "mysql.user", "mysql.global_priv", "mysql.db", "mysql.tables_priv", "mysql.columns_priv",
        "mysql.procs_priv", "mysql.proxies_priv", "mysql.servers",
    }
)  # fmt: skip

_HIDDEN_CODE = re.compile(
    r";|\b(insert|update|delete|merge|replace|upsert|create|drop|alter|truncate|rename|attach|detach|pragma|"
    r"vacuum|grant|revoke|copy|call|exec|execute|load|install|into)\b",
    re.IGNORECASE,
)


@contextmanager
def _quiet_sqlglot():
    """Silence sqlglot's 'falling back to Command' warnings while we parse hostile input."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _function_names(node: exp.Func) -> set[str]:
    names = {node.sql_name().lower()}
    if isinstance(node, exp.Anonymous):
        names.add(str(node.this).lower())
    return names


def _check_comments(sql: str, dialect: str) -> None:
    if "/*!" in sql and dialect in ("mysql", "doris", "starrocks", "singlestore"):
        raise UnsafeSQLError("MySQL executable comments (/*! ... */) are not allowed")
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except TokenError as err:
        raise UnsafeSQLError(f"could not tokenize the SQL: {str(err).splitlines()[0]}") from err
    for token in tokens:
        for comment in token.comments:
            if comment.lstrip().startswith("!"):
                raise UnsafeSQLError("executable comments (/*! ... */) are not allowed")
            if _HIDDEN_CODE.search(comment):
                raise UnsafeSQLError(f"a comment contains statement-like text: {comment.strip()[:60]!r}")


def check_readonly(sql: str, dialect: str = "sqlite") -> exp.Expression:
    """Return the parsed query if ``sql`` is exactly one read-only query in ``dialect``, else raise."""
    if not isinstance(sql, str) or not sql.strip():
        raise UnsafeSQLError("empty SQL")
    dialect = normalize_dialect(dialect)
    if "\x00" in sql:
        raise UnsafeSQLError("NUL bytes are not allowed in SQL")
    _check_comments(sql, dialect)
    with _quiet_sqlglot():
        try:
            statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
        except (ParseError, TokenError, RecursionError) as err:
            raise UnsafeSQLError(f"could not parse the SQL as {dialect}: {str(err).splitlines()[0]}") from err
    if not statements:
        raise UnsafeSQLError("no statement found")
    if len(statements) > 1:
        raise UnsafeSQLError(f"exactly one statement is allowed, found {len(statements)}")
    root = statements[0]
    wrapped = isinstance(root, exp.Subquery) and not isinstance(root.unnest(), exp.Query)
    if not isinstance(root, READ_ROOTS) or wrapped:
        kind = root.key.upper() if not isinstance(root, exp.Command) else str(root.this).upper()
        raise UnsafeSQLError(f"only read queries (SELECT / WITH ... SELECT) are allowed, got {kind}")
    for node in root.walk():
        if isinstance(node, FORBIDDEN_NODES):
            what = {"into": "SELECT ... INTO", "lock": "SELECT ... FOR UPDATE/SHARE"}.get(node.key, node.key.upper())
            raise UnsafeSQLError(f"{what} is not allowed in a read-only query")
        if isinstance(node, exp.Func):
            bad = _function_names(node) & FORBIDDEN_FUNCTIONS
            if bad:
                raise UnsafeSQLError(f"function {sorted(bad)[0]}() is not allowed (side effects or outside access)")
        if isinstance(node, exp.Table):
            _check_table(node, dialect)
    return root


def _check_table(table: exp.Table, dialect: str) -> None:
    name = table.name.lower()
    full = f"{table.db.lower()}.{name}" if table.db else name
    if name in FORBIDDEN_TABLES or full in FORBIDDEN_TABLES:
        raise UnsafeSQLError(f"reading {full} (credentials) is not allowed")
    if table.catalog and dialect in ("sqlite", "duckdb"):
        raise UnsafeSQLError("three-part names (other attached databases) are not allowed")
    if dialect == "duckdb" and isinstance(table.this, exp.Identifier) and re.search(r"[./\\:]", table.name):
        raise UnsafeSQLError(f"reading files or URLs ({table.name!r}) is not allowed")
    if isinstance(table.this, exp.Func):
        bad = _function_names(table.this) & FORBIDDEN_FUNCTIONS
        if bad:
            raise UnsafeSQLError(f"function {sorted(bad)[0]}() is not allowed (side effects or outside access)")


def is_readonly(sql: str, dialect: str = "sqlite") -> bool:
    """True when :func:`check_readonly` accepts ``sql``."""
    try:
        check_readonly(sql, dialect)
    except UnsafeSQLError:
        return False
    return True

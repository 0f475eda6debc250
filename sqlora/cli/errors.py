"""Known failure types -> one-line messages, for the command line's error boundary (:mod:`sqlora.cli.app`).

An exception that is not listed here is a bug: :func:`describe` returns None and its traceback is shown.
"""

from __future__ import annotations

import json
import re

from typer._click import Context

NETWORK_MODULES = ("requests", "httpx", "httpcore", "urllib3", "huggingface_hub")
MAX_CHARS = 400


TOKEN_REPR = re.compile(
    r"<Token token_type: [^,]*, text: (.*?), line: \d+, col: \d+, start: \d+, end: \d+, comments: .*?>"
)
"""sqlglot's parse errors show the offending token as its repr; only its text helps a reader."""


def first_line(text: object) -> str:
    """The first non-empty line of ``text`` (sqlglot tokens as their text), trimmed to a readable length."""
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    line = TOKEN_REPR.sub(lambda m: repr(m.group(1)), line)
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"


def _from_modules(err: BaseException, prefixes: tuple[str, ...]) -> bool:
    return any(cls.__module__.split(".")[0] in prefixes for cls in type(err).__mro__)


def _where(ctx: Context | None) -> str:
    if ctx is None:
        return "sqlora"
    sub = ctx.invoked_subcommand
    return f"{ctx.command_path} {sub}" if sub else ctx.command_path


def _what(err: BaseException) -> str | None:
    """What went wrong, or None for exceptions that are not expected failures."""
    from sqlalchemy import exc as sa_exc
    from sqlglot.errors import SqlglotError

    from sqlora.data.loaders import DataError
    from sqlora.db import DatabaseError, QueryError, UnsafeSQLError

    name = type(err).__name__
    if isinstance(err, DataError | DatabaseError | QueryError):
        return first_line(err) or name
    if isinstance(err, UnsafeSQLError):
        text = first_line(err)
        return text if text.startswith("refused") else f"refused: {text}"
    if isinstance(err, sa_exc.ArgumentError | sa_exc.NoSuchModuleError):
        return f"bad database URL: {first_line(err)}"
    if isinstance(err, sa_exc.DBAPIError):
        return f"database error: {first_line(err.orig) or first_line(err)}"
    if isinstance(err, sa_exc.SQLAlchemyError):
        return f"database error: {first_line(err)}"
    if isinstance(err, SqlglotError):
        return f"SQL does not parse: {first_line(err)}"
    if isinstance(err, json.JSONDecodeError):
        return f"invalid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
    if isinstance(err, UnicodeDecodeError):
        return f"not UTF-8 text: {err.reason} at byte {err.start}"
    if _from_modules(err, ("yaml",)):
        return f"invalid YAML: {first_line(err)}"
    if _from_modules(err, NETWORK_MODULES) or isinstance(err, ConnectionError | TimeoutError):
        return f"cannot reach the network or the model hub ({name}): {first_line(err)}"
    if isinstance(err, OSError):
        if err.filename is not None:
            reason = err.strerror or first_line(err) or name
            return f"{reason}: {err.filename}"
        return first_line(err) or name
    if isinstance(err, MemoryError):
        return "out of memory"
    if isinstance(err, ValueError):
        return first_line(err) or name
    return None


def describe(err: BaseException, ctx: Context | None = None) -> str | None:
    """``<what> (<where>)`` for an expected failure, or None for a bug (whose traceback should be shown)."""
    what = _what(err)
    return None if what is None else f"{what} ({_where(ctx)})"

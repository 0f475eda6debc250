"""Input checks the commands run before loading a model: each fails with one ``error:`` line (exit 2)."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

from sqlora.cli.app import debug_enabled, fail

PROMPT_STYLES = ("article", "chat")
MAX_QUESTION_CHARS = 2_000
MAX_SCHEMA_CHARS = 200_000
"""Longer inputs cannot fit a model's context: refused before the model loads."""
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")
"""``name`` or ``owner/name``: the only model names that may be looked up on the hub."""


def check_question(question: str) -> None:
    """A question must have words, and fit a model's context."""
    if not question.strip():
        fail("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        fail(f"the question is too long ({len(question):,} characters; at most {MAX_QUESTION_CHARS:,})")


def check_prompt_style(style: str | None, option: str = "--prompt-style") -> None:
    """``article``, ``chat`` or unset."""
    if style is not None and style not in PROMPT_STYLES:
        fail(f"unknown {option} '{style}' (use {' or '.join(PROMPT_STYLES)})")


def check_adapter(adapter: str | None) -> None:
    """A LoRA adapter is a local directory with ``adapter_config.json`` (never looked up on the hub), or
    ``shipped``."""
    from sqlora.models.shipped import SHIPPED_ADAPTER

    if adapter is None or adapter == SHIPPED_ADAPTER:
        return
    path = Path(adapter).expanduser()
    if not path.exists():
        fail(f"adapter directory not found: {adapter} (resolved to {path.resolve()})")
    if not path.is_dir() or not (path / "adapter_config.json").is_file():
        fail(f"not an adapter directory (no adapter_config.json): {adapter}")


def answering_adapter(model: str | None, adapter: str | None, base: bool) -> str | None:
    """The adapter ``ask``/``serve``/``mcp`` answer with (see :func:`sqlora.models.shipped.answering_adapter`),
    after checking ``--model``, ``--adapter`` and ``--base``."""
    from sqlora.models.shipped import answering_adapter as resolve

    if adapter is not None and base:
        fail("give either --adapter or --base (the raw base model), not both")
    check_adapter(adapter)
    check_model(model)
    return resolve(model, adapter, base)


def check_model(model: str | None) -> None:
    """A model is ``embedded``, a local model directory, or a hub id (``owner/name``) that may be downloaded."""
    from sqlora.models.embedded import is_embedded

    if is_embedded(model):
        return
    path = Path(model).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            fail(f"not a model directory (no config.json): {model}")
        return
    looks_local = model.startswith((".", "/", "~")) or model.endswith("/") or not HUB_ID.match(model)
    if looks_local:
        fail(f"model directory not found: {model} (and it is not a hub id like owner/name)")


def check_schema_ddl(schema: str, option: str = "--schema") -> None:
    """Pasted schema text must be CREATE TABLE statements that sqlglot parses."""
    from sqlora.data.validation import context_problem

    if not schema.strip():
        fail(f"{option} is empty: give CREATE TABLE statements")
    if len(schema) > MAX_SCHEMA_CHARS:
        fail(f"{option} is too long ({len(schema):,} characters; at most {MAX_SCHEMA_CHARS:,})")
    problem = context_problem(schema)
    if problem:
        fail(f"{option} is not SQL DDL: {problem.replace('context ', '', 1)}")


def check_positive(value: float, option: str) -> None:
    """A numeric option that must be above zero."""
    if value <= 0:
        fail(f"{option} must be positive, got {value}")


def shown_url(url: str) -> str:
    """``url`` as it may be printed: the password hidden."""
    from sqlora.db.connect import normalize_url

    try:
        return repr(normalize_url(url).render_as_string(hide_password=True))
    except Exception:  # noqa: BLE001 - not a URL at all: nothing to hide
        return repr(url)


def open_database(url: str, schema: str | None = None, need_tables: bool = True) -> Any:
    """A :class:`Database` that was reached and (by default) has tables; any failure is one ``error:`` line."""
    from sqlalchemy.exc import SQLAlchemyError

    from sqlora.cli.errors import first_line
    from sqlora.db import Database, DatabaseError, QueryError

    try:
        database = Database(url, schema=schema)
        tables = database.tables()
    except (ValueError, DatabaseError, QueryError, SQLAlchemyError) as err:
        if debug_enabled():
            raise
        reason = re.sub(r"^cannot read the schema of Database\(.*?\): ", "", first_line(err))
        fail(f"cannot open database {shown_url(url)}: {reason}")
    if need_tables and not tables:
        where = f" (schema {schema})" if schema else ""
        database.close()
        fail(f"the database has no tables{where}: {database!r}")
    return database


def check_port_free(host: str, port: int) -> None:
    """Fail before loading anything when ``host:port`` cannot be bound (busy port, unknown host)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        fail(f"cannot resolve --host {host!r}: {err.strerror or err}")
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as err:
            fail(f"cannot listen on {host}:{port}: {err.strerror or err} (is another server running there?)")

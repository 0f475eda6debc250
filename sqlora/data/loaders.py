"""Loaders: sql-create-context (hub id or local file), Spider folders, users' JSONL/CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from sqlora.constants import SPIDER_SCHEMAS
from sqlora.data.pruning import gold_pruned_context, with_gold_columns
from sqlora.data.record import Example, LoadResult, RowError
from sqlora.data.validation import REQUIRED, InvalidRow, check_example
from sqlora.db.context import sqlite_file_values
from sqlora.db.sqlite import sqlite_links, sqlite_schema_context, sqlite_tables
from sqlora.sql.linking import question_pruned_tables
from sqlora.sql.schema import render_create_tables

SQL_CREATE_CONTEXT_HUB_ID = "b-mc2/sql-create-context"
SQL_CREATE_CONTEXT_COLUMNS = {"question": "question", "context": "context", "sql": "answer", "db_id": "db_id"}
SPIDER_COLUMNS = {"question": "question", "sql": "query", "db_id": "db_id"}


class DataError(ValueError):
    """Raised in strict mode on the first malformed row, or when a source cannot be read."""


def _iter_json_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line number, row, error) from a JSON array file or a JSON-lines file."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as err:
            yield err.lineno, None, f"invalid JSON: {err.msg} (line {err.lineno}, column {err.colno})"
            return
        for index, row in enumerate(rows, start=1):
            yield index, row if isinstance(row, dict) else None, None if isinstance(row, dict) else "not an object"
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            yield number, None, f"invalid JSON: {err.msg} (column {err.colno})"
            continue
        if not isinstance(row, dict):
            yield number, None, "not a JSON object"
            continue
        yield number, row, None


def _iter_csv_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            if None in row:
                yield reader.line_num, None, "too many fields"
                continue
            yield reader.line_num, row, None


def _iter_parquet_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    import pyarrow.parquet as pq

    for index, row in enumerate(pq.read_table(path).to_pylist(), start=1):
        yield index, row, None


def _readable(
    path: Path, rows: Iterator[tuple[int, dict | None, str | None]]
) -> Iterator[tuple[int, dict | None, str | None]]:
    """``rows``, with a file that cannot be read as a whole (binary, unreadable, corrupt) as one DataError."""
    try:
        yield from rows
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    except csv.Error as err:
        raise DataError(f"{path}: malformed CSV: {err}") from err
    except OSError as err:
        raise DataError(f"{path}: cannot read: {err.strerror or err}") from err
    except Exception as err:
        if type(err).__module__.startswith("pyarrow"):
            raise DataError(f"{path}: not a readable Parquet file: {str(err).splitlines()[0]}") from err
        raise


def iter_file_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Rows of a .json/.jsonl/.csv/.parquet file with their line (or row) numbers."""
    suffix = path.suffix.lower()
    if suffix in (".json", ".jsonl"):
        return _readable(path, _iter_json_rows(path))
    if suffix == ".csv":
        return _readable(path, _iter_csv_rows(path))
    if suffix == ".parquet":
        return _readable(path, _iter_parquet_rows(path))
    raise DataError(f"{path}: unsupported file type '{suffix}' (use .json, .jsonl, .csv or .parquet)")


def file_columns(path: Path, sample: int = 50) -> list[str]:
    """The column names of a data file: a CSV header, or the keys of its first JSON objects / Parquet schema."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return [name for name in (csv.DictReader(handle).fieldnames or []) if name is not None]
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    names: dict[str, None] = {}
    for count, (_, row, _) in enumerate(_iter_json_rows(path)):
        if count >= sample:
            break
        names.update(dict.fromkeys(row or {}))
    return list(names)


def check_columns(path: Path, columns: Mapping[str, str]) -> None:
    """Raise DataError naming the file's columns when a required field's column is not among them."""
    try:
        present = file_columns(path)
    except (UnicodeDecodeError, OSError, csv.Error):
        return  # reported with the rows
    except Exception as err:
        if type(err).__module__.startswith("pyarrow"):
            return
        raise
    if not present:
        return  # an empty file: no rows, reported as such
    missing = [f"{field}" + (f" (column '{columns[field]}')" if columns[field] != field else "")
               for field in REQUIRED if columns[field] not in present]  # fmt: skip
    if missing:
        example = " ".join(f"--map {field}=COLUMN" for field in REQUIRED if columns[field] not in present)
        raise DataError(
            f"{path}: no column for {', '.join(missing)}; the file's columns are {', '.join(present)}"
            f" (map yours with {example})"
        )


def collect(
    rows: Iterable[tuple[int, dict | None, str | None]],
    source: str,
    columns: Mapping[str, str],
    strict: bool = False,
    dedupe: bool = True,
) -> LoadResult:
    """Validate mapped rows into a LoadResult; malformed rows are reported, duplicates dropped."""
    result = LoadResult()
    seen: set[tuple[str, str, str]] = set()
    for line, row, problem in rows:
        try:
            if problem is not None:
                raise InvalidRow(problem)
            values = {field: row.get(column) for field, column in columns.items()}
            example = check_example(values)
        except InvalidRow as err:
            error = RowError(source, line, str(err))
            if strict:
                raise DataError(str(error)) from None
            result.errors.append(error)
            continue
        key = (example.question, example.context, example.sql)
        if dedupe and key in seen:
            result.duplicates += 1
            continue
        seen.add(key)
        result.examples.append(example)
    return result


def load_sql_create_context(source: str | Path = SQL_CREATE_CONTEXT_HUB_ID, strict: bool = False) -> LoadResult:
    """Load sql-create-context from a local .json/.jsonl/.parquet file, or from the hub by id."""
    path = Path(source)
    if path.exists():
        return collect(iter_file_rows(path), str(path), SQL_CREATE_CONTEXT_COLUMNS, strict)
    from datasets import load_dataset  # needs the internet; kept for users who have it

    dataset = load_dataset(str(source), split="train")
    rows = ((index, dict(row), None) for index, row in enumerate(dataset, start=1))
    return collect(rows, str(source), SQL_CREATE_CONTEXT_COLUMNS, strict)


def spider_question_files(folder: Path) -> list[Path]:
    """The question files of a Spider release folder, in the release's usual names."""
    names = ["train_spider.jsonl", "train_spider.json", "train_others.json", "dev.json", "questions.jsonl"]
    return [folder / name for name in names if (folder / name).exists()]


def load_spider(
    folder: str | Path, question_files: list[Path] | None = None, strict: bool = False, schema: str = "full"
) -> LoadResult:
    """Load a Spider-format folder; each example's context is its database's full schema.

    ``schema="gold"`` prunes each context to the tables and columns the gold query uses (the
    sql-create-context style, for training); rows whose gold query cannot be read keep the full schema.
    ``schema="question"`` prunes it to the tables and columns the question is about, guessed from its words,
    the values it spells out and the database's foreign keys (:func:`question_pruned_tables`; no gold used, so
    fair for evaluation). ``schema="question+gold"`` adds every table and column the gold query uses that the
    linking missed (:func:`with_gold_columns`): contexts as users ask in, for training, where no answer refers
    to a name its context lacks.

    Question files are kept as released (Spider's own repeated questions included) so that
    counts and scores stay comparable with published numbers; training deduplicates later.
    """
    folder = Path(folder)
    database_dir = folder / "database"
    if not database_dir.is_dir():
        raise DataError(f"{folder}: not a Spider folder (no database/ directory)")
    files = question_files or spider_question_files(folder)
    if not files:
        raise DataError(f"{folder}: no question files (train_spider.json[l], dev.json ...)")
    contexts: dict[str, str | None] = {}

    def rows_with_schema(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
        for line, row, problem in iter_file_rows(path):
            if row is not None:
                db_id = str(row.get("db_id") or "")
                db_path = database_dir / db_id / f"{db_id}.sqlite"
                if db_id not in contexts:
                    contexts[db_id] = sqlite_schema_context(db_path) if db_id and db_path.exists() else None
                if contexts[db_id] is None:
                    problem = f"database '{db_id}' not found under {database_dir}"
                else:
                    context = contexts[db_id]
                    if schema == "gold":
                        tables = sqlite_tables(str(db_path))
                        context = gold_pruned_context(str(row.get("query") or ""), tables) or context
                    elif schema in ("question", "question+gold"):
                        tables, links = sqlite_tables(str(db_path)), sqlite_links(str(db_path))
                        linked = question_pruned_tables(
                            str(row.get("question")), tables, links, sqlite_file_values(str(db_path))
                        )
                        if schema == "question+gold":
                            linked = with_gold_columns(str(row.get("query") or ""), tables, linked)
                        context = render_create_tables(linked)
                    row = {**row, "context": context, "db_path": str(db_path)}
            yield line, row, problem

    result = LoadResult()
    columns = {**SPIDER_COLUMNS, "context": "context", "db_path": "db_path"}
    for path in files:
        part = collect(rows_with_schema(path), str(path), columns, strict, dedupe=False)
        result.examples.extend(part.examples)
        result.errors.extend(part.errors)
        result.duplicates += part.duplicates
    return result


def load_custom(path: str | Path, mapping: Mapping[str, str] | None = None, strict: bool = False) -> LoadResult:
    """Load a user's JSONL/JSON/CSV/Parquet file; ``mapping`` maps sqlora fields to its column names."""
    columns = {"question": "question", "context": "context", "sql": "sql", "db_id": "db_id", "db_path": "db_path"}
    columns.update(mapping or {})
    path = Path(path)
    check_columns(path, columns)
    return collect(iter_file_rows(path), str(path), columns, strict)


def attach_databases(result: LoadResult, db_dir: str | Path) -> LoadResult:
    """Fill db_path from ``db_dir/<db_id>/<db_id>.sqlite`` where the file exists."""
    db_dir = Path(db_dir)
    examples = []
    for example in result.examples:
        candidate = db_dir / str(example.db_id) / f"{example.db_id}.sqlite"
        if example.db_id and not example.db_path and candidate.exists():
            example = Example(**{**example.to_dict(), "db_path": str(candidate)})
        examples.append(example)
    return LoadResult(examples=examples, errors=result.errors, duplicates=result.duplicates)


def load_examples(
    source: str | Path,
    strict: bool = False,
    mapping: Mapping[str, str] | None = None,
    db_dir: str | Path | None = None,
    spider_schema: str = "full",
) -> LoadResult:
    """Load any supported source: a Spider folder, a local file, or a hub dataset id.

    ``spider_schema``: ``full`` (each database's whole schema), ``gold`` (pruned to the gold query) or
    ``question`` (pruned to the tables the question is about).
    """
    if spider_schema not in SPIDER_SCHEMAS:
        raise DataError(f"unknown Spider schema mode '{spider_schema}' (use {', '.join(SPIDER_SCHEMAS)})")
    path = Path(source)
    if path.is_dir():
        result = load_spider(path, strict=strict, schema=spider_schema)
    elif path.exists():
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096)
        if mapping is None and '"answer"' in head:
            result = load_sql_create_context(path, strict)
        else:
            result = load_custom(path, mapping, strict)
    elif str(source).count("/") == 1:
        result = load_sql_create_context(str(source), strict)
    else:
        raise DataError(f"{source}: no such file or folder")
    return attach_databases(result, db_dir) if db_dir else result

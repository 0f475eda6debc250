"""Data-file errors say where and what: JSON positions, the file's real columns, rows that are not queries."""

from __future__ import annotations

import json

import pytest

from sqlora.data.loaders import DataError, load_examples

SCHEMA = "CREATE TABLE singer (id INT, name TEXT)"


def test_json_array_error_keeps_line_and_column(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[\n  {"question": "a", "context": "x", "sql": "y"},\n  {"question": ,}\n]')
    result = load_examples(path)
    assert [(e.line, e.reason) for e in result.errors] == [(3, "invalid JSON: Expecting value (line 3, column 16)")]


def test_jsonl_error_keeps_column(tmp_path):
    path = tmp_path / "rows.jsonl"
    row = {"question": "q", "context": SCHEMA, "sql": "SELECT name FROM singer"}
    path.write_text(json.dumps(row) + '\n{"question": "q" "context": 1}\n')
    result = load_examples(path)
    assert len(result.examples) == 1
    assert str(result.errors[0]).endswith(":2: invalid JSON: Expecting ',' delimiter (column 18)")


def test_wrong_csv_columns_are_listed_with_the_map_hint(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("q,ddl,query\nHow many?,CREATE TABLE t (a INT),SELECT count(*) FROM t\n")
    with pytest.raises(DataError, match=r"the file's columns are q, ddl, query .*--map question=COLUMN"):
        load_examples(path)
    mapped = load_examples(path, mapping={"question": "q", "context": "ddl", "sql": "query"})
    assert len(mapped.examples) == 1


def test_binary_file_is_one_data_error(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b"\xff\xfe" + bytes(range(256)))
    with pytest.raises(DataError, match="not UTF-8 text"):
        load_examples(path)


@pytest.mark.parametrize("sql", ["DROP TABLE singer", "DELETE FROM singer", "INSERT INTO singer VALUES (1, 'a')"])
def test_answers_that_are_not_queries_are_skipped(tmp_path, sql):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"question": "q", "context": SCHEMA, "sql": sql}))
    result = load_examples(path)
    assert not result.examples
    assert "SQL is not a query" in result.errors[0].reason

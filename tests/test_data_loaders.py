import json
import sqlite3

import pytest

from sqlora.data.loaders import DataError, load_custom, load_examples, load_spider, load_sql_create_context
from sqlora.data.pruning import gold_pruned_context
from sqlora.data.record import Example
from sqlora.data.splits import context_tables, deduplicate, split_by_group
from sqlora.sql.schema import Table, parse_schema


def test_sql_create_context_local_jsonl_has_all_rows(sql_create_context_path):
    result = load_sql_create_context(sql_create_context_path)
    assert len(result.examples) == 3941
    assert result.errors == []
    first = result.examples[0]
    assert first.question and first.context.startswith("CREATE TABLE") and first.sql.upper().startswith("SELECT")
    assert first.db_id == "department_management"


def test_json_array_and_parquet_formats(tmp_path, sql_create_context_path):
    rows = [json.loads(line) for line in sql_create_context_path.read_text().splitlines()[:20]]
    array_file = tmp_path / "rows.json"
    array_file.write_text(json.dumps(rows))
    assert len(load_sql_create_context(array_file).examples) == 20

    import pyarrow as pa
    import pyarrow.parquet as pq

    parquet_file = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet_file)
    loaded = load_sql_create_context(parquet_file).examples
    assert [e.sql for e in loaded] == [r["answer"] for r in rows]


def test_spider_folder_full_schema_names_real_tables(spider_dir):
    result = load_spider(spider_dir)
    assert len(result.examples) == 6901
    assert result.errors == []
    checked = {}
    for example in result.examples:
        if example.db_id in checked:
            continue
        with sqlite3.connect(example.db_path) as conn:
            real = {r[0].lower() for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        named = {t.name.lower() for t in parse_schema(example.context)}
        assert named and named <= real, example.db_id
        checked[example.db_id] = True
    assert len(checked) > 100


PLANTED = [
    '{"question": "How many heads?", "context": "CREATE TABLE head (age INTEGER)", "answer": "SELECT COUNT(*) FROM head"}',
    "{not json at all",
    '{"question": "", "context": "CREATE TABLE head (age INTEGER)", "answer": "SELECT 1"}',
    '{"question": "Missing answer", "context": "CREATE TABLE head (age INTEGER)"}',
    '{"question": "Bad SQL", "context": "CREATE TABLE head (age INTEGER)", "answer": "SELECT FROM WHERE ((("}',
    '{"question": "Bad schema", "context": "CREATE TABLE head (age INTEGER", "answer": "SELECT age FROM head"}',
    '{"question": "Not a table", "context": "SELECT 1", "answer": "SELECT age FROM head"}',
    '["a list"]',
    '{"question": "How many heads?", "context": "CREATE TABLE head (age INTEGER)", "answer": "SELECT COUNT(*) FROM head"}',
    '{"question": "Oldest?", "context": "CREATE TABLE head (age INTEGER)", "answer": "SELECT MAX(age) FROM head"}',
]


def test_planted_bad_rows_reported_with_line_and_reason(tmp_path):
    path = tmp_path / "planted.jsonl"
    path.write_text("\n".join(PLANTED) + "\n")
    result = load_sql_create_context(path)
    assert len(result.examples) == 2
    assert result.duplicates == 1
    by_line = {e.line: e.reason for e in result.errors}
    assert set(by_line) == {2, 3, 4, 5, 6, 7, 8}
    assert "invalid JSON" in by_line[2]
    assert "empty field 'question'" in by_line[3]
    assert "missing field 'sql'" in by_line[4]
    assert "SQL does not parse" in by_line[5]
    assert "context" in by_line[6]
    assert "CREATE TABLE" in by_line[7]
    assert all(e.file == str(path) for e in result.errors)


def test_strict_mode_fails_on_first_bad_row(tmp_path):
    path = tmp_path / "planted.jsonl"
    path.write_text("\n".join(PLANTED) + "\n")
    with pytest.raises(DataError, match=":2: invalid JSON"):
        load_sql_create_context(path, strict=True)


def test_custom_csv_with_column_mapping(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text(
        "q,schema,query,db\n"
        '"How many users?","CREATE TABLE users (id INTEGER)","SELECT COUNT(*) FROM users",shop\n'
        '"Broken","CREATE TABLE users (id INTEGER)","SELEC id FROM",shop\n'
    )
    result = load_custom(path, {"question": "q", "context": "schema", "sql": "query", "db_id": "db"})
    assert [e.question for e in result.examples] == ["How many users?"]
    assert result.examples[0].db_id == "shop"
    assert [(e.line, "SQL does not parse" in e.reason) for e in result.errors] == [(3, True)]


def test_load_examples_dispatch_and_missing_source(tmp_path, sql_create_context_path):
    assert len(load_examples(sql_create_context_path).examples) == 3941
    with pytest.raises(DataError):
        load_examples(tmp_path / "nope.jsonl")


def test_splits_keep_each_database_in_one_split(sql_create_context_path):
    examples = load_sql_create_context(sql_create_context_path).examples
    splits = split_by_group(examples, validation=0.1, test=0.1, seed=3)
    groups = [{e.group for e in part} for part in (splits.train, splits.validation, splits.test)]
    assert not (groups[0] & groups[1]) and not (groups[0] & groups[2]) and not (groups[1] & groups[2])
    assert sum(splits.sizes().values()) == len(examples)
    again = split_by_group(examples, validation=0.1, test=0.1, seed=3)
    assert again.test == splits.test
    held = split_by_group(examples, holdout=["hr_1", "store_1"])
    assert {e.db_id for e in held.test} == {"hr_1", "store_1"}


def test_deduplicate_keeps_first(spider_dir):
    examples = load_spider(spider_dir).examples
    unique = deduplicate(examples)
    folded = {(e.db_id, " ".join(e.question.lower().split()), " ".join(e.sql.lower().split())) for e in examples}
    assert len(unique) == len(folded) < len(examples)


def test_deduplicate_across_sources_ignores_case_spacing_and_how_the_context_is_written(spider_dir):
    spider = load_examples(spider_dir, spider_schema="gold").examples[:50]
    restyled = [
        Example(e.question.upper(), e.context.upper().replace(" (", "("), "  ".join(e.sql.split()).lower(), e.db_id)
        for e in spider
    ]
    unique = deduplicate(spider + restyled)
    assert unique == deduplicate(spider)
    assert unique[0] is spider[0]


def test_deduplicate_keeps_a_question_shown_other_tables(spider_dir):
    gold = load_examples(spider_dir, spider_schema="gold").examples[:50]
    full = load_examples(spider_dir, spider_schema="full").examples[:50]
    shown_more = [f for g, f in zip(gold, full, strict=True) if context_tables(f.context) != context_tables(g.context)]
    assert shown_more
    assert len(deduplicate(gold + full)) == len(deduplicate(gold)) + len(shown_more)


def test_context_tables_reads_quoted_and_plain_names():
    context = 'CREATE TABLE "Order Items" (id INT); CREATE TABLE IF NOT EXISTS people (name TEXT)\nCREATE TABLE [x](y)'
    assert context_tables(context) == {"order items", "people", "x"}


def test_gold_pruned_context_keeps_used_tables_and_columns(spider_dir):
    tables = [
        Table("dept", [("id", "INT"), ("name", "TEXT"), ("budget", "REAL")]),
        Table("head", [("head_id", "INT"), ("dept_id", "INT"), ("age", "INT")]),
        Table("unused", [("x", "TEXT")]),
    ]
    sql = "SELECT T1.name FROM dept AS T1 JOIN head AS T2 ON T1.id = T2.dept_id WHERE age > 50"
    assert gold_pruned_context(sql, tables) == (
        "CREATE TABLE dept (id INT, name TEXT); CREATE TABLE head (dept_id INT, age INT)"
    )
    assert gold_pruned_context("SELECT count(*) FROM unused", tables) == "CREATE TABLE unused (x TEXT)"
    assert gold_pruned_context("SELECT FROM WHERE", tables) is None


def test_spider_gold_schema_contexts_still_compile_their_gold_query(spider_dir):
    import sqlite3 as sqlite

    examples = load_examples(spider_dir, spider_schema="gold").examples
    assert len(examples) == len(load_spider(spider_dir).examples)
    for example in examples[::50]:
        conn = sqlite.connect(":memory:")
        conn.executescript(example.context.replace("; ", ";\n") + ";")
        conn.execute(f"EXPLAIN {example.sql}")  # every table and column the gold query needs is declared
    with pytest.raises(DataError, match="schema mode"):
        load_examples(spider_dir, spider_schema="pruned")


def test_rendered_contexts_quote_only_names_sqlite_refuses_bare():
    import sqlite3 as sqlite

    from sqlora.sql.schema import render_create_tables

    tables = [Table("order", [("select", "INT"), ("id", "INT"), ("my col", "TEXT"), ("key", "TEXT")])]
    context = render_create_tables(tables)
    assert context == 'CREATE TABLE "order" ("select" INT, id INT, "my col" TEXT, key TEXT)'
    sqlite.connect(":memory:").execute(context)  # valid SQL, unlike the unquoted form
    assert parse_schema(context)[0].column_names == ["select", "id", "my col", "key"]

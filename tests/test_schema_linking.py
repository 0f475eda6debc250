"""Schema linking by question: which tables and columns a whole-database context keeps."""

from __future__ import annotations

import sqlite3

import pytest

from sqlora.data.loaders import load_examples
from sqlora.db.sqlite import sqlite_links, sqlite_tables
from sqlora.sql.linking import Link, question_pruned_tables, words
from sqlora.sql.schema import Table, parse_schema

DDL = """
CREATE TABLE stadium (stadium_id INTEGER PRIMARY KEY, location TEXT, capacity INTEGER);
CREATE TABLE singer (singer_id INTEGER PRIMARY KEY, name TEXT, country TEXT, age INTEGER);
CREATE TABLE concert (concert_id INTEGER PRIMARY KEY, concert_name TEXT, year INTEGER,
    stadium_id INTEGER REFERENCES stadium(stadium_id));
CREATE TABLE performance (concert_id INTEGER REFERENCES concert(concert_id),
    singer_id INTEGER REFERENCES singer(singer_id));
CREATE TABLE ticket_office (office_id INTEGER, clerk TEXT);
"""


@pytest.fixture
def concert_db(tmp_path):
    path = tmp_path / "concert.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(DDL)
    return str(path)


def names(tables: list[Table]) -> list[str]:
    return [t.name for t in tables]


def test_words_are_lowercase_stems_without_stopwords():
    assert words("How many Singers are from countries_list?") == {"singer", "country"}
    assert words("concertYear") == {"concert", "year"}


def test_sqlite_links_reads_declared_foreign_keys(concert_db):
    links = set(sqlite_links(concert_db))
    assert Link("concert", "stadium_id", "stadium", "stadium_id") in links
    assert Link("performance", "singer_id", "singer", "singer_id") in links
    assert len(links) == 3


def test_two_named_tables_come_with_the_table_that_joins_them(concert_db):
    tables, links = sqlite_tables(concert_db), sqlite_links(concert_db)
    kept = question_pruned_tables("Which singers performed in a concert in 2014?", tables, links)
    assert names(kept) == ["singer", "concert", "performance"]  # schema order, the bridge table included
    assert all(t.columns == next(u for u in tables if u.name == t.name).columns for t in kept)  # whole tables


def test_one_named_table_keeps_it_and_drops_unrelated_ones(concert_db):
    tables, links = sqlite_tables(concert_db), sqlite_links(concert_db)
    kept = question_pruned_tables("What is the capacity of each stadium?", tables, links)
    assert "stadium" in names(kept) and "ticket_office" not in names(kept) and "singer" not in names(kept)


def test_a_question_sharing_no_word_with_the_schema_keeps_everything(concert_db):
    tables = sqlite_tables(concert_db)
    assert question_pruned_tables("Why?", tables, sqlite_links(concert_db)) == list(tables)


def test_spider_rows_can_get_question_linked_contexts_without_the_gold(spider_dir):
    full = load_examples(spider_dir).examples[:40]
    linked = load_examples(spider_dir, spider_schema="question").examples[:40]
    assert [e.question for e in full] == [e.question for e in linked]
    shorter = 0
    for whole, pruned in zip(full, linked, strict=True):
        schema = {t.name: t.columns for t in parse_schema(whole.context)}
        kept = parse_schema(pruned.context)
        assert kept and all(schema[t.name] == t.columns for t in kept)  # whole tables of that database
        shorter += len(kept) < len(schema)
    assert shorter > 0

"""Schema linking by question: which tables and columns a whole-database context keeps."""

from __future__ import annotations

import sqlite3

import pytest

from sqlora.data.loaders import load_examples
from sqlora.data.pruning import gold_pruned_tables, with_gold_columns
from sqlora.db.connect import Database
from sqlora.db.context import sqlite_file_values
from sqlora.db.sqlite import sqlite_links, sqlite_tables
from sqlora.sql.linking import Link, ValueIndex, question_columns, question_pruned_tables, shares_word, words
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


def test_words_are_lowercase_singulars_without_stopwords():
    assert words("How many Singers are from countries_list?") == {"singer", "country"}
    assert words("concertYear") == {"concert", "year"}
    assert words("themes, times and dates of matches") == {"theme", "time", "date", "match"}


def test_a_name_word_matches_the_question_word_it_abbreviates():
    asked = words("What is the account balance of customers in January?")
    assert shares_word(asked, "acc_bal") == 2 and shares_word(asked, "Jan") == 1
    assert shares_word(asked, "acc_type") == 1 and shares_word(asked, "Feb") == 0
    assert shares_word(asked, "ty") == 0  # too short to stand for a word


def test_value_index_finds_the_columns_whose_values_a_question_spells_out():
    index = ValueIndex([("customer", "state", ["Texas", "New York", "NY"]), ("bank", "city", ["New York", None, 3])])
    assert index.columns_in("Customers from new york?") == {("customer", "state"), ("bank", "city")}
    assert index.columns_in("customers in Texas") == {("customer", "state")}
    assert index.columns_in("the ny office") == set()  # values under 3 characters say too little
    assert index.columns_in("customers in Texasville") == set()  # whole words only


WIDE = Table("customer", [("cust_id", "INT"), ("cust_name", "TEXT"), ("acc_type", "TEXT"), ("acc_bal", "INT"),
                          ("no_of_loans", "INT"), ("credit_score", "INT"), ("branch_id", "INT"), ("state", "TEXT")])  # fmt: skip
BANK = Table("bank", [("branch_id", "INT"), ("bname", "TEXT"), ("no_of_customers", "INT"), ("city", "TEXT"),
                      ("state", "TEXT")])  # fmt: skip


def test_wide_tables_keep_the_columns_the_question_needs():
    links = [Link("customer", "branch_id", "bank", "branch_id")]
    question = "What is the total account balance of customers from Texas?"
    valued = ValueIndex([("customer", "state", ["Texas"])]).columns_in(question)
    [kept] = question_columns(question, [WIDE], links, valued)
    assert {"cust_id", "acc_bal", "branch_id", "state"} <= set(kept.column_names)  # first, named, join key, valued
    assert not {"no_of_loans", "credit_score"} & set(kept.column_names)
    assert kept.column_names == [c for c in WIDE.column_names if c in kept.column_names]  # schema order
    [named] = question_columns("List the names of customers.", [WIDE], links)
    assert "cust_name" in named.column_names and "credit_score" not in named.column_names
    small = Table("t", [("a", "INT"), ("b", "INT"), ("c", "INT"), ("d", "INT")])
    assert question_columns("Anything?", [small]) == [small]  # small tables stay whole


def test_a_value_the_question_spells_out_picks_the_table():
    question = "How many are in Springfield?"
    assert names(question_pruned_tables(question, [WIDE, BANK])) == ["customer", "bank"]  # no word in common
    index = ValueIndex([("bank", "city", ["Springfield"])])
    linked = question_pruned_tables(question, [WIDE, BANK], values=index)
    assert names(linked) == ["bank"] and "city" in linked[0].column_names


def test_database_contexts_link_by_stored_values(spider_dir):
    with Database(spider_dir / "database" / "climbing" / "climbing.sqlite") as db:
        assert ("climber", "country") in db.value_index.columns_in("Which climbers are from West Germany?")
        context = db.schema_context(question="What are the names of climbers from West Germany?")
    assert context == "CREATE TABLE climber (Climber_ID INT, Name TEXT, Country TEXT, Mountain_ID INT)"


def test_dataset_rows_link_with_the_values_a_live_database_gives(spider_dir):
    path = spider_dir / "database" / "loan_1" / "loan_1.sqlite"
    from_file = sqlite_file_values(str(path))
    with Database(path) as db:
        assert from_file.columns_in("Which customers live in New York?") == {("customer", "state"), ("bank", "state")}
        assert from_file._columns == db.value_index._columns
    assert sqlite_file_values(str(path)) is from_file  # read once per file


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
        assert kept and all(set(t.columns) <= set(schema[t.name]) for t in kept)  # tables and columns it has
        assert all(t.columns == [c for c in schema[t.name] if c in t.columns] for t in kept)  # in schema order
        shorter += sum(len(t.columns) for t in kept) < sum(len(c) for c in schema.values())
    assert shorter > 0


def test_training_contexts_add_what_the_answer_uses_to_the_linked_ones(concert_db):
    tables, links = sqlite_tables(concert_db), sqlite_links(concert_db)
    question = "What is the capacity of each stadium?"
    linked = question_pruned_tables(question, tables, links)
    assert "concert" not in names(linked)
    sql = (
        "SELECT T1.capacity FROM stadium AS T1 JOIN concert AS T2 ON T1.stadium_id = T2.stadium_id WHERE T2.year = 2014"
    )
    kept = {t.name: [c for c, _ in t.columns] for t in with_gold_columns(sql, tables, linked)}
    assert list(kept) == [t.name for t in tables if t.name in kept]  # schema order
    assert set(names(linked)) <= set(kept)  # the linking's distractors stay
    assert kept["concert"] == ["year", "stadium_id"]  # what the answer uses of a table the linking missed
    assert with_gold_columns(sql, tables, list(tables)) == gold_pruned_tables(sql, tables)  # nothing linked: gold


def test_spider_training_rows_in_linked_contexts_never_miss_a_gold_name(spider_dir):
    linked = load_examples(spider_dir, spider_schema="question").examples[:60]
    with_gold = load_examples(spider_dir, spider_schema="question+gold").examples[:60]
    missed = 0
    for plain, row in zip(linked, with_gold, strict=True):
        context = {t.name.lower(): {c.lower() for c in t.column_names} for t in parse_schema(row.context)}
        full = sqlite_tables(row.db_path)
        for table in gold_pruned_tables(row.sql, full) or []:
            assert {c.lower() for c in table.column_names} <= context[table.name.lower()]
        before = {t.name.lower(): {c.lower() for c in t.column_names} for t in parse_schema(plain.context)}
        if len(before) < len(full):  # the linking picked tables: its picks stay
            assert all(columns <= context.get(name, set()) for name, columns in before.items())
        missed += plain.context != row.context
    assert missed > 0  # some linked contexts lacked a name their answer uses

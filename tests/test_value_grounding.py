"""Literal grounding: a filter literal the column does not hold becomes the stored value it stands for, when the
stored values (read from the database) and the question make the choice clear; anything else is left alone."""

from __future__ import annotations

import sqlite3

import pytest

from sqlora.data.record import Example
from sqlora.db import Database
from sqlora.db.context import column_values
from sqlora.evaluation.runner import evaluate
from sqlora.inference.generator import SQLGenerator
from sqlora.sql.linking import ValueIndex
from sqlora.sql.values import ground_literals

VALUES = ValueIndex(
    [
        ("bank", "bname", ["morningside", "downtown", "broadway"]),
        ("bank", "state", ["New York", "Utah", "Texas"]),
        ("bank", "city", ["New York City", "Salt Lake City", "Austin"]),
        ("tryout", "pPos", ["goalie", "mid", "striker"]),
        ("loan", "loan_type", ["Mortgages", "Auto", "Business"]),
        ("customer", "state", ["New York", "Utah", "Texas"]),
        ("airports", "iata", ["THE", "JFK", "LAX"]),
    ]
)


@pytest.mark.parametrize(
    ("question", "sql", "grounded"),
    [
        (  # the stored value differs only in case
            "Which schools have goalies?",
            "SELECT cName FROM tryout WHERE pPos = 'Goalie'",
            "SELECT cName FROM tryout WHERE pPos = 'goalie'",
        ),
        (  # the question spells out a stored value the model misspelled
            "Find the city and state of the bank branch named morningside.",
            "SELECT city, state FROM bank WHERE bname = 'Mairside'",
            "SELECT city, state FROM bank WHERE bname = 'morningside'",
        ),
        (  # an abbreviation for the value the question says, through the table's alias
            "Find the branch names of banks in the New York state.",
            "SELECT T1.bname FROM bank AS T1 WHERE T1.state = 'NY'",
            "SELECT T1.bname FROM bank AS T1 WHERE T1.state = 'New York'",
        ),
        (  # two values spelled out: the one closest to the literal; one the query already uses is not chosen
            "Find schools with students playing in goalie and mid positions.",
            "SELECT cName FROM tryout WHERE pPos = 'goalie' INTERSECT SELECT cName FROM tryout WHERE pPos = 'Mid Placement'",
            "SELECT cName FROM tryout WHERE pPos = 'goalie' INTERSECT SELECT cName FROM tryout WHERE pPos = 'mid'",
        ),
        (  # a double-quoted string (SQLite reads it as one), an IN list, and a subquery's own table
            "Banks with customers from Texas or Utah that give business loans",
            "SELECT bname FROM bank WHERE state IN (\"texas\", 'UTAH') AND branch_id IN "
            "(SELECT branch_id FROM loan WHERE loan_type = 'Business Loan')",
            "SELECT bname FROM bank WHERE state IN ('Texas', 'Utah') AND branch_id IN "
            "(SELECT branch_id FROM loan WHERE loan_type = 'Business')",
        ),
        (  # the literal on the left
            "Banks in utah?",
            "SELECT bname FROM bank WHERE 'utah' = state",
            "SELECT bname FROM bank WHERE 'Utah' = state",
        ),
    ],
)
def test_literals_the_column_does_not_hold_are_grounded(question, sql, grounded):
    assert ground_literals(sql, question, VALUES) == grounded


@pytest.mark.parametrize(
    ("question", "sql"),
    [
        ("Banks in New York?", "SELECT bname FROM bank WHERE state = 'New York'"),  # stored as written
        ("Banks in Ohio?", "SELECT bname FROM bank WHERE state = 'Ohio'"),  # nothing to ground it on
        ("Banks named like down?", "SELECT bname FROM bank WHERE bname LIKE '%Down%'"),  # a pattern
        ("Loans over 5?", "SELECT * FROM loan WHERE amount > 'five'"),  # a column without stored text values
        ("Customers in texas?", "SELECT * FROM bank, customer WHERE state = 'texas'"),  # two tables have `state`
        ("Which goalies?", "SELECT cName FROM tryout WHERE pPos = 'goal keeper'"),  # question spells no value
        ("Which cities have the most airports in the US?", "SELECT city FROM airports WHERE iata = 'US'"),  # "the"
        ("Goalie", "SELECT nope FROM"),  # not SQL
    ],
)
def test_literals_without_a_clear_stored_value_are_left_alone(question, sql):
    assert ground_literals(sql, question, VALUES) is None


def test_values_of_tables_read_in_part_are_not_used(tmp_path):
    path = tmp_path / "big.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE big (code TEXT)")
        conn.executemany("INSERT INTO big VALUES (?)", [(f"c{n}",) for n in range(30)])
        conn.execute("CREATE TABLE small (code TEXT)")
        conn.executemany("INSERT INTO small VALUES (?)", [("Alpha",), ("Beta",)])
    with Database(path) as db:
        index = column_values(db, rows=20)
    assert index.stored("big", "code") is None  # 30 rows, 20 read: 'c25' may be stored, unseen
    assert sorted(index.stored("SMALL", "Code")) == ["Alpha", "Beta"]
    assert ground_literals("SELECT * FROM big WHERE code = 'C25'", "code c25", index) is None
    assert ground_literals("SELECT * FROM small WHERE code = 'alpha'", "q", index) == (
        "SELECT * FROM small WHERE code = 'Alpha'"
    )


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from sqlora.models.loading import load_model, load_tokenizer

    return load_model(str(tiny_model_dir), device="cpu"), load_tokenizer(str(tiny_model_dir))


def test_answers_are_grounded_when_values_are_given_and_repairs_are_on(tiny):
    schema = "CREATE TABLE bank (branch_id INTEGER, bname TEXT, state TEXT)"
    slip = "SELECT bname FROM bank WHERE state = 'NY'"
    question = "Banks in New York?"
    generator = SQLGenerator.from_model(*tiny)
    assert generator.answer(slip, schema, question=question).sql == slip  # no values: nothing to ground on
    grounded = generator.answer(slip, schema, question=question, values=VALUES)
    assert grounded.sql == "SELECT bname FROM bank WHERE state = 'New York'" and grounded.repaired
    generator.repair = False
    assert generator.answer(slip, schema, question=question, values=VALUES).sql == slip


class Echo:
    """NOT a model: answers every question with one SQL string, grounding it as SQLGenerator.answer does."""

    batch_size = 4

    def __init__(self, generator: SQLGenerator, sql: str) -> None:
        self.generator, self.sql = generator, sql

    def generate_batch(self, pairs, checks=None, values=None):
        return [
            self.generator.answer(self.sql, schema, question=question, values=stored)
            for (question, schema), stored in zip(pairs, values, strict=True)
        ]


def test_evaluation_grounds_answers_in_each_rows_real_database(tiny, spider_dir):
    row = Example(
        question="Find the branch names of banks in the New York state.",
        context="CREATE TABLE bank (branch_ID INT, bname TEXT, no_of_customers INT, city TEXT, state TEXT)",
        sql="SELECT bname FROM bank WHERE state = 'New York'",
        db_id="loan_1",
    )
    slip = "SELECT bname FROM bank WHERE state = 'NY'"
    generator = Echo(SQLGenerator.from_model(*tiny), slip)
    report = evaluate([row], generator, db_dir=spider_dir / "database", progress=False)
    [result] = report.examples
    assert result.pred == "SELECT bname FROM bank WHERE state = 'New York'" and result.ex is True
    [ungrounded] = evaluate([row], generator, progress=False).examples  # no database: scored by test suite
    assert ungrounded.pred == slip

"""Join repair: ``JOIN ... ON T1.x = T1.x`` (always true, a cross join) is pointed at the joined table, and a
column read from a table the query never joins gets that table joined."""

from __future__ import annotations

import sqlite3

import pytest

from sqlora.inference.validation import repair_identifiers, repair_joins
from sqlora.sql.joins import fix_self_comparisons, join_missing_column
from sqlora.sql.schema import parse_schema

STORE = (
    "CREATE TABLE customers (id INTEGER, first_name TEXT); "
    "CREATE TABLE invoices (id INTEGER, customer_id INTEGER, total REAL)"
)
STORM = (
    "CREATE TABLE affected_region (region_id INTEGER, storm_id INTEGER); "
    "CREATE TABLE storm (storm_id INTEGER, name TEXT); "
    "CREATE TABLE region (region_id INTEGER, region_name TEXT)"
)


@pytest.mark.parametrize(
    ("schema", "slip", "repaired"),
    [
        (  # the joined table's own alias on both sides: <table>_id meets the earlier table's id
            STORE,
            "SELECT SUM(T2.total) FROM customers AS T1 JOIN invoices AS T2 ON T2.customer_id = T2.customer_id",
            "SELECT SUM(T2.total) FROM customers AS T1 JOIN invoices AS T2 ON T2.customer_id = T1.id",
        ),
        (  # the earlier table's alias on both sides: the joined table's id
            STORE,
            "SELECT T2.first_name FROM invoices AS T1 JOIN customers AS T2 ON T1.customer_id = T1.customer_id",
            "SELECT T2.first_name FROM invoices AS T1 JOIN customers AS T2 ON T1.customer_id = T2.id",
        ),
        (  # an `id` meets the joined table's <table>_id, never its own id
            STORE,
            "SELECT T1.first_name FROM customers AS T1 JOIN invoices AS T2 ON T1.id = T1.id",
            "SELECT T1.first_name FROM customers AS T1 JOIN invoices AS T2 ON T1.id = T2.customer_id",
        ),
        (  # no column of that name in the joined table: the key both tables share
            STORM,
            "SELECT T2.name FROM affected_region AS T1 JOIN storm AS T2 ON T1.region_id = T1.region_id "
            "JOIN region AS T3 ON T1.region_id = T3.region_id",
            "SELECT T2.name FROM affected_region AS T1 JOIN storm AS T2 ON T1.storm_id = T2.storm_id "
            "JOIN region AS T3 ON T1.region_id = T3.region_id",
        ),
        (  # the same column name in the joined table, inside a subquery
            STORM,
            "SELECT region_name FROM region WHERE region_id IN "
            "(SELECT a.region_id FROM affected_region AS a JOIN region AS r ON a.region_id = a.region_id)",
            "SELECT region_name FROM region WHERE region_id IN "
            "(SELECT a.region_id FROM affected_region AS a JOIN region AS r ON a.region_id = r.region_id)",
        ),
    ],
)
def test_self_comparisons_in_joins_are_pointed_at_the_other_table(schema, slip, repaired):
    assert fix_self_comparisons(slip, parse_schema(schema)) == repaired
    assert repair_joins(slip, schema) == repaired


@pytest.mark.parametrize(
    "fine",
    [
        "SELECT T1.first_name FROM customers AS T1 JOIN invoices AS T2 ON T1.id = T2.customer_id",
        "SELECT T1.first_name FROM customers AS T1 JOIN invoices AS T2 ON T2.id = T2.id",  # ids never join ids
        "SELECT T1.first_name FROM customers AS T1 JOIN invoices AS T2 ON T1.first_name = T1.first_name",
        "SELECT first_name FROM customers WHERE id = id",  # not a join condition
        "SELECT T1.first_name FROM customers AS T1 JOIN invoices AS T2 ON T2.id = T2.customer_id",
    ],
)
def test_other_conditions_and_unmatched_columns_are_left_alone(fine):
    assert fix_self_comparisons(fine, parse_schema(STORE)) is None
    assert repair_joins(fine, STORE) is None


def test_the_repaired_query_answers_what_the_cross_join_got_wrong():
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        STORE + "; INSERT INTO customers VALUES (1, 'Lucas'), (2, 'Ana');"
        "INSERT INTO invoices VALUES (1, 1, 10.0), (2, 1, 5.0), (3, 2, 100.0)"
    )
    slip = (
        "SELECT SUM(T2.total) FROM customers AS T1 JOIN invoices AS T2 ON T2.customer_id = T2.customer_id "
        "WHERE T1.first_name = 'Lucas'"
    )
    assert conn.execute(slip).fetchall() == [(115.0,)]  # every invoice, not Lucas's
    assert conn.execute(repair_joins(slip, STORE)).fetchall() == [(15.0,)]


LOANS = (
    "CREATE TABLE customer (cust_id INTEGER, cust_name TEXT, state TEXT); "
    "CREATE TABLE loan (loan_id INTEGER, cust_id INTEGER, amount INTEGER); "
    "CREATE TABLE bank (branch_id INTEGER, bname TEXT, state TEXT)"
)


@pytest.mark.parametrize(
    ("slip", "error", "repaired"),
    [
        (  # unaliased: the table's name qualifies the moved column
            "SELECT cust_name FROM customer WHERE amount > 5000",
            "no such column: amount",
            "SELECT cust_name FROM customer JOIN loan ON customer.cust_id = loan.cust_id WHERE loan.amount > 5000",
        ),
        (  # aliased, the column pinned on the wrong table: a new alias
            "SELECT T1.cust_name FROM customer AS T1 WHERE T1.amount > 5000",
            "no such column: T1.amount",
            "SELECT T1.cust_name FROM customer AS T1 JOIN loan AS T2 ON T1.cust_id = T2.cust_id WHERE T2.amount > 5000",
        ),
        (  # inside a subquery: joined there, not in the outer query
            "SELECT cust_name FROM customer WHERE cust_id IN (SELECT cust_id FROM customer WHERE amount > 9)",
            "no such column: amount",
            "SELECT cust_name FROM customer WHERE cust_id IN (SELECT cust_id FROM customer "
            "JOIN loan ON customer.cust_id = loan.cust_id WHERE loan.amount > 9)",
        ),
    ],
)
def test_a_column_of_a_table_the_query_does_not_read_joins_that_table(slip, error, repaired):
    assert join_missing_column(slip, error, parse_schema(LOANS)) == repaired


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT cust_name FROM customer WHERE bname = 'x'", "no such column: bname"),  # no key to join bank on
        ("SELECT cust_name FROM customer WHERE nme = 'x'", "no such column: nme"),  # in no table: a misspelling
        ("SELECT T2.state FROM customer AS T1 JOIN loan AS T2 ON T1.cust_id = T2.cust_id", "no such column: T2.state"),
        ("SELECT cust_name FROM customer", "ambiguous column name: cust_name"),
    ],
)
def test_columns_that_are_not_a_missing_join_are_left_to_the_other_repairs(sql, error):
    assert join_missing_column(sql, error, parse_schema(LOANS)) is None


def test_the_joined_query_compiles_and_answers_what_was_asked():
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        LOANS + "; INSERT INTO customer VALUES (1, 'Ana', 'NY'), (2, 'Lucas', 'CA');"
        "INSERT INTO loan VALUES (1, 1, 9000), (2, 2, 100)"
    )
    slip = "SELECT cust_name FROM customer WHERE amount > 5000"
    with pytest.raises(sqlite3.OperationalError, match="no such column: amount"):
        conn.execute(slip)
    fixed = repair_identifiers(slip, LOANS)
    assert conn.execute(fixed).fetchall() == [("Ana",)]
    # a column both joined tables have is qualified with the table the query read first
    fixed = repair_identifiers("SELECT cust_id FROM customer WHERE amount > 5000", LOANS)
    assert conn.execute(fixed).fetchall() == [(1,)]

"""Execution accuracy on a hand-built SQLite file: ordering, NULLs, floats, duplicates, errors, timeouts."""

from __future__ import annotations

import sqlite3
import time

import pytest

from sqlora.evaluation.execution import (
    CORRECT,
    GOLD_ERROR,
    PRED_ERROR,
    PRED_TIMEOUT,
    WRONG,
    execution_match,
    has_top_level_order_by,
    results_match,
)

FOREVER = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture()
def db(tmp_path):
    path = tmp_path / "shop" / "shop.sqlite"
    path.parent.mkdir()
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE item (id INTEGER, name TEXT, price REAL, stock INTEGER, shop TEXT);
        INSERT INTO item VALUES (1, 'apple', 0.5, 10, 'north');
        INSERT INTO item VALUES (2, 'pear', 0.75, NULL, 'north');
        INSERT INTO item VALUES (3, 'plum', 1.0, 3, 'south');
        INSERT INTO item VALUES (4, 'fig', 2.25, NULL, 'south');
        INSERT INTO item VALUES (5, 'kiwi', 0.1, 7, 'east');
        """
    )
    conn.commit()
    conn.close()
    return path


def outcome(db, gold, pred, **kwargs):
    return execution_match(db, gold, pred, **kwargs)


def test_same_query_different_spelling_is_correct(db):
    result = outcome(db, "SELECT count(*) FROM item WHERE price > 0.6", "select COUNT(*) from item where price>0.6;")
    assert result.outcome == CORRECT and result.ex is True


def test_order_ignored_when_gold_does_not_order(db):
    assert outcome(db, "SELECT name FROM item", "SELECT name FROM item ORDER BY name DESC").ex is True


def test_order_matters_when_gold_orders(db):
    gold = "SELECT name FROM item ORDER BY price"
    assert outcome(db, gold, "SELECT name FROM item ORDER BY price").ex is True
    assert outcome(db, gold, "SELECT name FROM item ORDER BY price DESC").ex is False
    assert outcome(db, gold, "SELECT name FROM item").outcome == WRONG


def test_order_by_inside_subquery_only_is_not_top_level():
    assert has_top_level_order_by("SELECT a FROM t ORDER BY a")
    assert has_top_level_order_by("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1")
    assert not has_top_level_order_by("SELECT a FROM (SELECT a FROM t ORDER BY a LIMIT 3)")


def test_nulls_compare_equal_to_nulls_only(db):
    gold = "SELECT name, stock FROM item WHERE shop = 'north'"
    assert outcome(db, gold, "SELECT name, stock FROM item WHERE id < 3").ex is True
    assert outcome(db, gold, "SELECT name, coalesce(stock, 0) FROM item WHERE id < 3").ex is False


def test_count_column_differs_from_count_star_with_nulls(db):
    assert outcome(db, "SELECT count(stock) FROM item", "SELECT count(*) FROM item").ex is False


def test_float_rounding_and_int_float_equality(db):
    assert outcome(db, "SELECT sum(price) FROM item", "SELECT 4.6").ex is True  # float sum, compared after rounding
    assert outcome(db, "SELECT 1", "SELECT 1.0").ex is True
    assert outcome(db, "SELECT 1", "SELECT 1.01").ex is False
    assert results_match([(0.1 + 0.2,)], [(0.3,)], ordered=False)
    assert not results_match([(0.3,)], [(0.3001,)], ordered=False)
    assert not results_match([("1",)], [(1,)], ordered=False)  # text is not a number


def test_duplicates_are_a_multiset_not_a_set(db):
    gold = "SELECT shop FROM item"
    assert outcome(db, gold, "SELECT shop FROM item ORDER BY shop").ex is True
    assert outcome(db, gold, "SELECT DISTINCT shop FROM item").ex is False
    assert not results_match([(1,), (1,), (2,)], [(1,), (2,), (2,)], ordered=False)


def test_column_permutation_is_allowed_as_in_spider(db):
    assert outcome(db, "SELECT name, price FROM item", "SELECT price, name FROM item").ex is True
    assert not results_match([(1, 2)], [(2, 1)], ordered=False, allow_column_permutation=False)
    assert not results_match([(1, 2)], [(1, 2, 3)], ordered=False)


def test_empty_results_match(db):
    assert outcome(db, "SELECT name FROM item WHERE id > 99", "SELECT name FROM item WHERE price > 99").ex is True


def test_prediction_error_is_recorded(db):
    result = outcome(db, "SELECT name FROM item", "SELECT nme FROM item")
    assert result.outcome == PRED_ERROR and result.ex is False and "nme" in result.error
    assert outcome(db, "SELECT name FROM item", "").outcome == PRED_ERROR
    assert outcome(db, "SELECT name FROM item", "this is not sql").outcome == PRED_ERROR


def test_query_that_runs_forever_times_out_quickly(db):
    started = time.monotonic()
    result = outcome(db, "SELECT count(*) FROM item", FOREVER, timeout_s=0.3)
    assert time.monotonic() - started < 5
    assert result.outcome == PRED_TIMEOUT and result.ex is False


def test_gold_failure_gives_null_ex(db):
    result = outcome(db, "SELECT missing FROM item", "SELECT name FROM item")
    assert result.outcome == GOLD_ERROR and result.ex is None
    assert outcome(db, FOREVER, "SELECT 1", timeout_s=0.2).ex is None


def test_database_is_read_only(db):
    result = outcome(db, "SELECT count(*) FROM item", "DELETE FROM item")
    assert result.outcome == PRED_ERROR
    assert outcome(db, "SELECT count(*) FROM item", "SELECT 5").ex is True


def test_row_cap_limits_large_results(db):
    gold = "SELECT a.id FROM item a, item b"  # 25 rows; only the first 10 are fetched and compared
    assert outcome(db, gold, "select x.id from item as x, item as y", max_rows=10).ex is True
    assert outcome(db, gold, "SELECT id FROM item", max_rows=10).ex is False  # one capped, one not

"""Normalized exact match and Spider hardness on hand-checked queries."""

from __future__ import annotations

import pytest

from sqlora.evaluation.exact_match import exact_match, normalize_sql
from sqlora.evaluation.hardness import spider_hardness

CONTEXT = "CREATE TABLE head (head_id INTEGER, name VARCHAR, born_state VARCHAR, age INTEGER)"


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ("SELECT count(*) FROM head WHERE age > 56", "select COUNT(*)\n  from HEAD where AGE>56;"),
        ("SELECT name FROM head WHERE age != 5", "SELECT name FROM head WHERE age <> 5"),
        ('SELECT "name" FROM `head`', "SELECT name FROM head"),
        ("SELECT T1.name FROM head AS T1 WHERE T1.age > 5", "SELECT name FROM head WHERE age > 5"),
        (
            "SELECT T1.name FROM head AS T1 JOIN dept AS T2 ON T1.head_id = T2.head_id",
            "SELECT head.name FROM head JOIN dept ON head.head_id = dept.head_id",
        ),
        (
            "SELECT a.name FROM head AS a JOIN dept AS b ON a.head_id = b.head_id",
            "SELECT x.name FROM head x JOIN dept y ON x.head_id = y.head_id",
        ),
        ('SELECT name FROM head WHERE born_state = "Alabama"', "SELECT name FROM head WHERE born_state = 'Alabama'"),
    ],
)
def test_equal_after_normalization(gold, pred):
    assert exact_match(gold, pred, CONTEXT)


@pytest.mark.parametrize(
    ("gold", "pred"),
    [
        ("SELECT count(*) FROM head WHERE age > 56", "SELECT count(*) FROM head WHERE age >= 56"),
        ("SELECT name FROM head WHERE born_state = 'Alabama'", "SELECT name FROM head WHERE born_state = 'alabama'"),
        ("SELECT name FROM head", "SELECT born_state FROM head"),
        ("SELECT name FROM head ORDER BY age", "SELECT name FROM head ORDER BY age DESC"),
        ("SELECT name FROM head", "SELECT name FROM head LIMIT 1"),
        ("SELECT name FROM head", "SELECT name FROM"),
        ("SELECT name FROM head", ""),
        # self-join: aliases tell the copies apart and are kept, so swapping them is a different query
        (
            "SELECT T1.name FROM head AS T1 JOIN head AS T2 ON T1.head_id = T2.age",
            "SELECT T2.name FROM head AS T1 JOIN head AS T2 ON T1.head_id = T2.age",
        ),
    ],
)
def test_not_equal(gold, pred):
    assert not exact_match(gold, pred, CONTEXT)


def test_normalize_sql_is_none_for_garbage():
    assert normalize_sql("SELECT FROM WHERE (") is None
    assert normalize_sql("SELECT 1; SELECT 2") is None


@pytest.mark.parametrize(
    ("sql", "level"),
    [
        ("SELECT count(*) FROM head WHERE age > 56", "easy"),
        ("SELECT count(*) FROM singer", "easy"),
        ("SELECT name ,  country ,  age FROM singer ORDER BY age DESC", "medium"),
        ("SELECT avg(age) ,  min(age) ,  max(age) FROM singer WHERE country  =  'France'", "medium"),
        ("SELECT song_name ,  song_release_year FROM singer ORDER BY age LIMIT 1", "medium"),
        ("SELECT name FROM stadium WHERE stadium_id NOT IN (SELECT stadium_id FROM concert)", "hard"),
        ("SELECT country FROM singer WHERE age  >  40 INTERSECT SELECT country FROM singer WHERE age  <  30", "hard"),
        (
            "SELECT T2.name FROM singer_in_concert AS T1 JOIN singer AS T2 ON T1.singer_id = T2.singer_id "
            "JOIN concert AS T3 ON T1.concert_id = T3.concert_id WHERE T3.year = 2014",
            "hard",
        ),
        (
            "SELECT T2.name ,  T2.capacity FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id  =  T2.stadium_id "
            "WHERE T1.year  >=  2014 GROUP BY T2.stadium_id ORDER BY count(*) DESC LIMIT 1",
            "extra",
        ),
        (
            "SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id WHERE T1.year = 2014 "
            "INTERSECT SELECT T2.name FROM concert AS T1 JOIN stadium AS T2 ON T1.stadium_id = T2.stadium_id "
            "WHERE T1.year = 2015",
            "extra",
        ),
        (
            "SELECT name FROM head WHERE age > (SELECT avg(age) FROM head) AND born_state LIKE '%a%' "
            "OR name IN (SELECT name FROM dept)",
            "extra",
        ),
    ],
)
def test_spider_hardness(sql, level):
    assert spider_hardness(sql) == level


def test_hardness_of_unparsable_sql_is_none():
    assert spider_hardness("SELECT FROM WHERE (") is None

"""Test-suite EX: generated databases plant the gold literals so near-miss predictions fail."""

from __future__ import annotations

from sqlora.evaluation.execution import CORRECT, GOLD_ERROR, PRED_ERROR, WRONG
from sqlora.evaluation.testsuite import build_test_suite, plan_for, testsuite_match
from sqlora.sql.schema import parse_schema

HEAD = "CREATE TABLE head (name VARCHAR, born_state VARCHAR, age INTEGER)"
GT = "SELECT count(*) FROM head WHERE age > 56"


def test_literal_is_planted_in_the_compared_column():
    plan = plan_for('SELECT name FROM head AS T1 WHERE T1.age > 56 AND born_state = "Alabama"', parse_schema(HEAD))
    assert 56 in plan.literals[("head", "age")]
    assert "Alabama" in plan.literals[("head", "born_state")]
    suite = build_test_suite(HEAD, GT)
    ages = [row[0] for conn in suite.databases for row in conn.execute("SELECT age FROM head")]
    assert 56 in ages and 57 in ages and 55 in ages


def test_greater_than_is_distinguished_from_greater_or_equal():
    assert testsuite_match(HEAD, GT, "SELECT COUNT(*) FROM head WHERE age>56;").outcome == CORRECT
    assert testsuite_match(HEAD, GT, "SELECT count(*) FROM head WHERE age >= 56").outcome == WRONG
    assert testsuite_match(HEAD, GT, "SELECT count(*) FROM head WHERE 56 < age").outcome == CORRECT


def test_wrong_column_is_caught():
    gold = "SELECT name FROM head WHERE born_state = 'California'"
    assert testsuite_match(HEAD, gold, "SELECT name FROM head WHERE born_state = 'California'").outcome == CORRECT
    assert testsuite_match(HEAD, gold, "SELECT born_state FROM head WHERE born_state = 'California'").outcome == WRONG
    assert testsuite_match(HEAD, gold, "SELECT name FROM head WHERE name = 'California'").outcome == WRONG


def test_double_quoted_string_literal_of_sql_create_context():
    gold = 'SELECT name FROM head WHERE born_state = "Alabama"'
    suite = build_test_suite(HEAD, gold)
    assert not suite.weak and any(result.rows for result in suite.gold_results)
    assert testsuite_match(HEAD, gold, "SELECT name FROM head WHERE born_state = 'Alabama'").outcome == CORRECT
    assert testsuite_match(HEAD, gold, "SELECT name FROM head").outcome == WRONG


def test_join_and_grouping_are_non_trivial():
    context = "CREATE TABLE a (id INTEGER, name VARCHAR); CREATE TABLE b (aid INTEGER, score REAL)"
    gold = "SELECT T1.name, count(*) FROM a AS T1 JOIN b AS T2 ON T1.id = T2.aid GROUP BY T1.name"
    suite = build_test_suite(context, gold)
    assert all(result.ok for result in suite.gold_results)
    assert sum(len(result.rows) > 1 for result in suite.gold_results) >= 3  # joins match, several groups
    wrong = "SELECT T1.name, count(*) FROM a AS T1 JOIN b AS T2 ON T1.id = T2.aid GROUP BY T1.id"
    assert testsuite_match(context, gold, gold.lower()).outcome == CORRECT
    assert testsuite_match(context, gold, wrong).outcome in (WRONG, CORRECT)  # same when names are unique
    assert testsuite_match(context, gold, "SELECT name, count(*) FROM a GROUP BY name").outcome == WRONG


def test_like_patterns_get_matching_values():
    gold = "SELECT count(*) FROM head WHERE name LIKE '%son%'"
    suite = build_test_suite(HEAD, gold)
    assert any(result.rows[0][0] > 0 for result in suite.gold_results)
    assert testsuite_match(HEAD, gold, "SELECT count(*) FROM head WHERE name = 'son'").outcome == WRONG


def test_deterministic_databases():
    first = build_test_suite.__wrapped__(HEAD, GT, 5, 0)
    second = build_test_suite.__wrapped__(HEAD, GT, 5, 0)
    other = build_test_suite.__wrapped__(HEAD, GT, 5, 1)
    dump = lambda s: [list(c.execute("SELECT * FROM head")) for c in s.databases]  # noqa: E731
    assert dump(first) == dump(second)
    assert dump(first) != dump(other)


def test_errors_and_read_only():
    assert testsuite_match(HEAD, GT, "SELECT count(*) FROM nowhere").outcome == PRED_ERROR
    assert testsuite_match(HEAD, "SELECT missing FROM head", "SELECT 1").ex is None
    assert testsuite_match("CREATE TABLE", GT, GT).outcome == GOLD_ERROR
    assert testsuite_match(HEAD, GT, "DELETE FROM head").outcome == PRED_ERROR
    assert testsuite_match(HEAD, GT, GT).outcome == CORRECT  # the cached databases were not modified


def test_gold_empty_everywhere_is_flagged_weak():
    gold = "SELECT name FROM head WHERE age > 10 AND age < 5"
    suite = build_test_suite(HEAD, gold)
    assert suite.weak and len(suite.databases) == 10  # K normal + K denser databases were tried


def test_repeated_tables_in_context_are_merged():
    context = "CREATE TABLE mountain (name VARCHAR, id VARCHAR, ID VARCHAR); CREATE TABLE mountain (name VARCHAR, height INTEGER)"
    gold = "SELECT name FROM mountain WHERE height > 5000"
    assert testsuite_match(context, gold, "SELECT name FROM mountain WHERE height > 5000").outcome == CORRECT
    assert testsuite_match(context, gold, "SELECT name FROM mountain WHERE height > 4999").outcome == WRONG

"""explain_sql: deterministic English built from the sqlglot tree."""

from __future__ import annotations

import json

import pytest

from sqlora.sql.explain import ExplainError, explain_sql


def test_the_reference_example():
    assert explain_sql("SELECT name FROM head WHERE age > 56 ORDER BY age DESC LIMIT 3") == (
        "Returns name from table head, keeping rows where age is greater than 56, "
        "sorted by age from highest to lowest, showing only the first 3 rows."
    )


@pytest.mark.parametrize(
    ("sql", "phrases"),
    [
        ("SELECT count(*) FROM singer", ["Returns the number of rows from table singer."]),
        (
            "SELECT country, count(*) FROM singer GROUP BY country HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 1",
            [
                "country and the number of rows",
                "grouped by country",
                "keeping only groups where the number of rows is greater than 1",
                "sorted by the number of rows from highest to lowest",
                "showing only the first row.",
            ],
        ),
        (
            "SELECT T1.Name, T2.Name FROM climber AS T1 JOIN mountain AS T2 ON T1.Mountain_ID = T2.Mountain_ID",
            [
                "climber.Name and mountain.Name",
                "from table climber joined with table mountain",
                "(matching climber.Mountain_ID to mountain.Mountain_ID)",
            ],
        ),
        (
            "SELECT T1.name FROM student AS T1 LEFT JOIN pet AS T2 ON T1.id = T2.sid WHERE T2.sid IS NULL",
            [
                "with matching rows of table pet",
                "including rows of table student without a match",
                "pet.sid has no value (is NULL)",
            ],
        ),
        (
            "SELECT Name FROM mountain WHERE Mountain_ID NOT IN (SELECT Mountain_ID FROM climber)",
            ["Mountain_ID is not among the Mountain_ID values from table climber"],
        ),
        (
            "SELECT Name FROM mountain WHERE Height > (SELECT avg(Height) FROM mountain)",
            ["Height is greater than the average Height from table mountain"],
        ),
        (
            "SELECT max(age), min(age), avg(age), sum(sales) FROM singer",
            ["the maximum age, the minimum age, the average age and the total sales"],
        ),
        ("SELECT count(DISTINCT country) FROM singer", ["the number of distinct country values"]),
        ("SELECT DISTINCT country FROM singer", ["Returns the distinct values of country"]),
        (
            "SELECT name FROM t WHERE name LIKE '%son' OR name LIKE 'Mc%' OR name LIKE '%an%' OR name NOT LIKE 'x_y'",
            [
                "name ends with 'son'",
                "name starts with 'Mc'",
                "name contains 'an'",
                "name does not match the pattern 'x_y'",
            ],
        ),
        (
            'SELECT name FROM singer WHERE country = "France" AND age BETWEEN 20 AND 30 AND id IN (1, 2, 3)',
            ["country is 'France'", "age is between 20 and 30", "id is one of 1, 2 or 3"],
        ),
        (
            "SELECT Country FROM mountain UNION SELECT Country FROM climber",
            ["combined (without duplicates): first Country from table mountain; then Country from table climber"],
        ),
        ("SELECT a FROM x UNION ALL SELECT a FROM y", ["(keeping duplicates)"]),
        ("SELECT a FROM x INTERSECT SELECT a FROM y", ["only the rows found in both of two queries"]),
        ("SELECT a FROM x EXCEPT SELECT a FROM y", ["that are not in another", "minus a from table y"]),
        (
            "SELECT T1.Country FROM climber AS T1 WHERE EXISTS (SELECT 1 FROM mountain AS T2 WHERE T2.Mountain_ID = T1.Mountain_ID)",
            ["there is at least one row in table mountain where mountain.Mountain_ID equals climber.Mountain_ID"],
        ),
        (
            "WITH top AS (SELECT * FROM climber WHERE Points > 5) SELECT count(*) FROM top",
            [
                "Using top (all columns from table climber, keeping rows where Points is greater than 5)",
                "returns the number of rows from the result top",
            ],
        ),
        ("SELECT name FROM singer ORDER BY name", ["sorted by name alphabetically"]),
        ("SELECT title FROM song ORDER BY release_year DESC", ["sorted by release_year from latest to earliest"]),
        ("SELECT name FROM t LIMIT 5 OFFSET 10", ["skipping the first 10 rows, showing only the first 5 rows"]),
        (
            "SELECT CASE WHEN Height > 5000 THEN 'high' ELSE 'low' END AS band FROM mountain",
            ["a value that is 'high' when Height is greater than 5000, otherwise 'low' (as band)"],
        ),
        ("SELECT x FROM (SELECT a AS x FROM t WHERE a > 1) AS s", ["from a subquery s (a (as x) from table t"]),
        ("SELECT a FROM t WHERE NOT a = 1 AND b <> 2 AND c IS NOT NULL", ["a is not 1", "b is not 2", "c has a value"]),
    ],
)
def test_phrases(sql, phrases):
    text = explain_sql(sql)
    for phrase in phrases:
        assert phrase in text, f"{phrase!r} not in {text!r}"
    assert text[0].isupper() and text.endswith(".")


def test_other_dialects_and_determinism():
    sql = "SELECT TOP 3 name FROM head ORDER BY age DESC"
    assert (
        explain_sql(sql, "tsql")
        == "Returns name from table head, sorted by age from highest to lowest, showing only the first 3 rows."
    )
    assert (
        explain_sql("SELECT `name` FROM t WHERE a >= 2", dialect="mysql")
        == "Returns name from table t, keeping rows where a is at least 2."
    )
    assert len({explain_sql("SELECT a, b FROM t WHERE c < 3") for _ in range(5)}) == 1


def test_non_queries_and_errors():
    assert "changes the database" in explain_sql("DELETE FROM t")
    with pytest.raises(ExplainError, match="cannot parse"):
        explain_sql("SELECT FROM WHERE (")
    with pytest.raises(ExplainError, match="one statement"):
        explain_sql("SELECT 1; SELECT 2")


def test_cli_explain(tmp_path):
    from typer.testing import CliRunner

    from sqlora.cli.main import app

    result = CliRunner().invoke(app, ["explain", "SELECT name FROM head WHERE age > 56", "--json"])
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["explanation"]
        == "Returns name from table head, keeping rows where age is greater than 56."
    )

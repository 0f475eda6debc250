"""Error analysis: one hand-made prediction/gold pair per class, error classes, comparison and the CLI."""

from __future__ import annotations

import json
import sqlite3

import pytest
from typer.testing import CliRunner

from sqlora.cli.main import app
from sqlora.db.sqlite import connect_readonly
from sqlora.evaluation import analysis as an
from sqlora.evaluation.execution import execution_match

SCHEMA_COLUMNS = {"singer_id", "name", "country", "age", "concert_id", "year", "stadium_id", "capacity"}

PAIRS = [  # (class, gold, wrong prediction)
    (an.TABLE, "SELECT name FROM singer", "SELECT name FROM stadium"),
    (
        an.JOIN,
        "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id",
        "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.concert_id",
    ),
    (an.COLUMN, "SELECT name FROM singer WHERE age > 30", "SELECT country FROM singer WHERE age > 30"),
    (an.AGGREGATE, "SELECT MAX(age) FROM singer", "SELECT AVG(age) FROM singer"),
    (an.FILTER, "SELECT name FROM singer WHERE country = 'France'", 'SELECT name FROM singer WHERE country = "Spain"'),
    (an.CLAUSES, "SELECT name FROM singer ORDER BY age DESC LIMIT 1", "SELECT name FROM singer ORDER BY age LIMIT 1"),
    (an.DISTINCT, "SELECT DISTINCT country FROM singer", "SELECT country FROM singer"),
    (
        an.NESTING,
        "SELECT name FROM singer WHERE age > 20 INTERSECT SELECT name FROM singer WHERE age < 40",
        "SELECT name FROM singer WHERE age > 20 AND age < 40",
    ),
    (an.SHAPE, "SELECT MAX(age) - MIN(age) FROM singer", "SELECT MAX(age) + MIN(age) FROM singer"),
]


@pytest.mark.parametrize(("expected", "gold", "pred"), PAIRS, ids=[p[0] for p in PAIRS])
def test_each_class_is_recognised(expected, gold, pred):
    found = an.classify(gold, pred, ex=False, schema_columns=SCHEMA_COLUMNS)
    assert found.cls == expected, found


def test_missing_join_table_is_a_join_error_and_a_different_table_a_table_error():
    gold = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T2.year = 2014"
    missing = an.classify(gold, "SELECT name FROM singer", ex=False)
    assert missing.cls == an.JOIN
    assert missing.detail["tables"] == {"extra": [], "missing": ["concert"]}
    other = an.classify("SELECT name FROM singer", "SELECT name FROM artist", ex=False)
    assert other.cls == an.TABLE


def test_aliases_case_and_condition_order_do_not_count_as_errors():
    gold = "SELECT T1.name FROM singer AS T1 WHERE T1.age > 30 AND T1.country = 'France'"
    pred = "select NAME from SINGER where country = 'France' and 30.0 < age"
    found = an.classify(gold, pred, ex=False, schema_columns=SCHEMA_COLUMNS)
    assert found.cls == an.SHAPE and found.aspects == [an.SHAPE]


def test_every_differing_aspect_is_listed_first_one_is_the_class():
    found = an.classify(
        "SELECT name FROM singer WHERE country = 'France'", "SELECT COUNT(age) FROM singer WHERE country = 'Italy'"
    )
    assert found.cls == an.COLUMN
    assert found.aspects == [an.COLUMN, an.AGGREGATE, an.FILTER]


def test_correct_and_unscored_answers_are_not_errors():
    assert an.classify("SELECT 1", "SELECT 2", ex=True).cls == an.CORRECT
    assert an.classify("SELECT 1", "SELECT 2", ex=None).cls == an.UNSCORED


@pytest.mark.parametrize(
    ("pred", "error", "expected"),
    [
        ("", "empty query", "empty answer"),
        ("SELECT name FROM singer WHERE (", None, "parse error (sqlglot)"),
        ("CREATE TABLE singer (name TEXT)", "table singer already exists", "not a query (CREATE)"),
        ("SELECT 1; SELECT 2", "You can only execute one statement at a time.", "several statements"),
        ("SELECT nme FROM singer", "no such column: nme", "no such column"),
        ("SELECT name FROM singers", "no such table: singers", "no such table"),
        ("SELECT name FROM singer WHERE COUNT(*) > 1", "misuse of aggregate: COUNT()", "misuse of aggregate"),
    ],
)
def test_invalid_answers_are_split_by_error_class(pred, error, expected):
    found = an.classify("SELECT name FROM singer", pred, ex=False, error=error, executed=False)
    assert found.cls == an.INVALID
    assert found.error_class == expected


@pytest.fixture
def singer_db(tmp_path):
    root = tmp_path / "db"
    (root / "concerts").mkdir(parents=True)
    path = root / "concerts" / "concerts.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE singer (singer_id INTEGER, name TEXT, country TEXT, age INTEGER)")
        conn.execute("CREATE TABLE concert (concert_id INTEGER, singer_id INTEGER, year INTEGER)")
        conn.executemany(
            "INSERT INTO singer VALUES (?, ?, ?, ?)",
            [(1, "Ann", "France", 31), (2, "Bob", "Spain", 25), (3, "Cy", "France", 45)],
        )
        conn.executemany("INSERT INTO concert VALUES (?, ?, ?)", [(1, 1, 2014), (2, 3, 2015)])
    return root


def _scored(db_root, rows: list[tuple[str, str, str]]) -> list[dict]:
    """Report rows (the runner's layout) for (question, gold, pred), scored on the real database."""
    conn = connect_readonly(db_root / "concerts" / "concerts.sqlite")
    examples = []
    for question, gold, pred in rows:
        outcome = execution_match(conn, gold, pred)
        examples.append(
            {"db_id": "concerts", "question": question, "gold": gold, "pred": pred, "ex": outcome.ex}
            | {"valid": outcome.pred_executed, "error": None, "outcome": outcome.outcome}
        )
    conn.close()
    return examples


GOLD_FRANCE = 'SELECT name FROM singer WHERE country = "France"'
GOLD_OLDEST = "SELECT name FROM singer ORDER BY age DESC LIMIT 1"
GOLD_2014 = "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id WHERE T2.year = 2014"


def test_analyze_rederives_engine_errors_and_tells_quoted_strings_from_columns(singer_db):
    examples = _scored(
        singer_db,
        [
            ("french singers", GOLD_FRANCE, "SELECT name FROM singer WHERE country = 'France'"),
            ("oldest", GOLD_OLDEST, "SELECT nme FROM singer ORDER BY age DESC LIMIT 1"),
            ("2014", GOLD_2014, "SELECT name FROM singer"),
        ],
    )
    result = an.analyze(examples, singer_db)
    assert result["n_correct"] == 1 and result["n_wrong"] == 2
    assert [row["cls"] for row in result["rows"]] == [an.CORRECT, an.INVALID, an.JOIN]
    assert result["error_classes"] == {"no such column": 1}  # re-executed: the row had no error message
    assert result["examples"][an.JOIN][0]["id"] == 2


def test_compare_reports_fixed_broken_and_moved_by_question(singer_db):
    questions = [("french singers", GOLD_FRANCE), ("oldest", GOLD_OLDEST), ("2014", GOLD_2014)]
    base_preds = ["SELECT name FROM singer WHERE country = 'Spain'", GOLD_OLDEST, "SELECT 1 FROM"]
    tuned_preds = [GOLD_FRANCE, "SELECT name FROM singer ORDER BY age LIMIT 1", "SELECT name FROM singer"]
    base = _scored(singer_db, [(q, g, p) for (q, g), p in zip(questions, base_preds, strict=True)])
    tuned = _scored(singer_db, [(q, g, p) for (q, g), p in zip(questions, tuned_preds, strict=True)])
    tuned = [tuned[2], tuned[0], tuned[1]]  # another order: rows are matched by question, not position
    base_analysis, tuned_analysis = an.analyze(base, singer_db), an.analyze(tuned, singer_db)
    result = an.compare(base, base_analysis, tuned, tuned_analysis)
    assert result["n_matched"] == 3
    assert result["fixed"][an.FILTER] == [1]
    assert result["broken"][an.CLAUSES] == [2]
    assert result["moved"] == {f"{an.INVALID} -> {an.JOIN}": [0]}


def test_cli_writes_json_markdown_and_plot_and_compares_with_the_base_run(tmp_path, singer_db):
    rows = [("french singers", GOLD_FRANCE), ("oldest", GOLD_OLDEST), ("2014", GOLD_2014)]
    base_preds = ["CREATE TABLE singer (name TEXT)", GOLD_OLDEST, "SELECT name FROM singer"]
    tuned_preds = [GOLD_FRANCE, "SELECT DISTINCT name FROM singer ORDER BY age LIMIT 1", "SELECT name FROM singer"]
    base = _scored(singer_db, [(q, g, p) for (q, g), p in zip(rows, base_preds, strict=True)])
    tuned = _scored(singer_db, [(q, g, p) for (q, g), p in zip(rows, tuned_preds, strict=True)])
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"base": {"label": "base", "examples": base}, "tuned": {"examples": tuned}}))
    out = tmp_path / "analysis"
    args = ["analyze", str(report), "--db-dir", str(singer_db), "--output", str(out)]
    result = CliRunner().invoke(app, args, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    document = json.loads((out / "analysis.json").read_text())
    assert document["analysis"]["counts"][an.CLAUSES] == 1
    assert document["analysis"]["counts"][an.JOIN] == 1
    assert document["comparison"]["fixed"][an.INVALID] == [0]
    assert document["comparison"]["broken"][an.CLAUSES] == [1]
    assert "| wrong GROUP/ORDER/LIMIT | 1 |" in (out / "analysis.md").read_text()
    assert (out / "analysis.png").stat().st_size > 0


def test_cli_fails_cleanly_on_a_file_that_is_not_a_report(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"n": 3}')
    result = CliRunner().invoke(app, ["analyze", str(bad)])
    assert result.exit_code != 0
    assert "error:" in result.output and "Traceback" not in result.output
    missing = CliRunner().invoke(app, ["analyze", str(tmp_path / "nope.json")])
    assert missing.exit_code != 0 and "no such report" in missing.output


def test_a_missing_condition_is_a_filter_error_and_a_swapped_name_a_column_error():
    gold = "SELECT name FROM singer WHERE country = 'France' AND age > 30"
    missing = an.classify(gold, "SELECT name FROM singer WHERE age > 30", ex=False)
    assert missing.cls == an.FILTER
    swapped = an.classify(gold, "SELECT name FROM singer WHERE name = 'France' AND age > 30", ex=False)
    assert swapped.cls == an.COLUMN


def test_an_aggregate_only_in_order_by_is_an_ordering_error():
    gold = "SELECT city FROM airports GROUP BY city HAVING COUNT(*) > 2 ORDER BY COUNT(*)"
    found = an.classify(gold, "SELECT city FROM airports GROUP BY city HAVING COUNT(*) > 2", ex=False)
    assert found.cls == an.CLAUSES

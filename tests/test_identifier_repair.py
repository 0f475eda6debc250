"""Name repair: table/column names SQLite rejects become the schema's closest names, or stay wrong."""

from __future__ import annotations

import pytest

from sqlora.inference.validation import repair_identifiers, validate_sql
from sqlora.sql.identifiers import closest_name

SCHEMA = (
    "CREATE TABLE singer (singer_id INTEGER, song_name TEXT, country TEXT, age INTEGER); "
    "CREATE TABLE concert (concert_id INTEGER, singer_id INTEGER, year TEXT)"
)


@pytest.mark.parametrize(
    ("wrong", "repaired"),
    [
        ("SELECT name FROM singer WHERE age > 20", "SELECT song_name FROM singer WHERE age > 20"),
        ("SELECT T1.song_name FROM singers AS T1", "SELECT T1.song_name FROM singer AS T1"),
        (  # the column exists, in the other table of the join: requalified, not renamed
            "SELECT T1.year FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id",
            "SELECT T2.year FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id",
        ),
        (  # an ambiguous join key gets the first table that has it
            "SELECT singer_id FROM singer JOIN concert ON singer.singer_id = concert.singer_id",
            "SELECT singer.singer_id FROM singer JOIN concert ON singer.singer_id = concert.singer_id",
        ),
        (  # two wrong names, fixed one after the other; the string literal is left alone
            "SELECT songname FROM singers WHERE Country = 'france'",
            "SELECT song_name FROM singer WHERE Country = 'france'",
        ),
        (  # a bare word compared with a column, like no column: it was meant as a value
            "SELECT song_name FROM singer WHERE country = France AND age > 20",
            "SELECT song_name FROM singer WHERE country = 'France' AND age > 20",
        ),
        (
            "SELECT count(*) FROM singer WHERE singer_id IN (SELECT singerid FROM concert WHERE yr = '2014')",
            "SELECT COUNT(*) FROM singer WHERE singer_id IN (SELECT singer_id FROM concert WHERE year = '2014')",
        ),
    ],
)
def test_wrong_names_are_renamed_to_the_schema(wrong, repaired):
    assert not validate_sql(wrong, SCHEMA).valid
    assert repair_identifiers(wrong, SCHEMA) == repaired
    assert validate_sql(repaired, SCHEMA).valid


@pytest.mark.parametrize(
    "hopeless",
    [
        "SELECT count(*) FROM singer WHERE nationality = 'France'",  # no column is like it
        "SELECT song_name FROM singer WHERE France = 1",  # an unknown name compared with a value stays a name
        "SELECT T1.song_name FROM singer AS T1 WHERE T1.country = T1.France",  # qualified: meant as a column
        "SELECT salary FROM singer",
        "SELECT FROM singer",  # not a name problem
        "SELECT name FROM",
    ],
)
def test_problems_that_are_not_misspelled_names_are_left_alone(hopeless):
    assert repair_identifiers(hopeless, SCHEMA) is None


def test_valid_sql_is_returned_unchanged_double_quoted_strings_included():
    sql = 'SELECT T1.song_name FROM singer AS T1 WHERE T1.country = "France"'
    assert repair_identifiers(sql, SCHEMA) == sql


def test_closest_name_ignores_case_and_underscores_and_refuses_far_names():
    assert closest_name("SongName", ["song_name", "singer_id"]) == "song_name"
    assert closest_name("wage", ["age", "name"]) in {"age", "name"}
    assert closest_name("nationality", ["country", "age"]) is None
    assert closest_name("x", []) is None

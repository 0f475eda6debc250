"""Paraphrased training questions: kept only when they are one new question with every value of the original."""

from __future__ import annotations

import pytest

from sqlora.synth.generate import Pair
from sqlora.synth.paraphrase import _clean, keeps_meaning, paraphrase_pairs, sql_literals

UGANDA = Pair("What are the names of mountains in Uganda?", "SELECT Name FROM mountain WHERE Country = 'Uganda'",
              "filter", "mountain", 3)  # fmt: skip
POINTS = Pair("Which climbers have more than 56 points?", "SELECT Name FROM climber WHERE Points > 56",
              "filter", "climber", 4)  # fmt: skip


def test_sql_literals() -> None:
    assert sql_literals(UGANDA.sql) == ["Uganda"]
    assert sql_literals(POINTS.sql) == ["56"]
    assert sql_literals("SELECT (((") == []


@pytest.mark.parametrize(
    ("pair", "text", "kept"),
    [
        (UGANDA, "Which mountains are located in Uganda? Give their names.", True),
        (UGANDA, "Name the mountains that are in uganda.", True),  # case of a value is not meaning
        (UGANDA, "Which mountains are in Kenya?", False),  # the value changed
        (UGANDA, "What are the names of mountains in Uganda?", False),  # no new wording
        (UGANDA, "What are the names of the mountains in Uganda ?", False),  # only spacing and an article differ
        (POINTS, "Which climbers scored over 56 points?", True),
        (POINTS, "Which climbers scored over 566 points?", False),  # a number is matched whole
        (POINTS, "Which climbers scored over 5.6 points?", False),
        (POINTS, "Climbers?", False),  # too short to be a question
        (POINTS, "Which climbers have more than 56 points?\nAnd their names?", False),
        (POINTS, "Which climbers have many points", False),  # not a finished sentence
    ],
)
def test_keeps_meaning(pair: Pair, text: str, kept: bool) -> None:
    assert keeps_meaning(pair, text) is kept


def test_clean_takes_the_first_line_without_a_label() -> None:
    assert _clean('Rewritten question: "Which climbers scored over 56 points?"\nDone.') == (
        "Which climbers scored over 56 points?"
    )
    assert _clean("The answer is: Name the mountains in Uganda.") == "Name the mountains in Uganda."


def test_paraphrases_from_the_embedded_model_keep_sql_and_values() -> None:
    pairs = [
        UGANDA,
        POINTS,
        Pair("How many climbers are there?", "SELECT count(*) FROM climber", "count", "climber", 1),
    ]
    out = paraphrase_pairs(pairs, None, batch_size=3, max_new_tokens=32)
    by_sql = {pair.sql: pair for pair in pairs}
    assert len(out) <= len(pairs)
    for new in out:
        original = by_sql[new.sql]  # the SQL, family and table are the original's
        assert (new.family, new.table, new.rows) == (original.family, original.table, original.rows)
        assert keeps_meaning(original, new.question)

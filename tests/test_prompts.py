import pytest

from sqlora.prompts.extraction import extract_sql
from sqlora.prompts.templates import ARTICLE_TEMPLATE, render_prompt


def test_article_template_is_exact():
    assert (
        ARTICLE_TEMPLATE == "Given the following database schema:\n{schema}\n\nQuestion: {question}\n\nSQL Query: {sql}"
    )
    prompt = render_prompt("CREATE TABLE t (a INT)", "How many?", "article")
    assert (
        prompt == "Given the following database schema:\nCREATE TABLE t (a INT)\n\nQuestion: How many?\n\nSQL Query: "
    )


def test_chat_template_uses_tokenizer(embedded_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    prompt = render_prompt("CREATE TABLE t (a INT)", "How many?", "chat", tokenizer)
    assert prompt.count("<|im_start|>") == 3
    assert prompt.endswith("<|im_start|>assistant\n")
    assert "Question: How many?" in prompt
    with pytest.raises(ValueError):
        render_prompt("CREATE TABLE t (a INT)", "q", "chat", None)
    with pytest.raises(ValueError):
        render_prompt("CREATE TABLE t (a INT)", "q", "haiku")


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("SELECT COUNT(*) FROM head WHERE age > 56", "SELECT COUNT(*) FROM head WHERE age > 56"),
        ("```sql\nSELECT a FROM t;\n```\nThis query returns a.", "SELECT a FROM t"),
        ("Here is the query: SELECT a FROM t WHERE b = 'x;y'; SELECT 2", "SELECT a FROM t WHERE b = 'x;y'"),
        ("SELECT a\nFROM t\nWHERE b > 1\n\nThis selects a.", "SELECT a FROM t WHERE b > 1"),
        (
            "SELECT name FROM t ORDER BY x DESC LIMIT 1 which returns the top one",
            "SELECT name FROM t ORDER BY x DESC LIMIT 1",
        ),
        ("SELECT a FROM t; DROP TABLE t;", "SELECT a FROM t"),
        ("I am sorry, I cannot answer that.", ""),
        ("  select  distinct a from t  ", "select  distinct a from t"),
    ],
)
def test_extract_sql(output, expected):
    assert extract_sql(output) == expected


def test_extract_prefers_query_over_echoed_schema():
    output = "CREATE TABLE head (age INTEGER)\nSELECT COUNT(*) FROM head"
    assert extract_sql(output) == "SELECT COUNT(*) FROM head"


def test_extract_ignores_the_word_with_in_prose():
    output = "Here is a query with a filter: WITH t AS (SELECT 1 AS a) SELECT a FROM t"
    assert extract_sql(output) == "WITH t AS (SELECT 1 AS a) SELECT a FROM t"
    assert extract_sql("Done with it. SELECT a FROM t") == "SELECT a FROM t"


def test_sql_nested_too_deeply_for_the_parser_is_invalid_not_a_crash():
    """A model can write thousands of parentheses; sqlglot then hits Python's recursion limit."""
    from sqlora.evaluation.exact_match import exact_match
    from sqlora.inference.validation import validate_sql
    from sqlora.prompts.extraction import extract_sql

    nested = "SELECT " + "(" * 5000 + "1" + ")" * 5000
    schema = "CREATE TABLE t (a INTEGER)"
    assert not validate_sql(extract_sql(nested) or nested, schema).valid
    assert exact_match(nested, "SELECT 1") is False

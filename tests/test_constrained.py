"""Schema-constrained decoding: the per-schema grammar, the logits processor on a tiny and the embedded model."""

from __future__ import annotations

import pytest
import sqlglot
import torch
from sqlglot import exp

from sqlora.inference.constrained import _compiled, _ll_tokenizer, constrained_logits_processor, schema_grammar
from sqlora.inference.validation import validate_sql
from sqlora.prompts.templates import render_prompt

SCHEMA = (
    "CREATE TABLE singer (singer_id INTEGER, name TEXT, country TEXT, age INTEGER); "
    'CREATE TABLE concert (concert_id INTEGER, singer_id INTEGER, year TEXT, "Stadium Name" TEXT)'
)


@pytest.fixture(scope="module")
def tokenizer(embedded_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(embedded_dir)
    tok.padding_side = "left"
    return tok


def _accepts(tokenizer, sql: str) -> bool:
    import llguidance

    matcher = llguidance.LLMatcher(_ll_tokenizer(tokenizer), _compiled(schema_grammar(SCHEMA)), log_level=0)
    ids = tokenizer.encode(sql, add_special_tokens=False)
    return matcher.try_consume_tokens(ids) == len(ids) and matcher.is_accepting()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT name FROM singer WHERE age > 30",
        "select count(*) from SINGER where country = 'France';",
        "SELECT T1.name FROM singer AS T1 JOIN concert AS T2 ON T1.singer_id = T2.singer_id "
        "GROUP BY T1.name ORDER BY COUNT(*) DESC LIMIT 1",
        'SELECT name FROM singer WHERE country = "France" INTERSECT SELECT name FROM singer WHERE age < 40',
        'SELECT "Stadium Name" FROM concert WHERE NOT singer_id IN (SELECT singer_id FROM singer)',
    ],
)
def test_grammar_accepts_queries_over_the_schema(tokenizer, sql):
    assert _accepts(tokenizer, sql)


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT nme FROM singer",  # no such column
        "SELECT name FROM singers",  # no such table
        "CREATE TABLE singer (name TEXT)",  # not a query
        "SELECT Stadium Name FROM concert",  # a name with a space needs its quotes
        "SELECT name FROM singer; SELECT age FROM singer",  # one statement
    ],
)
def test_grammar_rejects_names_outside_the_schema_and_other_statements(tokenizer, sql):
    assert not _accepts(tokenizer, sql)


def test_schema_without_tables_is_refused():
    with pytest.raises(ValueError, match="no tables"):
        schema_grammar("this is not a schema")


def _generate(model, tokenizer, prompts, schemas, max_new_tokens):
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    processor = constrained_logits_processor(tokenizer, schemas)
    with torch.inference_mode():
        out = model.generate(
            **encoded,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            logits_processor=[processor],
            pad_token_id=tokenizer.pad_token_id,
        )
    width = encoded["input_ids"].shape[1]
    return processor, [tokenizer.decode(row, skip_special_tokens=True) for row in out[:, width:]]


def test_tiny_model_batch_stays_inside_each_rows_grammar(tiny_model_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    other = "CREATE TABLE pets (pet_id INTEGER, kind TEXT)"
    prompts = [render_prompt(SCHEMA, "How many singers?"), render_prompt(other, "Which kinds?")]
    processor, texts = _generate(model, tokenizer, prompts, [SCHEMA, other], 24)
    assert all(not m.is_error() for m in processor.matchers)  # every token a random model chose was allowed
    assert all(text.strip().upper().startswith("SELECT") for text in texts)
    assert "singer" not in texts[1].lower()  # row 2 may only name pets' tables and columns
    assert processor.mask_s > 0


def test_embedded_model_writes_a_select_over_the_schema_instead_of_a_create(embedded_dir, tokenizer):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(embedded_dir)
    prompt = render_prompt(SCHEMA, "How many singers are from France?")
    _, (text,) = _generate(model, tokenizer, [prompt], [SCHEMA], 48)
    sql = text.strip().rstrip(";")
    tree = sqlglot.parse_one(sql, read="sqlite")
    assert isinstance(tree, exp.Select)
    assert {t.name.lower() for t in tree.find_all(exp.Table)} <= {"singer", "concert"}
    assert validate_sql(sql, SCHEMA).valid, sql


def test_generator_setting_and_ask_flag_decode_under_each_questions_schema(tiny_model_dir):
    """`constrained=True` on SQLGenerator (and `ask --constrained`) holds greedy answers to their own schema."""
    import json

    from typer.testing import CliRunner

    from sqlora.cli.main import app
    from sqlora.inference.generator import SQLGenerator

    other = "CREATE TABLE pets (pet_id INTEGER, kind TEXT)"
    generator = SQLGenerator(model=str(tiny_model_dir), max_new_tokens=24, repair=False, constrained=True)
    answers = generator.generate_batch([("How many singers?", SCHEMA), ("Which kinds?", other)])
    assert all(a.raw.strip().upper().startswith("SELECT") for a in answers)
    assert "singer" not in answers[1].raw.lower()  # the second answer may only name the pets table's names
    generator.constrained = False
    free = generator.generate_batch([("How many singers?", SCHEMA)])[0]
    assert not free.raw.strip().upper().startswith("SELECT")  # the random tiny model, unconstrained, writes junk

    args = ["ask", "--schema", other, "--model", str(tiny_model_dir), "--max-new-tokens", "16", "--json"]
    result = CliRunner().invoke(app, [*args, "--constrained", "Which kinds?"])
    assert result.exit_code in (0, 1), result.output  # 1: the grammar's answer may still be cut short
    assert json.loads(result.stdout)["raw"].strip().upper().startswith("SELECT")

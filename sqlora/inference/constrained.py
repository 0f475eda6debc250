"""Schema-constrained decoding: generation that can only write a SQLite query over the given schema.

A Lark grammar of a SQLite SELECT subset is built per schema, with table and column names as
alternations of the schema's names (any letter case, bare or double-quoted), and enforced token by
token with llguidance (the Rust grammar engine behind guidance, vLLM and outlines) as a
transformers ``LogitsProcessor``: tokens that cannot continue a query the grammar accepts get
``-inf``. Greedy decoding only (one matcher per batch row; beam search reorders rows).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch
from transformers import LogitsProcessor

from sqlora.sql.schema import Table, parse_schema

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The SQLite SELECT subset the model may write. NAME terminals (TABLE, COLUMN) are filled in per schema.
_GRAMMAR = r"""
start: query ";"?
query: select (setop select)*
setop: "UNION"i "ALL"i? | "INTERSECT"i | "EXCEPT"i
select: "SELECT"i "DISTINCT"i? projections "FROM"i sources where? group? having? order? limit?
projections: projection ("," projection)*
projection: "*" | QUALIFIER "." "*" | expr ("AS"i? OUTNAME)?
sources: source (join | "," source)*
source: TABLE ("AS"i? ALIAS)? | "(" query ")" ("AS"i? ALIAS)?
join: ("LEFT"i "OUTER"i? | "INNER"i | "CROSS"i)? "JOIN"i source ("ON"i condition)?
where: "WHERE"i condition
group: "GROUP"i "BY"i expr ("," expr)*
having: "HAVING"i condition
order: "ORDER"i "BY"i ordered ("," ordered)*
ordered: expr ("ASC"i | "DESC"i)?
limit: "LIMIT"i NUMBER ("OFFSET"i NUMBER)?
condition: conjunction ("OR"i conjunction)*
conjunction: negation ("AND"i negation)*
negation: "NOT"i? predicate
predicate: expr COMPARE expr
    | expr "NOT"i? "IN"i "(" (query | expr ("," expr)*) ")"
    | expr "NOT"i? "LIKE"i expr
    | expr "NOT"i? "BETWEEN"i expr "AND"i expr
    | expr "IS"i "NOT"i? "NULL"i
    | "EXISTS"i "(" query ")"
    | "(" condition ")"
expr: term (ARITH term)*
term: column | literal | call | "(" query ")" | "(" expr ")" | "-" term
call: AGGREGATE "(" "DISTINCT"i? (expr | "*") ")" | FUNCTION "(" expr ("," expr)* ")"
    | "CAST"i "(" expr "AS"i TYPE ")"
column: COLUMN | QUALIFIER "." COLUMN
literal: STRING | NUMBER | "NULL"i
QUALIFIER: TABLE | ALIAS
ALIAS: /[Tt][0-9]{1,2}/
OUTNAME: /[A-Za-z_][A-Za-z0-9_]*/
AGGREGATE: "COUNT"i | "SUM"i | "AVG"i | "MIN"i | "MAX"i
FUNCTION: "ABS"i | "LENGTH"i | "LOWER"i | "UPPER"i | "ROUND"i | "SUBSTR"i | "STRFTIME"i | "DATE"i
    | "COALESCE"i | "IFNULL"i | "TRIM"i | "REPLACE"i | "INSTR"i
TYPE: "INTEGER"i | "INT"i | "REAL"i | "TEXT"i | "NUMERIC"i | "FLOAT"i
COMPARE: "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">="
ARITH: "+" | "-" | "*" | "/" | "||"
NUMBER: /[0-9]+(\.[0-9]+)?/
STRING: /'[^'\n]*'/ | /"[^"\n]*"/
%ignore /[ \t]+/
"""


def _name_alternatives(names: Sequence[str]) -> str:
    """A Lark alternation of names: bare (any case) when plain, always double-quoted as well."""
    options = []
    for name in sorted(set(names), key=str.lower):
        if _PLAIN.match(name):
            options.append(json.dumps(name) + "i")
        options.append(json.dumps('"' + name.replace('"', '""') + '"'))
    return " | ".join(options)


def sql_grammar(tables: Sequence[Table]) -> str:
    """The Lark grammar of SELECT queries over ``tables`` (their names and their columns' names only)."""
    if not tables:
        raise ValueError("the schema has no tables to constrain the SQL to")
    columns = [name for table in tables for name in table.column_names] or ["rowid"]
    names = f"TABLE: {_name_alternatives([t.name for t in tables])}\nCOLUMN: {_name_alternatives(columns)}\n"
    return _GRAMMAR + names


@lru_cache(maxsize=256)
def schema_grammar(schema_text: str) -> str:
    """The grammar for a CREATE TABLE context (what the prompts carry)."""
    return sql_grammar(parse_schema(schema_text))


@lru_cache(maxsize=4)
def _ll_tokenizer(tokenizer):
    """llguidance's view of a Hugging Face fast tokenizer (about a second to build, so cached)."""
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer)


@lru_cache(maxsize=256)
def _compiled(grammar: str) -> str:
    import llguidance

    return llguidance.LLMatcher.grammar_from_lark(grammar)


@lru_cache(maxsize=64)
def _matcher(ll_tokenizer, grammar: str):
    """A fresh matcher for ``grammar``, kept to be deep-copied (building one compiles the grammar)."""
    import llguidance

    matcher = llguidance.LLMatcher(ll_tokenizer, _compiled(grammar), log_level=0)
    if matcher.is_error():
        raise ValueError(f"bad grammar: {matcher.get_error()}")
    return matcher


class SchemaConstrainedProcessor(LogitsProcessor):
    """Masks every token that cannot continue a query of each row's grammar (greedy, one matcher per row).

    Rows whose matcher has finished (or failed) may only end: every token but end-of-sequence is masked.
    Masks come from llguidance's token bitmask, one row at a time, applied in place on CPU.
    ``mask_s`` accumulates the time spent computing and applying masks.
    """

    def __init__(self, tokenizer, grammars: Sequence[str]) -> None:
        self.ll_tokenizer = _ll_tokenizer(tokenizer)
        self.eos = tokenizer.eos_token_id
        self.matchers = [_matcher(self.ll_tokenizer, grammar).deep_copy() for grammar in grammars]
        self.started = False
        self.mask_s = 0.0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        began = time.perf_counter()
        if input_ids.shape[0] != len(self.matchers):
            raise ValueError("one grammar per batch row is needed (constrained decoding is greedy only)")
        if self.started:
            for matcher, token in zip(self.matchers, input_ids[:, -1].tolist(), strict=True):
                if not matcher.is_stopped() and not matcher.is_error():
                    matcher.consume_token(token)
        self.started = True
        # numpy throughout: on a busy CPU each small multi-threaded torch op costs more than all the masks
        allowed = np.zeros(scores.shape, dtype=bool)
        for row, matcher in enumerate(self.matchers):
            if not matcher.is_stopped() and not matcher.is_error():
                bits = np.unpackbits(np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
                width = min(bits.shape[0], scores.shape[1])
                allowed[row, :width] = bits[:width]
            if not allowed[row].any():
                allowed[row, self.eos] = True
        if scores.device.type == "cpu" and scores.dtype in (torch.float32, torch.float64, torch.float16):
            np.putmask(scores.numpy(), ~allowed, -np.inf)  # in place, as transformers' own processors do
        else:
            scores = scores.masked_fill(~torch.from_numpy(allowed).to(scores.device), float("-inf"))
        self.mask_s += time.perf_counter() - began
        return scores


def constrained_logits_processor(tokenizer, schema_text: str | Sequence[str]) -> SchemaConstrainedProcessor:
    """A processor for ``model.generate(..., logits_processor=[...])``: one schema, or one per batch row.

    A fresh processor is needed for each ``generate`` call (it keeps each row's parse state).
    """
    texts = [schema_text] if isinstance(schema_text, str) else list(schema_text)
    return SchemaConstrainedProcessor(tokenizer, [schema_grammar(text) for text in texts])

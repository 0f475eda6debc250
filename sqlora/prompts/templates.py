"""The article's prompt template and the model's own chat template."""

from __future__ import annotations

from typing import Literal

PromptStyle = Literal["article", "chat"]

ARTICLE_TEMPLATE = "Given the following database schema:\n{schema}\n\nQuestion: {question}\n\nSQL Query: {sql}"

SYSTEM_MESSAGE = (
    "You translate questions into SQL. Answer with one SQLite query that uses only the given schema, and nothing else."
)


def render_prompt(schema: str, question: str, style: PromptStyle = "article", tokenizer=None) -> str:
    """The text a model sees before its SQL answer.

    ``article``: the article's template with an empty answer (ends in ``"SQL Query: "``).
    ``chat``: the tokenizer's chat template with a system, a user turn and the assistant's header.
    """
    user = ARTICLE_TEMPLATE.format(schema=schema.strip(), question=question.strip(), sql="")
    if style == "article":
        return user
    if style == "chat":
        if tokenizer is None or not getattr(tokenizer, "chat_template", None):
            raise ValueError("the chat prompt style needs a tokenizer with a chat template")
        messages = [
            {"role": "system", "content": SYSTEM_MESSAGE},
            {"role": "user", "content": user.rstrip()},
        ]
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    raise ValueError(f"unknown prompt style '{style}' (use 'article' or 'chat')")


def answer_suffix(style: PromptStyle, tokenizer) -> str:
    """What follows the SQL in a training target: the end-of-turn marker or end-of-sequence token."""
    if style == "chat":
        marker = "<|im_end|>" if "<|im_end|>" in (tokenizer.chat_template or "") else None
        return marker or tokenizer.eos_token or ""
    return tokenizer.eos_token or ""

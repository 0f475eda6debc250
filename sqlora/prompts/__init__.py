"""Prompt templates (the article's and the model's chat template) and SQL extraction."""

from sqlora.prompts.extraction import extract_sql
from sqlora.prompts.templates import ARTICLE_TEMPLATE, render_prompt

__all__ = ["ARTICLE_TEMPLATE", "extract_sql", "render_prompt"]

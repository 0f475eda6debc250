"""Names and defaults that several parts of sqlora share, defined once."""

from __future__ import annotations

ADAPTER_META = "sqlora.json"
"""The file written next to a trained adapter: its base model, prompt style and whether it is a QLoRA adapter."""

DEFAULT_MAX_NEW_TOKENS = 160
"""The generation budget: most tokens generated per answer unless a caller sets another."""

ADAPT_TRAIN_MINUTES = 15.0
"""``sqlora adapt``'s training time budget: with generation and scoring, about 25 minutes for a 10-table database
on 2 CPU cores."""

SPIDER_SCHEMAS = ("full", "gold", "question", "question+gold")
"""How a Spider row's context is cut from its database's schema (``load_spider``'s ``schema``, ``--spider-schema``)."""

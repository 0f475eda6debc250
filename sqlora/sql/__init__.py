"""SQL utilities built on sqlglot: schema text, normalization, dialects, explanations, hints."""

"""Training pairs from a user's own database: profile it, fill question/SQL templates, keep what runs."""

from sqlora.synth.generate import Pair, SynthError, database_examples, generate_pairs, write_jsonl
from sqlora.synth.templates import FAMILIES

__all__ = ["FAMILIES", "Pair", "SynthError", "database_examples", "generate_pairs", "write_jsonl"]

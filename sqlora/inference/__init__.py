"""Inference: validated SQL from a question and a schema."""

"""sqlora: fine-tune LLMs for text-to-SQL with QLoRA and run them against real databases."""

from sqlora.data.record import Example

__all__ = ["Example", "generate_sql"]
__version__ = "0.1.0"


def generate_sql(question: str, schema: str, **kwargs):
    """Answer ``question`` over ``schema`` (CREATE TABLE text) with validated SQL.

    Thin wrapper over :class:`sqlora.inference.generator.SQLGenerator`; keyword arguments
    (``model``, ``adapter``, ``dialect`` ...) go to the generator.
    """
    from sqlora.inference.generator import SQLGenerator

    return SQLGenerator.shared(**kwargs).generate(question, schema)

"""Data layer: example records, loaders, validation, splits and statistics."""

from sqlora.data.loaders import load_examples
from sqlora.data.record import Example, LoadResult, RowError

__all__ = ["Example", "LoadResult", "RowError", "load_examples"]
